/*
 * vhost dataplane: the vhostdp netdev
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * -netdev vhostdp,id=ID,driver=DRV[,queues=N][,iothread=IOT|iothreads=...]
 *
 * One datapath NetClientState per queue pair, each with a vhost_net of
 * backend type VHOST_BACKEND_TYPE_DP whose ops (hw/virtio/vhost-dp-
 * iothread.c) run the rings in the queue pair's IOThread and move the
 * packets to queue pair i of the driver object DRV.  The control
 * virtqueue stays with virtio-net.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-types-net.h"
#include "qapi/qapi-commands-vhost-dp.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/units.h"
#include "qom/object.h"
#include "system/iothread.h"
#include "net/net.h"
#include "net/vhost_net.h"
#include "hw/virtio/vhost.h"
#include "net/vhost-dp.h"
#include "net/vhost-dp-netdev.h"
#include "hw/virtio/vhost-dp.h"
#include "standard-headers/linux/virtio_net.h"
#include "standard-headers/linux/virtio_ring.h"
#include "net/clients.h"
#include "ebpf/ebpf_rss.h"
#include "trace.h"

/* The most queue pairs a vhostdp netdev serves */
#define VHOST_DP_MAX_QUEUES 256

typedef struct VhostDpNetState VhostDpNetState;

/* What the queue pairs of one netdev share */
typedef struct VhostDpNet {
    char *name;
    VhostDpDriver *drv;
    char *driver_id;
    unsigned int queues;
    unsigned int refs;              /* queue pairs alive */
    VhostDpNetState **qs;           /* [queues], NULL once cleaned up */
    /* rate limits of each queue pair: bits a second, and bytes */
    uint64_t tx_rate, tx_burst, rx_rate, rx_burst;
    /* RSS steering in the driver's device: QEMU's eBPF program */
    struct EBPFRSSContext ebpf_rss;
    bool steering;                  /* the driver has the program */
    bool ebpf_failed;               /* reported */
    bool soft_steered;              /* the engines may steer (RSS) */
    QTAILQ_ENTRY(VhostDpNet) next;
} VhostDpNet;

static QTAILQ_HEAD(, VhostDpNet) vhost_dp_nets =
    QTAILQ_HEAD_INITIALIZER(vhost_dp_nets);

struct VhostDpNetState {
    NetClientState nc;

    VhostDpNet *net;
    IOThread *iothread;             /* NULL: the main loop */
    VhostDpDriverQueue *dq;
    VhostDpEngine *engine;
    VHostNetState *vhost_net;
};

/*
 * Feature bits the vhost backend decides; every bit of a feature the
 * engine does not implement must be listed here, or it would pass through
 * to the guest.  MQ, CTRL_* and GUEST_ANNOUNCE are virtio-net's own.
 */
const int vhost_dp_feature_bits[] = {
    VIRTIO_F_NOTIFY_ON_EMPTY,
    VIRTIO_F_NOTIFICATION_DATA,
    VIRTIO_RING_F_INDIRECT_DESC,
    VIRTIO_RING_F_EVENT_IDX,
    VIRTIO_F_ANY_LAYOUT,
    VIRTIO_F_VERSION_1,
    VIRTIO_NET_F_CSUM,
    VIRTIO_NET_F_GUEST_CSUM,
    VIRTIO_NET_F_GSO,
    VIRTIO_NET_F_GUEST_TSO4,
    VIRTIO_NET_F_GUEST_TSO6,
    VIRTIO_NET_F_GUEST_ECN,
    VIRTIO_NET_F_GUEST_UFO,
    VIRTIO_NET_F_HOST_TSO4,
    VIRTIO_NET_F_HOST_TSO6,
    VIRTIO_NET_F_HOST_ECN,
    VIRTIO_NET_F_HOST_UFO,
    VIRTIO_NET_F_MRG_RXBUF,
    VIRTIO_NET_F_MTU,
    VIRTIO_F_IOMMU_PLATFORM,
    VIRTIO_F_RING_PACKED,
    VIRTIO_F_RING_RESET,
    VIRTIO_F_IN_ORDER,
    VIRTIO_NET_F_RSS,
    VIRTIO_NET_F_RSC_EXT,
    VIRTIO_NET_F_HASH_REPORT,
    VIRTIO_NET_F_GUEST_USO4,
    VIRTIO_NET_F_GUEST_USO6,
    VIRTIO_NET_F_HOST_USO,
    VIRTIO_NET_F_GUEST_UDP_TUNNEL_GSO,
    VIRTIO_NET_F_GUEST_UDP_TUNNEL_GSO_CSUM,
    VIRTIO_NET_F_HOST_UDP_TUNNEL_GSO,
    VIRTIO_NET_F_HOST_UDP_TUNNEL_GSO_CSUM,
    VHOST_INVALID_FEATURE_BIT
};

