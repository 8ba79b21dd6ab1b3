/*
 * vhost dataplane: the AF_XDP driver
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * -object vhost-dp-af-xdp,id=ID,ifname=NAME[,mode=native|skb]
 *         [,force-copy=on][,queues=N][,start-queue=Q]
 *         [,inhibit=on[,sock-fds=FD0,sock-fds=FD1...]]
 *
 * One AF_XDP socket per queue pair, on interface queues start-queue ..
 * start-queue + N - 1, each with a UMEM of its own: half of its frames
 * stay on the fill ring for receiving, the other half carry transmitted
 * frames.  Frames are copied between guest buffers and UMEM frames; the
 * driver sees packets, never guest RAM.  The fill and completion rings are
 * worked in bursts, and the kernel is only woken when it asks
 * (need_wakeup).  Written to libxdp 1.3's xsk API.
 */

#include "qemu/osdep.h"
#include <net/if.h>
#include <linux/if_link.h>
#include <xdp/xsk.h>
#include <xdp/libxdp.h>
#include <bpf/libbpf.h>
#include "qapi/error.h"
#include "qapi/qapi-types-vhost-dp.h"
#include "qemu/cutils.h"
#include "qemu/iov.h"
#include "qemu/memalign.h"
#include "qom/object_interfaces.h"
#include "monitor/monitor.h"
#include "net/vhost-dp.h"
#include "trace.h"

#define TYPE_VHOST_DP_AF_XDP "vhost-dp-af-xdp"
OBJECT_DECLARE_SIMPLE_TYPE(VhostDpAfXdp, VHOST_DP_AF_XDP)

#define XQ_FRAMES       4096
#define XQ_FRAME_SIZE   XSK_UMEM__DEFAULT_FRAME_SIZE
#define XQ_RING         2048
#define XQ_MAX_QUEUES   64

typedef struct XdpQueue {
    VhostDpDriverQueue dq;

    struct VhostDpAfXdp *xdp;
    unsigned int index;
    void *buf;
    struct xsk_umem *umem;
    struct xsk_socket *xsk;
    struct xsk_ring_prod fq, tx;
    struct xsk_ring_cons cq, rx;

    /* free TX frames (UMEM addresses), a stack */
    uint64_t tx_free[XQ_FRAMES / 2];
    unsigned int tx_nfree;

    struct iovec rx_iov[VHOST_DP_BURST];
    unsigned int rx_peeked;
} XdpQueue;

struct VhostDpAfXdp {
    VhostDpDriver parent_obj;

    char *ifname;
    VhostDpAfXdpMode mode;
    bool force_copy;
    uint16_t queues;
    uint16_t start_queue;
    bool inhibit;
    strList *sock_fds;

    unsigned int ifindex;
    XdpQueue *q[XQ_MAX_QUEUES];
};

/*
 * Make the kernel send what is on the TX ring.  In copy (skb) mode a
 * sendto() sends at most a small budget of frames (32 in Linux 6.1, then
 * it fails with EAGAIN), and the rest waited for the next burst: the
 * last frames of a burst were completed to the guest and never sent.
 * Go on while the kernel takes descriptors, until it has taken them all;
 * if it takes none (the device is busy), the next burst tries again.
 * That is a system call per 32 frames.
 */
static void xq_kick_tx(XdpQueue *q)
{
    uint32_t free = xsk_prod_nb_free(&q->tx, XQ_RING), before;

    while (free < XQ_RING && xsk_ring_prod__needs_wakeup(&q->tx)) {
        if (sendto(xsk_socket__fd(q->xsk), NULL, 0, MSG_DONTWAIT, NULL,
                   0) < 0 && errno != EAGAIN && errno != EINTR) {
            return;
        }
        before = free;
        free = xsk_prod_nb_free(&q->tx, XQ_RING);
        if (free == before) {
            return;
        }
    }
}

/* Take back the frames the kernel has sent */
static void xq_reap_cq(XdpQueue *q)
{
    uint32_t idx;
    unsigned int n = xsk_ring_cons__peek(&q->cq, XQ_RING, &idx);

    for (unsigned int i = 0; i < n; i++) {
        q->tx_free[q->tx_nfree++] = *xsk_ring_cons__comp_addr(&q->cq, idx++);
    }
    xsk_ring_cons__release(&q->cq, n);
}

