/*
 * vhost dataplane: the DPDK driver
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * -object vhost-dp-dpdk,id=ID,port=DEVARGS[,queues=N][,eal-args=ARGS]
 *
 * Each object drives one DPDK ethdev port, probed from DEVARGS (a vdev
 * such as net_ring0, net_null0, net_tap0,iface=NAME or
 * net_af_packet0,iface=NAME, or a PCI address); queue pair i of the netdev
 * is queue i of the port.  Frames are copied between guest buffers and
 * mbufs of a mempool per port: the driver sees packets, never guest RAM.
 *
 * With zero-copy=on (ports of software PMDs, vdevs, only: a device would
 * need guest RAM mapped for its DMA) a transmitted frame is not copied:
 * its mbufs are external buffers over the guest's own buffers, which the
 * guest gets back when the PMD frees them (the engine's tx_hold).  Before
 * the queue stops or guest memory changes, frames the PMD still holds are
 * copied out of guest memory into buffers of their own (tx_flush).
 *
 * The EAL is initialised once per QEMU process, by the first object, from
 * its eal-args (default: no hugepages, no PCI, in memory); later objects
 * must give the same eal-args or none.  The EAL's pinning of the calling
 * thread is undone.
 *
 * DPDK polls.  A queue is polled by its IOThread while frames arrive and
 * for a window of VDPDK_POLL_NS after the last one; then it backs off on
 * a timer, from VDPDK_BACKOFF_MIN_NS doubling to VDPDK_BACKOFF_MAX_NS,
 * so an idle port costs a wake-up per millisecond, not a core.
 *
 * Built as its own static library, so that DPDK's compiler flags
 * (-march, -include rte_config.h) stay out of the rest of QEMU.
 */

#include "qemu/osdep.h"
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_dev.h>
#include <rte_bus.h>
#include "qapi/error.h"
#include "qemu/cutils.h"
#include "qemu/iov.h"
#include "qemu/timer.h"
#include "block/aio-wait.h"
#include "qom/object_interfaces.h"
#include "net/vhost-dp.h"
#include "net/vhost-dp/trace.h"

#define TYPE_VHOST_DP_DPDK "vhost-dp-dpdk"
OBJECT_DECLARE_SIMPLE_TYPE(VhostDpDpdk, VHOST_DP_DPDK)

#define VDPDK_DEFAULT_EAL_ARGS \
    "--no-huge --no-pci --no-shconf --no-telemetry -m 256 " \
    "--log-level=*:warning"
#define VDPDK_RING_SIZE         1024
#define VDPDK_MAX_SEGS          8
#define VDPDK_POLL_NS           (200 * 1000)
#define VDPDK_BACKOFF_MIN_NS    (10 * 1000)
#define VDPDK_BACKOFF_MAX_NS    (1000 * 1000)
/* zero-copy: frames in flight at most, a power of 2 */
#define VDPDK_ZC_SLOTS          (2 * VDPDK_RING_SIZE)
/*
 * zero-copy: shorter frames are copied all the same, which costs less
 * than external mbufs.  vdp-bench on net_null, zero-copy against copy:
 * 0.76x the rate at 64 bytes, 0.89x at 256, 1.15x at 512, 2.0x at 1500.
 */
#define VDPDK_ZC_MIN_LEN        384

typedef struct DpdkZc DpdkZc;

/*
 * zero-copy: one transmitted frame.  Its segments share @shinfo, whose
 * reference count the PMD's frees bring to zero; the callback then marks
 * the slot freed.  A frame is complete once freed or copied out, and
 * the slot is free again once freed.
 */
typedef struct DpdkZcSlot {
    struct rte_mbuf_ext_shared_info shinfo;
    DpdkZc *zc;
    struct rte_mbuf *segs[VDPDK_MAX_SEGS];
    unsigned int nsegs;
    bool freed;                     /* [atomic] by the PMD, any thread */
    bool copied;                    /* copied out by tx_flush */
    bool cancelled;                 /* never sent: not a completion */
    void *bounce;                   /* the copy, freed with the mbufs */
} DpdkZcSlot;