VHostNetState *vhost_dp_get_vhost_net(NetClientState *nc)
{
    VhostDpNetState *s = DO_UPCAST(VhostDpNetState, nc, nc);

    assert(nc->info->type == NET_CLIENT_DRIVER_VHOSTDP);
    return s->vhost_net;
}

/*
 * Frames QEMU itself sends to the backend: the self-announcement after
 * migration (qemu_announce_self(), a RARP frame).  They come without a
 * virtio header: this netdev sets no vnet_hdr_len, and virtio-net sends
 * nothing else to a vhost backend.  The queue pair's IOThread hands them
 * to the driver.
 */
static ssize_t vhost_dp_receive(NetClientState *nc, const uint8_t *buf,
                                size_t size)
{
    VhostDpNetState *s = DO_UPCAST(VhostDpNetState, nc, nc);
    bool sent = s->engine && vhost_dp_engine_inject(s->engine, buf, size);

    trace_vhost_dp_receive(nc->name, size, sent);
    return size;
}

static bool vhost_dp_has_vnet_hdr(NetClientState *nc)
{
    return true;
}

static bool vhost_dp_has_vnet_hdr_len(NetClientState *nc, int len)
{
    return len == sizeof(struct virtio_net_hdr) ||
           len == sizeof(struct virtio_net_hdr_mrg_rxbuf) ||
           len == sizeof(struct virtio_net_hdr_v1_hash);
}

static bool vhost_dp_has_ufo(NetClientState *nc)
{
    return false;
}

/* virtio-net offers USO only then; the engine offers what the driver has */
static bool vhost_dp_has_uso(NetClientState *nc)
{
    VhostDpNetState *s = DO_UPCAST(VhostDpNetState, nc, nc);
    VhostDpDriverCaps caps = { 0 };

    VHOST_DP_DRIVER_GET_CLASS(s->net->drv)->get_caps(s->net->drv, &caps);
    return (caps.tx_offloads | caps.rx_offloads) &
           (VHOST_DP_CAP_USO4 | VHOST_DP_CAP_USO6);
}

static int vhost_dp_set_vnet_endianness(NetClientState *nc, bool enable)
{
    /* the engine derives the layout from the negotiated features */
    return 0;
}

/*
 * RSS and hash reporting: virtio-net hands the guest's configuration to
 * the backend (NetClientInfo.set_rss).  A driver with caps.steering
 * spreads the frames over its queue pairs in its device, with QEMU's eBPF
 * RSS program, which the netdev loads and fills in; the engines compute
 * the hash the guest asks to see.
 */
#define VHOST_DP_RSS_HASH_TYPES (VIRTIO_NET_RSS_HASH_TYPE_IPv4 |      \
                                 VIRTIO_NET_RSS_HASH_TYPE_TCPv4 |     \
                                 VIRTIO_NET_RSS_HASH_TYPE_UDPv4 |     \
                                 VIRTIO_NET_RSS_HASH_TYPE_IPv6 |      \
                                 VIRTIO_NET_RSS_HASH_TYPE_TCPv6 |     \
                                 VIRTIO_NET_RSS_HASH_TYPE_UDPv6 |     \
                                 VIRTIO_NET_RSS_HASH_TYPE_IP_EX |     \
                                 VIRTIO_NET_RSS_HASH_TYPE_TCP_EX |    \
                                 VIRTIO_NET_RSS_HASH_TYPE_UDP_EX)

