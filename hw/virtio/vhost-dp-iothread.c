/*
 * vhost dataplane: the engine in its IOThread
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * One job: run a queue pair in its IOThread.  The engine's life cycle,
 * the run loop with its budgets, guest kicks, busy polling of the TX
 * avail ring, the driver's fd and wake-ups, and the hand-over from the
 * BQL side: the VhostOps (vhost-dp-ops.c) attach the started queue pair
 * to its IOThread and detach it, both inside the IOThread
 * (aio_wait_bh_oneshot), so that they return only once the IOThread
 * uses the new state.  IOThread code never takes the BQL.
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qemu/log.h"
#include "qemu/timer.h"
#include "qemu/main-loop.h"
#include "qemu/rcu.h"
#include "qemu/lockable.h"
#include "qemu/atomic.h"
#include "block/aio.h"
#include "block/aio-wait.h"
#include "hw/qdev-core.h"
#include "hw/virtio/vhost.h"
#include "hw/virtio/virtio.h"
#include "hw/virtio/vhost-dp-int.h"
#include "hw/net/net_rx_pkt.h"
#include "standard-headers/linux/virtio_net.h"
#include "trace.h"

static inline VhostDpEngine *dp_vring_engine(DpVring *vr)
{
    return container_of(vr->rings, VhostDpEngine, rings);
}

/*
 * The run loop of a queue pair, in its IOThread
 */

static void dp_driver_rx_ready(void *opaque);
static void dp_driver_tx_ready(void *opaque);
static bool dp_fd_poll(void *opaque);
static void dp_fd_poll_ready(void *opaque);

/*
 * Listen to the driver's fd for reading and writing, or not.  While the
 * guest has no receive buffers the fd is not read: it would stay
 * readable and spin.  A driver that can tell without a system call
 * whether frames wait (rx_poll) gets a poll handler too: aio-posix polls
 * an AioContext only while every handler in it can be polled.
 */
static void dp_fd_arm(VhostDpEngine *e, bool read, bool write)
{
    bool poll = (read || write) && e->dq->ops->rx_poll;

    if (e->dq->fd < 0 ||
        (e->fd_read_armed == read && e->fd_write_armed == write)) {
        return;
    }
    e->fd_read_armed = read;
    e->fd_write_armed = write;
    aio_set_fd_handler(e->ctx, e->dq->fd, read ? dp_driver_rx_ready : NULL,
                       write ? dp_driver_tx_ready : NULL,
                       poll ? dp_fd_poll : NULL,
                       poll ? dp_fd_poll_ready : NULL, e);
}

static void dp_publish_stats(VhostDpEngine *e)
{
    VhostDpEngineStats st;
    uint64_t *src = (uint64_t *)&st;
    uint64_t *dst = (uint64_t *)&e->pub;

    e->st.ring_errors = e->rings.ring_errors;
    e->st.interrupts = e->rings.interrupts;
    st = e->st;
    /* what the driver took and dropped is a drop too */
    st.tx_drops += e->dq->tx_drops;
    st.tx_zero_copy = e->dq->tx_zero_copy;
    for (size_t i = 0; i < sizeof(st) / sizeof(uint64_t); i++) {
        qatomic_set(&dst[i], src[i]);
    }
}

/*
 * The vIOMMU changed the mapping of a ring part (see
 * dp_send_device_iotlb_msg()): translate the rings again before any
 * access.  A ring the guest unmapped while the device runs is stopped.
 */
static void dp_vrings_remap(VhostDpEngine *e)
{
    for (unsigned int i = 0; i < DP_NVQS; i++) {
        DpVring *vr = &e->vr[i];

        if (unlikely(vr->remap)) {
            vr->remap = false;
            if (dp_vring_live(vr) && !dp_vring_map(vr)) {
                dp_vring_error(vr, "the vIOMMU no longer maps the ring");
            }
        }
    }
}

/*
 * Refill a token bucket for the time since the last run; a new rate
 * starts with a full bucket.  One clock read a run, none per frame.
 */
