/*
 * QTest testcases for the vhost dataplane (-netdev vhostdp): a guest
 * that breaks the rules
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The test plays a hostile or unlucky guest on the libqos virtio-net
 * nodes with the loopback driver: malformed descriptor chains, rings
 * that are misaligned or set up only in part after a reset, receive
 * buffers too few for a frame, a driver that takes fewer frames than
 * offered, and errors repeated faster than the log should show them.
 * A broken ring must stop only its own queue, with one report; QEMU
 * and the other queue pair keep working.
 */

#include "qemu/osdep.h"
#include "libqtest-single.h"
#include "qemu/iov.h"
#include "qemu/cutils.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "hw/virtio/virtio-net.h"
#include "standard-headers/linux/virtio_ring.h"
#include "libqos/qgraph.h"
#include "libqos/virtio.h"
#include "libqos/virtio-net.h"
#include "libqos/pci.h"
#include "standard-headers/linux/virtio_pci.h"
#include "standard-headers/linux/virtio_config.h"
#include "vhost-dp-common.h"

/* A QEMU of its own for the test: it needs the driver and rings empty */
static void *dp_before_fresh(GString *cmd_line, void *arg)
{
    g_string_append_printf(cmd_line, DP_NETDEV "-name vdp-fresh-%s ",
                           (const char *)arg);
    return arg;
}

/* A QEMU of its own that logs guest errors to a file the test reads */
static void *dp_before_guest_log(GString *cmd_line, void *arg)
{
    char *log = g_strdup_printf("/tmp/vdp-guest-errors-%d.log", getpid());

    unlink(log);
    g_string_append_printf(cmd_line, DP_NETDEV "-name vdp-guest-log "
                           "-d guest_errors -D %s ", log);
    g_test_queue_free(log);
    return log;
}

/*
 * Malformed rings.  Each case writes raw descriptors into the TX ring of
 * queue pair 0, checks that the queue stops (a following good frame is
 * not taken), that QEMU keeps running, and that queue pair 1 still
 * passes traffic.
 */
typedef enum DpBadRing {
    DP_BAD_ADDR,
    DP_BAD_LOOP,
    DP_BAD_NEXT,
    DP_BAD_AVAIL_JUMP,
    DP_BAD_HEAD,
    DP_BAD_WRITABLE,
    DP_BAD_NESTED_INDIRECT,
    DP_BAD_INDIRECT_LEN,
    DP_BAD_INDIRECT_ADDR,
    DP_BAD_LEN_WRAP,
} DpBadRing;

static void dp_write_desc(QTestState *qts, uint64_t table, unsigned int i,
                          uint64_t addr, uint32_t len, uint16_t flags,
                          uint16_t next)
{
    uint64_t d = table + i * sizeof(struct vring_desc);

    qtest_writeq(qts, d, addr);
    qtest_writel(qts, d + 8, len);
    qtest_writew(qts, d + 12, flags);
    qtest_writew(qts, d + 14, next);
}

static void dp_publish(QTestState *qts, QVirtioNet *net, QVirtQueue *vq,
                       uint16_t head, uint16_t step)
{
    uint16_t idx = qtest_readw(qts, vq->avail + 2);

    qtest_writew(qts, vq->avail + 4 + 2 * (idx % vq->size), head);
    qtest_writew(qts, vq->avail + 2, idx + step);
    net->vdev->bus->virtqueue_kick(net->vdev, vq);
}

