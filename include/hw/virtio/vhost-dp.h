/*
 * vhost dataplane: the ring engine, as seen by the vhostdp netdev
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_VHOST_DP_H
#define HW_VIRTIO_VHOST_DP_H

#include "net/vhost-dp.h"

typedef struct VhostDpEngine VhostDpEngine;

/* Per queue pair counters, see vhost_dp_engine_get_stats() */
typedef struct VhostDpEngineStats {
    uint64_t tx_packets;    /* guest to driver */
    uint64_t tx_bytes;
    uint64_t tx_drops;
    uint64_t rx_packets;    /* driver to guest */
    uint64_t rx_bytes;
    uint64_t rx_drops;
    uint64_t kicks;         /* guest notifications taken */
    uint64_t interrupts;    /* guest interrupts sent */
    uint64_t poll_hits;     /* work found by busy polling */
    uint64_t bursts;        /* non-empty bursts, both directions */
    uint64_t ring_errors;   /* rings stopped for bad guest input */
    uint64_t tx_stalls;     /* runs the driver pushed back in */
    uint64_t rx_no_buffers; /* waits for guest receive buffers */
    uint64_t budget_yields; /* runs cut short by a budget */
    uint64_t rx_direct;     /* frames the driver read into guest memory */
    uint64_t tx_zero_copy;  /* frames the driver sent from guest memory */
    uint64_t tx_rate_stalls; /* runs the transmit rate limit stopped */
    uint64_t rx_rate_drops; /* frames over the receive rate, dropped */
    uint64_t rx_steered;    /* frames handed to another queue pair (RSS) */
} VhostDpEngineStats;

/**
 * vhost_dp_engine_new: create the ring engine of one queue pair
 *
 * @drv: the driver object
 * @dq: its open driver queue the engine moves packets to and from
 * @caps: the driver's capabilities
 * @ctx: the AioContext (IOThread) that runs the queue pair
 * @name: for messages, e.g. "vd0.0"
 *
 * The engine is passed as the opaque of vhost_net_init() with
 * VHOST_BACKEND_TYPE_DP.  Called under the BQL.
 */
VhostDpEngine *vhost_dp_engine_new(VhostDpDriver *drv,
                                   VhostDpDriverQueue *dq,
                                   const VhostDpDriverCaps *caps,
                                   AioContext *ctx, const char *name);

/* Free a stopped engine (BQL). */
void vhost_dp_engine_free(VhostDpEngine *e);

/* Read the counters of a queue pair (BQL; any time). */
void vhost_dp_engine_get_stats(VhostDpEngine *e, VhostDpEngineStats *st);

/*
 * Hand @frame (@len bytes, no virtio header) to the driver from the queue
 * pair's IOThread as if the guest had sent it without offloads: for the
 * frames QEMU sends itself, the announcement after migration (BQL).
 * Returns false, dropping the frame, when the queue pair is stopped or
 * too many frames wait.
 */
bool vhost_dp_engine_inject(VhostDpEngine *e, const uint8_t *frame,
                            size_t len);

/*
 * The receive filter the guest set through virtio-net's control queue
 * (what query-rx-filter reports), applied to the frames of the driver.
 */
#define VHOST_DP_RX_FILTER_MACS 64

typedef struct VhostDpRxFilter {
    bool all_uni;           /* every unicast frame (all, or table overflow) */
    bool no_uni;
    bool all_multi;
    bool no_multi;
    bool broadcast;
    bool vlan_filter;       /* tagged frames only with a VLAN of @vlans */
    uint8_t mac[6];
    unsigned int n_macs;
    uint8_t macs[VHOST_DP_RX_FILTER_MACS][6];
    uint32_t vlans[4096 / 32];
} VhostDpRxFilter;

/* Filter received frames with a copy of @f; NULL: take all (BQL). */
void vhost_dp_engine_set_rx_filter(VhostDpEngine *e,
                                   const VhostDpRxFilter *f);

/*
 * The guest's receive-side scaling: virtio-net's RSS configuration, set
 * through its control queue.  The engine computes the Toeplitz hash of a
 * received frame's flow, of the first of the guest's @hash_types
 * (VIRTIO_NET_RSS_HASH_TYPE_*) the frame has:
 * - with @populate_hash (the guest negotiated VIRTIO_NET_F_HASH_REPORT)
 *   to report it in the frame's virtio header;
 * - with @steer, to hand the frame to the queue pair that entry
 *   hash % @table_len of @table names (@default_queue for a frame of no
 *   hash type), when the driver's device does not steer itself.
 */
#define VHOST_DP_RSS_KEY_LEN    40
#define VHOST_DP_RSS_TABLE_MAX  128

typedef struct VhostDpRss {
    bool populate_hash;
    bool steer;
    uint32_t hash_types;
    uint8_t key[VHOST_DP_RSS_KEY_LEN];
    uint16_t default_queue;
    uint16_t table_len;             /* a power of 2 */
    uint16_t table[VHOST_DP_RSS_TABLE_MAX];
} VhostDpRss;

/*
 * Apply a copy of @rss to the engine of queue pair @pairs[i], where
 * @pairs are the engines of every queue pair of the netdev, in order:
 * @steer hands frames to them.  NULL: no hashing (BQL).  An engine may
 * be freed only once no engine steers to it any more: set every engine's
 * RSS to NULL, then synchronize_rcu().
 */
void vhost_dp_engine_set_rss(VhostDpEngine *e, const VhostDpRss *rss,
                             VhostDpEngine *const *pairs,
                             unsigned int npairs);

/* The guest accepts the VHOST_DP_CAP_* @rx_offloads on receive (BQL). */
void vhost_dp_engine_set_rx_offloads(VhostDpEngine *e, uint32_t rx_offloads);

/**
 * vhost_dp_engine_set_rate: limit the traffic of the queue pair
 *
 * @tx_rate, @rx_rate: bytes of frames a second (virtio headers do not
 * count), 0 for no limit; @tx_burst, @rx_burst: how many bytes may pass
 * at once after a quiet time (the token bucket's size).  Transmit is
 * shaped: chains past the rate wait in the guest's ring.  Receive is
 * policed: frames past it are dropped and counted.  Takes effect at the
 * queue pair's next run.
 */
void vhost_dp_engine_set_rate(VhostDpEngine *e, uint64_t tx_rate,
                              uint64_t tx_burst, uint64_t rx_rate,
                              uint64_t rx_burst);

#endif /* HW_VIRTIO_VHOST_DP_H */
