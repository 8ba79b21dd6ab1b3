/*
 * QTest helpers shared by the vhost-dp tests
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest-single.h"
#include "qemu/iov.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "hw/virtio/virtio-net.h"
#include "standard-headers/linux/virtio_ring.h"
#include "standard-headers/linux/virtio_pci.h"
#include "standard-headers/linux/virtio_config.h"
#include "libqos/pci.h"
#include "vhost-dp-common.h"

void dp_reset_pool(QVirtQueue *vq)
{
    vq->free_head = 0;
    vq->num_free = vq->size;
}

QVirtQueue *dp_rx(QVirtioNet *net, int pair)
{
    return net->queues[pair * 2];
}

QVirtQueue *dp_tx(QVirtioNet *net, int pair)
{
    return net->queues[pair * 2 + 1];
}

/* Wait for the next used element of @vq, without relying on the ISR */
bool dp_wait_used(QTestState *qts, QVirtQueue *vq, uint32_t *head,
                  uint32_t *len, gint64 timeout_us)
{
    gint64 end = g_get_monotonic_time() + timeout_us;

    while (g_get_monotonic_time() < end) {
        if (qvirtqueue_get_buf(qts, vq, head, len)) {
            return true;
        }
        g_usleep(200);
    }
    return false;
}

/* A counter of queue pair @queue of netdev hs0, from query-vhost-dp */
uint64_t dp_stat(QTestState *qts, int queue, const char *name)
{
    QDict *rsp = qtest_qmp(qts, "{'execute': 'query-vhost-dp', "
                           "'arguments': {'id': 'hs0'}}");
    QList *nets = qdict_get_qlist(rsp, "return");
    QDict *net = qobject_to(QDict, qlist_peek(nets));
    QList *queues = qdict_get_qlist(net, "queues");
    QListEntry *e;
    uint64_t v = UINT64_MAX;

    g_assert_cmpstr(qdict_get_str(net, "driver"), ==, "dpdrv0");
    QLIST_FOREACH_ENTRY(queues, e) {
        QDict *q = qobject_to(QDict, qlist_entry_obj(e));

        if (qdict_get_int(q, "queue") == queue) {
            v = qdict_get_int(q, name);
        }
    }
    qobject_unref(rsp);
    g_assert(v != UINT64_MAX);
    return v;
}

uint16_t dp_used_idx(QTestState *qts, QVirtQueue *vq)
{
    return qtest_readw(qts, vq->used + 2);
}

/* Send a command through the control virtqueue; it must succeed */
void dp_ctrl(QTestState *qts, QVirtioNet *net, QGuestAllocator *alloc,
             uint8_t class, uint8_t cmd, const void *data, size_t len)
{
    QVirtQueue *cvq = net->queues[net->n_queues - 1];
    uint64_t buf = guest_alloc(alloc, 3 + len);
    uint8_t hdr[2] = { class, cmd };
    uint32_t head, got;

    qtest_memwrite(qts, buf, hdr, sizeof(hdr));
    qtest_memwrite(qts, buf + 2, data, len);
    qtest_writeb(qts, buf + 2 + len, 0xff);
    /* every command completes before the next: reuse the descriptors */
    dp_reset_pool(cvq);
    head = qvirtqueue_add(qts, cvq, buf, 2, false, true);
    qvirtqueue_add(qts, cvq, buf + 2, len, false, true);
    qvirtqueue_add(qts, cvq, buf + 2 + len, 1, true, false);
    qvirtqueue_kick(qts, net->vdev, cvq, head);
    g_assert(dp_wait_used(qts, cvq, &got, NULL, DP_TIMEOUT_US));
    g_assert_cmpuint(got, ==, head);
    g_assert_cmpuint(qtest_readb(qts, buf + 2 + len), ==, VIRTIO_NET_OK);
    guest_free(alloc, buf);
}

/* Turn on @pairs queue pairs through the control virtqueue */
void dp_set_queue_pairs(QTestState *qts, QVirtioNet *net,
                        QGuestAllocator *alloc, uint16_t pairs)
{
    uint16_t le_pairs = cpu_to_le16(pairs);

    dp_ctrl(qts, net, alloc, VIRTIO_NET_CTRL_MQ,
            VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &le_pairs, sizeof(le_pairs));
}