static void test_bad_ring(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;
    QVirtQueue *tx = dp_tx(net, 0);
    DpBadRing bad = GPOINTER_TO_INT(data);
    uint64_t buf = guest_alloc(alloc, 4096);
    uint64_t table = guest_alloc(alloc, 64 * sizeof(struct vring_desc));
    uint64_t inner = guest_alloc(alloc, 4 * sizeof(struct vring_desc));
    unsigned int d = tx->free_head;
    uint16_t used_before, step = 1;
    QDict *rsp;
    uint64_t errs0 = dp_stat(qts, 0, "ring-errors");
    uint64_t errs1 = dp_stat(qts, 1, "ring-errors");
    uint64_t rx1;

    dp_set_queue_pairs(qts, net, alloc, 2);
    /* the queue works before it is broken (after earlier tests broke it) */
    dp_loopback(qts, net, alloc, 0, 1, 64);
    d = tx->free_head;
    used_before = dp_used_idx(qts, tx);

    switch (bad) {
    case DP_BAD_ADDR:
        dp_write_desc(qts, tx->desc, d, 0x7ff0000000ULL, 64, 0, 0);
        break;
    case DP_BAD_LOOP:
        dp_write_desc(qts, tx->desc, d, buf, 64, VRING_DESC_F_NEXT, d);
        break;
    case DP_BAD_NEXT:
        dp_write_desc(qts, tx->desc, d, buf, 64, VRING_DESC_F_NEXT,
                      tx->size + 3);
        break;
    case DP_BAD_AVAIL_JUMP:
        dp_write_desc(qts, tx->desc, d, buf, 64, 0, 0);
        step = tx->size + 5;
        break;
    case DP_BAD_HEAD:
        d = tx->size + 1;
        break;
    case DP_BAD_WRITABLE:
        dp_write_desc(qts, tx->desc, d, buf, 64, VRING_DESC_F_WRITE, 0);
        break;
    case DP_BAD_NESTED_INDIRECT:
        dp_write_desc(qts, inner, 0, buf, 64, 0, 0);
        dp_write_desc(qts, table, 0, inner, 4 * sizeof(struct vring_desc),
                      VRING_DESC_F_INDIRECT, 0);
        dp_write_desc(qts, tx->desc, d, table, 1 * sizeof(struct vring_desc),
                      VRING_DESC_F_INDIRECT, 0);
        break;
    case DP_BAD_INDIRECT_LEN:
        dp_write_desc(qts, table, 0, buf, 64, 0, 0);
        dp_write_desc(qts, tx->desc, d, table, 24, VRING_DESC_F_INDIRECT, 0);
        break;
    case DP_BAD_INDIRECT_ADDR:
        dp_write_desc(qts, tx->desc, d, 0x7ff0000000ULL, 64,
                      VRING_DESC_F_INDIRECT, 0);
        break;
    case DP_BAD_LEN_WRAP:
        dp_write_desc(qts, tx->desc, d, 0xfffffffffffff000ULL, 0x2000, 0,
                      0);
        break;
    }
    dp_publish(qts, net, tx, d, step);

    /* nothing is taken now, nor after a good frame */
    g_usleep(DP_QUIET_US);
    g_assert_cmpuint(dp_used_idx(qts, tx), ==, used_before);
    dp_write_desc(qts, tx->desc, (d + 1) % tx->size, buf, DP_HDR_LEN + 60,
                  0, 0);
    qtest_memset(qts, buf, 0, DP_HDR_LEN + 60);
    dp_publish(qts, net, tx, (d + 1) % tx->size, 1);
    g_usleep(DP_QUIET_US);
    g_assert_cmpuint(dp_used_idx(qts, tx), ==, used_before);

    /* QEMU runs, and so does the other queue pair */
    rsp = qtest_qmp(qts, "{'execute': 'query-status'}");
    g_assert(qdict_haskey(rsp, "return"));
    qobject_unref(rsp);
    rx1 = dp_stat(qts, 1, "rx-packets");
    dp_loopback(qts, net, alloc, 1, 4, 256);

    /* one report, counted once, on the right queue */
    g_assert_cmpuint(dp_stat(qts, 0, "ring-errors") - errs0, ==, 1);
    g_assert_cmpuint(dp_stat(qts, 1, "ring-errors"), ==, errs1);
    g_assert_cmpuint(dp_stat(qts, 1, "rx-packets") - rx1, ==, 4);

    guest_free(alloc, buf);
    guest_free(alloc, table);
    guest_free(alloc, inner);
}

/*
 * A guest can break its rings again and again: at most one report a
 * second reaches QEMU's error output, the others go to the guest error
 * log (-d guest_errors), and the counter sees them all.
 */
static void test_report_ratelimit(void *obj, void *data,
                                  QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;
    const char *log = data;
    g_autofree char *text = NULL;
    uint64_t errs = dp_stat(qts, 0, "ring-errors") +
                    dp_stat(qts, 1, "ring-errors");
    const char *p;
    int n = 0;

    dp_set_queue_pairs(qts, net, alloc, 2);
    /* two rings broken in the same second: pair 0's TX, then pair 1's */
    for (int pair = 0; pair < 2; pair++) {
        QVirtQueue *tx = dp_tx(net, pair);
        unsigned int d = tx->free_head;

        dp_write_desc(qts, tx->desc, d, 0x7ff0000000ULL, 64, 0, 0);
        dp_publish(qts, net, tx, d, 1);
    }
    g_usleep(DP_QUIET_US);
    g_assert_cmpuint(dp_stat(qts, 0, "ring-errors") +
                     dp_stat(qts, 1, "ring-errors") - errs, ==, 2);
    g_assert(g_file_get_contents(log, &text, NULL, NULL));
    for (p = text; (p = strstr(p, "queue stopped")); p++) {
        n++;
    }
    g_assert_cmpint(n, ==, 1);
    unlink(log);
    g_assert(!(dp_reinit(net, alloc, 0) & VIRTIO_CONFIG_S_NEEDS_RESET));
}

/*
 * A guest that makes the dataplane fail to start (a ring size that is not
 * a power of two) gets a broken device, not a silent userspace fallback
 * that would drop every packet; QEMU runs on and a reset recovers.
 */
static void test_start_fail(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;
    uint8_t status;
    QDict *rsp;

    if (!(net->vdev->features & (1ull << VIRTIO_F_VERSION_1))) {
        g_test_skip("needs a virtio 1.0 PCI device");
        return;
    }
    status = dp_reinit(net, alloc, 100);
    g_assert(status & VIRTIO_CONFIG_S_NEEDS_RESET);

    rsp = qtest_qmp(qts, "{'execute': 'query-status'}");
    g_assert(qdict_haskey(rsp, "return"));
    qobject_unref(rsp);

    status = dp_reinit(net, alloc, 0);
    g_assert(!(status & VIRTIO_CONFIG_S_NEEDS_RESET));
    dp_loopback(qts, net, alloc, 0, 4, 128);
}

/*
 * A vring the guest set up before a reset but not after it is not served
 * again: its old addresses, index and kick/call fds belong to the start
 * before.  Here the guest posts receive buffers, resets, and sets up
 * only pair 0's TX vring: the frame it sends must not be written into
 * the old receive buffers; it waits in the driver until the guest sets
 * up an RX vring again.
 */
