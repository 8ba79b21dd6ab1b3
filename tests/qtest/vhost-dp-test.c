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
 * returns what was transmitted.  The device may change under traffic:
 * reset, hotplug, the number of queue pairs, migration.  What a guest
 * that breaks the rules meets is in vhost-dp-guest-test.c.
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

    /* a UDP datagram to segment (USO) comes back as one too */
    g_assert(features & (1ull << VIRTIO_NET_F_HOST_USO));
    g_assert(features & (1ull << VIRTIO_NET_F_GUEST_USO4));
    g_assert(features & (1ull << VIRTIO_NET_F_GUEST_USO6));
    hdr.hdr.gso_type = VIRTIO_NET_HDR_GSO_UDP_L4;
    hdr.hdr.hdr_len = cpu_to_le16(42);
    hdr.hdr.csum_offset = cpu_to_le16(6);
    head = qvirtqueue_add(qts, rx, rxbuf, DP_BUF_LEN, true, false);
    qvirtqueue_kick(qts, net->vdev, rx, head);
    qtest_memwrite(qts, txbuf, &hdr, DP_HDR_LEN);
    head = qvirtqueue_add(qts, tx, txbuf, DP_HDR_LEN + len, false, false);
    qvirtqueue_kick(qts, net->vdev, tx, head);
    g_assert(dp_wait_used(qts, rx, &head, &used_len, DP_TIMEOUT_US));
    g_assert_cmpuint(used_len, ==, DP_HDR_LEN + len);
    qtest_memread(qts, rxbuf, &back, sizeof(back));
    g_assert_cmpuint(back.hdr.gso_type, ==, VIRTIO_NET_HDR_GSO_UDP_L4);
    g_assert_cmpuint(le16_to_cpu(back.hdr.gso_size), ==, 400);
    g_assert_cmpuint(le16_to_cpu(back.hdr.csum_offset), ==, 6);
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
    dp_reset_pool(rx);
    dp_reset_pool(tx);
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
    dp_reset_pool(rx);
    dp_reset_pool(tx);
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
            dp_reset_pool(rx);
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
        dp_reset_pool(tx);
        dp_reset_pool(rx);
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

/* CPU time (clock ticks) of QEMU's thread named @comm so far */
static uint64_t dp_thread_ticks(QTestState *qts, const char *comm)
{
    g_autofree char *dir = g_strdup_printf("/proc/%d/task",
                                           (int)qtest_pid(qts));
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *tid;
    uint64_t ticks = UINT64_MAX;

    g_assert(d);
    while ((tid = g_dir_read_name(d))) {
        g_autofree char *cpath = g_strdup_printf("%s/%s/comm", dir, tid);
        g_autofree char *spath = g_strdup_printf("%s/%s/stat", dir, tid);
        g_autofree char *name = NULL, *stat = NULL;
        unsigned long long ut, st;
        char *p;

        if (!g_file_get_contents(cpath, &name, NULL, NULL) ||
            strcmp(g_strstrip(name), comm) ||
            !g_file_get_contents(spath, &stat, NULL, NULL)) {
            continue;
        }
        /* utime and stime: fields 14 and 15, after "(comm)" */
        p = strrchr(stat, ')');
        g_assert(p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u "
                             "%*u %*u %llu %llu", &ut, &st) == 2);
        ticks = ut + st;
    }
    g_dir_close(d);
    g_assert(ticks != UINT64_MAX);
    return ticks;
}

/*
 * Adaptive polling: once the IOThread polls, the engine watches the TX
 * ring and the guest need not kick.  The test kicks only when the device
 * asks (qvirtqueue_kick() reads the used flags and the avail event, as a
 * guest driver does), sends one frame at a time, and counts the kicks
 * the engine took and the work its poll handlers found.  @data is the
 * IOThreads' poll-max-ns: with "0" every frame needs a kick.
 */