/*
 * The frames of a queue in flight.  It outlives the queue while the PMD
 * still holds mbufs over it: each slot in use holds a reference.
 */
struct DpdkZc {
    unsigned int refs;              /* [atomic] */
    struct DpdkQueue *q;            /* [atomic] NULL once closed */
    QEMUBH *bh;                     /* a free outside tx_burst: reap */
    uint32_t head;                  /* oldest slot not freed */
    uint32_t done;                  /* oldest slot not complete */
    uint32_t tail;                  /* next slot to use */
    DpdkZcSlot slot[VDPDK_ZC_SLOTS];
};

typedef struct DpdkQueue {
    VhostDpDriverQueue dq;

    struct VhostDpDpdk *dp;
    uint16_t port;
    uint16_t qid;

    /* RX: the mbufs handed to the engine and their iovecs */
    struct rte_mbuf *rx_mbufs[VHOST_DP_BURST];
    struct iovec rx_iov[VHOST_DP_BURST][VDPDK_MAX_SEGS];
    /* TX scratch, and mbufs allocated for a burst */
    struct rte_mbuf *tx_mbufs[VHOST_DP_BURST];
    struct rte_mbuf *tx_spare[VHOST_DP_BURST];
    unsigned int tx_nspare, tx_spare_used;
    uint16_t tx_pkt[VHOST_DP_BURST];
    /* zero-copy, or NULL */
    DpdkZc *zc;
    bool in_tx_burst;
    AioContext *ctx;

    /* polling: the last frame, and the back-off timer */
    int64_t last_rx_ns;
    int64_t backoff_ns;
    QEMUTimer backoff;
} DpdkQueue;

struct VhostDpDpdk {
    VhostDpDriver parent_obj;

    char *eal_args;
    char *port_args;
    uint16_t queues;
    bool zero_copy;

    bool started;
    uint16_t port;
    uint16_t max_queues;
    struct rte_mempool *pool;
};

/* The EAL: once per process */
static bool vdpdk_eal_done;
static char *vdpdk_eal_args;

static bool vdpdk_eal_init(const char *args, Error **errp)
{
    g_auto(GStrv) words = NULL;
    g_autofree char **argv = NULL;
    cpu_set_t saved;
    int argc, r;

    if (vdpdk_eal_done) {
        if (args && strcmp(args, vdpdk_eal_args)) {
            error_setg(errp, "vhost-dp-dpdk: the DPDK EAL was initialised "
                       "with eal-args '%s'; it cannot be initialised again "
                       "with '%s'", vdpdk_eal_args, args);
            return false;
        }
        return true;
    }
    if (vdpdk_eal_args) {
        error_setg(errp, "vhost-dp-dpdk: the DPDK EAL failed to initialise "
                   "earlier (eal-args '%s'); restart QEMU to retry",
                   vdpdk_eal_args);
        return false;
    }
    vdpdk_eal_args = g_strdup(args ? args : VDPDK_DEFAULT_EAL_ARGS);
    words = g_strsplit_set(vdpdk_eal_args, " \t", -1);
    argv = g_new0(char *, g_strv_length(words) + 2);
    argc = 0;
    argv[argc++] = (char *)"qemu-vhost-dp";
    for (char **w = words; *w; w++) {
        if (**w) {
            argv[argc++] = *w;
        }
    }

    /* the EAL pins its caller to the main lcore: undo that */
    pthread_getaffinity_np(pthread_self(), sizeof(saved), &saved);
    r = rte_eal_init(argc, argv);
    pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
    if (r < 0) {
        error_setg(errp, "vhost-dp-dpdk: DPDK EAL initialisation with "
                   "eal-args '%s' failed: %s", vdpdk_eal_args,
                   rte_strerror(rte_errno));
        return false;
    }
    vdpdk_eal_done = true;
    return true;
}

/*
 * Fast path
 */

static void vdpdk_zc_unref(DpdkZc *zc)
{
    if (qatomic_fetch_dec(&zc->refs) == 1) {
        qemu_bh_delete(zc->bh);
        g_free(zc);
    }
}

