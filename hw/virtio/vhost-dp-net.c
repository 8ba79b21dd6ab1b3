/*
 * vhost dataplane: virtio-net on the rings
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * One job: move packets between a queue pair's vrings and its driver
 * queue.  TX takes chains off the TX vring into bursts for the driver;
 * RX copies the driver's frames into guest buffers (several with
 * mergeable RX buffers).  This is the only place that converts between
 * virtio_net_hdr and the driver API's VhostDpOffload, and that applies
 * the guest's receive filter.  Runs in the queue pair's IOThread, called
 * from the run loop (vhost-dp-iothread.c).
 */

#include "qemu/osdep.h"
#include "qemu/iov.h"
#include "qemu/atomic.h"
#include "qemu/lockable.h"
#include "qemu/rcu.h"
#include "hw/virtio/vhost-dp-int.h"
#include "hw/net/net_rx_pkt.h"
#include "hw/virtio/virtio-net.h"
#include "net/vhost-dp-vnet.h"
#include "standard-headers/linux/virtio_net.h"
#include "standard-headers/linux/virtio_config.h"
#include "standard-headers/linux/vhost_types.h"
#include "trace.h"

/*
 * TX: guest to driver
 */

typedef enum DpTxResult {
    DP_TX_QUEUED,       /* a packet for the driver */
    DP_TX_DROPPED,      /* a bad packet, not a bad ring: completed unsent */
    DP_TX_LATER,        /* does not fit in this burst: the next one */
    DP_TX_BROKEN,       /* the ring is stopped */
} DpTxResult;

/*
 * Walk the chain at @head into e->tx_pkts[@n], its iovecs appended at
 * e->tx_iov[*@iov_used].
 */
static DpTxResult dp_tx_one(VhostDpEngine *e, const DpMemTable *mt,
                            uint16_t head, unsigned int n,
                            unsigned int *iov_used)
{
    DpVring *vr = &e->vr[DP_TX];
    DpNetHdr hdr;
    VhostDpPkt *p = &e->tx_pkts[n];
    unsigned int first = *iov_used;
    uint64_t len;

    switch (dp_vring_walk(vr, mt, head, false, e->tx_iov, NULL, iov_used,
                          DP_IOV_MAX, &len)) {
    case DP_WALK_OK:
        break;
    case DP_WALK_FULL:
        *iov_used = first;
        if (n) {
            return DP_TX_LATER;
        }
        dp_vring_error(vr, "chain %u has more than %u pieces", head,
                       DP_IOV_MAX);
        return DP_TX_BROKEN;
    default:
        return DP_TX_BROKEN;
    }
    if (len < e->hdr_len || len - e->hdr_len > DP_MAX_FRAME) {
        *iov_used = first;
        return DP_TX_DROPPED;
    }
    p->iov = &e->tx_iov[first];
    p->iov_cnt = *iov_used - first;
    /*
     * (the hash fields of a long header mean nothing on transmit).  The
     * common case, a first piece longer than the header, is read and
     * skipped inline; what follows a short header in that piece is read
     * too and not used.
     */
    if (likely(p->iov->iov_len > sizeof(hdr))) {
        memcpy(&hdr, p->iov->iov_base, sizeof(hdr));
    } else {
        iov_to_buf(p->iov, p->iov_cnt, 0, &hdr, e->hdr_len);
    }
    vhost_dp_vnet_to_offload(&hdr.mrg.hdr, &p->ol);
    if (!vhost_dp_offload_allowed(&p->ol, e->caps.tx_offloads)) {
        *iov_used = first;
        return DP_TX_DROPPED;
    }
    if (likely(p->iov->iov_len > e->hdr_len)) {
        /* the piece is the walk's own copy: trim it in place */
        p->iov->iov_base = (uint8_t *)p->iov->iov_base + e->hdr_len;
        p->iov->iov_len -= e->hdr_len;
    } else {
        iov_discard_front(&p->iov, &p->iov_cnt, e->hdr_len);
    }
    p->len = len - e->hdr_len;
    p->priv = 0;
    return DP_TX_QUEUED;
}

/*
 * Move one burst from the TX vring to the driver.  Returns the number of
 * chains taken off the ring (sent or dropped), and adds the bytes sent
 * to *@bytes; sets *@stall when the driver pushed back.
 *
 * Chains are completed in avail order once the driver has answered:
 * when it takes fewer packets than offered, the ring is rewound to the
 * first packet it did not take, and the drops after that one are left
 * for the next burst to complete (completing them now would complete
 * them twice).
 */
/*
 * Zero-copy TX: give the guest back the buffers of the frames the driver
 * counted as completed since the last call, in the order it took them.
 * The caller flushes the used ring.
 */
static void dp_tx_reclaim(VhostDpEngine *e)
{
    DpVring *vr = &e->vr[DP_TX];
    uint64_t done = e->dq->tx_completed;

    /* the driver counts only frames it took */
    assert(done - e->tx_reclaimed <= e->tx_taken - e->tx_reclaimed);
    for (; e->tx_reclaimed != done; e->tx_reclaimed++) {
        if (dp_vring_live(vr)) {
            dp_vring_put(vr, e->tx_held[e->tx_reclaimed % DP_VRING_MAX], 0);
        }
    }
}

/*
 * Make the driver stop using guest memory and give every buffer it held
 * back to the guest: before the engine stops, and before guest memory
 * or a vIOMMU mapping it may use goes away.  In the IOThread.
 */