static void dp_bucket_refill(DpBucket *b, int64_t now)
{
    uint64_t rate = qatomic_read(&b->rate);
    int64_t size = MIN(qatomic_read(&b->size), INT64_MAX);

    if (rate != b->seen_rate) {
        b->seen_rate = rate;
        b->tokens = size;
    } else if (rate) {
        int64_t dt = MIN(now - b->last_ns, NANOSECONDS_PER_SECOND);

        b->tokens = MIN(size, b->tokens + (int64_t)muldiv64(MAX(dt, 0), rate,
                                              NANOSECONDS_PER_SECOND));
    }
    b->last_ns = now;
}

static void dp_rate_refill(VhostDpEngine *e)
{
    if (qatomic_read(&e->tx_bucket.rate) || e->tx_bucket.seen_rate ||
        qatomic_read(&e->rx_bucket.rate) || e->rx_bucket.seen_rate) {
        int64_t now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);

        dp_bucket_refill(&e->tx_bucket, now);
        dp_bucket_refill(&e->rx_bucket, now);
    }
}

static void dp_run(VhostDpEngine *e)
{
    DpVring *tx = &e->vr[DP_TX], *rx = &e->vr[DP_RX];
    unsigned int pkts = 0;
    uint64_t bytes = 0;
    bool tx_stall = false, rx_starved = false, again, within = true;
    bool rate_stall = false;
    DpMemTable *mt;

    if (!e->running) {
        return;
    }
    if (!qatomic_read(&e->enabled)) {
        /* a level-triggered driver fd would spin: enabling runs us again */
        dp_fd_arm(e, false, false);
        dp_publish_stats(e);
        return;
    }
    if (unlikely(qatomic_read(&e->inject_pending))) {
        dp_inject_flush(e);
    }
    dp_iotlb_flush(&e->rings);  /* vIOMMU translations live for a run */
    e->rings.run_descs = 0;
    dp_rate_refill(e);
    RCU_READ_LOCK_GUARD();
    mt = qatomic_rcu_read(&e->rings.mem);
    if (!mt) {
        return;
    }
    dp_vrings_remap(e);

    do {
        unsigned int moved = 0;

        if (dp_vring_live(tx) && !tx_stall && !rate_stall) {
            if (!tx->polling) {
                dp_vring_notify_off(tx);
            }
            moved += dp_tx_burst(e, mt, DP_RUN_PKT_BUDGET - pkts, &bytes,
                                 &tx_stall, &rate_stall);
        }
        if (dp_vring_live(rx) && !rx_starved) {
            if (!rx->polling) {
                /* kicks only when the guest's buffers run out */
                dp_vring_notify_off(rx);
            }
            /* first what other queue pairs steered here (RSS) */
            if (unlikely(qatomic_read(&e->inbox))) {
                moved += dp_rx_inbox(e, mt,
                                     DP_RUN_PKT_BUDGET - pkts - moved,
                                     &bytes, &rx_starved);
            }
        }
        if (dp_vring_live(rx) && !rx_starved) {
            moved += dp_rx_burst(e, mt, DP_RUN_PKT_BUDGET - pkts - moved,
                                 &bytes, &rx_starved);
        }
        pkts += moved;
        within = pkts < DP_RUN_PKT_BUDGET && bytes < DP_RUN_BYTE_BUDGET &&
                 e->rings.run_descs < DP_RUN_DESC_BUDGET;
        again = moved && within;
        if (!again && dp_vring_live(tx) && !tx->polling && !tx_stall &&
            !rate_stall) {
            /* re-enable kicks; work that raced in runs now */
            again = dp_vring_notify_on(tx, tx->last_avail) && within;
        }
    } while (again);

    /* polling must not find work the driver or the rate holds back */
    e->tx_stalled = tx_stall || rate_stall;
    e->st.tx_stalls += tx_stall;
    if (rate_stall) {
        /* kicks stay off: the timer runs us when the rate allows more */
        e->st.tx_rate_stalls++;
        timer_mod_ns(&e->rate_timer,
                     qemu_clock_get_ns(QEMU_CLOCK_REALTIME) +
                     dp_bucket_wait_ns(&e->tx_bucket));
    }

    /*
     * No guest buffers (or no RX ring): wait for the RX kick before
     * reading more.  Driver back-pressure: wait for the driver's fd.
     */
    rx_starved |= !dp_vring_live(rx);
    e->rx_starved = rx_starved;
    dp_fd_arm(e, !rx_starved || (tx_stall && !e->dq->tx_wait_writable),
              tx_stall && e->dq->tx_wait_writable);
    if (!within || (!rx_starved && (e->rx_count || dp_inbox_pending(e) ||
                                    (e->dq->ops->rx_poll &&
                                     e->dq->ops->rx_poll(e->dq))))) {
        /* budget used up: let other handlers run, then go on */
        e->st.budget_yields += !within;
        qemu_bh_schedule(e->bh);
    }
    dp_publish_stats(e);
}

