/*
 * vhost dataplane: the loopback driver, for tests and benchmarks
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * mode=loopback: what a queue pair transmits comes back on its receive
 * side, copied into a ring of frame slots (optionally with the MAC
 * addresses swapped).  With zero-copy=on the slots point at the guest's
 * transmit buffers instead, which the guest gets back once the frame is
 * received (tx_hold); frames in more pieces than a slot describes are
 * still copied, and tx_flush copies the frames that wait.  rx-read=on
 * hands frames over with rx_read instead of rx_burst, as a TAP does:
 * the engine's receive path straight into guest buffers, for tests and
 * the fuzzer.  mode=sink
 * drops and counts what is transmitted; mode=source also generates
 * frames of frame-size bytes on the receive side as fast as the guest
 * takes them.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-types-vhost-dp.h"
#include "qemu/iov.h"
#include "qemu/units.h"
#include "qom/object_interfaces.h"
#include "net/vhost-dp.h"
#include "trace.h"

#define TYPE_VHOST_DP_LOOPBACK "vhost-dp-loopback"
OBJECT_DECLARE_SIMPLE_TYPE(VhostDpLoopback, VHOST_DP_LOOPBACK)

/* Frame slots per queue; a power of two */
#define LB_SLOTS        256
/* zero-copy: pieces a slot describes (the swapped MACs, the frame) */
#define LB_ZC_IOV       16
#define LB_SLOT_SIZE    (64 * KiB + 64)
#define LB_MAX_QUEUES   256

struct VhostDpLoopback {
    VhostDpDriver parent_obj;

    VhostDpLoopbackMode mode;
    bool mac_swap;
    bool offloads;
    bool zero_copy;
    bool rx_read;
    uint32_t frame_size;
};

typedef struct LbSlot {
    struct iovec iov;
    VhostDpOffload ol;
    /* zero-copy: the frame where the guest wrote it */
    struct iovec zc_iov[LB_ZC_IOV];
    unsigned int zc_cnt;                /* 0: the frame is in iov */
    uint8_t macs[12];
} LbSlot;

typedef struct LbQueue {
    VhostDpDriverQueue dq;

    VhostDpLoopbackMode mode;
    bool mac_swap;
    unsigned int index;
    uint8_t *mem;
    LbSlot slot[LB_SLOTS];
    uint32_t prod;      /* next slot tx_burst fills */
    uint32_t taken;     /* next slot rx_burst hands out */
    uint32_t cons;      /* next slot rx_release frees */
    bool pushed_back;   /* tx_burst took less than offered */
    bool zero_copy;
    uint32_t done;      /* zero-copy: slots before it are completed */
    struct iovec rest[LB_ZC_IOV];       /* rx_read: what did not fit */
    struct iovec src_iov;   /* mode=source: the generated frame */
} LbQueue;

/*
 * zero-copy: describe the frame where it is in guest memory, the MACs
 * swapped in the slot if asked; false if it has too many pieces.
 */
static bool lb_zc_take(LbQueue *q, LbSlot *s, const VhostDpPkt *p)
{
    size_t skip = q->mac_swap && p->len >= 12 ? 12 : 0;
    unsigned int n = 0;

    if (p->iov_cnt > LB_ZC_IOV - 1) {
        return false;
    }
    if (skip) {
        uint8_t f[12];

        iov_to_buf(p->iov, p->iov_cnt, 0, f, 12);
        memcpy(s->macs, f + 6, 6);
        memcpy(s->macs + 6, f, 6);
        s->zc_iov[n++] = (struct iovec) { s->macs, 12 };
    }
    n += iov_copy(&s->zc_iov[n], LB_ZC_IOV - n, p->iov, p->iov_cnt, skip,
                  p->len - skip);
    s->zc_cnt = n;
    q->dq.tx_zero_copy++;
    return true;
}

/* zero-copy: the guest may have the buffers of slots before @upto back */
static void lb_zc_complete(LbQueue *q, uint32_t upto)
{
    if ((int32_t)(upto - q->done) > 0) {
        q->dq.tx_completed += upto - q->done;
        q->done = upto;
    }
}