void dp_fill_frame(uint8_t *f, size_t len, uint32_t seq)
{
    memset(f, 0xff, 6);                 /* broadcast */
    memcpy(f + 6, "\x52\x54\x00\x12\x34\x56", 6);
    f[12] = 0x88;
    f[13] = 0xb5;
    for (size_t i = 14; i < len; i++) {
        f[i] = (uint8_t)(seq * 7 + i);
    }
    if (len >= 18) {
        memcpy(f + 14, &seq, sizeof(seq));
    }
}

/*
 * Post @n receive buffers on @pair, transmit @n frames of @len bytes and
 * check that each comes back intact, in order.
 */
void dp_loopback(QTestState *qts, QVirtioNet *net,
                 QGuestAllocator *alloc, int pair, unsigned int n,
                 size_t len)
{
    QVirtQueue *rx = dp_rx(net, pair), *tx = dp_tx(net, pair);
    g_autofree uint64_t *rxbuf = g_new(uint64_t, n);
    g_autofree uint32_t *rxhead = g_new(uint32_t, n);
    g_autofree uint8_t *frame = g_malloc(len);
    g_autofree uint8_t *got = g_malloc(DP_BUF_LEN);
    uint64_t txbuf = guest_alloc(alloc, DP_HDR_LEN + len);
    uint32_t head, used_len;

    g_assert(len + DP_HDR_LEN <= DP_BUF_LEN);
    for (unsigned int i = 0; i < n; i++) {
        rxbuf[i] = guest_alloc(alloc, DP_BUF_LEN);
        rxhead[i] = qvirtqueue_add(qts, rx, rxbuf[i], DP_BUF_LEN, true,
                                   false);
        qvirtqueue_kick(qts, net->vdev, rx, rxhead[i]);
    }
    for (unsigned int i = 0; i < n; i++) {
        struct virtio_net_hdr_mrg_rxbuf hdr = { 0 };

        dp_fill_frame(frame, len, i);
        qtest_memwrite(qts, txbuf, &hdr, DP_HDR_LEN);
        qtest_memwrite(qts, txbuf + DP_HDR_LEN, frame, len);
        head = qvirtqueue_add(qts, tx, txbuf, DP_HDR_LEN + len, false,
                              false);
        qvirtqueue_kick(qts, net->vdev, tx, head);
        g_assert(dp_wait_used(qts, tx, &head, NULL, DP_TIMEOUT_US));

        g_assert(dp_wait_used(qts, rx, &head, &used_len, DP_TIMEOUT_US));
        g_assert_cmpuint(head, ==, rxhead[i]);
        g_assert_cmpuint(used_len, ==, DP_HDR_LEN + len);
        qtest_memread(qts, rxbuf[i], got, DP_HDR_LEN + len);
        hdr = *(struct virtio_net_hdr_mrg_rxbuf *)got;
        g_assert_cmpuint(le16_to_cpu(hdr.num_buffers), ==, 1);
        g_assert_cmpuint(hdr.hdr.gso_type, ==, VIRTIO_NET_HDR_GSO_NONE);
        g_assert(memcmp(got + DP_HDR_LEN, frame, len) == 0);
    }
    for (unsigned int i = 0; i < n; i++) {
        guest_free(alloc, rxbuf[i]);
    }
    guest_free(alloc, txbuf);
}

void *dp_before(GString *cmd_line, void *arg)
{
    g_string_append(cmd_line, DP_NETDEV);
    return arg;
}

void *dp_before_poll(GString *cmd_line, void *arg)
{
    const char *ns = arg;

    g_string_append_printf(cmd_line,
                           " -object iothread,id=dpio0,poll-max-ns=%s"
                           " -object iothread,id=dpio1,poll-max-ns=%s"
                           " -object vhost-dp-loopback,id=dpdrv0"
                           " -netdev vhostdp,id=hs0,driver=dpdrv0,queues=2,"
                           "iothreads.0=dpio0,iothreads.1=dpio1"
                           " -name vdp-poll-%s,debug-threads=on ", ns, ns,
                           ns);
    return arg;
}