static void dp_run_bh(void *opaque)
{
    dp_run(opaque);
}

static void dp_rate_timer_cb(void *opaque)
{
    dp_run(opaque);
}

void vhost_dp_queue_wake(VhostDpDriverQueue *dq)
{
    VhostDpEngine *e = dq->engine;

    if (e && e->running) {
        qemu_bh_schedule(e->bh);
    }
}

static void dp_kick(EventNotifier *n)
{
    VhostDpEngine *e = dp_vring_engine(container_of(n, DpVring, kick));

    if (event_notifier_test_and_clear(n)) {
        e->st.kicks++;
    }
    dp_run(e);
}

/*
 * Polling: the handlers of both kick notifiers and of the driver's fd ask
 * whether the queue pair has work that can progress.  Only such work
 * counts: none while the queue pair is disabled, none on TX while the
 * driver pushes back (it wakes the engine when it takes packets again),
 * none on RX while the guest has no buffers for the frames waiting, and
 * a driver without rx_poll() is not asked (its fd says it).  Else
 * polling would spin at full CPU.
 */
static bool dp_pair_has_work(VhostDpEngine *e)
{
    DpVring *tx = &e->vr[DP_TX], *rx = &e->vr[DP_RX];

    if (!e->running || !qatomic_read(&e->enabled)) {
        return false;
    }
    /* a ring to translate again: dp_run() does it, not this */
    if (tx->remap || rx->remap) {
        return true;
    }
    if (!e->tx_stalled && dp_vring_has_work(tx)) {
        return true;
    }
    if (!dp_vring_live(rx)) {
        return false;
    }
    if (e->rx_starved) {
        return dp_avail_idx(rx) != e->rx_seen;
    }
    return e->rx_count || dp_inbox_pending(e) || (e->dq->ops->rx_poll &&
                           (e->dq->fd < 0 || e->fd_read_armed) &&
                           e->dq->ops->rx_poll(e->dq));
}

static void dp_poll_ready(VhostDpEngine *e)
{
    e->st.poll_hits++;
    dp_run(e);
}

static bool dp_kick_poll(void *opaque)
{
    return dp_pair_has_work(dp_vring_engine(container_of(opaque, DpVring,
                                                         kick)));
}

static void dp_kick_poll_ready(EventNotifier *n)
{
    dp_poll_ready(dp_vring_engine(container_of(n, DpVring, kick)));
}

static bool dp_fd_poll(void *opaque)
{
    return dp_pair_has_work(opaque);
}

static void dp_fd_poll_ready(void *opaque)
{
    dp_poll_ready(opaque);
}

/* While the IOThread polls a ring, the guest need not kick it */
static void dp_kick_poll_begin(EventNotifier *n)
{
    DpVring *vr = container_of(n, DpVring, kick);

    if (dp_vring_engine(vr)->running && dp_vring_live(vr) && !vr->remap) {
        vr->polling = true;
        dp_vring_notify_off(vr);
    }
}

static void dp_kick_poll_end(EventNotifier *n)
{
    DpVring *vr = container_of(n, DpVring, kick);
    VhostDpEngine *e = dp_vring_engine(vr);

    if (!vr->polling) {
        return;
    }
    vr->polling = false;
    if (!e->running || !dp_vring_live(vr) || vr->remap) {
        return;
    }
    /* the caller polls once more after this */
    if (vr->index == DP_TX) {
        dp_vring_notify_on(vr, vr->last_avail);
    } else if (e->rx_starved) {
        dp_vring_notify_on(vr, e->rx_seen);
    }
}

