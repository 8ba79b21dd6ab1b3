/*
 * vhost dataplane: the engine's shared state
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The engine serves one virtio-net queue pair inside QEMU, in four files
 * with one job each:
 *   vhost-dp-ring.c      the split-ring core (vhost-dp-ring.h)
 *   vhost-dp-net.c       virtio-net: TX and RX bursts, mergeable buffers,
 *                        headers and offloads, the receive filter
 *   vhost-dp-iothread.c  life cycle, the run loop, budgets, polling
 *   vhost-dp-ops.c       the VhostOps backend hw/virtio/vhost.c calls
 * This header is what they share.  Ownership tags as in vhost-dp-ring.h:
 * [io] belongs to the queue pair's IOThread while it is started, [atomic]
 * is written under the BQL and read there, RCU is RCU-published.
 */

#ifndef HW_VIRTIO_VHOST_DP_INT_H
#define HW_VIRTIO_VHOST_DP_INT_H

#include "qemu/queue.h"
#include "qemu/thread.h"
#include "qemu/units.h"
#include "qemu/host-utils.h"
#include "qemu/timer.h"
#include "block/aio.h"
#include "hw/virtio/vhost-dp.h"
#include "hw/virtio/vhost-dp-ring.h"
#include "standard-headers/linux/virtio_net.h"

/*
 * Per run of a queue pair, at most this much work before yielding:
 * packets, bytes, and descriptors visited (a guest can give 1024-entry
 * chains for every slot).
 */
#define DP_RUN_PKT_BUDGET   256
#define DP_RUN_BYTE_BUDGET  (1024 * 1024)
#define DP_RUN_DESC_BUDGET  8192

/* iovec entries for one burst, and for one packet */
#define DP_IOV_MAX          2048
#define DP_PKT_IOV_MAX      1024

/* Largest vring (vhost-dp-ops.c checks) */
#define DP_VRING_MAX        32768

/* Largest frame accepted from the guest, without its virtio header */
#define DP_MAX_FRAME        (65535 + 14 + 4)

/*
 * A token bucket of bytes, one per direction of a queue pair.  The rate
 * and size are set under the BQL; the IOThread refills the tokens once
 * a run, takes them per frame, and may run one frame into debt.
 */
typedef struct DpBucket {
    uint64_t rate;                  /* [atomic] bytes a second, 0: none */
    uint64_t size;                  /* [atomic] bytes */
    uint64_t seen_rate;             /* [io] the rate the tokens are for */
    int64_t tokens;                 /* [io] */
    int64_t last_ns;                /* [io] */
} DpBucket;

static inline bool dp_bucket_limits(const DpBucket *b)
{
    return b->seen_rate != 0;
}

/*
 * Nanoseconds until a bucket in debt is a quarter full again: a wake-up
 * then moves a batch of frames, not one.
 */
static inline int64_t dp_bucket_wait_ns(const DpBucket *b)
{
    int64_t want = MAX(qatomic_read(&b->size) / 4, 1);

    return muldiv64(want - b->tokens, NANOSECONDS_PER_SECOND, b->seen_rate);
}

typedef struct DpRxFilter {
    struct rcu_head rcu;
    VhostDpRxFilter f;
} DpRxFilter;

typedef struct DpRss {
    struct rcu_head rcu;
    VhostDpRss r;
    unsigned int npairs;
    VhostDpEngine *pairs[];         /* by queue pair: where frames go */
} DpRss;

/*
 * Software RSS: the frames other queue pairs' IOThreads hand to this
 * one, in a bounded queue of many producers and one consumer (this
 * IOThread) without a lock.  Each slot has a sequence number: a producer
 * claims slot k with a compare-and-swap on @head when its sequence is k,
 * fills it, and sets it to k + 1; the consumer takes it then, and sets
 * it to k + DP_INBOX_SLOTS for the next round.
 */
#define DP_INBOX_SLOTS  256
#define DP_INBOX_BUF    2048        /* longer frames come in @big */

typedef struct DpInboxSlot {
    uint32_t seq;                   /* [atomic] */
    uint32_t len;
    uint32_t hash_value;            /* le, as the header wants it */
    uint16_t hash_report;           /* le */
    VhostDpOffload ol;
    uint8_t *big;                   /* a longer frame, or NULL */
    uint8_t buf[DP_INBOX_BUF];
} DpInboxSlot;

typedef struct DpInbox {
    uint32_t head;                  /* [atomic] next slot to claim */
    uint32_t tail;                  /* [io] next slot to take */
    DpInboxSlot slot[DP_INBOX_SLOTS];
} DpInbox;

/*
 * The longest virtio-net header, virtio_net_hdr_v1_hash: the engine reads
 * and writes the first e->hdr_len bytes
 */
typedef struct DpNetHdr {
    struct virtio_net_hdr_mrg_rxbuf mrg;
    uint32_t hash_value;            /* le */
    uint16_t hash_report;           /* le */
    uint16_t padding;
} DpNetHdr;

/* A frame from QEMU itself on its way to the driver */
typedef struct DpInjected {
    QSIMPLEQ_ENTRY(DpInjected) next;
    size_t len;
    uint8_t data[];
} DpInjected;

/* how many may wait for the IOThread; the rest are dropped */
#define DP_INJECT_MAX   8
#define DP_INJECT_LEN_MAX (64 * KiB)