void dp_tx_release_held(VhostDpEngine *e)
{
    DpVring *vr = &e->vr[DP_TX];
    uint16_t old_used = vr->used_idx;
    DpMemTable *mt;

    if (e->tx_taken == e->tx_reclaimed) {
        return;
    }
    e->dq->ops->tx_flush(e->dq);
    assert(e->dq->tx_completed == e->tx_taken);
    dp_tx_reclaim(e);
    RCU_READ_LOCK_GUARD();
    mt = qatomic_rcu_read(&e->rings.mem);
    if (mt && dp_vring_live(vr)) {
        dp_vring_flush(vr, old_used, mt);
    }
}

unsigned int dp_tx_burst(VhostDpEngine *e, const DpMemTable *mt,
                         unsigned int max, uint64_t *bytes, bool *stall,
                         bool *rate_stall)
{
    DpVring *vr = &e->vr[DP_TX];
    DpBucket *b = &e->tx_bucket;
    unsigned int n = 0, iov_used = 0, sent, taken = 0, k;
    uint16_t avail_idx, start = vr->last_avail, old_used = vr->used_idx;
    bool hold = e->dq->tx_hold;
    int64_t tokens = dp_bucket_limits(b) ? b->tokens : INT64_MAX;

    if (hold) {
        uint64_t held;

        dp_tx_reclaim(e);
        held = e->tx_taken - e->tx_reclaimed;
        if (held >= vr->num) {
            /* every buffer is the driver's: it wakes us when done */
            dp_vring_flush(vr, old_used, mt);
            *stall = true;
            return 0;
        }
        max = MIN(max, vr->num - held);
    }
    if (!dp_vring_avail(vr, &avail_idx)) {
        dp_vring_flush(vr, old_used, mt);
        return 0;
    }
    max = MIN(max, VHOST_DP_BURST);
    while (taken < max &&
           (!taken || e->rings.run_descs < DP_RUN_DESC_BUDGET)) {
        int head = dp_vring_peek(vr, avail_idx);
        DpTxResult r;

        if (head < 0) {
            break;
        }
        if (tokens <= 0) {
            /* over the rate: the rest waits in the ring */
            *rate_stall = true;
            break;
        }
        r = dp_tx_one(e, mt, head, n, &iov_used);
        if (r == DP_TX_LATER || r == DP_TX_BROKEN) {
            break;
        }
        if (r == DP_TX_QUEUED) {
            tokens -= e->tx_pkts[n].len;
        }
        e->tx_chain[taken].head = head;
        e->tx_chain[taken].pkt = r == DP_TX_QUEUED ? n++ : -1;
        taken++;
        vr->last_avail++;
    }

    sent = n ? e->dq->ops->tx_burst(e->dq, e->tx_pkts, n) : 0;
    assert(sent <= n);
    for (k = 0; k < taken; k++) {
        int pkt = e->tx_chain[k].pkt;

        if (pkt >= (int)sent) {
            break;
        }
        if (pkt < 0) {
            dp_vring_put(vr, e->tx_chain[k].head, 0);
            e->st.tx_drops++;
            continue;
        }
        if (hold) {
            /* the guest gets it back once the driver completes it */
            e->tx_held[e->tx_taken++ % DP_VRING_MAX] = e->tx_chain[k].head;
        } else {
            dp_vring_put(vr, e->tx_chain[k].head, 0);
        }
        *bytes += e->tx_pkts[pkt].len;
        e->st.tx_bytes += e->tx_pkts[pkt].len;
        if (dp_bucket_limits(b)) {
            b->tokens -= e->tx_pkts[pkt].len;
        }
    }
    if (k < taken) {
        /* back-pressure: give the rest back to the ring, in order */
        vr->last_avail = start + k;
        taken = k;
        *stall = true;
    }
    if (sent) {
        e->st.tx_packets += sent;
        e->st.bursts++;
    }
    if (hold) {
        /* what the driver completed at once */
        dp_tx_reclaim(e);
    }
    dp_vring_flush(vr, old_used, mt);
    trace_vhost_dp_tx_burst(e, n, sent);
    return taken;
}

/*
 * RX: driver to guest
 */

static inline QEMU_ALWAYS_INLINE
bool dp_offload_to_hdr(VhostDpEngine *e, const VhostDpOffload *ol,
                       DpNetHdr *hdr)
{
    uint32_t ok = qatomic_read(&e->rx_offloads_ok);

    if (!vhost_dp_offload_allowed(ol, ok)) {
        return false;
    }
    vhost_dp_vnet_from_offload(&hdr->mrg.hdr, ol);
    if (!(ok & VHOST_DP_CAP_CSUM)) {
        /* a guest without GUEST_CSUM gets no DATA_VALID either */
        hdr->mrg.hdr.flags = 0;
    }
    hdr->hash_value = 0;
    hdr->hash_report = 0;
    hdr->padding = 0;
    return true;
}

/*
 * RSS hash reporting: the Toeplitz hash of a received frame's flow, of
 * the first of the guest's hash types the frame has, as virtio-net
 * computes it for its own receive path (virtio_net_rss_hash(), on
 * QEMU's parser, net_rx_pkt).
 */

/* Headers the hash looks at: Ethernet, a VLAN tag, IPv6, some options */
#define DP_HASH_PEEK 128

QEMU_BUILD_BUG_ON(sizeof(DpNetHdr) != sizeof(struct virtio_net_hdr_v1_hash));

/* A frame's hash: its VIRTIO_NET_HASH_REPORT_* and value, both le */
typedef struct DpHash {
    uint32_t value;
    uint16_t report;
} DpHash;