static void dp_driver_rx_ready(void *opaque)
{
    dp_run(opaque);
}

static void dp_driver_tx_ready(void *opaque)
{
    dp_run(opaque);
}

static void dp_attach_bh(void *opaque)
{
    VhostDpEngine *e = opaque;

    assert(e->tx_taken == e->tx_reclaimed);
    /* frames steered here while stopped are from before the reset */
    dp_inbox_drop_all(e);
    e->running = true;
    e->tx_stalled = false;
    e->rx_starved = false;
    for (unsigned int i = 0; i < DP_NVQS; i++) {
        if (e->vr[i].ready) {
            aio_set_event_notifier(e->ctx, &e->vr[i].kick, dp_kick,
                                   dp_kick_poll, dp_kick_poll_ready);
            aio_set_event_notifier_poll(e->ctx, &e->vr[i].kick,
                                        dp_kick_poll_begin,
                                        dp_kick_poll_end);
        }
    }
    /* without an RX ring, frames stay with the driver */
    dp_fd_arm(e, e->vr[DP_RX].ready, false);
    /* the guest may have queued work before we listened */
    qemu_bh_schedule(e->bh);
}

static void dp_detach_bh(void *opaque)
{
    VhostDpEngine *e = opaque;

    /* the guest gets back what the driver held, before the ring stops */
    dp_tx_release_held(e);
    for (unsigned int i = 0; i < DP_NVQS; i++) {
        if (e->vr[i].ready) {
            aio_set_event_notifier(e->ctx, &e->vr[i].kick, NULL, NULL,
                                   NULL);
        }
    }
    dp_fd_arm(e, false, false);
    qemu_bh_cancel(e->bh);
    timer_del(&e->rate_timer);
    /* frames taken from the driver but not delivered are dropped */
    e->st.rx_drops += e->rx_count + e->rx_has_pending;
    e->rx_has_pending = false;
    dp_rx_release(e, e->rx_count);
    dp_inbox_drop_all(e);
    e->running = false;
    e->vr[DP_TX].polling = false;
    e->vr[DP_RX].polling = false;
    dp_publish_stats(e);
}

/*
 * For the VhostOps (vhost-dp-ops.c), under the BQL
 */

/* Serve the started queue pair in its IOThread */
void dp_engine_attach(VhostDpEngine *e)
{
    e->bh = aio_bh_new_guarded(e->ctx, dp_run_bh, e,
                               &DEVICE(e->dev->vdev)->mem_reentrancy_guard);
    aio_wait_bh_oneshot(e->ctx, dp_attach_bh, e);
}

/* Stop serving it; returns once the IOThread no longer touches it */
void dp_engine_detach(VhostDpEngine *e)
{
    aio_wait_bh_oneshot(e->ctx, dp_detach_bh, e);
    qemu_bh_delete(e->bh);
    e->bh = NULL;
}

/*
 * Run the started queue pair once more (it was enabled, or its rate
 * changed).  Through its own BH, which the detach cancels in the
 * IOThread: a one-shot BH still queued behind the detach would run
 * dp_run() on an engine the main thread has freed meanwhile (seen as a
 * crash at QEMU's exit, net_cleanup() freeing the engine).
 */
void dp_engine_rerun(VhostDpEngine *e)
{
    assert(e->started && e->bh);
    qemu_bh_schedule(e->bh);
}

typedef struct DpInvalidate {
    VhostDpEngine *e;
    uint64_t first, last;           /* the IOVA range, inclusive */
} DpInvalidate;

static void dp_invalidate_bh(void *opaque)
{
    DpInvalidate *inv = opaque;
    VhostDpEngine *e = inv->e;

    /* the driver may hold frames at the IOVAs that go away */
    if (e->running) {
        dp_tx_release_held(e);
    }
    dp_iotlb_flush(&e->rings);
    for (unsigned int i = 0; i < DP_NVQS; i++) {
        if (dp_vring_invalidated(&e->vr[i], inv->first, inv->last)) {
            e->vr[i].remap = true;
        }
    }
}