static bool vhost_dp_get_vnet_hash_supported_types(NetClientState *nc,
                                                   uint32_t *types)
{
    *types = VHOST_DP_RSS_HASH_TYPES;
    return true;
}

/* Steer with the eBPF program in the driver's device, or stop it */
static void vhost_dp_steer(VhostDpNet *net, const NetRssConfig *cfg)
{
    VhostDpDriverClass *dc = VHOST_DP_DRIVER_GET_CLASS(net->drv);
    uint16_t table[VHOST_DP_RSS_TABLE_MAX];
    uint8_t key[VHOST_DP_RSS_KEY_LEN];
    struct EBPFRSSConfig config;
    Error *err = NULL;

    if (!cfg->enabled || !cfg->redirect || !dc->set_steering_ebpf ||
        cfg->indirections_len > VHOST_DP_RSS_TABLE_MAX ||
        cfg->key_len < sizeof(key)) {
        if (net->steering) {
            dc->set_steering_ebpf(net->drv, -1);
            net->steering = false;
        }
        return;
    }
    config = (struct EBPFRSSConfig) {
        .redirect = true,
        .populate_hash = cfg->populate_hash,
        .hash_types = cfg->hash_types,
        .indirections_len = cfg->indirections_len,
        .default_queue = cfg->default_queue,
    };
    memcpy(table, cfg->indirections_table,
           cfg->indirections_len * sizeof(table[0]));
    memcpy(key, cfg->key, sizeof(key));
    if ((!ebpf_rss_is_loaded(&net->ebpf_rss) &&
         !ebpf_rss_load(&net->ebpf_rss, &err)) ||
        !ebpf_rss_set_all(&net->ebpf_rss, &config, table, key, &err)) {
        if (!net->ebpf_failed) {
            error_prepend(&err, "vhostdp '%s': no RSS steering: ",
                          net->name);
            warn_report_err(err);
            net->ebpf_failed = true;
        } else {
            error_free(err);
        }
        if (net->steering) {
            /* not with an older table: the engines steer instead */
            dc->set_steering_ebpf(net->drv, -1);
            net->steering = false;
        }
        return;
    }
    net->steering = dc->set_steering_ebpf(net->drv,
                                          net->ebpf_rss.program_fd);
    trace_vhost_dp_set_steering_ebpf(net->name, net->ebpf_rss.program_fd,
                                     net->steering);
}

/*
 * Without steering in the device, the engines hand each frame to its
 * queue pair's IOThread (software RSS): if the table is one they can
 * follow
 */
static bool vhost_dp_soft_steer(VhostDpNet *net, const NetRssConfig *cfg)
{
    unsigned int len = cfg->indirections_len;

    if (!cfg->enabled || !cfg->redirect || net->steering ||
        net->queues < 2 || !len || len > VHOST_DP_RSS_TABLE_MAX ||
        (len & (len - 1)) || cfg->default_queue >= net->queues) {
        return false;
    }
    for (unsigned int i = 0; i < len; i++) {
        if (cfg->indirections_table[i] >= net->queues) {
            return false;
        }
    }
    return true;
}

/* Stop software RSS before an engine goes away: no engine steers to it */
static void vhost_dp_rss_off(VhostDpNet *net)
{
    if (!net->soft_steered) {
        return;
    }
    for (unsigned int i = 0; i < net->queues; i++) {
        if (net->qs[i] && net->qs[i]->engine) {
            vhost_dp_engine_set_rss(net->qs[i]->engine, NULL, NULL, 0);
        }
    }
    synchronize_rcu();
    net->soft_steered = false;
}