static void test_poll(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;
    bool polling = strcmp(data, "0") != 0;
    QVirtQueue *rx = dp_rx(net, 0), *tx = dp_tx(net, 0);
    enum { WARM = 32, N = 64 };
    uint64_t txbuf = guest_alloc(alloc, DP_HDR_LEN + 64);
    uint64_t rxbuf[WARM + N], kicks = 0, hits = 0;
    uint32_t rxhead[WARM + N], head, lens[1] = { DP_BUF_LEN };

    for (int i = 0; i < WARM + N; i++) {
        rxbuf[i] = guest_alloc(alloc, DP_BUF_LEN);
        rxhead[i] = qvirtqueue_add(qts, rx, rxbuf[i], DP_BUF_LEN, true,
                                   false);
        qvirtqueue_kick(qts, net->vdev, rx, rxhead[i]);
    }
    for (int i = 0; i < WARM + N; i++) {
        if (i == WARM) {
            /* the polling time has grown from its first 4 us by now */
            kicks = dp_stat(qts, 0, "kicks");
            hits = dp_stat(qts, 0, "poll-hits");
        }
        dp_reset_pool(tx);
        head = dp_tx_add(qts, tx, txbuf, 64, i);
        qvirtqueue_kick(qts, net->vdev, tx, head);
        g_assert(dp_wait_used(qts, tx, &head, NULL, DP_TIMEOUT_US));
        dp_expect_rx(qts, rx, rxhead[i], &rxbuf[i], lens, 64, i);
    }
    kicks = dp_stat(qts, 0, "kicks") - kicks;
    hits = dp_stat(qts, 0, "poll-hits") - hits;
    g_test_message("poll-max-ns=%s: %u frames, %" PRIu64 " kicks, %" PRIu64
                   " poll hits", (const char *)data, N, kicks, hits);
    if (polling) {
        uint64_t idle;

        g_assert_cmpuint(kicks * 4, <, N);
        g_assert_cmpuint(hits, >=, N - kicks);
        /* with nothing to do, polling stops: the IOThread sleeps */
        g_usleep(G_USEC_PER_SEC / 2);
        idle = dp_thread_ticks(qts, "IO dpio0");
        g_usleep(G_USEC_PER_SEC);
        idle = dp_thread_ticks(qts, "IO dpio0") - idle;
        g_test_message("idle IOThread: %" PRIu64 " of %ld ticks in 1 s",
                       idle, sysconf(_SC_CLK_TCK));
        g_assert_cmpuint(idle * 10, <, sysconf(_SC_CLK_TCK));
    } else {
        g_assert_cmpuint(kicks, >=, N);
        g_assert_cmpuint(hits, ==, 0);
    }
    for (int i = 0; i < WARM + N; i++) {
        guest_free(alloc, rxbuf[i]);
    }
    guest_free(alloc, txbuf);
}

/*
 * Zero-copy transmit (vhost-dp-loopback,zero-copy=on): the driver keeps
 * the guest's transmit buffers until the frame is received.
 */
static void *dp_before_zc(GString *cmd_line, void *arg)
{
    g_string_append_printf(cmd_line,
                           " -object iothread,id=dpio0"
                           " -object iothread,id=dpio1"
                           " -object vhost-dp-loopback,id=dpdrv0,"
                           "zero-copy=on,mac-swap=%s"
                           " -netdev vhostdp,id=hs0,driver=dpdrv0,queues=2,"
                           "iothreads.0=dpio0,iothreads.1=dpio1 ",
                           arg ? "on" : "off");
    return arg;
}

/*
 * The receive path straight into guest buffers (rx_read, as vhost-dp-tap
 * uses it) with the loopback driver: the loopback and mergeable-buffer
 * tests again, and the zero-copy loopback with it.
 */
static void *dp_before_rx_read(GString *cmd_line, void *arg)
{
    g_string_append_printf(cmd_line,
                           " -object iothread,id=dpio0"
                           " -object iothread,id=dpio1"
                           " -object vhost-dp-loopback,id=dpdrv0,"
                           "rx-read=on,zero-copy=%s"
                           " -netdev vhostdp,id=hs0,driver=dpdrv0,queues=2,"
                           "iothreads.0=dpio0,iothreads.1=dpio1 ",
                           arg ? "on" : "off");
    return arg;
}