static void test_restart_tx_only(void *obj, void *data,
                                 QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;
    DpReinit tx_only = { .tx_only = true }, all = { 0 };
    struct virtio_net_hdr_mrg_rxbuf hdr = { 0 };
    QVirtQueue *old_rx, *rx, *tx;
    uint64_t rxbuf[4], txbuf, old_rxbuf;
    uint8_t frame[100], got[DP_HDR_LEN + sizeof(frame)], pat[DP_BUF_LEN];
    uint16_t old_used;
    uint32_t head, len;

    if (!(net->vdev->features & (1ull << VIRTIO_F_VERSION_1))) {
        g_test_skip("needs a virtio 1.0 PCI device");
        return;
    }
    dp_loopback(qts, net, alloc, 0, 1, 64);
    old_rx = dp_rx(net, 0);
    memset(pat, 0xa5, sizeof(pat));
    for (int i = 0; i < 4; i++) {
        rxbuf[i] = guest_alloc(alloc, DP_BUF_LEN);
        qtest_memwrite(qts, rxbuf[i], pat, sizeof(pat));
        head = qvirtqueue_add(qts, old_rx, rxbuf[i], DP_BUF_LEN, true,
                              false);
        qvirtqueue_kick(qts, net->vdev, old_rx, head);
    }
    old_used = dp_used_idx(qts, old_rx);

    /* keep the old RX ring allocated, so that no new ring lands there */
    net->queues[0] = NULL;
    g_assert(!(dp_reinit_with(net, alloc, &tx_only) &
               VIRTIO_CONFIG_S_NEEDS_RESET));
    tx = dp_tx(net, 0);
    txbuf = guest_alloc(alloc, DP_HDR_LEN + sizeof(frame));
    dp_fill_frame(frame, sizeof(frame), 4242);
    qtest_memwrite(qts, txbuf, &hdr, DP_HDR_LEN);
    qtest_memwrite(qts, txbuf + DP_HDR_LEN, frame, sizeof(frame));
    head = qvirtqueue_add(qts, tx, txbuf, DP_HDR_LEN + sizeof(frame), false,
                          false);
    qvirtqueue_kick(qts, net->vdev, tx, head);
    g_assert(dp_wait_used(qts, tx, &head, NULL, DP_TIMEOUT_US));

    /* the old ring and its buffers stay as the guest left them */
    g_usleep(DP_QUIET_US);
    g_assert_cmpuint(dp_used_idx(qts, old_rx), ==, old_used);
    for (int i = 0; i < 4; i++) {
        uint8_t now[DP_BUF_LEN];

        qtest_memread(qts, rxbuf[i], now, sizeof(now));
        g_assert(memcmp(now, pat, sizeof(pat)) == 0);
    }

    /* with an RX vring again, the frame arrives */
    g_assert(!(dp_reinit_with(net, alloc, &all) &
               VIRTIO_CONFIG_S_NEEDS_RESET));
    qvirtqueue_cleanup(net->vdev->bus, old_rx, alloc);
    rx = dp_rx(net, 0);
    old_rxbuf = guest_alloc(alloc, DP_BUF_LEN);
    head = qvirtqueue_add(qts, rx, old_rxbuf, DP_BUF_LEN, true, false);
    qvirtqueue_kick(qts, net->vdev, rx, head);
    g_assert(dp_wait_used(qts, rx, &head, &len, DP_TIMEOUT_US));
    g_assert_cmpuint(len, ==, sizeof(got));
    qtest_memread(qts, old_rxbuf, got, sizeof(got));
    g_assert(memcmp(got + DP_HDR_LEN, frame, sizeof(frame)) == 0);
    dp_loopback(qts, net, alloc, 0, 2, 200);

    for (int i = 0; i < 4; i++) {
        guest_free(alloc, rxbuf[i]);
    }
    guest_free(alloc, txbuf);
    guest_free(alloc, old_rxbuf);
}

/*
 * Rings must be aligned as the virtio spec requires (descriptors 16,
 * used ring 4): else a field could cross a page, which behind a vIOMMU
 * may lead anywhere.  The dataplane refuses to start, the device needs
 * a reset, and a reset with good rings recovers.
 */
static void test_misaligned_ring(void *obj, void *data,
                                 QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;
    DpReinit bad[] = {
        { .shift = { 8, 0, 0 } },
        { .shift = { 0, 1, 0 } },
        { .shift = { 0, 0, 2 } },
    };

    if (!(net->vdev->features & (1ull << VIRTIO_F_VERSION_1))) {
        g_test_skip("needs a virtio 1.0 PCI device");
        return;
    }
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        QDict *rsp;

        g_assert(dp_reinit_with(net, alloc, &bad[i]) &
                 VIRTIO_CONFIG_S_NEEDS_RESET);
        rsp = qtest_qmp(qts, "{'execute': 'query-status'}");
        g_assert(qdict_haskey(rsp, "return"));
        qobject_unref(rsp);
    }
    g_assert(!(dp_reinit(net, alloc, 0) & VIRTIO_CONFIG_S_NEEDS_RESET));
    dp_loopback(qts, net, alloc, 0, 4, 128);
}

/* Make two chains available at once, with one notification */
static void dp_publish2(QTestState *qts, QVirtioNet *net, QVirtQueue *vq,
                        uint16_t h1, uint16_t h2)
{
    uint16_t idx = qtest_readw(qts, vq->avail + 2);

    qtest_writew(qts, vq->avail + 4 + 2 * (idx % vq->size), h1);
    qtest_writew(qts, vq->avail + 4 + 2 * ((idx + 1) % vq->size), h2);
    qtest_writew(qts, vq->avail + 2, idx + 2);
    net->vdev->bus->virtqueue_kick(net->vdev, vq);
}