/* The PMD freed the last mbuf of a frame: from any thread */
static void vdpdk_zc_free_cb(void *addr, void *opaque)
{
    DpdkZcSlot *sl = opaque;
    DpdkZc *zc = sl->zc;
    DpdkQueue *q;

    if (sl->cancelled) {
        return;                 /* tx_burst takes the slot back itself */
    }
    g_free(sl->bounce);
    sl->bounce = NULL;
    qatomic_store_release(&sl->freed, true);
    q = qatomic_read(&zc->q);
    if (q && !q->in_tx_burst) {
        qemu_bh_schedule(zc->bh);
    }
    vdpdk_zc_unref(zc);
}

/* Count the frames complete, in order, and take back the freed slots */
static void vdpdk_zc_reap(DpdkQueue *q)
{
    DpdkZc *zc = q->zc;

    while (zc->done != zc->tail) {
        DpdkZcSlot *sl = &zc->slot[zc->done % VDPDK_ZC_SLOTS];

        if (!qatomic_load_acquire(&sl->freed) && !sl->copied) {
            break;
        }
        zc->done++;
        q->dq.tx_completed++;
    }
    while (zc->head != zc->done &&
           qatomic_load_acquire(&zc->slot[zc->head % VDPDK_ZC_SLOTS].freed)) {
        zc->head++;
    }
}

static void vdpdk_zc_bh(void *opaque)
{
    DpdkZc *zc = opaque;
    DpdkQueue *q = qatomic_read(&zc->q);

    if (q) {
        uint64_t before = q->dq.tx_completed;

        vdpdk_zc_reap(q);
        if (q->dq.tx_completed != before) {
            vhost_dp_queue_wake(&q->dq);
        }
    }
}

/* Does frame @p go out in external mbufs, one a piece? */
static bool vdpdk_zc_fits(const VhostDpPkt *p)
{
    if (p->len < VDPDK_ZC_MIN_LEN || p->iov_cnt > VDPDK_MAX_SEGS) {
        return false;
    }
    for (unsigned int j = 0; j < p->iov_cnt; j++) {
        if (p->iov[j].iov_len > UINT16_MAX) {
            return false;
        }
    }
    return true;
}

/* An mbuf of those allocated for the burst, or a new one */
static struct rte_mbuf *vdpdk_zc_mbuf(DpdkQueue *q)
{
    if (q->tx_spare_used < q->tx_nspare) {
        return q->tx_spare[q->tx_spare_used++];
    }
    return rte_pktmbuf_alloc(q->dp->pool);
}

/*
 * A slot for frame @p (NULL: one that is dropped or copied, complete at
 * once), with its mbufs over guest memory; NULL if there is no room.
 */
static DpdkZcSlot *vdpdk_zc_take(DpdkQueue *q, const VhostDpPkt *p)
{
    DpdkZc *zc = q->zc;
    DpdkZcSlot *sl;
    uint16_t len;

    if (zc->tail - zc->head == VDPDK_ZC_SLOTS) {
        return NULL;
    }
    sl = &zc->slot[zc->tail % VDPDK_ZC_SLOTS];
    sl->nsegs = 0;
    sl->cancelled = false;
    if (!p) {
        sl->copied = true;
        qatomic_set(&sl->freed, true);
        zc->tail++;
        return sl;
    }
    for (unsigned int j = 0; j < p->iov_cnt; j++) {
        sl->segs[j] = vdpdk_zc_mbuf(q);
        if (!sl->segs[j]) {
            rte_pktmbuf_free_bulk(sl->segs, j);
            return NULL;
        }
    }
    sl->nsegs = p->iov_cnt;
    sl->copied = false;
    qatomic_set(&sl->freed, false);
    sl->shinfo.free_cb = vdpdk_zc_free_cb;
    sl->shinfo.fcb_opaque = sl;
    rte_mbuf_ext_refcnt_set(&sl->shinfo, sl->nsegs);
    for (unsigned int j = 0; j < sl->nsegs; j++) {
        struct rte_mbuf *m = sl->segs[j];

        len = p->iov[j].iov_len;
        /* a software PMD does no DMA: the address is the IOVA */
        rte_pktmbuf_attach_extbuf(m, p->iov[j].iov_base,
                                  (rte_iova_t)(uintptr_t)p->iov[j].iov_base,
                                  len, &sl->shinfo);
        m->data_off = 0;
        m->data_len = len;
        if (j) {
            sl->segs[j - 1]->next = m;
        }
    }
    sl->segs[0]->nb_segs = sl->nsegs;
    sl->segs[0]->pkt_len = p->len;
    qatomic_inc(&zc->refs);
    zc->tail++;
    return sl;
}