static void test_rx_read(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;
    QVirtQueue *rx = dp_rx(net, 0), *tx = dp_tx(net, 0);
    uint64_t direct = dp_stat(qts, 0, "rx-direct");
    enum { LEN = 1514, CHUNK = 512, NBUF = 3 };
    uint64_t rxbuf[NBUF], txbuf;
    uint32_t lens[NBUF], first, head;

    test_loopback(obj, NULL, alloc);
    /* 13 frames of one buffer each, all read whole into it */
    g_assert_cmpuint(dp_stat(qts, 0, "rx-direct") - direct, ==, 13);
    /* fewer buffers than the last frame took, exactly enough for this */
    test_mergeable(obj, NULL, alloc);
    test_offload(obj, NULL, alloc);

    /*
     * A frame read into the one buffer posted, which needs two more: it
     * waits in the engine for them, and then arrives whole.
     */
    for (int i = 0; i < NBUF; i++) {
        rxbuf[i] = guest_alloc(alloc, CHUNK);
        lens[i] = CHUNK;
    }
    first = qvirtqueue_add(qts, rx, rxbuf[0], CHUNK, true, false);
    qvirtqueue_kick(qts, net->vdev, rx, first);
    txbuf = guest_alloc(alloc, DP_HDR_LEN + LEN);
    head = dp_tx_add(qts, tx, txbuf, LEN, 61);
    qvirtqueue_kick(qts, net->vdev, tx, head);
    g_assert(dp_wait_used(qts, tx, &head, NULL, DP_TIMEOUT_US));
    g_usleep(50 * 1000);
    g_assert_false(qvirtqueue_get_buf(qts, rx, NULL, NULL));
    for (int i = 1; i < NBUF; i++) {
        head = qvirtqueue_add(qts, rx, rxbuf[i], CHUNK, true, false);
        qvirtqueue_kick(qts, net->vdev, rx, head);
    }
    dp_expect_rx(qts, rx, first, rxbuf, lens, LEN, 61);
}

/* Frames come back intact (MACs swapped with mac-swap), none copied */
static void test_zero_copy(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;
    QVirtQueue *rx = dp_rx(net, 0), *tx = dp_tx(net, 0);
    static const uint32_t lens[] = { 60, 1514, 1986, 14, 100 };
    uint64_t zc = dp_stat(qts, 0, "tx-zero-copy");
    uint64_t txbuf = guest_alloc(alloc, DP_HDR_LEN + 2048);
    uint8_t frame[2048], got[DP_BUF_LEN];

    if (!data) {
        uint64_t errs = dp_stat(qts, 0, "ring-errors");
        uint32_t head, len;

        dp_loopback(qts, net, alloc, 0, 1, 60);
        dp_loopback(qts, net, alloc, 0, 8, 1514);
        dp_loopback(qts, net, alloc, 0, 4, 1986);
        g_assert_cmpuint(dp_stat(qts, 0, "tx-zero-copy") - zc, ==, 13);

        /*
         * A receive buffer that overlaps the transmit buffer (found by
         * the fuzzer): the frame is copied guest to guest, so the
         * ranges overlap; the copy must allow it (memmove; ASan
         * reported memcpy-param-overlap).  What the guest reads is its
         * business.
         */
        head = qvirtqueue_add(qts, rx, txbuf + 5, DP_BUF_LEN - 5, true,
                              false);
        qvirtqueue_kick(qts, net->vdev, rx, head);
        head = dp_tx_add(qts, tx, txbuf, 300, 1);
        qvirtqueue_kick(qts, net->vdev, tx, head);
        g_assert(dp_wait_used(qts, rx, &head, &len, DP_TIMEOUT_US));
        g_assert_cmpuint(len, ==, DP_HDR_LEN + 300);
        g_assert(dp_wait_used(qts, tx, &head, NULL, DP_TIMEOUT_US));
        g_assert_cmpuint(dp_stat(qts, 0, "ring-errors"), ==, errs);
        return;
    }
    for (unsigned int i = 0; i < ARRAY_SIZE(lens); i++) {
        uint64_t rxbuf = guest_alloc(alloc, DP_BUF_LEN);
        uint32_t head, len;

        head = qvirtqueue_add(qts, rx, rxbuf, DP_BUF_LEN, true, false);
        qvirtqueue_kick(qts, net->vdev, rx, head);
        dp_fill_frame(frame, lens[i], i);
        head = dp_tx_add(qts, tx, txbuf, lens[i], i);
        qvirtqueue_kick(qts, net->vdev, tx, head);
        g_assert(dp_wait_used(qts, rx, &head, &len, DP_TIMEOUT_US));
        g_assert(dp_wait_used(qts, tx, &head, NULL, DP_TIMEOUT_US));
        g_assert_cmpuint(len, ==, DP_HDR_LEN + lens[i]);
        qtest_memread(qts, rxbuf, got, len);
        /* the swap is in the driver's copy: the guest's buffer is as sent */
        g_assert(memcmp(got + DP_HDR_LEN, frame + 6, 6) == 0);
        g_assert(memcmp(got + DP_HDR_LEN + 6, frame, 6) == 0);
        g_assert(memcmp(got + DP_HDR_LEN + 12, frame + 12,
                        lens[i] - 12) == 0);
        qtest_memread(qts, txbuf + DP_HDR_LEN, got, lens[i]);
        g_assert(memcmp(got, frame, lens[i]) == 0);
        guest_free(alloc, rxbuf);
    }
    g_assert_cmpuint(dp_stat(qts, 0, "tx-zero-copy") - zc, ==,
                     ARRAY_SIZE(lens));
    guest_free(alloc, txbuf);
}

