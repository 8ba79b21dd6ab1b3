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
#include "vhost-dp-common.h"

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