/* The hash of the frame whose first @len bytes are @h */
static DpHash dp_rx_hash(VhostDpEngine *e, const DpRss *rss,
                         const uint8_t *h, size_t len)
{
    struct iovec iov = { .iov_base = (void *)h, .iov_len = len };
    uint32_t hash;
    uint16_t report;

    net_rx_pkt_set_protocols(e->rx_pkt, &iov, 1, 0);
    report = virtio_net_rss_hash(e->rx_pkt, rss->r.hash_types,
                                 (uint8_t *)rss->r.key, &hash);
    return (DpHash) {
        .value = cpu_to_le32(hash), .report = cpu_to_le16(report),
    };
}

/* The hash of frame @p */
static DpHash dp_pkt_hash(VhostDpEngine *e, const DpRss *rss,
                          const VhostDpPkt *p)
{
    uint8_t h[DP_HASH_PEEK];

    return dp_rx_hash(e, rss, h, iov_to_buf(p->iov, p->iov_cnt, 0, h,
                                            sizeof(h)));
}

/* The queue pair RSS hands a frame of hash @dh to */
static VhostDpEngine *dp_rss_target(const DpRss *rss, const DpHash *dh)
{
    unsigned int q = dh->report == VIRTIO_NET_HASH_REPORT_NONE ?
        rss->r.default_queue :
        rss->r.table[le32_to_cpu(dh->value) & (rss->r.table_len - 1)];

    /* (the netdev checked the table) */
    return q < rss->npairs ? rss->pairs[q] : NULL;
}

typedef enum DpRxResult {
    DP_RX_NONE,             /* the driver had no frame */
    DP_RX_DELIVERED,
    DP_RX_DROPPED,
    DP_RX_NO_BUFFERS,
    DP_RX_BROKEN,
} DpRxResult;

/*
 * The helpers the two RX paths share are inlined into each: out of line,
 * they cost the copying path 15% more instructions a 64-byte frame
 * (callgrind).
 */

/*
 * Copy @len bytes from @src to @dst, both iovec arrays.  With a driver
 * that hands over the guest's own transmit buffers (zero-copy), both can
 * be guest memory, and a guest can make them overlap: memmove().
 */
static inline QEMU_ALWAYS_INLINE
void dp_iov_copy(const struct iovec *dst, unsigned int dst_cnt,
                 size_t dst_off, const struct iovec *src,
                 unsigned int src_cnt, size_t len)
{
    unsigned int di = 0, si = 0;
    size_t soff = 0;

    if (likely(dst_cnt == 1 && src_cnt == 1 && len <= src[0].iov_len &&
               dst_off <= dst[0].iov_len &&
               len <= dst[0].iov_len - dst_off)) {
        /* a frame in one piece into one buffer */
        memmove((uint8_t *)dst[0].iov_base + dst_off, src[0].iov_base, len);
        return;
    }
    while (di < dst_cnt && dst_off >= dst[di].iov_len) {
        dst_off -= dst[di].iov_len;
        di++;
    }
    while (len && di < dst_cnt && si < src_cnt) {
        size_t chunk = MIN(dst[di].iov_len - dst_off,
                           src[si].iov_len - soff);

        chunk = MIN(chunk, len);
        memmove((uint8_t *)dst[di].iov_base + dst_off,
                (uint8_t *)src[si].iov_base + soff, chunk);
        len -= chunk;
        dst_off += chunk;
        soff += chunk;
        if (dst_off == dst[di].iov_len) {
            di++;
            dst_off = 0;
        }
        if (soff == src[si].iov_len) {
            si++;
            soff = 0;
        }
    }
}

/*
 * Take guest buffers from the RX vring until @need bytes fit: their
 * heads and lengths in e->rx_heads[]/rx_head_len[], their iovecs in
 * e->rx_iov[].  On anything but DP_RX_DELIVERED the ring is as before.
 */
static inline QEMU_ALWAYS_INLINE
DpRxResult dp_rx_gather(VhostDpEngine *e, const DpMemTable *mt,
                        uint16_t avail_idx, uint64_t need,
                        unsigned int *nheads, unsigned int *iov_cnt)
{
    DpVring *vr = &e->vr[DP_RX];
    uint16_t start = vr->last_avail;
    uint64_t have = 0, len;
    DpRxResult r = DP_RX_DELIVERED;

    while (have < need) {
        int head;

        if ((*nheads && !e->mrg_rxbuf) || *nheads == DP_PKT_IOV_MAX) {
            /* one buffer must hold the frame, or too many: drop it */
            r = DP_RX_DROPPED;
            break;
        }
        head = dp_vring_peek(vr, avail_idx);
        if (head < 0) {
            /* a whole ring of buffers cannot hold it: it never will */
            r = vr->broken ? DP_RX_BROKEN :
                (uint16_t)(avail_idx - start) == vr->num ?
                DP_RX_DROPPED : DP_RX_NO_BUFFERS;
            break;
        }
        e->rx_head_iov[*nheads] = *iov_cnt;
        switch (dp_vring_walk(vr, mt, head, true, e->rx_iov, e->rx_gpa,
                              iov_cnt, DP_IOV_MAX, &len)) {
        case DP_WALK_OK:
            break;
        case DP_WALK_FULL:
            r = DP_RX_DROPPED;
            break;
        default:
            r = DP_RX_BROKEN;
            break;
        }
        if (r == DP_RX_DELIVERED && !len) {
            dp_vring_error(vr, "empty receive buffer %u", head);
            r = DP_RX_BROKEN;
        }
        if (r != DP_RX_DELIVERED) {
            break;
        }
        vr->last_avail++;
        e->rx_heads[*nheads] = head;
        e->rx_head_len[*nheads] = MIN(len, need - have);
        have += len;
        (*nheads)++;
    }
    if (r != DP_RX_DELIVERED) {
        vr->last_avail = start;
    }
    return r;
}