static void test_zero_copy_stop(void *obj, void *data, QGuestAllocator *alloc)
{
    dp_zc_hold(obj, alloc, "stop");
}

static void test_zero_copy_reset(void *obj, void *data,
                                 QGuestAllocator *alloc)
{
    dp_zc_hold(obj, alloc, "reset");
}

/*
 * Packed virtqueues: @rounds batches of @batch frames both ways through
 * the loopback driver.  RX buffers are posted as chains of two, as
 * indirect tables of two and as single descriptors in turn, TX frames as
 * header and frame in a chain, in an indirect table, or in one
 * descriptor.  Each frame comes back intact, the used elements carry the
 * buffer ids in order, and the rings wrap several times.
 */
static unsigned int dp_packed_traffic(QTestState *qts, QVirtioNet *net,
                                      QGuestAllocator *alloc, DpPacked *rx,
                                      DpPacked *tx, unsigned int rounds)
{
    const unsigned int batch = 16;
    uint64_t rxbuf = guest_alloc(alloc, batch * DP_BUF_LEN);
    uint64_t txbuf = guest_alloc(alloc, batch * DP_BUF_LEN);
    uint64_t tables = guest_alloc(alloc, 2 * batch * 32);
    g_autofree uint8_t *frame = g_malloc(DP_BUF_LEN);
    g_autofree uint8_t *got = g_malloc(DP_BUF_LEN);
    uint64_t tx0 = dp_stat(qts, 0, "tx-packets");
    uint64_t rx0 = dp_stat(qts, 0, "rx-packets");
    unsigned int tx_descs = 0, rx_descs = 0;
    uint32_t seq = 0;

    for (unsigned int r = 0; r < rounds; r++) {
        for (uint16_t i = 0; i < batch; i++) {
            uint64_t b = rxbuf + i * DP_BUF_LEN;
            uint64_t a[2] = { b, b + 512 };
            uint32_t l[2] = { 512, DP_BUF_LEN - 512 };
            uint32_t whole = DP_BUF_LEN;

            switch ((r + i) % 3) {
            case 0:
                dp_packed_add(qts, rx, i, 2, a, l, VRING_DESC_F_WRITE);
                rx_descs += 2;
                break;
            case 1:
                dp_packed_add_indirect(qts, rx, i, tables + i * 32, 2, a, l,
                                       VRING_DESC_F_WRITE);
                rx_descs++;
                break;
            default:
                dp_packed_add(qts, rx, i, 1, &b, &whole, VRING_DESC_F_WRITE);
                rx_descs++;
                break;
            }
        }
        dp_packed_kick(net, rx);
        for (uint16_t i = 0; i < batch; i++) {
            struct virtio_net_hdr_mrg_rxbuf hdr = { 0 };
            uint64_t b = txbuf + i * DP_BUF_LEN;
            uint32_t len = 60 + (seq + i) * 37 % 1400;
            uint64_t a[2] = { b, b + DP_HDR_LEN };
            uint32_t l[2] = { DP_HDR_LEN, len };
            uint32_t whole = DP_HDR_LEN + len;

            dp_fill_frame(frame, len, seq + i);
            qtest_memwrite(qts, b, &hdr, DP_HDR_LEN);
            qtest_memwrite(qts, b + DP_HDR_LEN, frame, len);
            switch ((r + i) % 3) {
            case 0:
                dp_packed_add(qts, tx, i, 2, a, l, 0);
                tx_descs += 2;
                break;
            case 1:
                dp_packed_add_indirect(qts, tx, i,
                                       tables + (batch + i) * 32, 2, a, l, 0);
                tx_descs++;
                break;
            default:
                dp_packed_add(qts, tx, i, 1, &b, &whole, 0);
                tx_descs++;
                break;
            }
        }
        dp_packed_kick(net, tx);
        for (uint16_t i = 0; i < batch; i++) {
            uint16_t id;

            g_assert(dp_packed_wait_used(qts, tx, &id, NULL, DP_TIMEOUT_US));
            g_assert_cmpuint(id, ==, i);
        }
        for (uint16_t i = 0; i < batch; i++) {
            uint32_t len = 60 + (seq + i) * 37 % 1400, used_len;
            struct virtio_net_hdr_mrg_rxbuf *hdr = (void *)got;
            uint16_t id;

            g_assert(dp_packed_wait_used(qts, rx, &id, &used_len,
                                         DP_TIMEOUT_US));
            g_assert_cmpuint(id, ==, i);
            g_assert_cmpuint(used_len, ==, DP_HDR_LEN + len);
            qtest_memread(qts, rxbuf + i * DP_BUF_LEN, got, used_len);
            dp_fill_frame(frame, len, seq + i);
            g_assert_cmpuint(le16_to_cpu(hdr->num_buffers), ==, 1);
            g_assert(memcmp(got + DP_HDR_LEN, frame, len) == 0);
        }
        seq += batch;
    }
    g_assert_cmpuint(dp_stat(qts, 0, "tx-packets") - tx0, ==, seq);
    g_assert_cmpuint(dp_stat(qts, 0, "rx-packets") - rx0, ==, seq);
    g_assert_cmpuint(dp_stat(qts, 0, "ring-errors"), ==, 0);
    g_test_message("%u frames, %u TX and %u RX descriptors (ring size %u)",
                   seq, tx_descs, rx_descs, tx->num);
    guest_free(alloc, rxbuf);
    guest_free(alloc, txbuf);
    guest_free(alloc, tables);
    g_assert_cmpuint(tx_descs, ==, rx_descs);
    return tx_descs;
}

