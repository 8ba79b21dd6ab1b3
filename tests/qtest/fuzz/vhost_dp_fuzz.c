/*
 * virtio-net on -netdev vhostdp: fuzz the rings the dataplane walks
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The input is a list of actions on the two vrings of queue pair 0: a
 * buffer added the way a driver adds one, a raw descriptor written with
 * any address, length, flags and next, an avail index moved by any
 * step, a notification, or time passing.  The queue pair runs in the
 * main loop (no IOThread), so that a run is deterministic.  The loopback
 * driver sends what the TX ring gives back to the RX ring.  A broken ring
 * must stop its queue, never crash QEMU or make it spin: every action
 * ends with the main loop drained, which a spinning queue would never
 * let happen.
 *
 * The -packed target does the same on packed virtqueues (packed=on, and
 * the loopback driver holding transmitted frames): a buffer is a chain
 * of one to three descriptors at the driver's position, a raw descriptor
 * has any flags (the avail and used bits too) and its next field is the
 * buffer id, and moving the avail index moves the driver's position.
 * libqos lays out split rings: the packed ones lie over their memory.
 */

#include "qemu/osdep.h"

#include "standard-headers/linux/virtio_config.h"
#include "standard-headers/linux/virtio_ring.h"
#include "tests/qtest/libqtest.h"
#include "tests/qtest/libqos/virtio-net.h"
#include "fuzz.h"
#include "qos_fuzz.h"

enum {
    DP_FUZZ_ADD,        /* a buffer, as libqos adds it */
    DP_FUZZ_DESC,       /* a raw descriptor */
    DP_FUZZ_AVAIL,      /* move the avail index */
    DP_FUZZ_KICK,
    DP_FUZZ_CLOCK,
    DP_FUZZ_ACTIONS,
};

typedef struct DpFuzzAction {
    uint8_t kind;
    uint8_t queue;      /* even: RX, odd: TX */
    uint16_t index;     /* descriptor, or avail step */
    uint32_t len;
    uint16_t flags;
    uint16_t next;
    uint64_t addr;      /* raw: a guest address; add: data bytes */
} QEMU_PACKED DpFuzzAction;

/* virtio's largest ring */
#define DP_FUZZ_MAX_SIZE    1024

/* Packed rings: the driver's next position on each, in [0, 2 * size) */
static bool dp_fuzz_packed;
static unsigned int dp_fuzz_pos[2];

/*
 * Every run resets the device (which stops the dataplane) and sets it
 * up again on new rings, up to DRIVER_OK, which starts it.  The
 * machine is not reset (fuzz_reset()): the PCI BARs libqos mapped would
 * be gone.
 */
static void vhost_dp_fuzz_start(QTestState *s, QVirtioNet *net)
{
    QVirtioDevice *dev = net->vdev;

    for (int i = 0; i < 2; i++) {
        qvirtqueue_cleanup(dev->bus, net->queues[i], fuzz_qos_alloc);
    }
    qvirtio_reset(dev);
    qvirtio_set_acknowledge(dev);
    qvirtio_set_driver(dev);
    dp_fuzz_packed = qvirtio_get_features(dev) &
                     (1ull << VIRTIO_F_RING_PACKED);
    qvirtio_set_features(dev, qvirtio_get_features(dev) &
                              ~QVIRTIO_F_BAD_FEATURE);
    for (int i = 0; i < 2; i++) {
        QVirtQueue *q = qvirtqueue_setup(dev, fuzz_qos_alloc, i);

        net->queues[i] = q;
        dp_fuzz_pos[i] = 0;
        if (dp_fuzz_packed) {
            /*
             * Nothing available yet, no events asked for.  Not with
             * qtest_memset(): the fuzzer's wrapper of it leaks its buffer.
             */
            static const struct vring_packed_desc zero[DP_FUZZ_MAX_SIZE];

            g_assert(q->size <= DP_FUZZ_MAX_SIZE);
            qtest_memwrite(s, q->desc, zero, q->size * sizeof(zero[0]));
            qtest_memwrite(s, q->avail, zero,
                           sizeof(struct vring_packed_desc_event));
            qtest_memwrite(s, q->used, zero,
                           sizeof(struct vring_packed_desc_event));
        }
    }
    qvirtio_set_driver_ok(dev);
    flush_events(s);
}

/* A chain of @n descriptors over @buf at the driver's position */
static void vhost_dp_fuzz_packed_add(QTestState *s, QVirtQueue *q, int qi,
                                     uint64_t buf, uint32_t len,
                                     unsigned int n, uint16_t id)
{
    unsigned int pos = dp_fuzz_pos[qi], size = q->size;

    /* the first descriptor's flags last, as a driver publishes a chain */
    for (int i = n - 1; i >= 0; i--) {
        unsigned int p = (pos + i) % (2 * size);
        uint64_t d = q->desc + (p % size) * sizeof(struct vring_packed_desc);
        uint16_t flags = (p < size ? 1 << VRING_PACKED_DESC_F_AVAIL
                                   : 1 << VRING_PACKED_DESC_F_USED) |
                         (qi == 0 ? VRING_DESC_F_WRITE : 0) |
                         ((unsigned int)i + 1 < n ? VRING_DESC_F_NEXT : 0);

        qtest_writeq(s, d, buf + i * (len / n));
        qtest_writel(s, d + 8, len / n);
        qtest_writew(s, d + 12, id);
        qtest_writew(s, d + 14, flags);
    }
    dp_fuzz_pos[qi] = (pos + n) % (2 * size);
}