static void vhost_dp_set_rss(NetClientState *nc, const NetRssConfig *cfg)
{
    VhostDpNetState *s = DO_UPCAST(VhostDpNetState, nc, nc);
    VhostDpNet *net = s->net;
    g_autofree VhostDpEngine **pairs = g_new0(VhostDpEngine *, net->queues);
    VhostDpRss rss = { 0 };

    for (unsigned int i = 0; i < net->queues; i++) {
        if (!net->qs[i] || !net->qs[i]->engine) {
            return;             /* going away */
        }
        pairs[i] = net->qs[i]->engine;
    }
    vhost_dp_steer(net, cfg);
    if (cfg->enabled) {
        rss.populate_hash = cfg->populate_hash;
        rss.hash_types = cfg->hash_types;
        memcpy(rss.key, cfg->key, MIN(cfg->key_len, sizeof(rss.key)));
        rss.steer = vhost_dp_soft_steer(net, cfg);
        if (rss.steer) {
            rss.default_queue = cfg->default_queue;
            rss.table_len = cfg->indirections_len;
            memcpy(rss.table, cfg->indirections_table,
                   rss.table_len * sizeof(rss.table[0]));
            net->soft_steered = true;
        }
    }
    for (unsigned int i = 0; i < net->queues; i++) {
        vhost_dp_engine_set_rss(pairs[i], cfg->enabled ? &rss : NULL, pairs,
                                net->queues);
    }
    trace_vhost_dp_set_rss(net->name, cfg->enabled, cfg->redirect,
                           cfg->populate_hash, cfg->hash_types,
                           cfg->indirections_len, net->steering, rss.steer);
}

static void vhost_dp_set_offload(NetClientState *nc, const NetOffloads *ol)
{
    VhostDpNetState *s = DO_UPCAST(VhostDpNetState, nc, nc);
    VhostDpDriverClass *dc = VHOST_DP_DRIVER_GET_CLASS(s->net->drv);
    NetClientState *ncs[VHOST_DP_MAX_QUEUES];
    uint32_t rx = (ol->csum ? VHOST_DP_CAP_CSUM : 0) |
                  (ol->tso4 ? VHOST_DP_CAP_TSO4 : 0) |
                  (ol->tso6 ? VHOST_DP_CAP_TSO6 : 0) |
                  (ol->ecn ? VHOST_DP_CAP_ECN : 0) |
                  (ol->uso4 ? VHOST_DP_CAP_USO4 : 0) |
                  (ol->uso6 ? VHOST_DP_CAP_USO6 : 0);
    int n;

    /* virtio-net tells queue 0 only; the offloads hold for all */
    n = qemu_find_net_clients_except(nc->name, ncs, NET_CLIENT_DRIVER_NIC,
                                     VHOST_DP_MAX_QUEUES);
    for (int i = 0; i < n; i++) {
        VhostDpNetState *q = DO_UPCAST(VhostDpNetState, nc, ncs[i]);

        if (q->engine) {
            vhost_dp_engine_set_rx_offloads(q->engine, rx);
        }
    }
    if (dc->set_rx_offloads) {
        dc->set_rx_offloads(s->net->drv, rx);
    }
    trace_vhost_dp_set_offload(nc->name, rx);
}

static bool vhost_dp_check_peer_type(NetClientState *nc, ObjectClass *oc,
                                     Error **errp)
{
    const char *driver = object_class_get_name(oc);

    if (!g_str_has_prefix(driver, "virtio-net-")) {
        error_setg(errp, "vhostdp requires frontend driver virtio-net-*");
        return false;
    }
    return true;
}