/*
 * Mergeable receive buffers that are too few or too small for a frame:
 * what was placed before it is published, the queue waits for the
 * guest's buffers (one wait, no retries), and a frame no whole ring of
 * buffers could hold is dropped instead of blocking the queue.
 */
static void test_mergeable_starved(void *obj, void *data,
                                   QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;
    QVirtQueue *rx = dp_rx(net, 0), *tx = dp_tx(net, 0);
    uint64_t buf[4], txbuf[2], waits, drops;
    uint32_t len[4] = { DP_BUF_LEN, 64, DP_BUF_LEN, 0 }, head[4], h1, h2;

    if (!(net->vdev->features & (1ull << VIRTIO_F_VERSION_1))) {
        g_test_skip("needs a virtio 1.0 PCI device");
        return;
    }
    g_assert(!(dp_reinit(net, alloc, 0) & VIRTIO_CONFIG_S_NEEDS_RESET));
    rx = dp_rx(net, 0);
    tx = dp_tx(net, 0);
    waits = dp_stat(qts, 0, "rx-no-buffers");
    for (int i = 0; i < 2; i++) {
        buf[i] = guest_alloc(alloc, len[i]);
        head[i] = qvirtqueue_add(qts, rx, buf[i], len[i], true, false);
        qvirtqueue_kick(qts, net->vdev, rx, head[i]);
    }
    /* a small frame that fits, then a big one that does not: one burst */
    txbuf[0] = guest_alloc(alloc, DP_HDR_LEN + 100);
    txbuf[1] = guest_alloc(alloc, DP_HDR_LEN + 1514);
    h1 = dp_tx_add(qts, tx, txbuf[0], 100, 1);
    h2 = dp_tx_add(qts, tx, txbuf[1], 1514, 2);
    dp_publish2(qts, net, tx, h1, h2);

    dp_expect_rx(qts, rx, head[0], buf, len, 100, 1);
    g_usleep(DP_QUIET_US / 3);
    g_assert_cmpuint(dp_stat(qts, 0, "rx-no-buffers"), >, waits);
    waits = dp_stat(qts, 0, "rx-no-buffers");
    g_usleep(DP_QUIET_US);
    g_assert_cmpuint(dp_stat(qts, 0, "rx-no-buffers"), ==, waits);
    g_assert_cmpuint(dp_used_idx(qts, rx), ==, 1);

    /* one more buffer: the big frame takes the small one and it */
    buf[2] = guest_alloc(alloc, len[2]);
    head[2] = qvirtqueue_add(qts, rx, buf[2], len[2], true, false);
    qvirtqueue_kick(qts, net->vdev, rx, head[2]);
    dp_expect_rx(qts, rx, head[1], &buf[1], &len[1], 1514, 2);
    g_assert(dp_wait_used(qts, tx, &h1, NULL, DP_TIMEOUT_US));
    g_assert(dp_wait_used(qts, tx, &h2, NULL, DP_TIMEOUT_US));
    for (int i = 0; i < 3; i++) {
        guest_free(alloc, buf[i]);
    }

    /* a ring of four 64-byte buffers never holds 1514 bytes: dropped */
    g_assert(!(dp_reinit(net, alloc, 4) & VIRTIO_CONFIG_S_NEEDS_RESET));
    rx = dp_rx(net, 0);
    tx = dp_tx(net, 0);
    rx->size = 4;
    drops = dp_stat(qts, 0, "rx-drops");
    for (int i = 0; i < 4; i++) {
        len[i] = 64;
        buf[i] = guest_alloc(alloc, len[i]);
        head[i] = qvirtqueue_add(qts, rx, buf[i], len[i], true, false);
        qvirtqueue_kick(qts, net->vdev, rx, head[i]);
    }
    h1 = dp_tx_add(qts, tx, txbuf[1], 1514, 3);
    qvirtqueue_kick(qts, net->vdev, tx, h1);
    g_assert(dp_wait_used(qts, tx, &h1, NULL, DP_TIMEOUT_US));
    h2 = dp_tx_add(qts, tx, txbuf[0], 100, 4);
    qvirtqueue_kick(qts, net->vdev, tx, h2);
    dp_expect_rx(qts, rx, head[0], buf, len, 100, 4);
    g_assert_cmpuint(dp_stat(qts, 0, "rx-drops") - drops, ==, 1);

    for (int i = 0; i < 4; i++) {
        guest_free(alloc, buf[i]);
    }
    guest_free(alloc, txbuf[0]);
    guest_free(alloc, txbuf[1]);
    g_assert(!(dp_reinit(net, alloc, 0) & VIRTIO_CONFIG_S_NEEDS_RESET));
    dp_loopback(qts, net, alloc, 0, 2, 300);
}

/*
 * The driver pushes back in a burst that also holds a chain to drop:
 * every chain is completed exactly once, in the end.  The loopback
 * driver holds 256 frames while the guest posts no receive buffers.
 */