/*
 * The guest unmapped the IOVAs [@first, @last] (vIOMMU).  Buffer
 * translations live for one run of the queue pair: once the run in
 * progress is over, nothing uses the old mapping any more.  The rings'
 * pages are kept across runs: a ring in the range is translated again
 * before its next use (not here: this runs inside the IOMMU model's
 * notifier).
 */
void dp_engine_invalidate(VhostDpEngine *e, uint64_t first, uint64_t last)
{
    DpInvalidate inv = { .e = e, .first = first, .last = last };

    aio_wait_bh_oneshot(e->ctx, dp_invalidate_bh, &inv);
}

static void dp_tx_flush_bh(void *opaque)
{
    VhostDpEngine *e = opaque;

    if (e->running) {
        dp_tx_release_held(e);
    }
}

/*
 * Guest memory is about to change (the memory table): a driver holding
 * transmitted frames (zero-copy) must stop using them first.
 */
void dp_engine_tx_flush(VhostDpEngine *e)
{
    if (e->started && e->dq->tx_hold) {
        aio_wait_bh_oneshot(e->ctx, dp_tx_flush_bh, e);
    }
}

/*
 * What the ring core reports
 */

/*
 * A guest can break its rings again after every reset, on every queue:
 * at most one report a second reaches the log (all engines together),
 * the others go to -d guest_errors.  The counter and the trace see all.
 */
static bool dp_report_allowed(void)
{
    static int64_t next;
    int64_t now = get_clock();
    int64_t n = qatomic_read(&next);

    return now >= n &&
           qatomic_cmpxchg(&next, n, now + NANOSECONDS_PER_SECOND) == n;
}

static void dp_vring_report(DpVring *vr, const char *msg)
{
    VhostDpEngine *e = dp_vring_engine(vr);
    const char *q = vr->index == DP_RX ? "rx" : "tx";

    trace_vhost_dp_vring_error(e, vr->index, msg);
    if (dp_report_allowed()) {
        error_report("vhost-dp: %s: %s queue stopped: %s", e->name, q, msg);
    } else {
        qemu_log_mask(LOG_GUEST_ERROR, "vhost-dp: %s: %s queue stopped: "
                      "%s\n", e->name, q, msg);
    }
}

/*
 * Engine life cycle, for the netdev
 */

VhostDpEngine *vhost_dp_engine_new(VhostDpDriver *drv,
                                   VhostDpDriverQueue *dq,
                                   const VhostDpDriverCaps *caps,
                                   AioContext *ctx, const char *name)
{
    VhostDpEngine *e = g_new0(VhostDpEngine, 1);

    e->drv = drv;
    e->dq = dq;
    e->caps = *caps;
    e->ctx = ctx;
    e->name = g_strdup(name);
    /* software RSS: not for a driver that reads into guest buffers */
    e->offered = dp_offered_features(caps, !dq->ops->rx_read);
    e->enabled = true;
    e->hdr_len = sizeof(struct virtio_net_hdr);
    e->rings.name = e->name;
    e->rings.report = dp_vring_report;
    if (dq->ops->rx_read) {
        e->rx_bounce = g_malloc(DP_MAX_FRAME);
    }
    net_rx_pkt_init(&e->rx_pkt);
    e->inbox_bh = aio_bh_new(ctx, dp_run_bh, e);
    aio_timer_init(ctx, &e->rate_timer, QEMU_CLOCK_REALTIME, SCALE_NS,
                   dp_rate_timer_cb, e);
    qemu_mutex_init(&e->inject_lock);
    QSIMPLEQ_INIT(&e->injected);
    for (unsigned int i = 0; i < DP_NVQS; i++) {
        e->vr[i].rings = &e->rings;
        e->vr[i].index = i;
        e->vr[i].kick_fd = -1;
        e->vr[i].call_fd = -1;
    }
    return e;
}