static void vhost_dp_cleanup(NetClientState *nc)
{
    VhostDpNetState *s = DO_UPCAST(VhostDpNetState, nc, nc);
    VhostDpNet *net = s->net;

    /* the first queue pair to go stops software RSS in all */
    vhost_dp_rss_off(net);
    if (s->vhost_net) {
        vhost_net_cleanup(s->vhost_net);
        g_free(s->vhost_net);
        s->vhost_net = NULL;
    }
    vhost_dp_engine_free(s->engine);
    s->engine = NULL;
    if (s->dq) {
        VHOST_DP_DRIVER_GET_CLASS(net->drv)->close_queue(net->drv, s->dq);
        s->dq = NULL;
    }
    if (s->iothread) {
        object_unref(OBJECT(s->iothread));
        s->iothread = NULL;
    }
    net->qs[nc->queue_index] = NULL;
    s->net = NULL;
    if (--net->refs == 0) {
        QTAILQ_REMOVE(&vhost_dp_nets, net, next);
        if (net->steering) {
            VHOST_DP_DRIVER_GET_CLASS(net->drv)->set_steering_ebpf(net->drv,
                                                                   -1);
        }
        ebpf_rss_unload(&net->ebpf_rss);
        g_clear_pointer(&net->drv->netdev_id, g_free);
        object_unref(OBJECT(net->drv));
        g_free(net->qs);
        g_free(net->driver_id);
        g_free(net->name);
        g_free(net);
    }
    qemu_purge_queued_packets(nc);
}

static bool vhost_dp_parse_mac(const char *str, uint8_t *mac)
{
    return sscanf(str, "%2hhx:%2hhx:%2hhx:%2hhx:%2hhx:%2hhx", &mac[0],
                  &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) == 6;
}

/*
 * virtio-net's receive filter changed: hand it to every queue pair's
 * engine, which applies it to what the driver receives.  Called on the
 * peer of the NIC's first queue.
 */
static void vhost_dp_rx_filter_changed(NetClientState *nc)
{
    VhostDpNetState *s = DO_UPCAST(VhostDpNetState, nc, nc);
    NetClientState *nic = nc->peer;
    g_autofree VhostDpRxFilter *f = NULL;
    RxFilterInfo *info;
    strList *mac;
    intList *vlan;
    bool events;

    if (!nic || !nic->info->query_rx_filter) {
        return;
    }
    /* the query turns QMP events back on: it is not the management's */
    events = nic->rxfilter_notify_enabled;
    info = nic->info->query_rx_filter(nic);
    nic->rxfilter_notify_enabled = events;

    if (!info->promiscuous) {
        f = g_new0(VhostDpRxFilter, 1);
        f->all_uni = info->unicast == RX_STATE_ALL || info->unicast_overflow;
        f->no_uni = info->unicast == RX_STATE_NONE;
        f->all_multi = info->multicast == RX_STATE_ALL ||
                       info->multicast_overflow;
        f->no_multi = info->multicast == RX_STATE_NONE;
        f->broadcast = info->broadcast_allowed;
        f->vlan_filter = info->vlan != RX_STATE_ALL;
        vhost_dp_parse_mac(info->main_mac, f->mac);
        for (int i = 0; i < 2; i++) {
            mac = i ? info->multicast_table : info->unicast_table;
            for (; mac; mac = mac->next) {
                if (f->n_macs < VHOST_DP_RX_FILTER_MACS &&
                    vhost_dp_parse_mac(mac->value, f->macs[f->n_macs])) {
                    f->n_macs++;
                }
            }
        }
        for (vlan = info->vlan_table; vlan; vlan = vlan->next) {
            if (vlan->value >= 0 && vlan->value < 4096) {
                f->vlans[vlan->value / 32] |= 1U << (vlan->value % 32);
            }
        }
    }
    trace_vhost_dp_rx_filter(nc->name, !f, f ? f->n_macs : 0);
    for (unsigned int i = 0; i < s->net->queues; i++) {
        if (s->net->qs[i] && s->net->qs[i]->engine) {
            vhost_dp_engine_set_rx_filter(s->net->qs[i]->engine, f);
        }
    }
    qapi_free_RxFilterInfo(info);
}