static void test_tx_backpressure(void *obj, void *data,
                                 QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;
    QVirtQueue *rx = dp_rx(net, 0), *tx = dp_tx(net, 0);
    enum { HELD = 256 };
    uint64_t txbuf = guest_alloc(alloc, DP_HDR_LEN + 64);
    uint64_t bad = guest_alloc(alloc, 4);
    uint64_t rxbuf[HELD], stalls, drops;
    uint32_t head, rxhead[2], chain[3], lens[2] = { DP_BUF_LEN, DP_BUF_LEN };
    uint16_t used, idx;
    bool seen[3] = { false };

    for (uint32_t i = 0; i < HELD; i++) {
        dp_reset_pool(tx);
        head = dp_tx_add(qts, tx, txbuf, 64, i);
        qvirtqueue_kick(qts, net->vdev, tx, head);
        g_assert(dp_wait_used(qts, tx, &head, NULL, DP_TIMEOUT_US));
    }
    stalls = dp_stat(qts, 0, "tx-stalls");
    drops = dp_stat(qts, 0, "tx-drops");

    /* a frame, a chain shorter than the virtio header, a frame */
    dp_reset_pool(tx);
    chain[0] = dp_tx_add(qts, tx, txbuf, 64, 1000);
    chain[1] = qvirtqueue_add(qts, tx, bad, 4, false, false);
    chain[2] = dp_tx_add(qts, tx, guest_alloc(alloc, DP_HDR_LEN + 64), 64,
                         1001);
    used = dp_used_idx(qts, tx);
    idx = qtest_readw(qts, tx->avail + 2);
    for (int i = 0; i < 3; i++) {
        qtest_writew(qts, tx->avail + 4 + 2 * ((idx + i) % tx->size),
                     chain[i]);
    }
    qtest_writew(qts, tx->avail + 2, idx + 3);
    net->vdev->bus->virtqueue_kick(net->vdev, tx);

    /* all three wait for the driver: none is completed yet */
    g_usleep(DP_QUIET_US);
    g_assert_cmpuint(dp_used_idx(qts, tx), ==, used);
    g_assert_cmpuint(dp_stat(qts, 0, "tx-stalls"), >, stalls);

    /* the guest receives what the driver held: the three go through */
    for (int i = 0; i < HELD; i++) {
        rxbuf[i] = guest_alloc(alloc, DP_BUF_LEN);
        head = qvirtqueue_add(qts, rx, rxbuf[i], DP_BUF_LEN, true, false);
        qvirtqueue_kick(qts, net->vdev, rx, head);
    }
    for (int i = 0; i < HELD; i++) {
        g_assert(dp_wait_used(qts, rx, &head, NULL, DP_TIMEOUT_US));
    }
    for (int i = 0; i < 3; i++) {
        g_assert(dp_wait_used(qts, tx, &head, NULL, DP_TIMEOUT_US));
        for (int j = 0; j < 3; j++) {
            if (head == chain[j]) {
                g_assert(!seen[j]);
                seen[j] = true;
            }
        }
    }
    g_assert(seen[0] && seen[1] && seen[2]);
    g_usleep(DP_QUIET_US);
    g_assert_cmpuint(dp_used_idx(qts, tx), ==, (uint16_t)(used + 3));
    g_assert_cmpuint(dp_stat(qts, 0, "tx-drops") - drops, ==, 1);

    /* and both frames reach the guest, in order */
    dp_reset_pool(rx);
    for (int i = 0; i < 2; i++) {
        rxhead[i] = qvirtqueue_add(qts, rx, rxbuf[i], DP_BUF_LEN, true,
                                   false);
        qvirtqueue_kick(qts, net->vdev, rx, rxhead[i]);
    }
    dp_expect_rx(qts, rx, rxhead[0], &rxbuf[0], lens, 64, 1000);
    dp_expect_rx(qts, rx, rxhead[1], &rxbuf[1], lens, 64, 1001);
}

/*
 * Polling reports only work that can progress.  With poll-max-ns at
 * 200 ms the IOThreads poll, but while the driver pushes back and the
 * guest has no receive buffers for the frames the driver holds, and
 * while a queue pair is disabled with a chain in its TX ring, there is
 * nothing to do: the poll hits must stop growing (a poll handler that
 * said yes there would spin at full CPU).  Then the guest gives
 * buffers and enables the pair, and everything waiting moves.
 */