static unsigned int lb_tx_burst(VhostDpDriverQueue *dq,
                                const VhostDpPkt *pkts, unsigned int n)
{
    LbQueue *q = container_of(dq, LbQueue, dq);
    unsigned int i;

    if (q->mode != VHOST_DP_LOOPBACK_MODE_LOOPBACK) {
        return n;
    }
    for (i = 0; i < n; i++) {
        const VhostDpPkt *p = &pkts[i];
        LbSlot *s;

        if (q->prod - q->cons == LB_SLOTS) {
            /* back-pressure until the guest receives */
            q->pushed_back = true;
            break;
        }
        s = &q->slot[q->prod % LB_SLOTS];
        if (p->len > LB_SLOT_SIZE) {
            continue;       /* cannot be: the engine caps frames at 64 KiB */
        }
        s->ol = p->ol;
        if (q->zero_copy && lb_zc_take(q, s, p)) {
            q->prod++;
            continue;
        }
        s->zc_cnt = 0;
        s->iov.iov_len = iov_to_buf(p->iov, p->iov_cnt, 0, s->iov.iov_base,
                                    p->len);
        if (q->mac_swap && s->iov.iov_len >= 12) {
            uint8_t tmp[6], *f = s->iov.iov_base;

            memcpy(tmp, f, 6);
            memcpy(f, f + 6, 6);
            memcpy(f + 6, tmp, 6);
        }
        q->prod++;
    }
    return i;
}

static unsigned int lb_rx_burst(VhostDpDriverQueue *dq, VhostDpPkt *pkts,
                                unsigned int n)
{
    LbQueue *q = container_of(dq, LbQueue, dq);
    unsigned int i;

    if (q->mode == VHOST_DP_LOOPBACK_MODE_SINK) {
        return 0;
    }
    if (q->mode == VHOST_DP_LOOPBACK_MODE_SOURCE) {
        for (i = 0; i < n; i++) {
            pkts[i] = (VhostDpPkt) {
                .iov = &q->src_iov,
                .iov_cnt = 1,
                .len = q->src_iov.iov_len,
            };
        }
        return n;
    }
    for (i = 0; i < n && q->taken != q->prod; i++, q->taken++) {
        LbSlot *s = &q->slot[q->taken % LB_SLOTS];

        pkts[i] = (VhostDpPkt) {
            .iov = s->zc_cnt ? s->zc_iov : &s->iov,
            .iov_cnt = s->zc_cnt ? s->zc_cnt : 1,
            .len = s->zc_cnt ? iov_size(s->zc_iov, s->zc_cnt) :
                               s->iov.iov_len,
            .ol = s->ol,
        };
    }
    return i;
}

static void lb_rx_release(VhostDpDriverQueue *dq, VhostDpPkt *pkts,
                          unsigned int n)
{
    LbQueue *q = container_of(dq, LbQueue, dq);

    if (q->mode == VHOST_DP_LOOPBACK_MODE_LOOPBACK) {
        q->cons += n;
        assert(q->taken - q->cons <= LB_SLOTS);
        if (q->zero_copy && n) {
            /* received: the guest may have the transmit buffers back */
            lb_zc_complete(q, q->cons);
            vhost_dp_queue_wake(dq);
        }
        if (n && q->pushed_back) {
            /* room again: the engine waits for this to send more */
            q->pushed_back = false;
            vhost_dp_queue_wake(dq);
        }
    }
}

static bool lb_rx_poll(VhostDpDriverQueue *dq)
{
    LbQueue *q = container_of(dq, LbQueue, dq);

    switch (q->mode) {
    case VHOST_DP_LOOPBACK_MODE_SOURCE:
        return true;
    case VHOST_DP_LOOPBACK_MODE_LOOPBACK:
        return q->taken != q->prod;
    default:
        return false;
    }
}

/*
 * zero-copy: copy the frames that wait into their slots.  Slots the
 * engine has (rx_burst handed them out) keep their iovec array, so the
 * frame moves to its first entry and the others become empty.
 */
static void lb_tx_flush(VhostDpDriverQueue *dq)
{
    LbQueue *q = container_of(dq, LbQueue, dq);

    for (uint32_t i = q->done; i != q->prod; i++) {
        LbSlot *s = &q->slot[i % LB_SLOTS];

        if (!s->zc_cnt) {
            continue;
        }
        s->iov.iov_len = iov_to_buf(s->zc_iov, s->zc_cnt, 0,
                                    s->iov.iov_base, LB_SLOT_SIZE);
        s->zc_iov[0] = s->iov;
        for (unsigned int k = 1; k < s->zc_cnt; k++) {
            s->zc_iov[k] = (struct iovec) { NULL, 0 };
        }
    }
    lb_zc_complete(q, q->prod);
}