static unsigned int xq_tx_burst(VhostDpDriverQueue *dq,
                                const VhostDpPkt *pkts, unsigned int n)
{
    XdpQueue *q = container_of(dq, XdpQueue, dq);
    uint32_t idx;
    unsigned int i, room;

    xq_reap_cq(q);
    room = MIN(n, q->tx_nfree);
    room = xsk_ring_prod__reserve(&q->tx, room, &idx);
    for (i = 0; i < room; i++) {
        struct xdp_desc *d = xsk_ring_prod__tx_desc(&q->tx, idx + i);
        uint64_t addr = q->tx_free[--q->tx_nfree];
        uint32_t len = MIN(pkts[i].len, XQ_FRAME_SIZE);

        if (pkts[i].len > XQ_FRAME_SIZE) {
            q->dq.tx_drops++;   /* truncated would be wrong: empty */
            len = 0;
        }
        iov_to_buf(pkts[i].iov, pkts[i].iov_cnt, 0,
                   xsk_umem__get_data(q->buf, addr), len);
        d->addr = addr;
        d->len = len;
    }
    if (room) {
        xsk_ring_prod__submit(&q->tx, room);
        xq_kick_tx(q);
    }
    return room;
}

static unsigned int xq_rx_burst(VhostDpDriverQueue *dq, VhostDpPkt *pkts,
                                unsigned int n)
{
    XdpQueue *q = container_of(dq, XdpQueue, dq);
    uint32_t idx;
    unsigned int got = xsk_ring_cons__peek(&q->rx, n, &idx);

    for (unsigned int i = 0; i < got; i++) {
        const struct xdp_desc *d = xsk_ring_cons__rx_desc(&q->rx, idx + i);

        q->rx_iov[i].iov_base = xsk_umem__get_data(q->buf, d->addr);
        q->rx_iov[i].iov_len = d->len;
        pkts[i] = (VhostDpPkt) {
            .iov = &q->rx_iov[i],
            .iov_cnt = 1,
            .len = d->len,
            .priv = xsk_umem__extract_addr(d->addr),
        };
    }
    q->rx_peeked = got;
    return got;
}

/* The engine is done with the frames: back on the fill ring */
static void xq_rx_release(VhostDpDriverQueue *dq, VhostDpPkt *pkts,
                          unsigned int n)
{
    XdpQueue *q = container_of(dq, XdpQueue, dq);
    uint32_t idx;

    /* the fill ring has room for every RX frame: reserve cannot fail */
    if (xsk_ring_prod__reserve(&q->fq, n, &idx) == n) {
        for (unsigned int i = 0; i < n; i++) {
            *xsk_ring_prod__fill_addr(&q->fq, idx + i) = pkts[i].priv;
        }
        xsk_ring_prod__submit(&q->fq, n);
    }
    xsk_ring_cons__release(&q->rx, n);
    q->rx_peeked -= n;
    if (xsk_ring_prod__needs_wakeup(&q->fq)) {
        recvfrom(xsk_socket__fd(q->xsk), NULL, 0, MSG_DONTWAIT, NULL, NULL);
    }
}

/* Frames on the RX ring past those handed out: read without a syscall */
static bool xq_rx_poll(VhostDpDriverQueue *dq)
{
    XdpQueue *q = container_of(dq, XdpQueue, dq);

    return xsk_cons_nb_avail(&q->rx, 1) > 0;
}

static const VhostDpFastOps xq_fast_ops = {
    .tx_burst = xq_tx_burst,
    .rx_burst = xq_rx_burst,
    .rx_release = xq_rx_release,
    .rx_poll = xq_rx_poll,
};

/*
 * Slow path: sockets are made when the object is created, so that a bad
 * interface or queue fails object-add
 */

static void xq_free(XdpQueue *q)
{
    if (q->xsk) {
        xsk_socket__delete(q->xsk);
    }
    if (q->umem) {
        xsk_umem__delete(q->umem);
    }
    qemu_vfree(q->buf);
    g_free(q);
}