static NetClientInfo net_vhost_dp_info = {
    .type = NET_CLIENT_DRIVER_VHOSTDP,
    .size = sizeof(VhostDpNetState),
    .receive = vhost_dp_receive,
    .cleanup = vhost_dp_cleanup,
    .has_vnet_hdr = vhost_dp_has_vnet_hdr,
    .has_vnet_hdr_len = vhost_dp_has_vnet_hdr_len,
    .has_ufo = vhost_dp_has_ufo,
    .has_uso = vhost_dp_has_uso,
    .get_vnet_hash_supported_types = vhost_dp_get_vnet_hash_supported_types,
    .set_rss = vhost_dp_set_rss,
    .set_offload = vhost_dp_set_offload,
    .set_vnet_le = vhost_dp_set_vnet_endianness,
    .set_vnet_be = vhost_dp_set_vnet_endianness,
    .check_peer_type = vhost_dp_check_peer_type,
    .rx_filter_changed = vhost_dp_rx_filter_changed,
    .get_vhost_net = vhost_dp_get_vhost_net,
    /* no userspace datapath; queue pairs enabled through vhost */
    .vhost_only = true,
};

/* 10 ms at the rate (bits a second), at least a 64 KiB frame */
static uint64_t vhost_dp_burst(uint64_t rate, uint64_t burst)
{
    return burst ? burst : MAX(rate / 8 / 100, 64 * KiB);
}

static void vhost_dp_apply_rate(VhostDpNet *net)
{
    for (unsigned int i = 0; i < net->queues; i++) {
        VhostDpNetState *s = net->qs[i];

        if (s && s->engine) {
            vhost_dp_engine_set_rate(s->engine, net->tx_rate / 8,
                                     vhost_dp_burst(net->tx_rate,
                                                    net->tx_burst),
                                     net->rx_rate / 8,
                                     vhost_dp_burst(net->rx_rate,
                                                    net->rx_burst));
        }
    }
    trace_vhost_dp_set_rate(net->name, net->tx_rate, net->tx_burst,
                            net->rx_rate, net->rx_burst);
}

void qmp_vhost_dp_set_rate(const char *id, bool has_tx_rate,
                           uint64_t tx_rate, bool has_tx_burst,
                           uint64_t tx_burst, bool has_rx_rate,
                           uint64_t rx_rate, bool has_rx_burst,
                           uint64_t rx_burst, Error **errp)
{
    VhostDpNet *net;

    QTAILQ_FOREACH(net, &vhost_dp_nets, next) {
        if (!strcmp(id, net->name)) {
            break;
        }
    }
    if (!net) {
        error_setg(errp, "'%s' is not a vhostdp netdev", id);
        return;
    }
    net->tx_rate = has_tx_rate ? tx_rate : net->tx_rate;
    net->tx_burst = has_tx_burst ? tx_burst : net->tx_burst;
    net->rx_rate = has_rx_rate ? rx_rate : net->rx_rate;
    net->rx_burst = has_rx_burst ? rx_burst : net->rx_burst;
    vhost_dp_apply_rate(net);
}

static VhostDpDriver *vhost_dp_find_driver(const char *id, Error **errp)
{
    Object *obj = object_resolve_path_component(object_get_objects_root(),
                                                id);
    VhostDpDriver *drv;

    if (!obj) {
        error_setg(errp, "vhost-dp driver object '%s' not found", id);
        return NULL;
    }
    drv = (VhostDpDriver *)object_dynamic_cast(obj, TYPE_VHOST_DP_DRIVER);
    if (!drv) {
        error_setg(errp, "object '%s' is a %s, not a vhost-dp driver "
                   "(vhost-dp-*)", id, object_get_typename(obj));
        return NULL;
    }
    if (drv->netdev_id) {
        error_setg(errp, "vhost-dp driver '%s' is already in use by netdev "
                   "'%s'", id, drv->netdev_id);
        return NULL;
    }
    return drv;
}