static void test_packed_loopback(void *obj, void *data,
                                 QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    g_autofree DpPacked *rx = g_new0(DpPacked, 1);
    g_autofree DpPacked *tx = g_new0(DpPacked, 1);
    unsigned int descs;

    g_assert(dp_packed_init(net, alloc, rx, tx) & VIRTIO_CONFIG_S_DRIVER_OK);
    g_assert(net->vdev->bus->get_guest_features(net->vdev) &
             (1ull << VIRTIO_F_RING_PACKED));
    /*
     * 16 frames a round take 21 descriptors each way on average: 3 times
     * round the rings, whatever their size (it differs between the bases)
     */
    descs = dp_packed_traffic(global_qtest, net, alloc, rx, tx,
                              3 * tx->num / 21 + 2);
    g_assert_cmpuint(descs, >, 3 * tx->num);
    g_assert_cmpuint(tx->avail, ==, descs % (2 * tx->num));
    g_assert_cmpuint(rx->used, ==, descs % (2 * rx->num));
}

/*
 * Reset and renegotiation: packed rings again from the start, then split
 * rings (libqos's), then packed ones once more
 */
static void test_packed_reset(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;
    g_autofree DpPacked *rx = g_new0(DpPacked, 1);
    g_autofree DpPacked *tx = g_new0(DpPacked, 1);

    g_assert(dp_packed_init(net, alloc, rx, tx) & VIRTIO_CONFIG_S_DRIVER_OK);
    dp_packed_traffic(qts, net, alloc, rx, tx, 3);
    g_assert(dp_packed_init(net, alloc, rx, tx) & VIRTIO_CONFIG_S_DRIVER_OK);
    dp_packed_traffic(qts, net, alloc, rx, tx, 3);
    g_assert(dp_reinit(net, alloc, 0) & VIRTIO_CONFIG_S_DRIVER_OK);
    g_assert(!(net->vdev->bus->get_guest_features(net->vdev) &
               (1ull << VIRTIO_F_RING_PACKED)));
    dp_loopback(qts, net, alloc, 0, 8, 200);
    g_assert(dp_packed_init(net, alloc, rx, tx) & VIRTIO_CONFIG_S_DRIVER_OK);
    dp_packed_traffic(qts, net, alloc, rx, tx, 3);
}