/*
 * Hand the gathered buffers holding a frame of @need bytes, header
 * included, to the guest: the header, the used entries, dirty pages.
 */
static inline QEMU_ALWAYS_INLINE
void dp_rx_commit(VhostDpEngine *e, const DpMemTable *mt,
                  DpNetHdr *hdr, unsigned int nheads,
                  unsigned int iov_cnt, uint64_t need)
{
    DpVring *vr = &e->vr[DP_RX];

    /* mergeable buffers imply a header with num_buffers */
    assert(nheads == 1 || e->hdr_len >= sizeof(hdr->mrg));
    hdr->mrg.num_buffers = cpu_to_le16(nheads);
    if (likely(e->rx_iov[0].iov_len >= e->hdr_len)) {
        memcpy(e->rx_iov[0].iov_base, hdr, e->hdr_len);
    } else {
        iov_from_buf(e->rx_iov, iov_cnt, 0, hdr, e->hdr_len);
    }

    for (unsigned int i = 0; i < nheads; i++) {
        dp_vring_put(vr, e->rx_heads[i], e->rx_head_len[i]);
    }
    if (qatomic_read(&e->rings.log_all)) {
        uint64_t left = need;

        for (unsigned int i = 0; i < iov_cnt && left; i++) {
            uint64_t l = MIN(left, e->rx_iov[i].iov_len);

            dp_mark_dirty(&e->rings, mt, e->rx_gpa[i], l);
            left -= l;
        }
    }
}

/* @rss if received frames carry their hash, or NULL */
static inline const DpRss *dp_rx_hashing(VhostDpEngine *e, const DpRss *rss)
{
    return rss && rss->r.populate_hash &&
           e->hdr_len == sizeof(DpNetHdr) ? rss : NULL;
}

/* Deliver one frame into guest buffers, with hash @dh if not NULL */
static DpRxResult dp_rx_one(VhostDpEngine *e, const DpMemTable *mt,
                            uint16_t avail_idx, const VhostDpPkt *p,
                            const DpHash *dh)
{
    DpNetHdr hdr;
    uint64_t need = (uint64_t)p->len + e->hdr_len;
    unsigned int nheads = 0, iov_cnt = 0;
    DpRxResult r;

    if (!dp_offload_to_hdr(e, &p->ol, &hdr)) {
        return DP_RX_DROPPED;
    }
    if (dh) {
        hdr.hash_value = dh->value;
        hdr.hash_report = dh->report;
    }
    r = dp_rx_gather(e, mt, avail_idx, need, &nheads, &iov_cnt);
    if (r != DP_RX_DELIVERED) {
        return r;
    }
    dp_iov_copy(e->rx_iov, iov_cnt, e->hdr_len, p->iov, p->iov_cnt, p->len);
    dp_rx_commit(e, mt, &hdr, nheads, iov_cnt, need);
    return DP_RX_DELIVERED;
}

void dp_rx_release(VhostDpEngine *e, unsigned int n)
{
    if (n && e->dq->ops->rx_release) {
        e->dq->ops->rx_release(e->dq, &e->rx_pkts[e->rx_first], n);
    }
    e->rx_first += n;
    e->rx_count -= n;
    if (!e->rx_count) {
        e->rx_first = 0;
    }
}

/* The first bytes of a frame, as much as the receive filter looks at */
#define DP_FILTER_LEN 16

/* Does the guest's receive filter let a frame starting with @h through? */
static bool dp_rx_filter_pass(const VhostDpRxFilter *f, const uint8_t *h,
                              size_t len)
{
    static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

    if (len < DP_FILTER_LEN) {
        return true;            /* a runt: the guest's business */
    }
    if (f->vlan_filter && h[12] == 0x81 && h[13] == 0x00) {
        unsigned int vid = ((h[14] << 8) | h[15]) & 0xfff;

        if (!(f->vlans[vid / 32] & (1U << (vid % 32)))) {
            return false;
        }
    }
    if (h[0] & 1) {
        if (!memcmp(h, bcast, 6)) {
            return f->broadcast;
        }
        if (f->no_multi || f->all_multi) {
            return !f->no_multi;
        }
    } else {
        if (f->no_uni || f->all_uni) {
            return !f->no_uni;
        }
        if (!memcmp(h, f->mac, 6)) {
            return true;
        }
    }
    for (unsigned int i = 0; i < f->n_macs; i++) {
        if (!memcmp(h, f->macs[i], 6)) {
            return true;
        }
    }
    return false;
}

/*
 * RX straight into guest buffers, for a driver with rx_read: take guest
 * buffers for a frame as long as the last one, let the driver read the
 * next frame into them, copy only what did not fit, and give back the
 * buffers the frame did not need.  No frame is read before the guest has
 * a buffer for it.  The guest's buffers may see a frame its receive
 * filter then drops; they stay the guest's and unused.
 */