/* The IOThread of queue pair @i, or NULL for the main loop */
static bool vhost_dp_queue_iothread(const NetdevVhostDpOptions *opts,
                                    unsigned int i, IOThread **iothread,
                                    Error **errp)
{
    const char *id = NULL;

    if (opts->iothread) {
        id = opts->iothread;
    } else if (opts->iothreads) {
        unsigned int len = 0;
        strList *l;

        for (l = opts->iothreads; l; l = l->next) {
            len++;
        }
        l = opts->iothreads;
        for (unsigned int k = 0; k < i % len; k++) {
            l = l->next;
        }
        id = l->value;
    }
    *iothread = NULL;
    if (!id) {
        return true;
    }
    *iothread = iothread_by_id(id);
    if (!*iothread) {
        error_setg(errp, "IOThread '%s' not found", id);
        return false;
    }
    return true;
}

int net_init_vhost_dp(const Netdev *netdev, const char *name,
                      NetClientState *peer, Error **errp)
{
    const NetdevVhostDpOptions *opts;
    VhostDpDriverClass *dc;
    VhostDpDriverCaps caps = { 0 };
    VhostDpDriver *drv;
    VhostDpNet *net;
    NetClientState *first = NULL;
    unsigned int queues;

    assert(netdev->type == NET_CLIENT_DRIVER_VHOSTDP);
    opts = &netdev->u.vhostdp;

    drv = vhost_dp_find_driver(opts->driver, errp);
    if (!drv) {
        return -1;
    }
    dc = VHOST_DP_DRIVER_GET_CLASS(drv);
    dc->get_caps(drv, &caps);

    if (opts->iothread && opts->iothreads) {
        error_setg(errp, "'iothread' and 'iothreads' are exclusive");
        return -1;
    }
    if (opts->has_iothreads && !opts->iothreads) {
        error_setg(errp, "'iothreads' must name at least one IOThread");
        return -1;
    }
    queues = opts->has_queues ? opts->queues : 1;
    if (queues < 1 || queues > MIN(caps.max_queues, VHOST_DP_MAX_QUEUES)) {
        error_setg(errp, "queues=%u is out of range: driver '%s' serves 1 to "
                   "%u queue pairs", queues, opts->driver,
                   MIN(caps.max_queues, VHOST_DP_MAX_QUEUES));
        return -1;
    }
    /* check every IOThread before creating anything */
    for (unsigned int i = 0; i < queues; i++) {
        IOThread *iothread;

        if (!vhost_dp_queue_iothread(opts, i, &iothread, errp)) {
            return -1;
        }
    }

    net = g_new0(VhostDpNet, 1);
    net->name = g_strdup(name);
    net->drv = drv;
    net->driver_id = g_strdup(opts->driver);
    net->queues = queues;
    net->qs = g_new0(VhostDpNetState *, queues);
    ebpf_rss_init(&net->ebpf_rss);
    net->tx_rate = opts->has_tx_rate ? opts->tx_rate : 0;
    net->tx_burst = opts->has_tx_burst ? opts->tx_burst : 0;
    net->rx_rate = opts->has_rx_rate ? opts->rx_rate : 0;
    net->rx_burst = opts->has_rx_burst ? opts->rx_burst : 0;
    object_ref(OBJECT(drv));
    drv->netdev_id = g_strdup(name);
    QTAILQ_INSERT_TAIL(&vhost_dp_nets, net, next);

    for (unsigned int i = 0; i < queues; i++) {
        g_autofree char *qname = g_strdup_printf("%s.%u", name, i);
        VhostDpNetState *s;
        NetClientState *nc;
        AioContext *ctx;
        VhostNetOptions options;

        nc = qemu_new_net_client(&net_vhost_dp_info, peer, "vhostdp", name);
        nc->queue_index = i;
        qemu_set_info_str(nc, "driver=%s,queue=%u", opts->driver, i);
        if (!first) {
            first = nc;
        }
        s = DO_UPCAST(VhostDpNetState, nc, nc);
        s->net = net;
        net->qs[i] = s;
        net->refs++;

        vhost_dp_queue_iothread(opts, i, &s->iothread, &error_abort);
        if (s->iothread) {
            object_ref(OBJECT(s->iothread));
            ctx = iothread_get_aio_context(s->iothread);
        } else {
            ctx = qemu_get_aio_context();
        }

        s->dq = dc->open_queue(drv, i, ctx, errp);
        if (!s->dq) {
            goto err;
        }
        s->engine = vhost_dp_engine_new(drv, s->dq, &caps, ctx, qname);
        options = (VhostNetOptions) {
            .backend_type = VHOST_BACKEND_TYPE_DP,
            .net_backend = nc,
            .busyloop_timeout = 0,
            .nvqs = 2,
            .feature_bits = vhost_dp_feature_bits,
            .max_tx_queue_size = VIRTQUEUE_MAX_SIZE,
            .opaque = s->engine,
        };
        s->vhost_net = vhost_net_init(&options);
        if (!s->vhost_net) {
            error_setg(errp, "vhostdp '%s': vhost set-up of queue pair %u "
                       "failed", name, i);
            goto err;
        }
        trace_vhost_dp_queue_init(name, i, s->iothread ?
                                  object_get_canonical_path_component(
                                      OBJECT(s->iothread)) : "main-loop");
    }
    if (net->tx_rate || net->rx_rate) {
        vhost_dp_apply_rate(net);
    }
    return 0;

err:
    /* deletes every queue pair created so far; the last frees @net */
    qemu_del_net_client(first);
    return -1;
}