/*
 * Copy @len bytes from @src to @dst.  With zero-copy both are guest
 * memory, which a guest can make overlap: memmove().
 */
static void lb_iov_move(const struct iovec *dst, unsigned int dst_cnt,
                        const struct iovec *src, unsigned int src_cnt,
                        size_t len)
{
    unsigned int di = 0, si = 0;
    size_t doff = 0, soff = 0;

    while (len && di < dst_cnt && si < src_cnt) {
        size_t n = MIN(MIN(dst[di].iov_len - doff, src[si].iov_len - soff),
                       len);

        memmove((uint8_t *)dst[di].iov_base + doff,
                (uint8_t *)src[si].iov_base + soff, n);
        len -= n;
        doff += n;
        soff += n;
        if (doff == dst[di].iov_len) {
            di++;
            doff = 0;
        }
        if (soff == src[si].iov_len) {
            si++;
            soff = 0;
        }
    }
}

/*
 * rx-read=on: the next frame, as much of it as fits into @iov, the rest
 * described in @pkt (in the slot, which stays until the next call).
 */
static bool lb_rx_read(VhostDpDriverQueue *dq, const struct iovec *iov,
                       unsigned int iov_cnt, VhostDpPkt *pkt)
{
    LbQueue *q = container_of(dq, LbQueue, dq);
    LbSlot *s;
    const struct iovec *src;
    unsigned int src_cnt;
    size_t len, direct;

    if (q->taken == q->prod) {
        return false;
    }
    s = &q->slot[q->taken % LB_SLOTS];
    src = s->zc_cnt ? s->zc_iov : &s->iov;
    src_cnt = s->zc_cnt ? s->zc_cnt : 1;
    len = iov_size(src, src_cnt);
    direct = MIN(len, iov_size(iov, iov_cnt));
    lb_iov_move(iov, iov_cnt, src, src_cnt, direct);
    *pkt = (VhostDpPkt) {
        .iov = q->rest,
        .iov_cnt = iov_copy(q->rest, LB_ZC_IOV, src, src_cnt, direct,
                            len - direct),
        .len = len,
        .ol = s->ol,
    };
    q->taken++;
    /* the engine copies the rest before anything else runs */
    lb_rx_release(dq, pkt, 1);
    return true;
}

static const VhostDpFastOps lb_rx_read_ops = {
    .tx_burst = lb_tx_burst,
    .rx_read = lb_rx_read,
    .rx_poll = lb_rx_poll,
    .tx_flush = lb_tx_flush,
};

static const VhostDpFastOps lb_fast_ops = {
    .tx_burst = lb_tx_burst,
    .rx_burst = lb_rx_burst,
    .rx_release = lb_rx_release,
    .rx_poll = lb_rx_poll,
    .tx_flush = lb_tx_flush,
};