/* How many of the gathered heads hold @need bytes; sets their lengths */
static unsigned int dp_rx_heads_for(VhostDpEngine *e, unsigned int nheads,
                                    unsigned int iov_cnt, uint64_t need)
{
    unsigned int i, k = 0;

    for (i = 0; i < nheads && need; i++) {
        unsigned int end = i + 1 < nheads ? e->rx_head_iov[i + 1] : iov_cnt;
        uint64_t len = 0;

        for (; k < end; k++) {
            len += e->rx_iov[k].iov_len;
        }
        e->rx_head_len[i] = MIN(len, need);
        need -= e->rx_head_len[i];
    }
    return i;
}

static DpRxResult dp_rx_direct_one(VhostDpEngine *e, const DpMemTable *mt,
                                   uint16_t avail_idx, const DpRxFilter *flt,
                                   const DpRss *rss, uint32_t *len)
{
    DpVring *vr = &e->vr[DP_RX];
    uint16_t start = vr->last_avail;
    DpNetHdr hdr;
    unsigned int nheads = 0, iov_cnt = 0, rd_cnt = 0;
    uint64_t need, have;
    uint8_t h[DP_HASH_PEEK];
    size_t peek = rss ? DP_HASH_PEEK : DP_FILTER_LEN;
    size_t direct, rest, hl;
    VhostDpPkt p;
    DpRxResult r;

    if (dp_bucket_limits(&e->rx_bucket) && e->rx_bucket.tokens <= 0) {
        /* over the receive rate: read the frame only to drop it */
        if (!e->dq->ops->rx_read(e->dq, e->rx_rd_iov, 0, &p)) {
            return DP_RX_NONE;
        }
        e->st.rx_rate_drops++;
        return DP_RX_DROPPED;
    }
    /* one buffer holds a frame without mergeable buffers */
    need = e->hdr_len + (e->mrg_rxbuf ? MAX(e->rx_hint, 1) : 1);
    r = dp_rx_gather(e, mt, avail_idx, need, &nheads, &iov_cnt);
    if ((r == DP_RX_DROPPED || r == DP_RX_NO_BUFFERS) &&
        need > e->hdr_len + 1) {
        /* fewer buffers than the last frame needed: start with one */
        nheads = iov_cnt = 0;
        r = dp_rx_gather(e, mt, avail_idx, e->hdr_len + 1, &nheads,
                         &iov_cnt);
    }
    if (r == DP_RX_NO_BUFFERS || r == DP_RX_BROKEN) {
        return r;
    }
    have = 0;
    if (r == DP_RX_DELIVERED) {
        for (unsigned int i = 0; i < iov_cnt; i++) {
            have += e->rx_iov[i].iov_len;
        }
        rd_cnt = iov_copy(e->rx_rd_iov, DP_IOV_MAX, e->rx_iov, iov_cnt,
                          e->hdr_len, have - e->hdr_len);
    }
    /* without buffers (r == DP_RX_DROPPED) the frame is only dropped */
    if (!e->dq->ops->rx_read(e->dq, e->rx_rd_iov, rd_cnt, &p)) {
        vr->last_avail = start;
        return DP_RX_NONE;
    }
    *len = p.len;
    e->rx_hint = MIN(p.len, DP_MAX_FRAME);
    rest = iov_size(p.iov, p.iov_cnt);
    assert(rest <= p.len);
    direct = p.len - rest;
    hl = iov_to_buf(e->rx_rd_iov, rd_cnt, 0, h, MIN(direct, peek));
    hl += iov_to_buf(p.iov, p.iov_cnt, 0, h + hl, peek - hl);
    if (r != DP_RX_DELIVERED || (flt && !dp_rx_filter_pass(&flt->f, h, hl)) ||
        !dp_offload_to_hdr(e, &p.ol, &hdr)) {
        vr->last_avail = start;
        return DP_RX_DROPPED;
    }
    if (rss) {
        DpHash dh = dp_rx_hash(e, rss, h, hl);

        hdr.hash_value = dh.value;
        hdr.hash_report = dh.report;
    }
    need = (uint64_t)p.len + e->hdr_len;
    if (need > have) {
        /* the frame is longer than the buffers taken: take more */
        r = dp_rx_gather(e, mt, avail_idx, need - have, &nheads, &iov_cnt);
        if (r == DP_RX_NO_BUFFERS && p.len > DP_MAX_FRAME) {
            /*
             * Longer than the bounce buffer (a TAP whose host side
             * allows GSO frames past 64 KiB): it cannot wait, drop it.
             */
            r = DP_RX_DROPPED;
        }
        if (r == DP_RX_NO_BUFFERS) {
            /* the frame is read: it waits for buffers in the engine */
            iov_to_buf(e->rx_rd_iov, rd_cnt, 0, e->rx_bounce, direct);
            iov_to_buf(p.iov, p.iov_cnt, 0, e->rx_bounce + direct, rest);
            e->rx_bounce_iov = (struct iovec) { e->rx_bounce, p.len };
            e->rx_pending = (VhostDpPkt) {
                .iov = &e->rx_bounce_iov, .iov_cnt = 1, .len = p.len,
                .ol = p.ol,
            };
            e->rx_has_pending = true;
        }
        if (r != DP_RX_DELIVERED) {
            vr->last_avail = start;
            return r;
        }
    }
    if (dp_bucket_limits(&e->rx_bucket)) {
        e->rx_bucket.tokens -= p.len;
    }
    if (rest) {
        /* what did not fit came in driver memory */
        dp_iov_copy(e->rx_iov, iov_cnt, e->hdr_len + direct, p.iov,
                    p.iov_cnt, rest);
    } else {
        e->st.rx_direct++;
    }
    nheads = dp_rx_heads_for(e, nheads, iov_cnt, need);
    vr->last_avail = start + nheads;
    dp_rx_commit(e, mt, &hdr, nheads, iov_cnt, need);
    return DP_RX_DELIVERED;
}