static XdpQueue *xq_new(VhostDpAfXdp *xdp, unsigned int index,
                        const char *map_fd, Error **errp)
{
    XdpQueue *q = g_new0(XdpQueue, 1);
    struct xsk_socket_config cfg = {
        .rx_size = XQ_RING,
        .tx_size = XQ_RING,
        .libxdp_flags = xdp->inhibit ?
                        XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD : 0,
        .xdp_flags = xdp->mode == VHOST_DP_AF_XDP_MODE_SKB ?
                     XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE,
        .bind_flags = XDP_USE_NEED_WAKEUP |
                      (xdp->force_copy ? XDP_COPY : 0),
    };
    struct xsk_umem_config ucfg = {
        .fill_size = XQ_RING,
        .comp_size = XQ_RING,
        .frame_size = XQ_FRAME_SIZE,
    };
    unsigned int qid = xdp->start_queue + index;
    uint32_t idx;
    int r;

    q->xdp = xdp;
    q->index = index;
    q->buf = qemu_memalign(qemu_real_host_page_size(),
                           (size_t)XQ_FRAMES * XQ_FRAME_SIZE);
    r = xsk_umem__create(&q->umem, q->buf, (size_t)XQ_FRAMES * XQ_FRAME_SIZE,
                         &q->fq, &q->cq, &ucfg);
    if (r) {
        error_setg_errno(errp, -r, "vhost-dp-af-xdp: UMEM for %s queue %u",
                         xdp->ifname, qid);
        goto fail;
    }
    r = xsk_socket__create(&q->xsk, xdp->ifname, qid, q->umem, &q->rx,
                           &q->tx, &cfg);
    if (r) {
        error_setg_errno(errp, -r, "vhost-dp-af-xdp: AF_XDP socket on %s "
                         "queue %u (mode=%s)", xdp->ifname, qid,
                         VhostDpAfXdpMode_str(xdp->mode));
        goto fail;
    }
    if (map_fd) {
        int fd = monitor_fd_param(monitor_cur(), map_fd, errp);

        if (fd < 0) {
            goto fail;
        }
        r = xsk_socket__update_xskmap(q->xsk, fd);
        close(fd);
        if (r) {
            error_setg_errno(errp, -r, "vhost-dp-af-xdp: cannot add the "
                             "socket of queue %u to XSK map %s", qid, map_fd);
            goto fail;
        }
    }
    /* the first half of the frames receive, the second half transmit */
    if (xsk_ring_prod__reserve(&q->fq, XQ_FRAMES / 2, &idx) !=
        XQ_FRAMES / 2) {
        error_setg(errp, "vhost-dp-af-xdp: cannot fill the fill ring");
        goto fail;
    }
    for (unsigned int i = 0; i < XQ_FRAMES / 2; i++) {
        *xsk_ring_prod__fill_addr(&q->fq, idx + i) = i * XQ_FRAME_SIZE;
    }
    xsk_ring_prod__submit(&q->fq, XQ_FRAMES / 2);
    for (unsigned int i = XQ_FRAMES / 2; i < XQ_FRAMES; i++) {
        q->tx_free[q->tx_nfree++] = (uint64_t)i * XQ_FRAME_SIZE;
    }

    q->dq.ops = &xq_fast_ops;
    q->dq.fd = xsk_socket__fd(q->xsk);
    q->dq.tx_wait_writable = true;
    return q;

fail:
    xq_free(q);
    return NULL;
}

static VhostDpDriverQueue *dpxdp_open_queue(VhostDpDriver *drv,
                                          unsigned int index,
                                          AioContext *ctx, Error **errp)
{
    VhostDpAfXdp *xdp = VHOST_DP_AF_XDP(drv);

    assert(index < xdp->queues && xdp->q[index]);
    trace_vhost_dp_af_xdp_open_queue(xdp, index);
    return &xdp->q[index]->dq;
}

static void dpxdp_close_queue(VhostDpDriver *drv, VhostDpDriverQueue *dq)
{
    /* the sockets live as long as the object */
}

static void dpxdp_get_caps(VhostDpDriver *drv, VhostDpDriverCaps *caps)
{
    caps->max_queues = VHOST_DP_AF_XDP(drv)->queues;
    caps->tx_offloads = 0;
    caps->rx_offloads = 0;
}

static int dpxdp_quiet_print(enum libbpf_print_level level, const char *fmt,
                           va_list args)
{
    /* failures come back as errors with errno; the chatter stays out */
    return 0;
}

