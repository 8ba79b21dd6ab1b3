/*
 * QTest testcases for the vhost dataplane's engine (-netdev vhostdp)
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The tests run on the libqos virtio-net nodes with the loopback driver.
 * The test acts as the guest driver: it posts buffers in the rings, the
 * IOThreads of the vhostdp netdev process them and the loopback driver
 * returns what was transmitted.  Malformed rings must stop only their
 * own queue; the rest of the device may change under traffic.
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

static void *dp_before(GString *cmd_line, void *arg)
{
    g_string_append(cmd_line, DP_NETDEV);
    return arg;
}

/*
 * Migration: the test gets its command line, to start the same QEMU once
 * more for a destination; the framework frees it after the test.
 */
static void *dp_before_migrate(GString *cmd_line, void *arg)
{
    char *cmd;

    /* a name of its own: the tests after this one get a fresh QEMU */
    g_string_append(cmd_line, DP_NETDEV "-name vdp-migrate-source ");
    cmd = g_strdup(cmd_line->str);
    g_test_queue_free(cmd);
    return cmd;
}

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

static void test_loopback(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;
    /* the tests share one QEMU: counters add up across tests */
    uint64_t tx = dp_stat(qts, 0, "tx-packets");
    uint64_t rx = dp_stat(qts, 0, "rx-packets");
    uint64_t txb = dp_stat(qts, 0, "tx-bytes");
    uint64_t rxb = dp_stat(qts, 0, "rx-bytes");
    uint64_t errs = dp_stat(qts, 0, "ring-errors");
    uint64_t tx1 = dp_stat(qts, 1, "tx-packets");

    dp_loopback(qts, net, alloc, 0, 1, 60);
    dp_loopback(qts, net, alloc, 0, 8, 1514);
    dp_loopback(qts, net, alloc, 0, 4, 1986);

    /* the counters saw every frame */
    g_assert_cmpuint(dp_stat(qts, 0, "tx-packets") - tx, ==, 13);
    g_assert_cmpuint(dp_stat(qts, 0, "rx-packets") - rx, ==, 13);
    g_assert_cmpuint(dp_stat(qts, 0, "tx-bytes") - txb, ==,
                     60 + 8 * 1514 + 4 * 1986);
    g_assert_cmpuint(dp_stat(qts, 0, "rx-bytes") - rxb, ==,
                     60 + 8 * 1514 + 4 * 1986);
    g_assert_cmpuint(dp_stat(qts, 0, "ring-errors"), ==, errs);
    g_assert_cmpuint(dp_stat(qts, 1, "tx-packets"), ==, tx1);
}

static void test_multiqueue(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;

    g_assert_cmpint(net->n_queues, ==, 5);
    dp_set_queue_pairs(qts, net, alloc, 2);
    dp_loopback(qts, net, alloc, 0, 16, 64);
    dp_loopback(qts, net, alloc, 1, 16, 64);
    dp_loopback(qts, net, alloc, 1, 4, 1500);
    dp_loopback(qts, net, alloc, 0, 4, 1500);
}

/* A frame larger than one receive buffer spreads over several buffers */
static void test_mergeable(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;
    QVirtQueue *rx = dp_rx(net, 0), *tx = dp_tx(net, 0);
    const size_t len = 1514, chunk = 512;
    const unsigned int nbuf = DIV_ROUND_UP(len + DP_HDR_LEN, chunk);
    uint64_t rxbuf[8], txbuf = guest_alloc(alloc, DP_HDR_LEN + len);
    uint32_t rxhead[8], head, used_len;
    struct virtio_net_hdr_mrg_rxbuf hdr = { 0 };
    g_autofree uint8_t *frame = g_malloc(len);
    g_autofree uint8_t *got = g_malloc0(nbuf * chunk);
    size_t off = 0;

    g_assert(qvirtio_get_features(net->vdev) &
             (1ull << VIRTIO_NET_F_MRG_RXBUF));
    for (unsigned int i = 0; i < nbuf; i++) {
        rxbuf[i] = guest_alloc(alloc, chunk);
        rxhead[i] = qvirtqueue_add(qts, rx, rxbuf[i], chunk, true, false);
        qvirtqueue_kick(qts, net->vdev, rx, rxhead[i]);
    }
    dp_fill_frame(frame, len, 42);
    qtest_memwrite(qts, txbuf, &hdr, DP_HDR_LEN);
    qtest_memwrite(qts, txbuf + DP_HDR_LEN, frame, len);
    head = qvirtqueue_add(qts, tx, txbuf, DP_HDR_LEN + len, false, false);
    qvirtqueue_kick(qts, net->vdev, tx, head);

    for (unsigned int i = 0; i < nbuf; i++) {
        g_assert(dp_wait_used(qts, rx, &head, &used_len, DP_TIMEOUT_US));
        g_assert_cmpuint(head, ==, rxhead[i]);
        g_assert_cmpuint(used_len, ==,
                         MIN(chunk, len + DP_HDR_LEN - i * chunk));
        qtest_memread(qts, rxbuf[i], got + off, used_len);
        off += used_len;
    }
    hdr = *(struct virtio_net_hdr_mrg_rxbuf *)got;
    g_assert_cmpuint(le16_to_cpu(hdr.num_buffers), ==, nbuf);
    g_assert(memcmp(got + DP_HDR_LEN, frame, len) == 0);
}