/*
 * zero-copy TX: external mbufs over the guest's buffers.  A short frame,
 * or one with more pieces than VDPDK_MAX_SEGS, is copied into one mbuf
 * as without zero-copy, or dropped; either is complete at once.
 */
static unsigned int vdpdk_zc_tx_burst(DpdkQueue *q, const VhostDpPkt *pkts,
                                      unsigned int n)
{
    uint16_t room = rte_pktmbuf_data_room_size(q->dp->pool) -
                    RTE_PKTMBUF_HEADROOM;
    DpdkZcSlot *sls[VHOST_DP_BURST];
    unsigned int i, k = 0, sent, taken, drops = 0, now = 0;

    vdpdk_zc_reap(q);
    /* an mbuf for each frame, as most are copied or in one piece */
    if (rte_pktmbuf_alloc_bulk(q->dp->pool, q->tx_spare, n)) {
        return 0;                   /* no mbufs: try again later */
    }
    q->tx_nspare = n;
    q->tx_spare_used = 0;
    q->in_tx_burst = true;
    for (i = 0; i < n; i++) {
        const VhostDpPkt *p = &pkts[i];
        struct rte_mbuf *m = NULL;
        DpdkZcSlot *sl;

        if (vdpdk_zc_fits(p)) {
            sl = vdpdk_zc_take(q, p);
            if (!sl) {
                break;          /* no room: back-pressure */
            }
            m = sl->segs[0];
            q->dq.tx_zero_copy++;
        } else {
            if (p->len <= room) {
                m = vdpdk_zc_mbuf(q);
                if (!m) {
                    break;
                }
            }
            /*
             * Complete at once; it needs a slot only to keep the order
             * behind frames still held (then it is not in the first
             * @now frames of the burst, which complete at the end)
             */
            sl = NULL;
            if (q->zc->done != q->zc->tail) {
                sl = vdpdk_zc_take(q, NULL);
                if (!sl) {
                    rte_pktmbuf_free(m);
                    break;
                }
            } else {
                now++;
            }
            if (m) {
                iov_to_buf(p->iov, p->iov_cnt, 0,
                           rte_pktmbuf_mtod(m, void *), p->len);
                m->data_len = m->pkt_len = p->len;
            }
        }
        sls[i] = sl;
        if (m) {
            q->tx_mbufs[k] = m;
            q->tx_pkt[k++] = i;
        }
    }
    sent = k ? rte_eth_tx_burst(q->port, q->qid, q->tx_mbufs, k) : 0;
    taken = sent < k ? q->tx_pkt[sent] : i;
    /* the frames not taken give their slots back, newest first */
    for (unsigned int j = k; j > sent; j--) {
        DpdkZcSlot *sl = sls[q->tx_pkt[j - 1]];

        if (sl) {
            sl->cancelled = true;
            q->zc->tail--;
            if (sl->nsegs) {
                q->dq.tx_zero_copy--;
                vdpdk_zc_unref(q->zc);
            }
        }
        rte_pktmbuf_free(q->tx_mbufs[j - 1]);
    }
    for (unsigned int j = taken; j < i; j++) {
        /* dropped frames not taken: their slots too */
        q->zc->tail -= sls[j] && !sls[j]->nsegs && pkts[j].len > room;
    }
    q->dq.tx_completed += MIN(now, taken);
    for (unsigned int j = 0; j < taken; j++) {
        if ((!sls[j] || !sls[j]->nsegs) && pkts[j].len > room) {
            drops++;            /* no multi-segment copy: dropped */
        }
    }
    q->dq.tx_drops += drops;
    if (q->tx_spare_used < q->tx_nspare) {
        rte_pktmbuf_free_bulk(&q->tx_spare[q->tx_spare_used],
                              q->tx_nspare - q->tx_spare_used);
    }
    q->tx_nspare = 0;
    q->in_tx_burst = false;
    vdpdk_zc_reap(q);
    return taken;
}