static void dp_common_cfg_writeq(QVirtioPCIDevice *dev, size_t lo,
                                 size_t hi, uint64_t val)
{
    qpci_io_writel(dev->pdev, dev->bar, dev->common_cfg_offset + lo, val);
    qpci_io_writel(dev->pdev, dev->bar, dev->common_cfg_offset + hi,
                   val >> 32);
}

/*
 * Drop libqos's queues and reset the device, up to the driver step of
 * a new negotiation; returns the features the device offers
 */
static uint64_t dp_restart_driver(QVirtioNet *net, QGuestAllocator *alloc)
{
    for (int i = 0; i < net->n_queues; i++) {
        if (net->queues[i]) {
            qvirtqueue_cleanup(net->vdev->bus, net->queues[i], alloc);
        }
        net->queues[i] = NULL;
    }
    qvirtio_reset(net->vdev);
    qvirtio_set_acknowledge(net->vdev);
    qvirtio_set_driver(net->vdev);
    return qvirtio_get_features(net->vdev);
}

/*
 * Reset the device and set its rings up again, as @o says (the modern
 * PCI interface for anything but the defaults).  Queues left out are
 * NULL in net->queues[]; a queue that is not NULL there is cleaned up.
 */
uint8_t dp_reinit_with(QVirtioNet *net, QGuestAllocator *alloc,
                       const DpReinit *o)
{
    QVirtioPCIDevice *dev = container_of(net->vdev, QVirtioPCIDevice, vdev);
    /* libqos lays out split rings */
    uint64_t features = dp_restart_driver(net, alloc) &
        ~(QVIRTIO_F_BAD_FEATURE | (1ull << VIRTIO_F_RING_PACKED));

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
uint8_t dp_reinit(QVirtioNet *net, QGuestAllocator *alloc,
                  uint16_t size0)
{
    DpReinit o = { .size0 = size0 };

    return dp_reinit_with(net, alloc, &o);
}

/* Queue a frame of @len bytes (sequence @seq) on @tx, not yet available */
uint32_t dp_tx_add(QTestState *qts, QVirtQueue *tx, uint64_t buf,
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
void dp_expect_rx(QTestState *qts, QVirtQueue *rx, uint32_t want,
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
 * Packed virtqueues
 */

uint8_t dp_packed_init(QVirtioNet *net, QGuestAllocator *alloc,
                       DpPacked *rx, DpPacked *tx)
{
    QTestState *qts = global_qtest;
    uint64_t features = dp_restart_driver(net, alloc);

    g_assert(features & (1ull << VIRTIO_F_RING_PACKED));
    qvirtio_set_features(net->vdev, features & ~QVIRTIO_F_BAD_FEATURE);
    for (int i = 0; i < net->n_queues; i++) {
        DpPacked *p = i ? tx : rx;
        QVirtQueue *vq = qvirtqueue_setup(net->vdev, alloc, i);

        net->queues[i] = vq;
        /* libqos linked its descriptors: nothing is available yet */
        qtest_memset(qts, vq->desc, 0,
                     vq->size * sizeof(struct vring_packed_desc));
        qtest_memset(qts, vq->avail, 0,
                     sizeof(struct vring_packed_desc_event));
        qtest_memset(qts, vq->used, 0,
                     sizeof(struct vring_packed_desc_event));
        if (i > 1) {
            continue;           /* the control queue: not used */
        }
        g_assert_cmpuint(vq->size, <=, DP_PACKED_MAX);
        memset(p, 0, sizeof(*p));
        p->vq = vq;
        p->num = vq->size;
    }
    net->vdev->bus->set_status(net->vdev,
                               net->vdev->bus->get_status(net->vdev) |
                               VIRTIO_CONFIG_S_DRIVER_OK);
    return net->vdev->bus->get_status(net->vdev);
}

/* The flags that make a descriptor at @pos available */
static uint16_t dp_packed_avail_bits(DpPacked *p, unsigned int pos)
{
    return pos < p->num ? 1 << VRING_PACKED_DESC_F_AVAIL
                        : 1 << VRING_PACKED_DESC_F_USED;
}

static void dp_packed_write(QTestState *qts, uint64_t d, uint64_t addr,
                            uint32_t len, uint16_t id, uint16_t flags)
{
    qtest_writeq(qts, d, addr);
    qtest_writel(qts, d + 8, len);
    qtest_writew(qts, d + 12, id);
    qtest_writew(qts, d + 14, flags);
}

/*
 * Make a chain of @n buffers available as buffer @id; the first
 * descriptor's flags are written last, as a driver publishes a chain
 */
void dp_packed_add(QTestState *qts, DpPacked *p, uint16_t id,
                   unsigned int n, const uint64_t *addr, const uint32_t *len,
                   uint16_t flags)
{
    for (int i = n - 1; i >= 0; i--) {
        unsigned int pos = (p->avail + i) % (2 * p->num);

        dp_packed_write(qts, p->vq->desc + (pos % p->num) *
                        sizeof(struct vring_packed_desc), addr[i], len[i],
                        id, flags | dp_packed_avail_bits(p, pos) |
                        ((unsigned int)i + 1 < n ? VRING_DESC_F_NEXT : 0));
    }
    p->avail = (p->avail + n) % (2 * p->num);
    p->ndescs[id] = n;
}

/* The same buffers in an indirect table at @table, one descriptor */
void dp_packed_add_indirect(QTestState *qts, DpPacked *p, uint16_t id,
                            uint64_t table, unsigned int n,
                            const uint64_t *addr, const uint32_t *len,
                            uint16_t flags)
{
    uint64_t d = p->vq->desc + (p->avail % p->num) *
                 sizeof(struct vring_packed_desc);

    for (unsigned int i = 0; i < n; i++) {
        dp_packed_write(qts, table + i * sizeof(struct vring_packed_desc),
                        addr[i], len[i], 0, flags);
    }
    dp_packed_write(qts, d, table, n * sizeof(struct vring_packed_desc), id,
                    VRING_DESC_F_INDIRECT | dp_packed_avail_bits(p, p->avail));
    p->avail = (p->avail + 1) % (2 * p->num);
    p->ndescs[id] = 1;
}

void dp_packed_kick(QVirtioNet *net, DpPacked *p)
{
    net->vdev->bus->virtqueue_kick(net->vdev, p->vq);
}

/* Wait for the next used element of @p, polling its flags */
bool dp_packed_wait_used(QTestState *qts, DpPacked *p, uint16_t *id,
                         uint32_t *len, gint64 timeout_us)
{
    gint64 end = g_get_monotonic_time() + timeout_us;
    uint64_t d = p->vq->desc + (p->used % p->num) *
                 sizeof(struct vring_packed_desc);
    bool wrap = p->used < p->num;

    while (g_get_monotonic_time() < end) {
        uint16_t flags = qtest_readw(qts, d + 14);

        if (!!(flags & 1 << VRING_PACKED_DESC_F_AVAIL) == wrap &&
            !!(flags & 1 << VRING_PACKED_DESC_F_USED) == wrap) {
            *id = qtest_readw(qts, d + 12);
            if (len) {
                *len = qtest_readl(qts, d + 8);
            }
            g_assert_cmpuint(*id, <, DP_PACKED_MAX);
            g_assert_cmpuint(p->ndescs[*id], >, 0);
            p->used = (p->used + p->ndescs[*id]) % (2 * p->num);
            p->ndescs[*id] = 0;
            return true;
        }
        g_usleep(200);
    }
    return false;
}

/*
 * Transmit N frames while the guest has no receive buffers: the driver
 * holds them, so the guest does not get the transmit buffers back.  Then
 * @how (a VM stop, or a device reset) must make the driver let go of
 * guest memory first: the frames are copied, the guest gets its buffers
 * back, and once receive buffers come the frames arrive intact.  (Frames
 * the engine had already taken for the starved receive ring are dropped
 * when it stops, as before: the others must arrive.)
 */
void dp_zc_hold(QVirtioNet *net, QGuestAllocator *alloc, const char *how)
{
    QTestState *qts = global_qtest;
    QVirtQueue *rx, *tx = dp_tx(net, 0);
    /* (long enough for the DPDK driver not to copy them) */
    enum { N = 8, LEN = 400 };
    uint64_t txbuf[N], rxbuf[N], tx0 = dp_stat(qts, 0, "tx-packets");
    uint64_t zc0 = dp_stat(qts, 0, "tx-zero-copy");
    uint64_t errs = dp_stat(qts, 0, "ring-errors");
    uint64_t drops0 = dp_stat(qts, 0, "rx-drops"), d;
    uint32_t rxhead[N], lens[N];
    uint16_t used0 = dp_used_idx(qts, tx);
    gint64 end = g_get_monotonic_time() + DP_TIMEOUT_US;

    for (int i = 0; i < N; i++) {
        uint32_t head;

        txbuf[i] = guest_alloc(alloc, DP_HDR_LEN + LEN);
        head = dp_tx_add(qts, tx, txbuf[i], LEN, 900 + i);
        qvirtqueue_kick(qts, net->vdev, tx, head);
    }
    while (dp_stat(qts, 0, "tx-packets") - tx0 < N) {
        g_assert(g_get_monotonic_time() < end);
        g_usleep(1000);
    }
    g_usleep(20 * 1000);
    /* taken and held: no transmit buffer is back */
    g_assert_cmpuint(dp_stat(qts, 0, "tx-zero-copy") - zc0, ==, N);
    g_assert_cmpuint(dp_used_idx(qts, tx), ==, used0);

    if (!strcmp(how, "stop")) {
        qtest_qmp_assert_success(qts, "{'execute': 'stop'}");
        /* stopped: the guest has every transmit buffer back */
        g_assert_cmpuint(dp_used_idx(qts, tx), ==, (uint16_t)(used0 + N));
        qtest_qmp_assert_success(qts, "{'execute': 'cont'}");
        for (int i = 0; i < N; i++) {
            uint32_t head;

            g_assert(qvirtqueue_get_buf(qts, tx, &head, NULL));
        }
    } else {
        dp_reinit(net, alloc, 0);
    }
    /* the guest reuses its transmit buffers at once */
    for (int i = 0; i < N; i++) {
        qtest_memset(qts, txbuf[i], 0xee, DP_HDR_LEN + LEN);
    }
    /* the held frames, copied, reach the (new) receive ring */
    d = dp_stat(qts, 0, "rx-drops") - drops0;
    g_test_message("%" PRIu64 " of %d frames dropped on the way", d, N);
    g_assert_cmpuint(d, <, N);
    rx = dp_rx(net, 0);
    for (int i = 0; i < N; i++) {
        lens[i] = DP_BUF_LEN;
        rxbuf[i] = guest_alloc(alloc, DP_BUF_LEN);
        rxhead[i] = qvirtqueue_add(qts, rx, rxbuf[i], DP_BUF_LEN, true,
                                   false);
        qvirtqueue_kick(qts, net->vdev, rx, rxhead[i]);
    }
    for (int i = 0; i < N; i++) {
        if (i < N - d) {
            dp_expect_rx(qts, rx, rxhead[i], &rxbuf[i], &lens[i], LEN,
                         900 + d + i);
        }
        guest_free(alloc, txbuf[i]);
    }
    g_assert_false(qvirtqueue_get_buf(qts, rx, NULL, NULL));
    g_assert_cmpuint(dp_stat(qts, 0, "ring-errors"), ==, errs);
    /* and zero-copy goes on, on fresh rings */
    dp_reinit(net, alloc, 0);
    for (int i = 0; i < N; i++) {
        guest_free(alloc, rxbuf[i]);
    }
    dp_loopback(qts, net, alloc, 0, 4, 500);
    g_assert_cmpuint(dp_stat(qts, 0, "tx-zero-copy") - zc0, ==, N + 4);
}
