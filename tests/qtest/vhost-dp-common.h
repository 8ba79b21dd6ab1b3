/*
 * QTest helpers shared by the vhost-dp tests
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The test acts as the guest driver of a virtio-net device on
 * -netdev vhostdp: these post buffers, read used rings and counters.
 */

#ifndef TESTS_QTEST_VHOST_DP_COMMON_H
#define TESTS_QTEST_VHOST_DP_COMMON_H

#include "libqos/virtio.h"
#include "libqos/virtio-net.h"
#include "libqos/libqos-malloc.h"

#define DP_TIMEOUT_US   (30 * 1000 * 1000)
#define DP_QUIET_US     (300 * 1000)
#define DP_HDR_LEN      sizeof(struct virtio_net_hdr_mrg_rxbuf)
#define DP_BUF_LEN      2048
#define PCI_SLOT_HP     0x06

/* what a test that skips gives its device instead of the real driver */
#define DP_NETDEV_SKIPPED \
    " -object iothread,id=dpio0 -object vhost-dp-loopback,id=dpdrv0" \
    " -netdev vhostdp,id=hs0,driver=dpdrv0 "

/* the device options the tests are registered with */
#define DP_NETDEV \
    " -object iothread,id=dpio0 -object iothread,id=dpio1" \
    " -object vhost-dp-loopback,id=dpdrv0" \
    " -netdev vhostdp,id=hs0,driver=dpdrv0,queues=2," \
    "iothreads.0=dpio0,iothreads.1=dpio1 "

/* How dp_reinit_with() sets the rings up again */
typedef struct DpReinit {
    uint16_t size0;             /* queue 0's size, if not 0 */
    bool tx_only;               /* only queue 1, pair 0's TX */
    uint64_t shift[3];          /* move queue 1's desc/avail/used by */
} DpReinit;


/* the qos before-hook of tests on DP_NETDEV */
void *dp_before(GString *cmd_line, void *arg);
/* DP_NETDEV in a QEMU of its own, IOThreads with poll-max-ns=@arg */
void *dp_before_poll(GString *cmd_line, void *arg);

/*
 * Start taking descriptors from the first again: the tests complete
 * every chain before they post the next ones, and libqos never frees.
 */
void dp_reset_pool(QVirtQueue *vq);
QVirtQueue *dp_rx(QVirtioNet *net, int pair);
QVirtQueue *dp_tx(QVirtioNet *net, int pair);
bool dp_wait_used(QTestState *qts, QVirtQueue *vq, uint32_t *head,
                  uint32_t *len, gint64 timeout_us);
uint64_t dp_stat(QTestState *qts, int queue, const char *name);
uint16_t dp_used_idx(QTestState *qts, QVirtQueue *vq);
void dp_ctrl(QTestState *qts, QVirtioNet *net, QGuestAllocator *alloc,
             uint8_t class, uint8_t cmd, const void *data, size_t len);
void dp_set_queue_pairs(QTestState *qts, QVirtioNet *net,
                        QGuestAllocator *alloc, uint16_t pairs);
void dp_fill_frame(uint8_t *f, size_t len, uint32_t seq);
void dp_loopback(QTestState *qts, QVirtioNet *net,
                 QGuestAllocator *alloc, int pair, unsigned int n,
                 size_t len);
/*
 * Zero-copy transmit: frames a driver holds while the guest has no
 * receive buffers, then let go of by a VM stop (@how "stop") or a device
 * reset ("reset"), reach the receive ring intact
 */
void dp_zc_hold(QVirtioNet *net, QGuestAllocator *alloc, const char *how);
uint8_t dp_reinit_with(QVirtioNet *net, QGuestAllocator *alloc,
                       const DpReinit *o);
uint8_t dp_reinit(QVirtioNet *net, QGuestAllocator *alloc, uint16_t size0);
uint32_t dp_tx_add(QTestState *qts, QVirtQueue *tx, uint64_t buf,
                   size_t len, uint32_t seq);
void dp_expect_rx(QTestState *qts, QVirtQueue *rx, uint32_t want,
                  const uint64_t *bufs, const uint32_t *lens,
                  size_t len, uint32_t seq);

/*
 * Packed virtqueues (VIRTIO_F_RING_PACKED).  libqos lays out and drives
 * split rings only: dp_packed_init() renegotiates with packed rings and
 * lays them over the memory of libqos's queues 0 and 1 (the descriptor
 * ring over its descriptor table, the driver and device event areas over
 * its avail and used rings); the test drives them with the others.
 */
#define DP_PACKED_MAX   1024

typedef struct DpPacked {
    QVirtQueue *vq;             /* libqos's: its memory, and kicks */
    unsigned int num;
    unsigned int avail, used;   /* the driver's positions, [0, 2 num) */
    uint16_t ndescs[DP_PACKED_MAX];     /* by buffer id */
} DpPacked;

uint8_t dp_packed_init(QVirtioNet *net, QGuestAllocator *alloc,
                       DpPacked *rx, DpPacked *tx);
void dp_packed_add(QTestState *qts, DpPacked *p, uint16_t id,
                   unsigned int n, const uint64_t *addr, const uint32_t *len,
                   uint16_t flags);
void dp_packed_add_indirect(QTestState *qts, DpPacked *p, uint16_t id,
                            uint64_t table, unsigned int n,
                            const uint64_t *addr, const uint32_t *len,
                            uint16_t flags);
void dp_packed_kick(QVirtioNet *net, DpPacked *p);
bool dp_packed_wait_used(QTestState *qts, DpPacked *p, uint16_t *id,
                         uint32_t *len, gint64 timeout_us);

#endif