static void test_poll_no_spin(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;
    QVirtQueue *rx = dp_rx(net, 0), *tx = dp_tx(net, 0);
    QVirtQueue *tx1 = dp_tx(net, 1);
    enum { HELD = 256, RXN = 4 };
    uint64_t txbuf = guest_alloc(alloc, DP_HDR_LEN + 64);
    uint64_t txbuf1 = guest_alloc(alloc, DP_HDR_LEN + 64);
    uint64_t rxbuf[RXN], hits0, hits1, stalls;
    uint32_t head, rxhead[RXN], lens[1] = { DP_BUF_LEN };
    gint64 end;

    dp_set_queue_pairs(qts, net, alloc, 2);
    /* pair 0: the driver holds HELD frames, the next one stalls */
    for (uint32_t i = 0; i <= HELD; i++) {
        if (i == HELD) {
            stalls = dp_stat(qts, 0, "tx-stalls");
        }
        dp_reset_pool(tx);
        head = dp_tx_add(qts, tx, txbuf, 64, i);
        qvirtqueue_kick(qts, net->vdev, tx, head);
        if (i < HELD) {
            g_assert(dp_wait_used(qts, tx, &head, NULL, DP_TIMEOUT_US));
        }
    }
    end = g_get_monotonic_time() + DP_TIMEOUT_US;
    while (dp_stat(qts, 0, "tx-stalls") == stalls) {
        g_assert(g_get_monotonic_time() < end);
        g_usleep(1000);
    }

    /* pair 1 polls, then the guest disables it with a chain queued */
    dp_loopback(qts, net, alloc, 1, 4, 64);
    dp_set_queue_pairs(qts, net, alloc, 1);
    dp_reset_pool(tx1);
    head = dp_tx_add(qts, tx1, txbuf1, 64, 0);
    qvirtqueue_kick(qts, net->vdev, tx1, head);

    hits0 = dp_stat(qts, 0, "poll-hits");
    hits1 = dp_stat(qts, 1, "poll-hits");
    g_usleep(5 * DP_QUIET_US);
    g_test_message("poll hits while stalled: pair 0 %" PRIu64 ", pair 1 %"
                   PRIu64, dp_stat(qts, 0, "poll-hits") - hits0,
                   dp_stat(qts, 1, "poll-hits") - hits1);
    g_assert_cmpuint(dp_stat(qts, 0, "poll-hits") - hits0, <=, 1);
    g_assert_cmpuint(dp_stat(qts, 1, "poll-hits"), ==, hits1);

    /* buffers for the first frames held: they and the stalled one move */
    for (int i = 0; i < RXN; i++) {
        rxbuf[i] = guest_alloc(alloc, DP_BUF_LEN);
        rxhead[i] = qvirtqueue_add(qts, rx, rxbuf[i], DP_BUF_LEN, true,
                                   false);
        qvirtqueue_kick(qts, net->vdev, rx, rxhead[i]);
    }
    for (int i = 0; i < RXN; i++) {
        dp_expect_rx(qts, rx, rxhead[i], &rxbuf[i], lens, 64, i);
    }
    g_assert(dp_wait_used(qts, tx, &head, NULL, DP_TIMEOUT_US));
    /* enabling pair 1 serves the chain it had */
    dp_set_queue_pairs(qts, net, alloc, 2);
    g_assert(dp_wait_used(qts, tx1, &head, NULL, DP_TIMEOUT_US));

    for (int i = 0; i < RXN; i++) {
        guest_free(alloc, rxbuf[i]);
    }
    guest_free(alloc, txbuf);
    guest_free(alloc, txbuf1);
}

/* Publish @n chains at heads @first.. of @vq at once, and kick */
static void dp_publish_n(QTestState *qts, QVirtioNet *net, QVirtQueue *vq,
                         uint16_t first, uint16_t n)
{
    uint16_t idx = qtest_readw(qts, vq->avail + 2);

    for (uint16_t i = 0; i < n; i++) {
        qtest_writew(qts, vq->avail + 4 + 2 * ((idx + i) % vq->size),
                     (first + i) % vq->size);
    }
    qtest_writew(qts, vq->avail + 2, idx + n);
    net->vdev->bus->virtqueue_kick(net->vdev, vq);
}

static void dp_wait_used_idx(QTestState *qts, QVirtQueue *vq, uint16_t want)
{
    gint64 end = g_get_monotonic_time() + DP_TIMEOUT_US;

    while (dp_used_idx(qts, vq) != want) {
        g_assert(g_get_monotonic_time() < end);
        g_usleep(1000);
    }
}

/*
 * Chains the engine drops (shorter than the virtio header) cost work
 * too: a run takes at most its packet budget of 256 chains, dropped
 * or not, and yields to the IOThread's other handlers before going on.
 * A full ring of them takes a run per 256.
 */
static void test_budget_drops(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;
    QVirtQueue *tx = dp_tx(net, 0);
    uint64_t buf = guest_alloc(alloc, 4);
    uint64_t drops = dp_stat(qts, 0, "tx-drops");
    uint64_t yields = dp_stat(qts, 0, "budget-yields");
    uint16_t used = dp_used_idx(qts, tx);

    g_assert_cmpuint(tx->size, >=, 256);
    for (unsigned int i = 0; i < tx->size; i++) {
        dp_write_desc(qts, tx->desc, i, buf, 4, 0, 0);
    }
    dp_publish_n(qts, net, tx, 0, tx->size);

    dp_wait_used_idx(qts, tx, used + tx->size);
    g_assert_cmpuint(dp_stat(qts, 0, "tx-drops") - drops, ==, tx->size);
    g_test_message("budget yields: %" PRIu64,
                   dp_stat(qts, 0, "budget-yields") - yields);
    g_assert_cmpuint(dp_stat(qts, 0, "budget-yields") - yields, >=,
                     tx->size / 256 - 1);
    guest_free(alloc, buf);
}

/*
 * A run also has a budget of descriptors: chains of 1024 descriptors
 * (an indirect table of a frame and 1023 empty buffers) are few packets
 * but many descriptors.  32 of them must take more than one run, and
 * every frame still goes through.
 */