/* Offload metadata the guest transmits comes back unchanged */
static void test_offload(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;
    QVirtQueue *rx = dp_rx(net, 0), *tx = dp_tx(net, 0);
    uint64_t features = qvirtio_get_features(net->vdev);
    const size_t len = 1000;
    uint64_t rxbuf = guest_alloc(alloc, DP_BUF_LEN);
    uint64_t txbuf = guest_alloc(alloc, DP_HDR_LEN + len);
    struct virtio_net_hdr_mrg_rxbuf hdr = {
        .hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
        .hdr.gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
        .hdr.hdr_len = cpu_to_le16(54),
        .hdr.gso_size = cpu_to_le16(400),
        .hdr.csum_start = cpu_to_le16(34),
        .hdr.csum_offset = cpu_to_le16(16),
    };
    struct virtio_net_hdr_mrg_rxbuf back;
    g_autofree uint8_t *frame = g_malloc(len);
    uint32_t head, used_len;

    g_assert(features & (1ull << VIRTIO_NET_F_HOST_TSO4));
    g_assert(features & (1ull << VIRTIO_NET_F_GUEST_TSO4));
    head = qvirtqueue_add(qts, rx, rxbuf, DP_BUF_LEN, true, false);
    qvirtqueue_kick(qts, net->vdev, rx, head);

    dp_fill_frame(frame, len, 7);
    qtest_memwrite(qts, txbuf, &hdr, DP_HDR_LEN);
    qtest_memwrite(qts, txbuf + DP_HDR_LEN, frame, len);
    head = qvirtqueue_add(qts, tx, txbuf, DP_HDR_LEN + len, false, false);
    qvirtqueue_kick(qts, net->vdev, tx, head);

    g_assert(dp_wait_used(qts, rx, &head, &used_len, DP_TIMEOUT_US));
    g_assert_cmpuint(used_len, ==, DP_HDR_LEN + len);
    qtest_memread(qts, rxbuf, &back, sizeof(back));
    g_assert_cmpuint(back.hdr.flags, ==, VIRTIO_NET_HDR_F_NEEDS_CSUM);
    g_assert_cmpuint(back.hdr.gso_type, ==, VIRTIO_NET_HDR_GSO_TCPV4);
    g_assert_cmpuint(le16_to_cpu(back.hdr.hdr_len), ==, 54);
    g_assert_cmpuint(le16_to_cpu(back.hdr.gso_size), ==, 400);
    g_assert_cmpuint(le16_to_cpu(back.hdr.csum_start), ==, 34);
    g_assert_cmpuint(le16_to_cpu(back.hdr.csum_offset), ==, 16);
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

/* The status of the migration and its count of dirty bitmap syncs */
static const char *dp_migration(QTestState *qts, int64_t *syncs)
{
    static char status[32];
    QDict *rsp = qtest_qmp(qts, "{'execute': 'query-migrate'}");
    QDict *ret = qdict_get_qdict(rsp, "return");
    QDict *ram = ret && qdict_haskey(ret, "ram") ?
                 qdict_get_qdict(ret, "ram") : NULL;

    pstrcpy(status, sizeof(status), ret && qdict_haskey(ret, "status") ?
            qdict_get_str(ret, "status") : "none");
    *syncs = ram ? qdict_get_int(ram, "dirty-sync-count") : 0;
    qobject_unref(rsp);
    return status;
}

/*
 * Live migration sees what the dataplane writes into guest memory.  The
 * receive buffers are still zero when the first pass of the migration
 * sends them; only then do frames land in them, written by the IOThread
 * alone.  They reach the destination only if the dataplane marked those
 * pages dirty (VHOST_F_LOG_ALL).  The migration is kept from converging
 * (1 ms downtime, 1 MiB the test keeps dirty) until the frames are in.
 */
static void test_migrate(void *obj, void *data, QGuestAllocator *alloc)
{
    enum { N = 16, LEN = 1514 };
    QVirtioNet *net = obj;
    QTestState *src = global_qtest, *dst;
    QVirtQueue *rx = dp_rx(net, 0), *tx = dp_tx(net, 0);
    g_autofree char *sock = g_strdup_printf("%s/vdp-migrate-%d.sock",
                                            g_get_tmp_dir(), getpid());
    g_autofree char *uri = g_strdup_printf("unix:%s", sock);
    uint64_t bufs = ROUND_UP(guest_alloc(alloc, (N + 1) * 4096), 4096);
    uint64_t txbuf = guest_alloc(alloc, DP_HDR_LEN + LEN);
    /* dirtied over and over: more than 1 ms of the migration's bandwidth */
    uint64_t scratch = guest_alloc(alloc, 1 * MiB);
    struct virtio_net_hdr_mrg_rxbuf hdr = { 0 };
    uint8_t frame[LEN], got[LEN];
    uint32_t head, len;
    const char *status;
    int64_t syncs;
    gint64 end;

    for (int i = 0; i < N; i++) {
        head = qvirtqueue_add(src, rx, bufs + i * 4096, 4096, true, false);
        qvirtqueue_kick(src, net->vdev, rx, head);
    }
    dst = qtest_initf("%s -incoming %s", (const char *)data, uri);
    qtest_qmp_assert_success(src, "{'execute': 'migrate-set-parameters', "
                             "'arguments': {'max-bandwidth': 4194304, "
                             "'downtime-limit': 1}}");
    qtest_qmp_assert_success(src, "{'execute': 'migrate', 'arguments': "
                             "{'uri': %s}}", uri);

    /* the second pass: every page has been sent once */
    end = g_get_monotonic_time() + DP_TIMEOUT_US;
    for (uint32_t i = 0; ; i++) {
        qtest_memset(src, scratch, i, 1 * MiB);
        status = dp_migration(src, &syncs);
        g_assert_cmpstr(status, !=, "failed");
        g_assert_cmpstr(status, !=, "completed");
        if (syncs >= 2) {
            break;
        }
        g_assert(g_get_monotonic_time() < end);
        g_usleep(2000);
    }
    unlink(sock);               /* connected long since */

    /* now the IOThread writes the buffers */
    for (int i = 0; i < N; i++) {
        dp_fill_frame(frame, LEN, 1000 + i);
        qtest_memwrite(src, txbuf, &hdr, DP_HDR_LEN);
        qtest_memwrite(src, txbuf + DP_HDR_LEN, frame, LEN);
        head = qvirtqueue_add(src, tx, txbuf, DP_HDR_LEN + LEN, false, false);
        qvirtqueue_kick(src, net->vdev, tx, head);
        g_assert(dp_wait_used(src, tx, &head, NULL, DP_TIMEOUT_US));
        g_assert(dp_wait_used(src, rx, &head, &len, DP_TIMEOUT_US));
        g_assert_cmpuint(len, ==, DP_HDR_LEN + LEN);
    }
    g_assert_cmpstr(dp_migration(src, &syncs), ==, "active");

    /* let it converge */
    qtest_qmp_assert_success(src, "{'execute': 'migrate-set-parameters', "
                             "'arguments': {'max-bandwidth': 1073741824, "
                             "'downtime-limit': 10000}}");
    end = g_get_monotonic_time() + DP_TIMEOUT_US;
    while (strcmp((status = dp_migration(dst, &syncs)), "completed")) {
        g_assert_cmpstr(status, !=, "failed");
        g_assert(g_get_monotonic_time() < end);
        g_usleep(10 * 1000);
    }

    /* the destination has every frame, and the used ring that says so */
    g_assert_cmpuint(qtest_readw(dst, rx->used + 2), ==, rx->last_used_idx);
    g_assert_cmpuint(qtest_readw(dst, tx->used + 2), ==, tx->last_used_idx);
    for (int i = 0; i < N; i++) {
        dp_fill_frame(frame, LEN, 1000 + i);
        qtest_memread(dst, bufs + i * 4096 + DP_HDR_LEN, got, LEN);
        g_assert(memcmp(got, frame, LEN) == 0);
    }
    qtest_quit(dst);
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
 * The guest driver reloads: reset, renegotiate (this time with event
 * index and indirect descriptors), new rings; traffic flows again, also
 * through an indirect table split header/frame.
 */
static void test_reset(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;
    QVirtQueue *rx, *tx;
    QVRingIndirectDesc *ind;
    struct virtio_net_hdr_mrg_rxbuf hdr = { 0 };
    uint8_t frame[200], got[sizeof(frame)];
    uint64_t features, txhdr, txframe, rxbuf;
    uint32_t head, len;

    dp_loopback(qts, net, alloc, 0, 2, 100);

    for (int i = 0; i < net->n_queues; i++) {
        qvirtqueue_cleanup(net->vdev->bus, net->queues[i], alloc);
    }
    qvirtio_reset(net->vdev);
    qvirtio_set_acknowledge(net->vdev);
    qvirtio_set_driver(net->vdev);
    features = qvirtio_get_features(net->vdev) & ~QVIRTIO_F_BAD_FEATURE;
    g_assert(features & (1ull << VIRTIO_RING_F_EVENT_IDX));
    g_assert(features & (1ull << VIRTIO_RING_F_INDIRECT_DESC));
    qvirtio_set_features(net->vdev, features);
    for (int i = 0; i < net->n_queues; i++) {
        net->queues[i] = qvirtqueue_setup(net->vdev, alloc, i);
    }
    qvirtio_set_driver_ok(net->vdev);
    g_assert(dp_rx(net, 0)->event);

    dp_loopback(qts, net, alloc, 0, 8, 300);

    rx = dp_rx(net, 0);
    tx = dp_tx(net, 0);
    rxbuf = guest_alloc(alloc, DP_BUF_LEN);
    head = qvirtqueue_add(qts, rx, rxbuf, DP_BUF_LEN, true, false);
    qvirtqueue_kick(qts, net->vdev, rx, head);
    dp_fill_frame(frame, sizeof(frame), 99);
    txhdr = guest_alloc(alloc, DP_HDR_LEN);
    txframe = guest_alloc(alloc, sizeof(frame));
    qtest_memwrite(qts, txhdr, &hdr, DP_HDR_LEN);
    qtest_memwrite(qts, txframe, frame, sizeof(frame));
    ind = qvring_indirect_desc_setup(qts, net->vdev, alloc, 2);
    qvring_indirect_desc_add(net->vdev, qts, ind, txhdr, DP_HDR_LEN, false);
    qvring_indirect_desc_add(net->vdev, qts, ind, txframe, sizeof(frame),
                             false);
    head = qvirtqueue_add_indirect(qts, tx, ind);
    qvirtqueue_kick(qts, net->vdev, tx, head);
    g_assert(dp_wait_used(qts, rx, &head, &len, DP_TIMEOUT_US));
    g_assert_cmpuint(len, ==, DP_HDR_LEN + sizeof(frame));
    qtest_memread(qts, rxbuf + DP_HDR_LEN, got, sizeof(got));
    g_assert(memcmp(got, frame, sizeof(frame)) == 0);
    g_free(ind);
}

/* Frames cross a real TAP device both ways, byte for byte */
/* How dp_reinit_with() sets the rings up again */
typedef struct DpReinit {
    uint16_t size0;             /* queue 0's size, if not 0 */
    bool tx_only;               /* only queue 1, pair 0's TX */
    uint64_t shift[3];          /* move queue 1's desc/avail/used by */
} DpReinit;

static void dp_common_cfg_writeq(QVirtioPCIDevice *dev, size_t lo,
                                 size_t hi, uint64_t val)
{
    qpci_io_writel(dev->pdev, dev->bar, dev->common_cfg_offset + lo, val);
    qpci_io_writel(dev->pdev, dev->bar, dev->common_cfg_offset + hi,
                   val >> 32);
}

/*
 * Reset the device and set its rings up again, as @o says (the modern
 * PCI interface for anything but the defaults).  Queues left out are
 * NULL in net->queues[]; a queue that is not NULL there is cleaned up.
 */
static uint8_t dp_reinit_with(QVirtioNet *net, QGuestAllocator *alloc,
                              const DpReinit *o)
{
    QVirtioPCIDevice *dev = container_of(net->vdev, QVirtioPCIDevice, vdev);
    uint64_t features;

    for (int i = 0; i < net->n_queues; i++) {
        if (net->queues[i]) {
            qvirtqueue_cleanup(net->vdev->bus, net->queues[i], alloc);
        }
        net->queues[i] = NULL;
    }
    qvirtio_reset(net->vdev);
    qvirtio_set_acknowledge(net->vdev);
    qvirtio_set_driver(net->vdev);
    features = qvirtio_get_features(net->vdev) & ~QVIRTIO_F_BAD_FEATURE;
    qvirtio_set_features(net->vdev, features);
    for (int i = 0; i < net->n_queues; i++) {
        if (!o->tx_only || i == 1) {
            net->queues[i] = qvirtqueue_setup(net->vdev, alloc, i);
        }
    }
    if (o->size0) {
        /* smaller than the ring libqos laid out, so it still fits */
        net->vdev->bus->queue_select(net->vdev, 0);
        qpci_io_writew(dev->pdev, dev->bar, dev->common_cfg_offset +
                       offsetof(struct virtio_pci_common_cfg, queue_size),
                       o->size0);
    }
    if (o->shift[0] || o->shift[1] || o->shift[2]) {
        QVirtQueue *vq = net->queues[1];

        net->vdev->bus->queue_select(net->vdev, 1);
        dp_common_cfg_writeq(dev,
            offsetof(struct virtio_pci_common_cfg, queue_desc_lo),
            offsetof(struct virtio_pci_common_cfg, queue_desc_hi),
            vq->desc + o->shift[0]);
        dp_common_cfg_writeq(dev,
            offsetof(struct virtio_pci_common_cfg, queue_avail_lo),
            offsetof(struct virtio_pci_common_cfg, queue_avail_hi),
            vq->avail + o->shift[1]);
        dp_common_cfg_writeq(dev,
            offsetof(struct virtio_pci_common_cfg, queue_used_lo),
            offsetof(struct virtio_pci_common_cfg, queue_used_hi),
            vq->used + o->shift[2]);
        /* the device takes the addresses when the queue is enabled */
        qpci_io_writew(dev->pdev, dev->bar, dev->common_cfg_offset +
                       offsetof(struct virtio_pci_common_cfg, queue_enable),
                       1);
    }
    net->vdev->bus->set_status(net->vdev,
                               net->vdev->bus->get_status(net->vdev) |
                               VIRTIO_CONFIG_S_DRIVER_OK);
    return net->vdev->bus->get_status(net->vdev);
}

/* Reset the device and set its rings up again; queue 0 gets @size0 */
static uint8_t dp_reinit(QVirtioNet *net, QGuestAllocator *alloc,
                         uint16_t size0)
{
    DpReinit o = { .size0 = size0 };

    return dp_reinit_with(net, alloc, &o);
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

/* Queue a frame of @len bytes (sequence @seq) on @tx, not yet available */
static uint32_t dp_tx_add(QTestState *qts, QVirtQueue *tx, uint64_t buf,
                          size_t len, uint32_t seq)
{
    struct virtio_net_hdr_mrg_rxbuf hdr = { 0 };
    g_autofree uint8_t *frame = g_malloc(len);

    dp_fill_frame(frame, len, seq);
    qtest_memwrite(qts, buf, &hdr, DP_HDR_LEN);
    qtest_memwrite(qts, buf + DP_HDR_LEN, frame, len);
    return qvirtqueue_add(qts, tx, buf, DP_HDR_LEN + len, false, false);
}

/* The next used element of @rx holds frame @seq of @len bytes */
static void dp_expect_rx(QTestState *qts, QVirtQueue *rx, uint32_t want,
                         const uint64_t *bufs, const uint32_t *lens,
                         size_t len, uint32_t seq)
{
    g_autofree uint8_t *frame = g_malloc(len);
    g_autofree uint8_t *got = g_malloc0(DP_HDR_LEN + len);
    struct virtio_net_hdr_mrg_rxbuf *hdr = (void *)got;
    size_t off = 0;
    unsigned int n = 0;
    uint32_t head, used_len;

    dp_fill_frame(frame, len, seq);
    while (off < DP_HDR_LEN + len) {
        g_assert(dp_wait_used(qts, rx, &head, &used_len, DP_TIMEOUT_US));
        g_assert_cmpuint(head, ==, want + n);
        g_assert_cmpuint(used_len, <=, lens[n]);
        g_assert_cmpuint(off + used_len, <=, DP_HDR_LEN + len);
        qtest_memread(qts, bufs[n], got + off, used_len);
        off += used_len;
        n++;
    }
    g_assert_cmpuint(le16_to_cpu(hdr->num_buffers), ==, n);
    g_assert(memcmp(got + DP_HDR_LEN, frame, len) == 0);
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
        qvirtqueue_reset_pool(tx);
        head = dp_tx_add(qts, tx, txbuf, 64, i);
        qvirtqueue_kick(qts, net->vdev, tx, head);
        g_assert(dp_wait_used(qts, tx, &head, NULL, DP_TIMEOUT_US));
    }
    stalls = dp_stat(qts, 0, "tx-stalls");
    drops = dp_stat(qts, 0, "tx-drops");

    /* a frame, a chain shorter than the virtio header, a frame */
    qvirtqueue_reset_pool(tx);
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
    qvirtqueue_reset_pool(rx);
    for (int i = 0; i < 2; i++) {
        rxhead[i] = qvirtqueue_add(qts, rx, rxbuf[i], DP_BUF_LEN, true,
                                   false);
        qvirtqueue_kick(qts, net->vdev, rx, rxhead[i]);
    }
    dp_expect_rx(qts, rx, rxhead[0], &rxbuf[0], lens, 64, 1000);
    dp_expect_rx(qts, rx, rxhead[1], &rxbuf[1], lens, 64, 1001);
}

static void test_hotplug(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QVirtioPCIDevice *dev = container_of(net->vdev, QVirtioPCIDevice, vdev);
    QTestState *qts = global_qtest;
    QVirtQueue *rx = dp_rx(net, 0), *tx = dp_tx(net, 0);
    enum { N = 64, LEN = 700 };
    uint64_t rxbuf[N], txbuf[N];
    uint32_t rxhead[N], head, len;
    uint8_t frame[LEN], got[LEN];

    if (dev->pdev->bus->not_hotpluggable) {
        g_test_skip("pci bus does not support hotplug");
        return;
    }
    for (int i = 0; i < N; i++) {
        struct virtio_net_hdr_mrg_rxbuf hdr = { 0 };

        rxbuf[i] = guest_alloc(alloc, DP_BUF_LEN);
        rxhead[i] = qvirtqueue_add(qts, rx, rxbuf[i], DP_BUF_LEN, true,
                                   false);
        qvirtqueue_kick(qts, net->vdev, rx, rxhead[i]);
        txbuf[i] = guest_alloc(alloc, DP_HDR_LEN + LEN);
        dp_fill_frame(frame, LEN, 1000 + i);
        qtest_memwrite(qts, txbuf[i], &hdr, DP_HDR_LEN);
        qtest_memwrite(qts, txbuf[i] + DP_HDR_LEN, frame, LEN);
        head = qvirtqueue_add(qts, tx, txbuf[i], DP_HDR_LEN + LEN, false,
                              false);
        qvirtqueue_kick(qts, net->vdev, tx, head);
    }

    qtest_qmp_assert_success(qts, "{'execute': 'object-add', 'arguments': "
                             "{'qom-type': 'iothread', 'id': 'hpio'}}");
    qtest_qmp_assert_success(qts, "{'execute': 'object-add', 'arguments': "
                             "{'qom-type': 'vhost-dp-loopback', "
                             "'id': 'hpdrv'}}");
    qtest_qmp_assert_success(qts, "{'execute': 'netdev_add', 'arguments': "
                             "{'type': 'vhostdp', 'id': 'hpnet', "
                             "'driver': 'hpdrv', 'iothread': 'hpio'}}");
    qtest_qmp_device_add(qts, "virtio-net-pci", "net1",
                         "{'addr': %s, 'netdev': 'hpnet'}",
                         stringify(PCI_SLOT_HP));
    qpci_unplug_acpi_device_test(qts, "net1", PCI_SLOT_HP);
    qtest_qmp_assert_success(qts, "{'execute': 'netdev_del', 'arguments': "
                             "{'id': 'hpnet'}}");
    qtest_qmp_assert_success(qts, "{'execute': 'object-del', 'arguments': "
                             "{'id': 'hpdrv'}}");
    qtest_qmp_assert_success(qts, "{'execute': 'object-del', 'arguments': "
                             "{'id': 'hpio'}}");

    for (int i = 0; i < N; i++) {
        uint32_t seq = 1000 + i;

        g_assert(dp_wait_used(qts, rx, &head, &len, DP_TIMEOUT_US));
        g_assert_cmpuint(head, ==, rxhead[i]);
        g_assert_cmpuint(len, ==, DP_HDR_LEN + LEN);
        qtest_memread(qts, rxbuf[i] + DP_HDR_LEN, got, LEN);
        dp_fill_frame(frame, LEN, seq);
        g_assert(memcmp(got, frame, LEN) == 0);
    }
    for (int i = 0; i < N; i++) {
        g_assert(dp_wait_used(qts, tx, &head, NULL, DP_TIMEOUT_US));
        guest_free(alloc, rxbuf[i]);
        guest_free(alloc, txbuf[i]);
    }
}

/*
 * Churn under traffic.  Frames in flight on pair @pair of @net while
 * something else happens: dp_flow_post() posts them (receive buffers
 * first) without waiting, dp_flow_check() then wants every one back,
 * intact and in order.
 */
typedef struct DpFlow {
    uint64_t rxbuf[4], txbuf[4];
    uint32_t rxhead[4];
    uint32_t seq;
    size_t len;
} DpFlow;

static void dp_flow_post(QTestState *qts, QVirtioNet *net,
                         QGuestAllocator *alloc, int pair, DpFlow *f,
                         uint32_t seq)
{
    QVirtQueue *rx = dp_rx(net, pair), *tx = dp_tx(net, pair);

    /* the flow before was all taken back */
    qvirtqueue_reset_pool(rx);
    qvirtqueue_reset_pool(tx);
    f->seq = seq;
    f->len = 60 + seq % 1400;
    for (int i = 0; i < 4; i++) {
        f->rxbuf[i] = guest_alloc(alloc, DP_BUF_LEN);
        f->rxhead[i] = qvirtqueue_add(qts, rx, f->rxbuf[i], DP_BUF_LEN,
                                      true, false);
        qvirtqueue_kick(qts, net->vdev, rx, f->rxhead[i]);
    }
    for (int i = 0; i < 4; i++) {
        uint32_t head;

        f->txbuf[i] = guest_alloc(alloc, DP_HDR_LEN + f->len);
        head = dp_tx_add(qts, tx, f->txbuf[i], f->len, seq + i);
        qvirtqueue_kick(qts, net->vdev, tx, head);
    }
}

static void dp_flow_check(QTestState *qts, QVirtioNet *net,
                          QGuestAllocator *alloc, int pair, DpFlow *f)
{
    QVirtQueue *rx = dp_rx(net, pair), *tx = dp_tx(net, pair);
    uint32_t head, lens[1] = { DP_BUF_LEN };

    for (int i = 0; i < 4; i++) {
        dp_expect_rx(qts, rx, f->rxhead[i], &f->rxbuf[i], lens, f->len,
                     f->seq + i);
    }
    for (int i = 0; i < 4; i++) {
        g_assert(dp_wait_used(qts, tx, &head, NULL, DP_TIMEOUT_US));
    }
    for (int i = 0; i < 4; i++) {
        guest_free(alloc, f->rxbuf[i]);
        guest_free(alloc, f->txbuf[i]);
    }
    qvirtqueue_reset_pool(rx);
    qvirtqueue_reset_pool(tx);
}

#define DP_CHURN    100

/* Bring the hot-plugged virtio-net in slot PCI_SLOT_HP up, loop a frame */
static void dp_hp_run(QTestState *qts, QVirtioPCIDevice *dev0,
                      QGuestAllocator *alloc, uint32_t seq)
{
    QPCIAddress addr = { .devfn = QPCI_DEVFN(PCI_SLOT_HP, 0) };
    QVirtioPCIDevice *dev = virtio_pci_new(dev0->pdev->bus, &addr);
    QVirtQueue *rx, *tx;
    uint64_t rxbuf, txbuf;
    uint32_t head, lens[1] = { DP_BUF_LEN };

    g_assert(dev);
    qvirtio_pci_start_hw(&dev->obj);
    qvirtio_set_features(&dev->vdev, qvirtio_get_features(&dev->vdev) &
                         ~QVIRTIO_F_BAD_FEATURE &
                         ~(1ull << VIRTIO_RING_F_EVENT_IDX));
    rx = qvirtqueue_setup(&dev->vdev, alloc, 0);
    tx = qvirtqueue_setup(&dev->vdev, alloc, 1);
    qvirtio_set_driver_ok(&dev->vdev);
    rxbuf = guest_alloc(alloc, DP_BUF_LEN);
    txbuf = guest_alloc(alloc, DP_HDR_LEN + 200);
    head = qvirtqueue_add(qts, rx, rxbuf, DP_BUF_LEN, true, false);
    qvirtqueue_kick(qts, &dev->vdev, rx, head);
    head = dp_tx_add(qts, tx, txbuf, 200, seq);
    qvirtqueue_kick(qts, &dev->vdev, tx, head);
    dp_expect_rx(qts, rx, 0, &rxbuf, lens, 200, seq);
    /* and one more the device holds when it goes away */
    head = dp_tx_add(qts, tx, txbuf, 200, seq + 1);
    qvirtqueue_kick(qts, &dev->vdev, tx, head);

    qpci_unplug_acpi_device_test(qts, "net1", PCI_SLOT_HP);
    qvirtqueue_cleanup(dev->vdev.bus, rx, alloc);
    qvirtqueue_cleanup(dev->vdev.bus, tx, alloc);
    guest_free(alloc, rxbuf);
    guest_free(alloc, txbuf);
    g_free(dev->pdev);
    g_free(dev);
}

/*
 * The whole stack of a second NIC (IOThread, driver, netdev, device)
 * comes and goes DP_CHURN times, every other time started and carrying
 * traffic when it is unplugged, while frames flow on the first: none of
 * those is lost or damaged, and QEMU keeps no engine behind.
 */
static void test_churn_hotplug(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QVirtioPCIDevice *dev = container_of(net->vdev, QVirtioPCIDevice, vdev);
    QTestState *qts = global_qtest;
    DpFlow f;

    if (dev->pdev->bus->not_hotpluggable) {
        g_test_skip("pci bus does not support hotplug");
        return;
    }
    for (uint32_t it = 0; it < DP_CHURN; it++) {
        QDict *rsp;

        dp_flow_post(qts, net, alloc, 0, &f, it * 8);
        qtest_qmp_assert_success(qts, "{'execute': 'object-add', "
                                 "'arguments': {'qom-type': 'iothread', "
                                 "'id': 'hpio'}}");
        qtest_qmp_assert_success(qts, "{'execute': 'object-add', "
                                 "'arguments': {'qom-type': "
                                 "'vhost-dp-loopback', 'id': 'hpdrv'}}");
        qtest_qmp_assert_success(qts, "{'execute': 'netdev_add', "
                                 "'arguments': {'type': 'vhostdp', "
                                 "'id': 'hpnet', 'driver': 'hpdrv', "
                                 "'iothread': 'hpio'}}");
        qtest_qmp_device_add(qts, "virtio-net-pci", "net1",
                             "{'addr': %s, 'netdev': 'hpnet'}",
                             stringify(PCI_SLOT_HP));
        if (it % 2) {
            qpci_unplug_acpi_device_test(qts, "net1", PCI_SLOT_HP);
        } else {
            dp_hp_run(qts, dev, alloc, 100000 + it * 2);
        }
        qtest_qmp_assert_success(qts, "{'execute': 'netdev_del', "
                                 "'arguments': {'id': 'hpnet'}}");
        qtest_qmp_assert_success(qts, "{'execute': 'object-del', "
                                 "'arguments': {'id': 'hpdrv'}}");
        qtest_qmp_assert_success(qts, "{'execute': 'object-del', "
                                 "'arguments': {'id': 'hpio'}}");
        dp_flow_check(qts, net, alloc, 0, &f);

        /* only hs0 is left */
        rsp = qtest_qmp(qts, "{'execute': 'query-vhost-dp'}");
        g_assert_cmpuint(qlist_size(qdict_get_qlist(rsp, "return")), ==, 1);
        qobject_unref(rsp);
    }
}

/*
 * The guest driver resets the device DP_CHURN times while frames are in
 * flight.  Frames from before a reset may still arrive after it (the
 * driver held them), but whole; the rings set up after each reset work.
 */
static void test_churn_reset(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;
    g_autofree uint8_t *frame = g_malloc(DP_BUF_LEN);
    g_autofree uint8_t *got = g_malloc(DP_BUF_LEN);
    DpFlow f;

    if (!(net->vdev->features & (1ull << VIRTIO_F_VERSION_1))) {
        g_test_skip("needs a virtio 1.0 PCI device");
        return;
    }
    for (uint32_t it = 0; it < DP_CHURN; it++) {
        uint32_t marker = 200000 + it, seq, head, len;
        QVirtQueue *rx, *tx;
        uint64_t rxbuf, txbuf;

        dp_flow_post(qts, net, alloc, 0, &f, it * 8);
        g_assert(!(dp_reinit(net, alloc, 0) & VIRTIO_CONFIG_S_NEEDS_RESET));
        for (int i = 0; i < 4; i++) {
            guest_free(alloc, f.rxbuf[i]);
            guest_free(alloc, f.txbuf[i]);
        }

        /* whatever arrives before the marker is an intact older frame */
        rx = dp_rx(net, 0);
        tx = dp_tx(net, 0);
        rxbuf = guest_alloc(alloc, DP_BUF_LEN);
        txbuf = guest_alloc(alloc, DP_HDR_LEN + 100);
        head = dp_tx_add(qts, tx, txbuf, 100, marker);
        qvirtqueue_kick(qts, net->vdev, tx, head);
        do {
            qvirtqueue_reset_pool(rx);
            head = qvirtqueue_add(qts, rx, rxbuf, DP_BUF_LEN, true, false);
            qvirtqueue_kick(qts, net->vdev, rx, head);
            g_assert(dp_wait_used(qts, rx, &head, &len, DP_TIMEOUT_US));
            g_assert_cmpuint(len, >, DP_HDR_LEN + 18);
            qtest_memread(qts, rxbuf, got, len);
            memcpy(&seq, got + DP_HDR_LEN + 14, sizeof(seq));
            dp_fill_frame(frame, len - DP_HDR_LEN, seq);
            g_assert(memcmp(got + DP_HDR_LEN, frame, len - DP_HDR_LEN) == 0);
            g_assert(seq == marker || seq < it * 8 + 4);
        } while (seq != marker);
        guest_free(alloc, rxbuf);
        guest_free(alloc, txbuf);
        qvirtqueue_reset_pool(tx);
        qvirtqueue_reset_pool(rx);
    }
    dp_loopback(qts, net, alloc, 0, 4, 1000);
}

/*
 * The guest switches between one and two queue pairs DP_CHURN times
 * while frames flow on pair 0 (and on pair 1 while it is on): nothing on
 * pair 0 is lost.
 */
static void test_churn_mq(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;
    DpFlow f0, f1;

    dp_set_queue_pairs(qts, net, alloc, 2);
    for (uint32_t it = 0; it < DP_CHURN; it++) {
        dp_flow_post(qts, net, alloc, 0, &f0, it * 8);
        if (it % 2 == 0) {
            dp_flow_post(qts, net, alloc, 1, &f1, 300000 + it * 8);
            dp_flow_check(qts, net, alloc, 1, &f1);
        }
        dp_set_queue_pairs(qts, net, alloc, it % 2 ? 2 : 1);
        dp_flow_check(qts, net, alloc, 0, &f0);
    }
    dp_loopback(qts, net, alloc, 1, 2, 300);
}

static void register_vhost_dp_test(void)
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

    qos_add_test("vhost-dp/loopback", "virtio-net", test_loopback, &opts);
    qos_add_test("vhost-dp/multiqueue", "virtio-net", test_multiqueue,
                 &opts);
    qos_add_test("vhost-dp/mergeable", "virtio-net", test_mergeable, &opts);
    qos_add_test("vhost-dp/offload", "virtio-net", test_offload, &opts);
    qos_add_test("vhost-dp/reset", "virtio-net", test_reset, &opts);
    opts.edge.extra_device_opts = "mq=on,disable-legacy=on";
    qos_add_test("vhost-dp/start-fail", "virtio-net", test_start_fail,
                 &opts);
    qos_add_test("vhost-dp/restart-tx-only", "virtio-net",
                 test_restart_tx_only, &opts);
    qos_add_test("vhost-dp/misaligned-ring", "virtio-net",
                 test_misaligned_ring, &opts);
    qos_add_test("vhost-dp/mergeable-starved", "virtio-net",
                 test_mergeable_starved, &opts);
    qos_add_test("vhost-dp/churn/reset", "virtio-net", test_churn_reset,
                 &opts);
    opts.before = dp_before_guest_log;
    qos_add_test("vhost-dp/report-ratelimit", "virtio-net",
                 test_report_ratelimit, &opts);
    opts.before = dp_before_fresh;
    opts.arg = (gpointer)"backpressure";
    qos_add_test("vhost-dp/tx-backpressure", "virtio-net",
                 test_tx_backpressure, &opts);
    opts.before = dp_before;
    opts.arg = NULL;
    opts.edge.extra_device_opts = "mq=on";
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        opts.arg = GINT_TO_POINTER(bad[i].bad);
        qos_add_test(bad[i].name, "virtio-net", test_bad_ring, &opts);
    }
    opts.arg = NULL;
    qos_add_test("vhost-dp/hotplug", "virtio-net", test_hotplug, &opts);
    qos_add_test("vhost-dp/churn/hotplug", "virtio-net", test_churn_hotplug,
                 &opts);
    qos_add_test("vhost-dp/churn/multiqueue", "virtio-net", test_churn_mq,
                 &opts);
    opts.before = dp_before_migrate;
    qos_add_test("vhost-dp/migrate", "virtio-net", test_migrate, &opts);
}

libqos_init(register_vhost_dp_test);