static VhostDpInfo *vhost_dp_info(VhostDpNet *net)
{
    VhostDpInfo *info = g_new0(VhostDpInfo, 1);
    VhostDpQueueStatsList **tail = &info->queues;

    info->id = g_strdup(net->name);
    info->driver = g_strdup(net->driver_id);
    for (unsigned int i = 0; i < net->queues; i++) {
        VhostDpNetState *s = net->qs[i];
        VhostDpQueueStats *q;
        VhostDpEngineStats st = { 0 };

        if (!s || !s->engine) {
            continue;
        }
        vhost_dp_engine_get_stats(s->engine, &st);
        q = g_new0(VhostDpQueueStats, 1);
        q->queue = i;
        q->iothread = g_strdup(s->iothread ?
            object_get_canonical_path_component(OBJECT(s->iothread)) :
            "main-loop");
        q->tx_packets = st.tx_packets;
        q->tx_bytes = st.tx_bytes;
        q->tx_drops = st.tx_drops;
        q->rx_packets = st.rx_packets;
        q->rx_bytes = st.rx_bytes;
        q->rx_drops = st.rx_drops;
        q->kicks = st.kicks;
        q->interrupts = st.interrupts;
        q->poll_hits = st.poll_hits;
        q->bursts = st.bursts;
        q->ring_errors = st.ring_errors;
        q->tx_stalls = st.tx_stalls;
        q->rx_no_buffers = st.rx_no_buffers;
        q->budget_yields = st.budget_yields;
        q->rx_direct = st.rx_direct;
        q->tx_zero_copy = st.tx_zero_copy;
        q->tx_rate_stalls = st.tx_rate_stalls;
        q->rx_rate_drops = st.rx_rate_drops;
        q->rx_steered = st.rx_steered;
        QAPI_LIST_APPEND(tail, q);
    }
    return info;
}

VhostDpInfoList *qmp_query_vhost_dp(const char *id, Error **errp)
{
    VhostDpInfoList *list = NULL, **tail = &list;
    VhostDpNet *net;

    QTAILQ_FOREACH(net, &vhost_dp_nets, next) {
        if (!id || !strcmp(id, net->name)) {
            QAPI_LIST_APPEND(tail, vhost_dp_info(net));
        }
    }
    if (id && !list) {
        error_setg(errp, "'%s' is not a vhostdp netdev", id);
    }
    return list;
}