static unsigned int vdpdk_tx_burst(VhostDpDriverQueue *dq,
                                   const VhostDpPkt *pkts, unsigned int n)
{
    DpdkQueue *q = container_of(dq, DpdkQueue, dq);
    uint16_t room = rte_pktmbuf_data_room_size(q->dp->pool) -
                    RTE_PKTMBUF_HEADROOM;
    unsigned int i, k = 0, sent, taken;

    if (q->zc) {
        return vdpdk_zc_tx_burst(q, pkts, n);
    }
    if (rte_pktmbuf_alloc_bulk(q->dp->pool, q->tx_mbufs, n)) {
        return 0;                   /* no mbufs: try again later */
    }
    for (i = 0; i < n; i++) {
        struct rte_mbuf *m = q->tx_mbufs[k];

        if (pkts[i].len > room) {
            continue;               /* no multi-segment TX: dropped */
        }
        iov_to_buf(pkts[i].iov, pkts[i].iov_cnt, 0,
                   rte_pktmbuf_mtod(m, void *), pkts[i].len);
        m->data_len = m->pkt_len = pkts[i].len;
        q->tx_pkt[k++] = i;
    }
    sent = k ? rte_eth_tx_burst(q->port, q->qid, q->tx_mbufs, k) : 0;
    /* the mbufs not sent, and those never filled, go back */
    if (sent < n) {
        rte_pktmbuf_free_bulk(&q->tx_mbufs[sent], n - sent);
    }
    /* taken: every frame before the first that was not sent */
    taken = sent < k ? q->tx_pkt[sent] : n;
    /* drops only among those: the others are offered again */
    for (i = 0; i < taken; i++) {
        q->dq.tx_drops += pkts[i].len > room;
    }
    return taken;
}

static unsigned int vdpdk_rx_burst(VhostDpDriverQueue *dq, VhostDpPkt *pkts,
                                   unsigned int n)
{
    DpdkQueue *q = container_of(dq, DpdkQueue, dq);
    uint16_t nb = rte_eth_rx_burst(q->port, q->qid, q->rx_mbufs, n);
    unsigned int out = 0;

    if (nb) {
        q->last_rx_ns = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
        q->backoff_ns = VDPDK_BACKOFF_MIN_NS;
    }
    for (unsigned int i = 0; i < nb; i++) {
        struct rte_mbuf *m = q->rx_mbufs[i], *s;
        unsigned int cnt = 0;

        if (m->nb_segs > VDPDK_MAX_SEGS) {
            rte_pktmbuf_free(m);
            continue;
        }
        for (s = m; s; s = s->next) {
            q->rx_iov[out][cnt].iov_base = rte_pktmbuf_mtod(s, void *);
            q->rx_iov[out][cnt].iov_len = s->data_len;
            cnt++;
        }
        q->rx_mbufs[out] = m;
        pkts[out] = (VhostDpPkt) {
            .iov = q->rx_iov[out],
            .iov_cnt = cnt,
            .len = m->pkt_len,
            .priv = (uintptr_t)m,
        };
        out++;
    }
    return out;
}

static void vdpdk_rx_release(VhostDpDriverQueue *dq, VhostDpPkt *pkts,
                             unsigned int n)
{
    for (unsigned int i = 0; i < n; i++) {
        rte_pktmbuf_free((struct rte_mbuf *)pkts[i].priv);
    }
}

/*
 * Poll while frames come and for a window after; then back off.  With a
 * false answer the engine sleeps, so the back-off timer wakes it.
 */