void vhost_dp_engine_free(VhostDpEngine *e)
{
    if (!e) {
        return;
    }
    assert(!e->started);
    timer_del(&e->rate_timer);
    if (e->rings.mem) {
        call_rcu(e->rings.mem, dp_mem_table_free, rcu);
    }
    dp_inject_drop_all(e);
    vhost_dp_engine_set_rx_filter(e, NULL);
    vhost_dp_engine_set_rss(e, NULL, NULL, 0);
    qemu_bh_delete(e->inbox_bh);
    dp_inbox_drop_all(e);
    g_free(e->inbox);
    net_rx_pkt_uninit(e->rx_pkt);
    qemu_mutex_destroy(&e->inject_lock);
    g_free(e->rx_bounce);
    g_free(e->name);
    g_free(e);
}

void vhost_dp_engine_get_stats(VhostDpEngine *e, VhostDpEngineStats *st)
{
    const uint64_t *src = (const uint64_t *)&e->pub;
    uint64_t *dst = (uint64_t *)st;

    for (size_t i = 0; i < sizeof(*st) / sizeof(uint64_t); i++) {
        dst[i] = qatomic_read(&src[i]);
    }
}

void vhost_dp_engine_set_rate(VhostDpEngine *e, uint64_t tx_rate,
                              uint64_t tx_burst, uint64_t rx_rate,
                              uint64_t rx_burst)
{
    qatomic_set(&e->tx_bucket.size, tx_burst);
    qatomic_set(&e->tx_bucket.rate, tx_rate);
    qatomic_set(&e->rx_bucket.size, rx_burst);
    qatomic_set(&e->rx_bucket.rate, rx_rate);
    if (e->started) {
        /* a queue pair the old rate holds back goes on at the new one */
        dp_engine_rerun(e);
    }
}

void vhost_dp_engine_set_rx_offloads(VhostDpEngine *e, uint32_t rx_offloads)
{
    qatomic_set(&e->rx_offloads_ok, rx_offloads & e->caps.rx_offloads);
}

bool vhost_dp_engine_inject(VhostDpEngine *e, const uint8_t *frame,
                            size_t len)
{
    DpInjected *f;

    if (!e->started || !len || len > DP_INJECT_LEN_MAX) {
        return false;
    }
    WITH_QEMU_LOCK_GUARD(&e->inject_lock) {
        if (e->n_injected == DP_INJECT_MAX) {
            return false;
        }
        f = g_malloc(sizeof(*f) + len);
        f->len = len;
        memcpy(f->data, frame, len);
        QSIMPLEQ_INSERT_TAIL(&e->injected, f, next);
        e->n_injected++;
        qatomic_set(&e->inject_pending, true);
    }
    qemu_bh_schedule(e->bh);
    return true;
}

void vhost_dp_engine_set_rx_filter(VhostDpEngine *e,
                                   const VhostDpRxFilter *f)
{
    DpRxFilter *old = e->rx_filter, *flt = NULL;

    if (f) {
        flt = g_new(DpRxFilter, 1);
        flt->f = *f;
    }
    qatomic_rcu_set(&e->rx_filter, flt);
    if (old) {
        g_free_rcu(old, rcu);
    }
}

/* Give queue pair @e an inbox for software RSS, once */
static void dp_inbox_init(VhostDpEngine *e)
{
    DpInbox *ib;

    if (e->inbox) {
        return;
    }
    ib = g_new0(DpInbox, 1);
    for (unsigned int i = 0; i < DP_INBOX_SLOTS; i++) {
        ib->slot[i].seq = i;
    }
    qatomic_store_release(&e->inbox, ib);
}

void vhost_dp_engine_set_rss(VhostDpEngine *e, const VhostDpRss *rss,
                             VhostDpEngine *const *pairs,
                             unsigned int npairs)
{
    DpRss *old = e->rss, *r = NULL;

    if (rss) {
        r = g_malloc(sizeof(*r) + npairs * sizeof(r->pairs[0]));
        r->r = *rss;
        r->npairs = npairs;
        for (unsigned int i = 0; i < npairs; i++) {
            r->pairs[i] = pairs[i];
            if (rss->steer) {
                /* before anyone can steer to it */
                dp_inbox_init(pairs[i]);
            }
        }
    }
    qatomic_rcu_set(&e->rss, r);
    if (old) {
        g_free_rcu(old, rcu);
    }
}