/* The end of a receive burst: counters, then the used ring */
static void dp_rx_burst_done(VhostDpEngine *e, uint16_t old_used,
                             const DpMemTable *mt, unsigned int delivered)
{
    if (delivered) {
        e->st.rx_packets += delivered;
        e->st.bursts++;
    }
    dp_vring_flush(&e->vr[DP_RX], old_used, mt);
}

/*
 * Count what became of one frame.  True if the burst stops there: the
 * driver had no frame, the ring broke, or the guest has no buffers, and
 * then the queue waits for buffers past the ones seen (if some came
 * meanwhile, the run goes on in a new burst; it never retries with the
 * same buffers).
 */
static inline QEMU_ALWAYS_INLINE
bool dp_rx_result(VhostDpEngine *e, DpRxResult r, uint32_t len,
                  uint16_t avail_idx, unsigned int *delivered,
                  uint64_t *bytes, bool *starved)
{
    switch (r) {
    case DP_RX_DELIVERED:
        (*delivered)++;
        *bytes += len;
        e->st.rx_bytes += len;
        return false;
    case DP_RX_DROPPED:
        e->st.rx_drops++;
        return false;
    case DP_RX_NO_BUFFERS:
        e->rx_seen = avail_idx;
        if (!dp_vring_notify_on(&e->vr[DP_RX], avail_idx)) {
            *starved = true;
            e->st.rx_no_buffers++;
        }
        return true;
    default:
        return true;
    }
}

static unsigned int dp_rx_direct_burst(VhostDpEngine *e, const DpMemTable *mt,
                                       unsigned int max, uint64_t *bytes,
                                       bool *starved)
{
    DpVring *vr = &e->vr[DP_RX];
    const DpRxFilter *flt = qatomic_rcu_read(&e->rx_filter);
    const DpRss *rss = dp_rx_hashing(e, qatomic_rcu_read(&e->rss));
    uint16_t avail_idx, old_used = vr->used_idx;
    unsigned int done = 0, delivered = 0;

    if (!dp_vring_avail(vr, &avail_idx)) {
        return 0;
    }
    max = MIN(max, VHOST_DP_BURST);
    while (done < max) {
        uint32_t len = 0;
        DpRxResult r;

        if (unlikely(e->rx_has_pending)) {
            DpHash dh;

            /* the frame that waited for buffers goes first, copied */
            len = e->rx_pending.len;
            if (rss) {
                dh = dp_pkt_hash(e, rss, &e->rx_pending);
            }
            r = dp_rx_one(e, mt, avail_idx, &e->rx_pending,
                          rss ? &dh : NULL);
            e->rx_has_pending = r == DP_RX_NO_BUFFERS;
        } else {
            r = dp_rx_direct_one(e, mt, avail_idx, flt, rss, &len);
        }

        /* (without buffers, no frame was read) */
        if (dp_rx_result(e, r, len, avail_idx, &delivered, bytes, starved)) {
            break;
        }
        done++;
    }
    dp_rx_burst_done(e, old_used, mt, delivered);
    trace_vhost_dp_rx_burst(e, done, delivered);
    return done;
}

/*
 * The receive rate: police it, dropping the frames past it (receiving,
 * the engine cannot hold the sender back).  A frame may take the
 * bucket into debt.
 */
static bool dp_rx_rate_pass(VhostDpEngine *e, uint32_t len)
{
    DpBucket *b = &e->rx_bucket;

    if (b->tokens <= 0) {
        e->st.rx_drops++;
        e->st.rx_rate_drops++;
        return false;
    }
    b->tokens -= len;
    return true;
}

/*
 * Software RSS: hand frame @p, of hash @dh, to queue pair @to's inbox,
 * and wake that IOThread once the burst is done.  Frames longer than a
 * slot (GSO frames, up to 64 KiB of payload) take an allocation of their
 * own.  Returns false if the inbox is full.
 */
static bool dp_rx_steer(VhostDpEngine *e, VhostDpEngine *to,
                        const VhostDpPkt *p, const DpHash *dh)
{
    DpInbox *ib = qatomic_load_acquire(&to->inbox);
    uint32_t pos = qatomic_read(&ib->head);
    DpInboxSlot *sl;
    unsigned int i;

    for (;;) {
        int32_t dif;

        sl = &ib->slot[pos % DP_INBOX_SLOTS];
        dif = (int32_t)(qatomic_load_acquire(&sl->seq) - pos);
        if (dif == 0) {
            uint32_t seen = qatomic_cmpxchg(&ib->head, pos, pos + 1);

            if (seen == pos) {
                break;
            }
            pos = seen;
        } else if (dif < 0) {
            return false;       /* the consumer is a whole round behind */
        } else {
            pos = qatomic_read(&ib->head);
        }
    }
    sl->len = p->len;
    sl->ol = p->ol;
    sl->hash_value = dh->value;
    sl->hash_report = dh->report;
    sl->big = p->len > sizeof(sl->buf) ? g_malloc(p->len) : NULL;
    iov_to_buf(p->iov, p->iov_cnt, 0, sl->big ?: sl->buf, p->len);
    qatomic_store_release(&sl->seq, pos + 1);

    for (i = 0; i < e->rx_n_woken && e->rx_woken[i] != to; i++) {
        continue;
    }
    if (i == e->rx_n_woken) {
        e->rx_woken[e->rx_n_woken++] = to;
    }
    return true;
}