static bool vdpdk_rx_poll(VhostDpDriverQueue *dq)
{
    DpdkQueue *q = container_of(dq, DpdkQueue, dq);
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);

    if (now - q->last_rx_ns < VDPDK_POLL_NS) {
        return true;
    }
    if (!timer_pending(&q->backoff)) {
        timer_mod_ns(&q->backoff, now + q->backoff_ns);
        q->backoff_ns = MIN(q->backoff_ns * 2, VDPDK_BACKOFF_MAX_NS);
    }
    return false;
}

static void vdpdk_backoff_cb(void *opaque)
{
    DpdkQueue *q = opaque;

    vhost_dp_queue_wake(&q->dq);
}

/*
 * zero-copy: stop using guest memory.  The frames the PMD still holds are
 * copied out and their mbufs pointed at the copies, which go with them.
 * The PMD must free its mbufs in this thread (a vdev of this process).
 */
static void vdpdk_tx_flush(VhostDpDriverQueue *dq)
{
    DpdkQueue *q = container_of(dq, DpdkQueue, dq);
    DpdkZc *zc = q->zc;
    unsigned int copied = 0;

    vdpdk_zc_reap(q);
    for (uint32_t i = zc->done; i != zc->tail; i++) {
        DpdkZcSlot *sl = &zc->slot[i % VDPDK_ZC_SLOTS];
        size_t len = 0, off = 0;
        uint8_t *b;

        if (qatomic_load_acquire(&sl->freed) || sl->copied) {
            continue;
        }
        for (unsigned int j = 0; j < sl->nsegs; j++) {
            len += sl->segs[j]->data_len;
        }
        b = g_malloc(MAX(len, 1));
        for (unsigned int j = 0; j < sl->nsegs; j++) {
            struct rte_mbuf *m = sl->segs[j];

            memcpy(b + off, rte_pktmbuf_mtod(m, void *), m->data_len);
            m->buf_addr = b + off;
            m->buf_iova = (rte_iova_t)(uintptr_t)(b + off);
            m->data_off = 0;
            off += m->data_len;
        }
        sl->bounce = b;
        sl->copied = true;
        copied++;
    }
    vdpdk_zc_reap(q);
    trace_vhost_dp_dpdk_tx_flush(q->dp, q->qid, copied);
}

static const VhostDpFastOps vdpdk_fast_ops = {
    .tx_burst = vdpdk_tx_burst,
    .rx_burst = vdpdk_rx_burst,
    .rx_release = vdpdk_rx_release,
    .rx_poll = vdpdk_rx_poll,
};

static const VhostDpFastOps vdpdk_zc_fast_ops = {
    .tx_burst = vdpdk_tx_burst,
    .rx_burst = vdpdk_rx_burst,
    .rx_release = vdpdk_rx_release,
    .rx_poll = vdpdk_rx_poll,
    .tx_flush = vdpdk_tx_flush,
};

/*
 * Slow path
 */

static VhostDpDriverQueue *vdpdk_open_queue(VhostDpDriver *drv,
                                            unsigned int index,
                                            AioContext *ctx, Error **errp)
{
    VhostDpDpdk *dp = VHOST_DP_DPDK(drv);
    DpdkQueue *q = g_new0(DpdkQueue, 1);

    q->dq.ops = &vdpdk_fast_ops;
    q->dq.fd = -1;
    q->dp = dp;
    q->port = dp->port;
    q->qid = index;
    q->backoff_ns = VDPDK_BACKOFF_MIN_NS;
    aio_timer_init(ctx, &q->backoff, QEMU_CLOCK_REALTIME, SCALE_NS,
                   vdpdk_backoff_cb, q);
    if (dp->zero_copy) {
        q->ctx = ctx;
        q->zc = g_new0(DpdkZc, 1);
        q->zc->refs = 1;
        q->zc->q = q;
        q->zc->bh = aio_bh_new(ctx, vdpdk_zc_bh, q->zc);
        for (unsigned int i = 0; i < VDPDK_ZC_SLOTS; i++) {
            q->zc->slot[i].zc = q->zc;
        }
        q->dq.ops = &vdpdk_zc_fast_ops;
        q->dq.tx_hold = true;
    }
    trace_vhost_dp_dpdk_open_queue(dp, dp->port, index);
    return &q->dq;
}