static void vhost_dp_fuzz(QTestState *s, const unsigned char *data,
                          size_t size)
{
    QVirtioNet *net = fuzz_qos_obj;
    QVirtioDevice *dev = net->vdev;
    uint64_t buf = guest_alloc(fuzz_qos_alloc, 4096);
    DpFuzzAction a;

    vhost_dp_fuzz_start(s, net);
    while (size >= sizeof(a)) {
        QVirtQueue *q;
        uint64_t d;
        uint16_t idx;

        memcpy(&a, data, sizeof(a));
        data += sizeof(a);
        size -= sizeof(a);
        q = net->queues[a.queue % 2];

        switch (a.kind % DP_FUZZ_ACTIONS) {
        case DP_FUZZ_ADD: {
            uint32_t len = MIN(a.addr % 4096 + 1, size);

            if (!len || q->num_free <= 1) {
                break;
            }
            qtest_memwrite(s, buf, data, len);
            data += len;
            size -= len;
            if (dp_fuzz_packed) {
                vhost_dp_fuzz_packed_add(s, q, a.queue % 2, buf, len,
                                         1 + a.index % 3, a.next);
                dev->bus->virtqueue_kick(dev, q);
                break;
            }
            qvirtqueue_kick(s, dev, q,
                            qvirtqueue_add(s, q, buf, len, a.queue % 2 == 0,
                                           a.flags & 1));
            break;
        }
        case DP_FUZZ_DESC:
            d = q->desc + (a.index % q->size) * sizeof(struct vring_desc);
            qtest_writeq(s, d, a.addr);
            qtest_writel(s, d + 8, a.len);
            qtest_writew(s, d + 12, a.flags);
            qtest_writew(s, d + 14, a.next);
            break;
        case DP_FUZZ_AVAIL:
            if (dp_fuzz_packed) {
                dp_fuzz_pos[a.queue % 2] = (dp_fuzz_pos[a.queue % 2] +
                                            a.index) % (2 * q->size);
                break;
            }
            idx = qtest_readw(s, q->avail + 2);
            qtest_writew(s, q->avail + 4 + 2 * (idx % q->size),
                         a.next % q->size);
            qtest_writew(s, q->avail + 2, idx + a.index % 8);
            break;
        case DP_FUZZ_KICK:
            dev->bus->virtqueue_kick(dev, q);
            break;
        case DP_FUZZ_CLOCK:
            qtest_clock_step(s, a.len % 1000000 + 1);
            break;
        }
        flush_events(s);
    }
    flush_events(s);
    guest_free(fuzz_qos_alloc, buf);
}

static void vhost_dp_pre_fuzz(QTestState *s)
{
    qos_init_path(s);
}

static void *vhost_dp_fuzz_cmdline(GString *cmd_line, void *arg)
{
    g_string_append_printf(cmd_line, " -object vhost-dp-loopback,id=fdrv0%s"
                           " -netdev vhostdp,id=hs0,driver=fdrv0 ",
                           arg ? (const char *)arg : "");
    return arg;
}

static void register_vhost_dp_fuzz_targets(void)
{
    fuzz_add_qos_target(&(FuzzTarget){
            .name = "virtio-net-vhostdp",
            .description = "Fuzz the vrings of virtio-net on -netdev "
            "vhostdp (loopback driver): raw descriptors, avail index "
            "moves, buffers and kicks",
            .pre_fuzz = &vhost_dp_pre_fuzz,
            .fuzz = vhost_dp_fuzz,},
            "virtio-net",
            &(QOSGraphTestOptions){.before = vhost_dp_fuzz_cmdline}
            );
    fuzz_add_qos_target(&(FuzzTarget){
            .name = "virtio-net-vhostdp-zero-copy",
            .description = "The same with the loopback driver holding "
            "transmitted frames in guest memory until they are received",
            .pre_fuzz = &vhost_dp_pre_fuzz,
            .fuzz = vhost_dp_fuzz,},
            "virtio-net",
            &(QOSGraphTestOptions){.before = vhost_dp_fuzz_cmdline,
                                   .arg = (void *)",zero-copy=on"}
            );
    fuzz_add_qos_target(&(FuzzTarget){
            .name = "virtio-net-vhostdp-rx-read",
            .description = "The same with the loopback driver handing "
            "frames over with rx_read, straight into guest buffers, and "
            "holding transmitted frames",
            .pre_fuzz = &vhost_dp_pre_fuzz,
            .fuzz = vhost_dp_fuzz,},
            "virtio-net",
            &(QOSGraphTestOptions){.before = vhost_dp_fuzz_cmdline,
                                   .arg = (void *)",zero-copy=on,rx-read=on"}
            );
    fuzz_add_qos_target(&(FuzzTarget){
            .name = "virtio-net-vhostdp-packed",
            .description = "The same on packed virtqueues, with the "
            "loopback driver holding transmitted frames",
            .pre_fuzz = &vhost_dp_pre_fuzz,
            .fuzz = vhost_dp_fuzz,},
            "virtio-net",
            &(QOSGraphTestOptions){
                .before = vhost_dp_fuzz_cmdline,
                .arg = (void *)",zero-copy=on",
                .edge.extra_device_opts = "packed=on,disable-legacy=on"}
            );
}

fuzz_target_init(register_vhost_dp_fuzz_targets);