static void dp_rx_wake_steered(VhostDpEngine *e)
{
    for (unsigned int i = 0; i < e->rx_n_woken; i++) {
        qemu_bh_schedule(e->rx_woken[i]->inbox_bh);
    }
    e->rx_n_woken = 0;
}

/* The next filled slot of the inbox, or NULL */
static DpInboxSlot *dp_inbox_peek(DpInbox *ib)
{
    DpInboxSlot *sl = &ib->slot[ib->tail % DP_INBOX_SLOTS];

    return qatomic_load_acquire(&sl->seq) == ib->tail + 1 ? sl : NULL;
}

static void dp_inbox_pop(DpInbox *ib, DpInboxSlot *sl)
{
    g_free(sl->big);
    sl->big = NULL;
    qatomic_store_release(&sl->seq, ib->tail + DP_INBOX_SLOTS);
    ib->tail++;
}

bool dp_inbox_pending(VhostDpEngine *e)
{
    DpInbox *ib = qatomic_load_acquire(&e->inbox);

    return ib && dp_inbox_peek(ib);
}

void dp_inbox_drop_all(VhostDpEngine *e)
{
    DpInbox *ib = qatomic_load_acquire(&e->inbox);
    DpInboxSlot *sl;

    while (ib && (sl = dp_inbox_peek(ib))) {
        dp_inbox_pop(ib, sl);
    }
}

/*
 * Deliver the frames other queue pairs handed to this one.  Returns the
 * frames handled; sets *@starved when the guest has no buffers left.
 */
unsigned int dp_rx_inbox(VhostDpEngine *e, const DpMemTable *mt,
                         unsigned int max, uint64_t *bytes, bool *starved)
{
    DpVring *vr = &e->vr[DP_RX];
    DpInbox *ib = qatomic_load_acquire(&e->inbox);
    const DpRss *rss;
    uint16_t avail_idx, old_used = vr->used_idx;
    unsigned int done = 0, delivered = 0;
    bool limited = dp_bucket_limits(&e->rx_bucket);
    DpInboxSlot *sl;

    if (!ib || !dp_inbox_peek(ib) || !dp_vring_avail(vr, &avail_idx)) {
        return 0;
    }
    rss = dp_rx_hashing(e, qatomic_rcu_read(&e->rss));
    while (done < max && (sl = dp_inbox_peek(ib))) {
        struct iovec iov = {
            .iov_base = sl->big ?: sl->buf, .iov_len = sl->len,
        };
        VhostDpPkt p = { .iov = &iov, .iov_cnt = 1, .len = sl->len,
                         .ol = sl->ol };
        DpHash dh = { .value = sl->hash_value, .report = sl->hash_report };
        DpRxResult r = DP_RX_DROPPED;

        /* (the sender applied the receive filter) */
        if (!limited || dp_rx_rate_pass(e, p.len)) {
            r = dp_rx_one(e, mt, avail_idx, &p, rss ? &dh : NULL);
            if (r == DP_RX_DROPPED) {
                e->st.rx_drops++;
            }
        }
        if (r == DP_RX_DELIVERED || r == DP_RX_DROPPED) {
            dp_inbox_pop(ib, sl);
        }
        if (r != DP_RX_DROPPED &&
            dp_rx_result(e, r, p.len, avail_idx, &delivered, bytes,
                         starved)) {
            break;
        }
        done++;
    }
    dp_rx_burst_done(e, old_used, mt, delivered);
    return done;
}

/*
 * Move frames from the driver to the RX vring.  Returns the frames
 * handled; sets *@starved when the guest has no buffers left.
 *
 * With software RSS, a frame for another queue pair goes to its inbox
 * after the receive filter; that pair applies its receive rate.
 */
unsigned int dp_rx_burst(VhostDpEngine *e, const DpMemTable *mt,
                         unsigned int max, uint64_t *bytes, bool *starved)
{
    DpVring *vr = &e->vr[DP_RX];
    const DpRxFilter *flt = qatomic_rcu_read(&e->rx_filter);
    const DpRss *rss = qatomic_rcu_read(&e->rss);
    const DpRss *hashing = dp_rx_hashing(e, rss);
    uint16_t avail_idx, old_used = vr->used_idx;
    unsigned int done = 0, delivered = 0;
    bool limited = dp_bucket_limits(&e->rx_bucket);

    if (e->dq->ops->rx_read) {
        return dp_rx_direct_burst(e, mt, max, bytes, starved);
    }
    if (!e->rx_count) {
        e->rx_first = 0;
        e->rx_count = e->dq->ops->rx_burst(e->dq, e->rx_pkts,
                                           MIN(max, VHOST_DP_BURST));
        assert(e->rx_count <= VHOST_DP_BURST);
        if (!e->rx_count) {
            return 0;
        }
    }
    if (!dp_vring_avail(vr, &avail_idx)) {
        return 0;
    }
    if (rss && !rss->r.steer) {
        rss = hashing;
    }
    while (done < e->rx_count && done < max) {
        const VhostDpPkt *p = &e->rx_pkts[e->rx_first + done];
        DpHash dh;
        DpRxResult r;

        uint8_t h[DP_FILTER_LEN];

        if (flt && !dp_rx_filter_pass(&flt->f, h,
                                      iov_to_buf(p->iov, p->iov_cnt, 0, h,
                                                 sizeof(h)))) {
            e->st.rx_drops++;
            done++;
            continue;
        }
        if (rss) {
            dh = dp_pkt_hash(e, rss, p);
            if (rss->r.steer) {
                VhostDpEngine *to = dp_rss_target(rss, &dh);

                if (to && to != e) {
                    if (dp_rx_steer(e, to, p, &dh)) {
                        e->st.rx_steered++;
                    } else {
                        e->st.rx_drops++;
                    }
                    done++;
                    continue;
                }
            }
        }
        if (limited && !dp_rx_rate_pass(e, p->len)) {
            done++;
            continue;
        }
        r = dp_rx_one(e, mt, avail_idx, p, hashing ? &dh : NULL);
        if (dp_rx_result(e, r, p->len, avail_idx, &delivered, bytes,
                         starved)) {
            break;
        }
        done++;
    }
    dp_rx_burst_done(e, old_used, mt, delivered);
    dp_rx_release(e, done);
    if (e->rx_n_woken) {
        dp_rx_wake_steered(e);
    }
    trace_vhost_dp_rx_burst(e, done, delivered);
    return done;
}