struct VhostDpEngine {
    VhostDpDriver *drv;
    VhostDpDriverQueue *dq;
    VhostDpDriverCaps caps;
    AioContext *ctx;
    char *name;
    uint64_t offered;               /* features the engine implements */

    /* set under the BQL while stopped */
    struct vhost_dev *dev;
    uint64_t features;
    unsigned int hdr_len;
    bool mrg_rxbuf;
    bool started;

    bool enabled;                   /* [atomic] */
    uint32_t rx_offloads_ok;        /* [atomic] */
    DpRxFilter *rx_filter;          /* RCU; NULL: take every frame */
    DpRss *rss;                     /* RCU; NULL: no hash */
    DpInbox *inbox;                 /* [atomic] set once: RSS steers */
    QEMUBH *inbox_bh;               /* runs us when frames came in it */

    DpRings rings;
    DpVring vr[DP_NVQS];

    /* [io] */
    bool running;
    bool fd_read_armed;
    bool fd_write_armed;
    bool tx_stalled;                /* the driver pushed back, or the rate */
    bool rx_starved;                /* waiting for guest RX buffers */
    uint16_t rx_seen;               /* ...past this avail index */
    QEMUBH *bh;
    DpBucket tx_bucket, rx_bucket;
    QEMUTimer rate_timer;           /* the transmit rate allows more */
    VhostDpEngineStats st;          /* published after each run */
    VhostDpEngineStats pub;         /* [atomic] what readers see */

    /* frames QEMU sends itself (the announcement), for the driver */
    QemuMutex inject_lock;
    QSIMPLEQ_HEAD(, DpInjected) injected;   /* [inject_lock] */
    unsigned int n_injected;                /* [inject_lock] */
    bool inject_pending;                    /* [atomic] */

    /*
     * [io] TX burst scratch.  tx_chain[] has every chain taken in the
     * burst in avail order (so chain k came from avail position
     * last_avail + k): a packet for the driver or a drop.
     */
    struct iovec tx_iov[DP_IOV_MAX];
    VhostDpPkt tx_pkts[VHOST_DP_BURST];
    struct {
        uint16_t head;
        int16_t pkt;                /* index in tx_pkts, or -1: dropped */
    } tx_chain[VHOST_DP_BURST];

    /*
     * [io] Zero-copy TX (the driver has tx_hold): the heads of the
     * frames it took, in order, from tx_reclaimed (given back to the
     * guest) to tx_taken.
     */
    uint16_t tx_held[DP_VRING_MAX];
    uint64_t tx_taken;
    uint64_t tx_reclaimed;

    /* [io] RX: frames taken from the driver, not yet delivered */
    VhostDpPkt rx_pkts[VHOST_DP_BURST];
    unsigned int rx_first;
    unsigned int rx_count;

    /* [io] RSS: QEMU's parser of received frames, for their hash */
    struct NetRxPkt *rx_pkt;
    /* [io] the queue pairs a burst handed frames to, to wake */
    VhostDpEngine *rx_woken[VHOST_DP_BURST];
    unsigned int rx_n_woken;

    /* [io] RX scratch: the guest buffers of one frame */
    struct iovec rx_iov[DP_IOV_MAX];
    uint64_t rx_gpa[DP_IOV_MAX];
    uint16_t rx_heads[DP_PKT_IOV_MAX];
    uint32_t rx_head_len[DP_PKT_IOV_MAX];
    unsigned int rx_head_iov[DP_PKT_IOV_MAX];

    /* [io] RX straight into guest buffers (the driver has rx_read) */
    struct iovec rx_rd_iov[DP_IOV_MAX];     /* them, past the header */
    uint32_t rx_hint;                       /* length of the last frame */
    /* a frame read that needs more buffers than the guest has posted */
    bool rx_has_pending;
    VhostDpPkt rx_pending;                  /* in rx_bounce */
    struct iovec rx_bounce_iov;
    uint8_t *rx_bounce;                     /* DP_MAX_FRAME bytes */
};

/* vhost-dp-net.c */
unsigned int dp_tx_burst(VhostDpEngine *e, const DpMemTable *mt,
                         unsigned int max, uint64_t *bytes, bool *stall,
                         bool *rate_stall);
void dp_tx_release_held(VhostDpEngine *e);
unsigned int dp_rx_burst(VhostDpEngine *e, const DpMemTable *mt,
                         unsigned int max, uint64_t *bytes, bool *starved);
unsigned int dp_rx_inbox(VhostDpEngine *e, const DpMemTable *mt,
                         unsigned int max, uint64_t *bytes, bool *starved);
bool dp_inbox_pending(VhostDpEngine *e);
void dp_inbox_drop_all(VhostDpEngine *e);
void dp_rx_release(VhostDpEngine *e, unsigned int n);
void dp_inject_flush(VhostDpEngine *e);
void dp_inject_drop_all(VhostDpEngine *e);
uint64_t dp_offered_features(const VhostDpDriverCaps *caps, bool steer);

/* vhost-dp-iothread.c */
void dp_engine_attach(VhostDpEngine *e);
void dp_engine_detach(VhostDpEngine *e);
void dp_engine_rerun(VhostDpEngine *e);
void dp_engine_invalidate(VhostDpEngine *e, uint64_t first, uint64_t last);
void dp_engine_tx_flush(VhostDpEngine *e);

#endif