static bool dpxdp_complete(VhostDpDriver *drv, Error **errp)
{
    VhostDpAfXdp *xdp = VHOST_DP_AF_XDP(drv);
    strList *fds = xdp->sock_fds;
    unsigned int nfds = 0;

    libbpf_set_print(dpxdp_quiet_print);
    libxdp_set_print((libxdp_print_fn_t)dpxdp_quiet_print);

    if (!xdp->ifname) {
        error_setg(errp, "vhost-dp-af-xdp: 'ifname' is required");
        return false;
    }
    xdp->ifindex = if_nametoindex(xdp->ifname);
    if (!xdp->ifindex) {
        error_setg_errno(errp, errno, "vhost-dp-af-xdp: no interface '%s'",
                         xdp->ifname);
        return false;
    }
    if (!xdp->queues) {
        xdp->queues = 1;
    }
    if (xdp->queues > XQ_MAX_QUEUES) {
        error_setg(errp, "vhost-dp-af-xdp: queues must be 1 to %d",
                   XQ_MAX_QUEUES);
        return false;
    }
    for (strList *l = fds; l; l = l->next) {
        nfds++;
    }
    if (fds && (!xdp->inhibit || nfds != xdp->queues)) {
        error_setg(errp, "vhost-dp-af-xdp: sock-fds needs inhibit=on and "
                   "one XSK map fd per queue (%u)", xdp->queues);
        return false;
    }
    for (unsigned int i = 0; i < xdp->queues; i++) {
        xdp->q[i] = xq_new(xdp, i, fds ? fds->value : NULL, errp);
        if (!xdp->q[i]) {
            while (i > 0) {
                xq_free(xdp->q[--i]);
                xdp->q[i] = NULL;
            }
            return false;
        }
        fds = fds ? fds->next : NULL;
    }
    return true;
}

static void dpxdp_finalize(Object *obj)
{
    VhostDpAfXdp *xdp = VHOST_DP_AF_XDP(obj);

    for (unsigned int i = 0; i < XQ_MAX_QUEUES; i++) {
        if (xdp->q[i]) {
            xq_free(xdp->q[i]);
        }
    }
}

static const VhostDpProp dpxdp_props[] = {
    VHOST_DP_PROP_STR("ifname", VhostDpAfXdp, ifname,
        "The network interface to attach to"),
    VHOST_DP_PROP_ENUM("mode", VhostDpAfXdp, mode, VhostDpAfXdpMode,
        "XDP mode: native (the driver's) or skb (generic)"),
    VHOST_DP_PROP_BOOL("force-copy", VhostDpAfXdp, force_copy,
        "Force XDP copy mode even where zero-copy is possible"),
    VHOST_DP_PROP_UINT16("queues", VhostDpAfXdp, queues,
        "Number of interface queues, one per queue pair (default 1)"),
    VHOST_DP_PROP_UINT16("start-queue", VhostDpAfXdp, start_queue,
        "The first interface queue to use (default 0)"),
    VHOST_DP_PROP_BOOL("inhibit", VhostDpAfXdp, inhibit,
        "Do not load the default XDP program (unprivileged use)"),
    VHOST_DP_PROP_STRLIST("sock-fds", VhostDpAfXdp, sock_fds,
        "With inhibit=on: XSK map file descriptors, one per queue"),
};

static void dpxdp_class_init(ObjectClass *oc, const void *data)
{
    VhostDpDriverClass *dc = VHOST_DP_DRIVER_CLASS(oc);

    dc->complete = dpxdp_complete;
    dc->get_caps = dpxdp_get_caps;
    dc->open_queue = dpxdp_open_queue;
    dc->close_queue = dpxdp_close_queue;

    vhost_dp_driver_class_add_props(oc, dpxdp_props, ARRAY_SIZE(dpxdp_props));
}

static const TypeInfo dpxdp_info = {
    .name = TYPE_VHOST_DP_AF_XDP,
    .parent = TYPE_VHOST_DP_DRIVER,
    .instance_size = sizeof(VhostDpAfXdp),
    .instance_finalize = dpxdp_finalize,
    .class_init = dpxdp_class_init,
};

static void dpxdp_register_types(void)
{
    type_register_static(&dpxdp_info);
}

type_init(dpxdp_register_types);