/*
 * Frames from QEMU itself
 */

/*
 * Take the frames QEMU injected and hand them to the driver like guest
 * frames without offloads.  Best effort: what the driver does not take
 * now is dropped, as a full TAP would drop it.
 */
void dp_inject_flush(VhostDpEngine *e)
{
    QSIMPLEQ_HEAD(, DpInjected) list = QSIMPLEQ_HEAD_INITIALIZER(list);
    DpInjected *f, *next;

    WITH_QEMU_LOCK_GUARD(&e->inject_lock) {
        QSIMPLEQ_CONCAT(&list, &e->injected);
        e->n_injected = 0;
        qatomic_set(&e->inject_pending, false);
    }
    QSIMPLEQ_FOREACH_SAFE(f, &list, next, next) {
        struct iovec iov = { .iov_base = f->data, .iov_len = f->len };
        VhostDpPkt pkt = { .iov = &iov, .iov_cnt = 1, .len = f->len };

        if (e->dq->ops->tx_burst(e->dq, &pkt, 1) != 1) {
            e->st.tx_drops++;
        }
        g_free(f);
    }
}

void dp_inject_drop_all(VhostDpEngine *e)
{
    DpInjected *f;

    WITH_QEMU_LOCK_GUARD(&e->inject_lock) {
        while ((f = QSIMPLEQ_FIRST(&e->injected))) {
            QSIMPLEQ_REMOVE_HEAD(&e->injected, next);
            g_free(f);
        }
        e->n_injected = 0;
        qatomic_set(&e->inject_pending, false);
    }
}

/*
 * Features
 */

uint64_t dp_offered_features(const VhostDpDriverCaps *caps, bool steer)
{
    uint64_t f = (1ULL << VIRTIO_F_VERSION_1) |
                 (1ULL << VIRTIO_F_ANY_LAYOUT) |
                 (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |
                 (1ULL << VIRTIO_RING_F_EVENT_IDX) |
                 (1ULL << VIRTIO_NET_F_MRG_RXBUF) |
                 (1ULL << VIRTIO_NET_F_MTU) |
                 (1ULL << VIRTIO_F_IOMMU_PLATFORM) |
                 (1ULL << VIRTIO_F_RING_PACKED) |
                 (1ULL << VHOST_F_LOG_ALL);

    /*
     * RSS: the driver's device steers (the netdev gives it the eBPF
     * program), or the engine hands each frame to its queue pair's
     * IOThread; not for a driver that reads into guest buffers (@steer)
     */
    if (caps->steering || steer) {
        f |= 1ULL << VIRTIO_NET_F_RSS;
    }
    /* the engine hashes what any driver receives */
    f |= 1ULL << VIRTIO_NET_F_HASH_REPORT;
    if (caps->tx_offloads & VHOST_DP_CAP_CSUM) {
        f |= 1ULL << VIRTIO_NET_F_CSUM;
        if (caps->tx_offloads & VHOST_DP_CAP_TSO4) {
            f |= 1ULL << VIRTIO_NET_F_HOST_TSO4;
        }
        if (caps->tx_offloads & VHOST_DP_CAP_TSO6) {
            f |= 1ULL << VIRTIO_NET_F_HOST_TSO6;
        }
        if (caps->tx_offloads & VHOST_DP_CAP_ECN) {
            f |= 1ULL << VIRTIO_NET_F_HOST_ECN;
        }
        if ((caps->tx_offloads & VHOST_DP_CAP_USO4) &&
            (caps->tx_offloads & VHOST_DP_CAP_USO6)) {
            f |= 1ULL << VIRTIO_NET_F_HOST_USO;
        }
    }
    if (caps->rx_offloads & VHOST_DP_CAP_CSUM) {
        f |= 1ULL << VIRTIO_NET_F_GUEST_CSUM;
        if (caps->rx_offloads & VHOST_DP_CAP_TSO4) {
            f |= 1ULL << VIRTIO_NET_F_GUEST_TSO4;
        }
        if (caps->rx_offloads & VHOST_DP_CAP_TSO6) {
            f |= 1ULL << VIRTIO_NET_F_GUEST_TSO6;
        }
        if (caps->rx_offloads & VHOST_DP_CAP_ECN) {
            f |= 1ULL << VIRTIO_NET_F_GUEST_ECN;
        }
        if (caps->rx_offloads & VHOST_DP_CAP_USO4) {
            f |= 1ULL << VIRTIO_NET_F_GUEST_USO4;
        }
        if (caps->rx_offloads & VHOST_DP_CAP_USO6) {
            f |= 1ULL << VIRTIO_NET_F_GUEST_USO6;
        }
    }
    return f;
}