/* In the queue's IOThread: its bottom half no longer touches the queue */
static void vdpdk_zc_close_bh(void *opaque)
{
    DpdkQueue *q = opaque;

    qatomic_set(&q->zc->q, NULL);
    qemu_bh_cancel(q->zc->bh);
}

static void vdpdk_close_queue(VhostDpDriver *drv, VhostDpDriverQueue *dq)
{
    DpdkQueue *q = container_of(dq, DpdkQueue, dq);

    timer_del(&q->backoff);
    if (q->zc) {
        struct rte_mbuf *m[VHOST_DP_BURST];
        unsigned int tries = 2 * VDPDK_ZC_SLOTS / VHOST_DP_BURST;
        uint16_t nb = 1;

        /*
         * A ring port gives back what was sent on its receive side: free
         * it, and with it the frames' slots, while frames are out (a
         * port such as net_null receives without end).  Frames held
         * elsewhere keep the slots until they are freed.
         */
        while (qatomic_read(&q->zc->refs) > 1 && nb && tries--) {
            nb = rte_eth_rx_burst(q->port, q->qid, m, VHOST_DP_BURST);
            rte_pktmbuf_free_bulk(m, nb);
        }
        aio_wait_bh_oneshot(q->ctx, vdpdk_zc_close_bh, q);
        vdpdk_zc_unref(q->zc);
    }
    g_free(q);
}

static void vdpdk_get_caps(VhostDpDriver *drv, VhostDpDriverCaps *caps)
{
    VhostDpDpdk *dp = VHOST_DP_DPDK(drv);

    caps->max_queues = dp->queues;
    /* frames are copied whole into single mbufs: no offloads */
    caps->tx_offloads = 0;
    caps->rx_offloads = 0;
}

static bool vdpdk_complete(VhostDpDriver *drv, Error **errp)
{
    VhostDpDpdk *dp = VHOST_DP_DPDK(drv);
    g_autofree char *name = NULL;
    g_autofree char *pool = NULL;
    struct rte_eth_dev_info info;
    struct rte_eth_conf conf = { 0 };
    unsigned int nb_mbufs;
    int r;

    if (!dp->port_args || !*dp->port_args) {
        error_setg(errp, "vhost-dp-dpdk: 'port' is required (a vdev such "
                   "as net_ring0, or a PCI address)");
        return false;
    }
    if (!vdpdk_eal_init(dp->eal_args, errp)) {
        return false;
    }
    name = g_strndup(dp->port_args, strcspn(dp->port_args, ","));
    if (rte_eth_dev_get_port_by_name(name, &dp->port) != 0) {
        r = rte_dev_probe(dp->port_args);
        if (r < 0 || rte_eth_dev_get_port_by_name(name, &dp->port) != 0) {
            error_setg(errp, "vhost-dp-dpdk: cannot probe port '%s': %s",
                       dp->port_args, rte_strerror(r < 0 ? -r : ENODEV));
            return false;
        }
    }
    if (!rte_eth_dev_is_valid_port(dp->port) ||
        rte_eth_dev_info_get(dp->port, &info) != 0) {
        error_setg(errp, "vhost-dp-dpdk: no information on port '%s'", name);
        return false;
    }
    if (!dp->queues) {
        dp->queues = 1;
    }
    if (dp->zero_copy &&
        strcmp(rte_bus_name(rte_dev_bus(info.device)), "vdev")) {
        error_setg(errp, "vhost-dp-dpdk: zero-copy=on needs a port of a "
                   "software PMD (a vdev); '%s' is on bus %s", name,
                   rte_bus_name(rte_dev_bus(info.device)));
        return false;
    }
    if (dp->queues > info.max_rx_queues || dp->queues > info.max_tx_queues) {
        error_setg(errp, "vhost-dp-dpdk: queues=%u but port '%s' has %u RX "
                   "and %u TX queues", dp->queues, name, info.max_rx_queues,
                   info.max_tx_queues);
        return false;
    }

    /* RX and TX rings, the frames held by the engine, a burst in flight */
    nb_mbufs = dp->queues * (2 * VDPDK_RING_SIZE + 2 * VHOST_DP_BURST) + 512;
    pool = g_strdup_printf("vdp-%s-%u", name, dp->port);
    dp->pool = rte_pktmbuf_pool_create(pool, nb_mbufs, 0, 0,
                                       RTE_MBUF_DEFAULT_BUF_SIZE,
                                       rte_eth_dev_socket_id(dp->port));
    if (!dp->pool) {
        error_setg(errp, "vhost-dp-dpdk: mempool for port '%s': %s", name,
                   rte_strerror(rte_errno));
        return false;
    }
    r = rte_eth_dev_configure(dp->port, dp->queues, dp->queues, &conf);
    for (unsigned int i = 0; r == 0 && i < dp->queues; i++) {
        r = rte_eth_rx_queue_setup(dp->port, i, VDPDK_RING_SIZE,
                                   rte_eth_dev_socket_id(dp->port), NULL,
                                   dp->pool);
        if (r == 0) {
            r = rte_eth_tx_queue_setup(dp->port, i, VDPDK_RING_SIZE,
                                       rte_eth_dev_socket_id(dp->port), NULL);
        }
    }
    if (r == 0) {
        r = rte_eth_dev_start(dp->port);
    }
    if (r < 0) {
        error_setg(errp, "vhost-dp-dpdk: set-up of port '%s' failed: %s",
                   name, rte_strerror(-r));
        rte_mempool_free(dp->pool);
        dp->pool = NULL;
        return false;
    }
    rte_eth_promiscuous_enable(dp->port);
    dp->started = true;
    return true;
}