static void register_vhost_dp_test(void)
{
    QOSGraphTestOptions opts = {
        .before = dp_before,
        .edge.extra_device_opts = "mq=on",
    };

    qos_add_test("vhost-dp/loopback", "virtio-net", test_loopback, &opts);
    qos_add_test("vhost-dp/multiqueue", "virtio-net", test_multiqueue,
                 &opts);
    qos_add_test("vhost-dp/mergeable", "virtio-net", test_mergeable, &opts);
    qos_add_test("vhost-dp/offload", "virtio-net", test_offload, &opts);
    qos_add_test("vhost-dp/reset", "virtio-net", test_reset, &opts);
    opts.edge.extra_device_opts = "mq=on,disable-legacy=on";
    qos_add_test("vhost-dp/churn/reset", "virtio-net", test_churn_reset,
                 &opts);
    opts.edge.extra_device_opts = "packed=on,disable-legacy=on";
    qos_add_test("vhost-dp/packed/loopback", "virtio-net",
                 test_packed_loopback, &opts);
    qos_add_test("vhost-dp/packed/reset", "virtio-net", test_packed_reset,
                 &opts);
    opts.edge.extra_device_opts = "mq=on";
    qos_add_test("vhost-dp/hotplug", "virtio-net", test_hotplug, &opts);
    qos_add_test("vhost-dp/churn/hotplug", "virtio-net", test_churn_hotplug,
                 &opts);
    qos_add_test("vhost-dp/churn/multiqueue", "virtio-net", test_churn_mq,
                 &opts);
    opts.before = dp_before_poll;
    opts.arg = (gpointer)"50000000";
    qos_add_test("vhost-dp/poll/on", "virtio-net", test_poll, &opts);
    opts.arg = (gpointer)"0";
    qos_add_test("vhost-dp/poll/off", "virtio-net", test_poll, &opts);
    opts.arg = NULL;
    opts.before = dp_before_migrate;
    qos_add_test("vhost-dp/migrate", "virtio-net", test_migrate, &opts);
    opts.before = dp_before_zc;
    qos_add_test("vhost-dp/zero-copy/loopback", "virtio-net", test_zero_copy,
                 &opts);
    qos_add_test("vhost-dp/zero-copy/stop", "virtio-net", test_zero_copy_stop,
                 &opts);
    qos_add_test("vhost-dp/zero-copy/reset", "virtio-net",
                 test_zero_copy_reset, &opts);
    opts.arg = (gpointer)"mac-swap";
    qos_add_test("vhost-dp/zero-copy/mac-swap", "virtio-net",
                 test_zero_copy, &opts);
    opts.before = dp_before_rx_read;
    opts.arg = NULL;
    qos_add_test("vhost-dp/rx-read/loopback", "virtio-net", test_rx_read,
                 &opts);
    opts.arg = (gpointer)"zero-copy";
    qos_add_test("vhost-dp/rx-read/zero-copy", "virtio-net", test_rx_read,
                 &opts);
}

libqos_init(register_vhost_dp_test);