static void test_budget_descs(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;
    QVirtQueue *tx = dp_tx(net, 0);
    enum { CHAINS = 32, DESCS = 1024, LEN = 64 };
    size_t tlen = DESCS * sizeof(struct vring_desc);
    uint64_t buf = guest_alloc(alloc, DP_HDR_LEN + LEN);
    uint64_t table = guest_alloc(alloc, tlen);
    g_autofree struct vring_desc *t = g_new0(struct vring_desc, DESCS);
    uint8_t frame[DP_HDR_LEN + LEN] = { 0 };
    uint64_t pkts = dp_stat(qts, 0, "tx-packets");
    uint64_t yields = dp_stat(qts, 0, "budget-yields");
    uint16_t used = dp_used_idx(qts, tx);

    dp_fill_frame(frame + DP_HDR_LEN, LEN, 0);
    qtest_memwrite(qts, buf, frame, sizeof(frame));
    t[0].addr = cpu_to_le64(buf);
    t[0].len = cpu_to_le32(sizeof(frame));
    for (unsigned int i = 0; i < DESCS; i++) {
        if (i + 1 < DESCS) {
            t[i].flags = cpu_to_le16(VRING_DESC_F_NEXT);
            t[i].next = cpu_to_le16(i + 1);
        }
        if (i) {
            t[i].addr = cpu_to_le64(buf);
        }
    }
    qtest_memwrite(qts, table, t, tlen);
    for (unsigned int i = 0; i < CHAINS; i++) {
        dp_write_desc(qts, tx->desc, i, table, tlen, VRING_DESC_F_INDIRECT,
                      0);
    }
    dp_publish_n(qts, net, tx, 0, CHAINS);

    dp_wait_used_idx(qts, tx, used + CHAINS);
    g_assert_cmpuint(dp_stat(qts, 0, "tx-packets") - pkts, ==, CHAINS);
    g_test_message("budget yields: %" PRIu64,
                   dp_stat(qts, 0, "budget-yields") - yields);
    g_assert_cmpuint(dp_stat(qts, 0, "budget-yields") - yields, >=,
                     CHAINS * DESCS / 8192 - 1);
    guest_free(alloc, buf);
    guest_free(alloc, table);
}

/*
 * Malformed packed rings: each stops its own vring with one report, and
 * the other vring of the pair goes on (TX takes frames, or RX receives
 * QEMU's own announcement frames)
 */
typedef enum DpPackedBad {
    DP_PBAD_RX_READONLY,        /* an RX buffer the device cannot write */
    DP_PBAD_TX_CHAINED_INDIRECT,
    DP_PBAD_TX_ENDLESS,         /* a chain longer than the ring */
    DP_PBAD_TX_NESTED,          /* an indirect table in a table */
} DpPackedBad;

static void dp_packed_send(QTestState *qts, QVirtioNet *net, DpPacked *tx,
                           uint64_t buf, uint16_t id)
{
    struct virtio_net_hdr_mrg_rxbuf hdr = { 0 };
    uint8_t frame[64];
    uint32_t len = DP_HDR_LEN + sizeof(frame);

    dp_fill_frame(frame, sizeof(frame), id);
    qtest_memwrite(qts, buf, &hdr, DP_HDR_LEN);
    qtest_memwrite(qts, buf + DP_HDR_LEN, frame, sizeof(frame));
    dp_packed_add(qts, tx, id, 1, &buf, &len, 0);
    dp_packed_kick(net, tx);
}

static void test_packed_bad(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;
    DpPackedBad bad = GPOINTER_TO_INT(data);
    g_autofree DpPacked *rx = g_new0(DpPacked, 1);
    g_autofree DpPacked *tx = g_new0(DpPacked, 1);
    uint64_t buf = guest_alloc(alloc, 4096);
    uint64_t rxbuf = guest_alloc(alloc, DP_BUF_LEN);
    uint64_t table = guest_alloc(alloc, 64);
    uint64_t errs = dp_stat(qts, 0, "ring-errors");
    uint32_t blen = DP_BUF_LEN, len;
    uint16_t id;
    QDict *rsp;

    g_assert(dp_packed_init(net, alloc, rx, tx) & VIRTIO_CONFIG_S_DRIVER_OK);
    if (bad == DP_PBAD_RX_READONLY) {
        dp_packed_add(qts, rx, 0, 1, &rxbuf, &blen, 0);
        dp_packed_kick(net, rx);
        /* TX goes on: the frame is taken, its delivery breaks RX */
        for (uint16_t i = 0; i < 2; i++) {
            dp_packed_send(qts, net, tx, buf, i);
            g_assert(dp_packed_wait_used(qts, tx, &id, NULL, DP_TIMEOUT_US));
            g_assert_cmpuint(id, ==, i);
        }
        g_assert(!dp_packed_wait_used(qts, rx, &id, NULL, DP_QUIET_US));
    } else {
        uint64_t a[2] = { buf, buf + 64 };
        uint32_t l[2] = { 64, 64 };

        switch (bad) {
        case DP_PBAD_TX_CHAINED_INDIRECT: {
            /* a chain of two whose first descriptor is indirect */
            uint64_t ca[2] = { table, buf };
            uint32_t cl[2] = { 32, 64 };

            dp_packed_add_indirect(qts, tx, 0, table, 2, a, l, 0);
            tx->avail = 0;
            dp_packed_add(qts, tx, 0, 2, ca, cl, 0);
            qtest_writew(qts, tx->vq->desc + 14,
                         qtest_readw(qts, tx->vq->desc + 14) |
                         VRING_DESC_F_INDIRECT);
            break;
        }
        case DP_PBAD_TX_ENDLESS: {
            g_autofree uint64_t *aa = g_new(uint64_t, tx->num + 1);
            g_autofree uint32_t *ll = g_new(uint32_t, tx->num + 1);

            for (unsigned int i = 0; i <= tx->num; i++) {
                aa[i] = buf;
                ll[i] = 64;
            }
            /* every descriptor chained on, the last back to the first */
            dp_packed_add(qts, tx, 0, tx->num, aa, ll, VRING_DESC_F_NEXT);
            break;
        }
        default:
            dp_packed_add_indirect(qts, tx, 0, table, 2, a, l, 0);
            qtest_writew(qts, table + 14, VRING_DESC_F_INDIRECT);
            break;
        }
        dp_packed_kick(net, tx);
        g_assert(!dp_packed_wait_used(qts, tx, &id, NULL, DP_QUIET_US));
        /* RX goes on: QEMU's announcement reaches the guest */
        dp_packed_add(qts, rx, 7, 1, &rxbuf, &blen, VRING_DESC_F_WRITE);
        dp_packed_kick(net, rx);
        rsp = qtest_qmp(qts, "{'execute': 'announce-self', 'arguments': "
                        "{'initial': 50, 'max': 550, 'rounds': 1, "
                        "'step': 50}}");
        g_assert(qdict_haskey(rsp, "return"));
        qobject_unref(rsp);
        g_assert(dp_packed_wait_used(qts, rx, &id, &len, DP_TIMEOUT_US));
        g_assert_cmpuint(id, ==, 7);
        g_assert_cmpuint(len, ==, DP_HDR_LEN + 60);
    }
    rsp = qtest_qmp(qts, "{'execute': 'query-status'}");
    g_assert(qdict_haskey(rsp, "return"));
    qobject_unref(rsp);
    g_assert_cmpuint(dp_stat(qts, 0, "ring-errors") - errs, ==, 1);
    guest_free(alloc, buf);
    guest_free(alloc, rxbuf);
    guest_free(alloc, table);
}