static void lb_fill_source_frame(uint8_t *f, uint32_t size, unsigned int qi)
{
    static const uint8_t dst[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    uint8_t src[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, qi & 0xff };

    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    /* IEEE 802 local experimental ethertype */
    f[12] = 0x88;
    f[13] = 0xb5;
    for (uint32_t i = 14; i < size; i++) {
        f[i] = i & 0xff;
    }
}

static VhostDpDriverQueue *lb_open_queue(VhostDpDriver *drv,
                                         unsigned int index, AioContext *ctx,
                                         Error **errp)
{
    VhostDpLoopback *lb = VHOST_DP_LOOPBACK(drv);
    LbQueue *q = g_new0(LbQueue, 1);

    q->dq.ops = &lb_fast_ops;
    q->dq.fd = -1;
    q->mode = lb->mode;
    q->mac_swap = lb->mac_swap;
    q->index = index;
    q->zero_copy = lb->zero_copy &&
                   lb->mode == VHOST_DP_LOOPBACK_MODE_LOOPBACK;
    q->dq.tx_hold = q->zero_copy;
    if (lb->rx_read && lb->mode == VHOST_DP_LOOPBACK_MODE_LOOPBACK) {
        q->dq.ops = &lb_rx_read_ops;
    }
    if (lb->mode == VHOST_DP_LOOPBACK_MODE_LOOPBACK) {
        q->mem = g_malloc(LB_SLOTS * LB_SLOT_SIZE);
        for (unsigned int i = 0; i < LB_SLOTS; i++) {
            q->slot[i].iov.iov_base = q->mem + i * LB_SLOT_SIZE;
        }
    } else if (lb->mode == VHOST_DP_LOOPBACK_MODE_SOURCE) {
        q->mem = g_malloc(lb->frame_size);
        lb_fill_source_frame(q->mem, lb->frame_size, index);
        q->src_iov.iov_base = q->mem;
        q->src_iov.iov_len = lb->frame_size;
    }
    trace_vhost_dp_loopback_open_queue(lb, index, lb->mode);
    return &q->dq;
}

static void lb_close_queue(VhostDpDriver *drv, VhostDpDriverQueue *dq)
{
    LbQueue *q = container_of(dq, LbQueue, dq);

    g_free(q->mem);
    g_free(q);
}

static void lb_get_caps(VhostDpDriver *drv, VhostDpDriverCaps *caps)
{
    VhostDpLoopback *lb = VHOST_DP_LOOPBACK(drv);
    uint32_t ol = VHOST_DP_CAP_CSUM | VHOST_DP_CAP_TSO4 | VHOST_DP_CAP_TSO6 |
                  VHOST_DP_CAP_ECN | VHOST_DP_CAP_USO4 | VHOST_DP_CAP_USO6;

    caps->max_queues = LB_MAX_QUEUES;
    caps->tx_offloads = lb->offloads ? ol : 0;
    /* generated frames are plain, but the caps may not depend on mode */
    caps->rx_offloads = lb->offloads ? ol : 0;
}

static const VhostDpProp lb_props[] = {
    VHOST_DP_PROP_ENUM("mode", VhostDpLoopback, mode, VhostDpLoopbackMode,
        "What to do with transmitted frames: loopback, sink or source"),
    VHOST_DP_PROP_BOOL("mac-swap", VhostDpLoopback, mac_swap,
        "Swap source and destination MAC of looped-back frames"),
    /* at least a minimal Ethernet frame, at most what the engine takes */
    VHOST_DP_PROP_UINT32("frame-size", VhostDpLoopback, frame_size,
        "Size in bytes of the frames mode=source generates (60-65535)",
        .min = 60, .max = 65535),
    VHOST_DP_PROP_BOOL("offloads", VhostDpLoopback, offloads,
        "Accept and return checksum and TCP segmentation offloads"),
    VHOST_DP_PROP_BOOL("zero-copy", VhostDpLoopback, zero_copy,
        "Loopback mode: keep transmitted frames in guest memory until "
        "received (one copy instead of two)"),
    VHOST_DP_PROP_BOOL("rx-read", VhostDpLoopback, rx_read,
        "Loopback mode: hand frames over with rx_read, straight into "
        "guest buffers, as a TAP does"),
};

static void lb_instance_init(Object *obj)
{
    VhostDpLoopback *lb = VHOST_DP_LOOPBACK(obj);

    lb->mode = VHOST_DP_LOOPBACK_MODE_LOOPBACK;
    lb->frame_size = 64;
    lb->offloads = true;
}

static void lb_class_init(ObjectClass *oc, const void *data)
{
    VhostDpDriverClass *dc = VHOST_DP_DRIVER_CLASS(oc);

    dc->get_caps = lb_get_caps;
    dc->open_queue = lb_open_queue;
    dc->close_queue = lb_close_queue;

    vhost_dp_driver_class_add_props(oc, lb_props, ARRAY_SIZE(lb_props));
}

static const TypeInfo lb_info = {
    .name = TYPE_VHOST_DP_LOOPBACK,
    .parent = TYPE_VHOST_DP_DRIVER,
    .instance_size = sizeof(VhostDpLoopback),
    .instance_init = lb_instance_init,
    .class_init = lb_class_init,
};

static void lb_register_types(void)
{
    type_register_static(&lb_info);
}

type_init(lb_register_types);