static void vdpdk_finalize(Object *obj)
{
    VhostDpDpdk *dp = VHOST_DP_DPDK(obj);

    if (dp->started) {
        rte_eth_dev_stop(dp->port);
        rte_eth_dev_close(dp->port);
    }
    if (dp->pool) {
        rte_mempool_free(dp->pool);
    }
}

static const VhostDpProp vdpdk_props[] = {
    VHOST_DP_PROP_STR("eal-args", VhostDpDpdk, eal_args,
        "DPDK EAL arguments, for the first vhost-dp-dpdk object (default: "
        VDPDK_DEFAULT_EAL_ARGS ")"),
    VHOST_DP_PROP_STR("port", VhostDpDpdk, port_args,
        "The ethdev port: vdev devargs (net_ring0, net_tap0,iface=tap0, ...)"
        " or a PCI address"),
    VHOST_DP_PROP_UINT16("queues", VhostDpDpdk, queues,
        "Number of port queues, one per queue pair (default 1)"),
    VHOST_DP_PROP_BOOL("zero-copy", VhostDpDpdk, zero_copy,
        "Transmit from guest memory in external mbufs, without a copy "
        "(ports of software PMDs only; default off)"),
};

static void vdpdk_class_init(ObjectClass *oc, const void *data)
{
    VhostDpDriverClass *dc = VHOST_DP_DRIVER_CLASS(oc);

    dc->complete = vdpdk_complete;
    dc->get_caps = vdpdk_get_caps;
    dc->open_queue = vdpdk_open_queue;
    dc->close_queue = vdpdk_close_queue;

    vhost_dp_driver_class_add_props(oc, vdpdk_props, ARRAY_SIZE(vdpdk_props));
}

static const TypeInfo vdpdk_info = {
    .name = TYPE_VHOST_DP_DPDK,
    .parent = TYPE_VHOST_DP_DRIVER,
    .instance_size = sizeof(VhostDpDpdk),
    .instance_finalize = vdpdk_finalize,
    .class_init = vdpdk_class_init,
};

static void vdpdk_register_types(void)
{
    type_register_static(&vdpdk_info);
}

type_init(vdpdk_register_types);