static void register_vhost_dp_guest_test(void)
{
    QOSGraphTestOptions opts = {
        .before = dp_before,
        .edge.extra_device_opts = "mq=on",
    };
    static const struct {
        const char *name;
        DpBadRing bad;
    } bad[] = {
        { "bad-ring/addr", DP_BAD_ADDR },
        { "bad-ring/loop", DP_BAD_LOOP },
        { "bad-ring/next", DP_BAD_NEXT },
        { "bad-ring/avail-jump", DP_BAD_AVAIL_JUMP },
        { "bad-ring/head", DP_BAD_HEAD },
        { "bad-ring/writable", DP_BAD_WRITABLE },
        { "bad-ring/nested-indirect", DP_BAD_NESTED_INDIRECT },
        { "bad-ring/indirect-len", DP_BAD_INDIRECT_LEN },
        { "bad-ring/indirect-addr", DP_BAD_INDIRECT_ADDR },
        { "bad-ring/len-wrap", DP_BAD_LEN_WRAP },
    };

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        opts.arg = GINT_TO_POINTER(bad[i].bad);
        qos_add_test(bad[i].name, "virtio-net", test_bad_ring, &opts);
    }
    opts.arg = NULL;
    opts.edge.extra_device_opts = "mq=on,disable-legacy=on";
    qos_add_test("vhost-dp/start-fail", "virtio-net", test_start_fail,
                 &opts);
    qos_add_test("vhost-dp/restart-tx-only", "virtio-net",
                 test_restart_tx_only, &opts);
    qos_add_test("vhost-dp/misaligned-ring", "virtio-net",
                 test_misaligned_ring, &opts);
    qos_add_test("vhost-dp/mergeable-starved", "virtio-net",
                 test_mergeable_starved, &opts);
    opts.edge.extra_device_opts = "packed=on,disable-legacy=on";
    opts.arg = GINT_TO_POINTER(DP_PBAD_RX_READONLY);
    qos_add_test("vhost-dp/packed/bad/rx-readonly", "virtio-net",
                 test_packed_bad, &opts);
    opts.arg = GINT_TO_POINTER(DP_PBAD_TX_CHAINED_INDIRECT);
    qos_add_test("vhost-dp/packed/bad/chained-indirect", "virtio-net",
                 test_packed_bad, &opts);
    opts.arg = GINT_TO_POINTER(DP_PBAD_TX_ENDLESS);
    qos_add_test("vhost-dp/packed/bad/endless", "virtio-net",
                 test_packed_bad, &opts);
    opts.arg = GINT_TO_POINTER(DP_PBAD_TX_NESTED);
    qos_add_test("vhost-dp/packed/bad/nested-indirect", "virtio-net",
                 test_packed_bad, &opts);
    opts.arg = NULL;
    opts.edge.extra_device_opts = "mq=on,disable-legacy=on";
    opts.before = dp_before_guest_log;
    qos_add_test("vhost-dp/report-ratelimit", "virtio-net",
                 test_report_ratelimit, &opts);
    opts.before = dp_before_fresh;
    opts.arg = (gpointer)"backpressure";
    qos_add_test("vhost-dp/tx-backpressure", "virtio-net",
                 test_tx_backpressure, &opts);
    opts.arg = (gpointer)"budget-drops";
    qos_add_test("vhost-dp/budget/drops", "virtio-net", test_budget_drops,
                 &opts);
    opts.arg = (gpointer)"budget-descs";
    qos_add_test("vhost-dp/budget/descs", "virtio-net", test_budget_descs,
                 &opts);
    opts.before = dp_before_poll;
    opts.arg = (gpointer)"200000000";
    qos_add_test("vhost-dp/poll/no-spin", "virtio-net", test_poll_no_spin,
                 &opts);
}

libqos_init(register_vhost_dp_guest_test);
