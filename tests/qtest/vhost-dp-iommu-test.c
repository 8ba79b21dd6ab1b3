/*
 * QTest testcases for the vhost dataplane behind an emulated Intel vIOMMU
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The test is the guest.  It programs VT-d through its registers (root
 * and context tables, second-level page tables, translation enable and
 * register-based invalidations) and drives the split rings of a
 * virtio-net device on -netdev vhostdp itself: libqos's virtqueue code
 * writes guest physical addresses where this device expects IOVAs, so
 * libqos only gives PCI, the virtio-pci registers and the guest page
 * allocator here.  Every IOVA the device sees differs from the guest
 * page behind it, and the pages behind an IOVA range are scattered.  The
 * vhost-dp-loopback driver returns each transmitted frame on the receive
 * side of the same queue pair, so every check is on exact bytes.
 *
 * The cases: traffic on scattered rings and buffers; a ring page the
 * guest moves while the device runs (ring-remap); a buffer the guest
 * unmapped; a read-only page the device must not write, also right
 * after reading it; a descriptor table across two pages at a misaligned
 * address; an indirect table across two scattered pages; a device
 * whose DMA VT-d does not translate (translation off, pass-through); and
 * transmit buffers a zero-copy driver holds when the guest unmaps them.
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qemu/bswap.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "libqos/libqos-malloc.h"
#include "libqos/malloc-pc.h"
#include "libqos/pci-pc.h"
#include "libqos/virtio.h"
#include "libqos/virtio-pci.h"
#include "hw/i386/intel_iommu_internal.h"
#include "standard-headers/linux/virtio_config.h"
#include "standard-headers/linux/virtio_ids.h"
#include "standard-headers/linux/virtio_pci.h"
#include "standard-headers/linux/virtio_ring.h"
#include "standard-headers/linux/virtio_net.h"

#define DP_PAGE         4096ULL
#define DP_DEVFN        QPCI_DEVFN(4, 0)
#define DP_DID          1               /* the device's VT-d domain */
#define DP_QSIZE        256
#define DP_HDR_LEN      sizeof(struct virtio_net_hdr_mrg_rxbuf)
/* above guest RAM: an IOVA is never also the guest address behind it */
#define DP_IOVA_BASE    0x40000000ULL
#define DP_TIMEOUT_US   (5 * 1000 * 1000)
#define DP_QUIET_US     (300 * 1000)
#define DP_RX_FILL      0x5a            /* receive buffers before a frame */
#define DP_OLD_FILL     0xa5            /* a page the device lost */

#define DP_CMDLINE \
    "-M q35 -m 512M -nodefaults -device intel-iommu,intremap=off " \
    "-object iothread,id=io0 -object vhost-dp-loopback,id=drv0%s " \
    "-netdev vhostdp,id=hs0,driver=drv0,iothread=io0 " \
    "-device virtio-net-pci,netdev=hs0,iommu_platform=on," \
    "disable-legacy=on,addr=04.0,romfile="

enum {
    DP_RX = 0,
    DP_TX = 1,
};

/* the loopback driver keeps transmitted frames in guest memory */
static bool dp_zero_copy;

/* What VT-d does with the device's DMA */
typedef enum DpIommu {
    DP_IOMMU_TRANSLATE,     /* second-level translation */
    DP_IOMMU_OFF,           /* translation not enabled */
    DP_IOMMU_PASSTHROUGH,   /* enabled, the device's context passes through */
} DpIommu;

/* Where the parts of a ring go in IOVA space */
typedef enum DpLayout {
    /* each part straddles two IOVA pages on scattered guest pages */
    DP_LAYOUT_STRADDLE,
    /* each part at the start of an IOVA page of its own */
    DP_LAYOUT_PAGES,
    /* TX: the descriptor table at page offset 0xff8, not 16-byte aligned */
    DP_LAYOUT_MISALIGNED,
} DpLayout;

/* A split virtqueue, driven by the test */
typedef struct DpVq {
    uint16_t index;
    uint16_t size;
    uint64_t desc, avail, used;     /* IOVAs */
    uint64_t notify;                /* offset of the notifier in the BAR */
    uint16_t avail_idx;             /* the guest's avail->idx */
    uint16_t used_seen;             /* used entries the test has taken */
    uint16_t next_desc;             /* descriptors are used round robin */
} DpVq;

typedef struct DpTest {
    QTestState *qts;
    QGuestAllocator alloc;
    QPCIBus *bus;
    QVirtioPCIDevice *dev;
    bool translate;                 /* IOVAs are not guest addresses */
    uint64_t slpt;                  /* the second-level page table root */
    uint64_t next_iova;
    DpVq vq[2];
} DpTest;

/*
 * VT-d registers
 */

static uint32_t vtd_readl(DpTest *t, uint32_t reg)
{
    return qtest_readl(t->qts, Q35_HOST_BRIDGE_IOMMU_ADDR + reg);
}

static uint64_t vtd_readq(DpTest *t, uint32_t reg)
{
    return qtest_readq(t->qts, Q35_HOST_BRIDGE_IOMMU_ADDR + reg);
}

static void vtd_writel(DpTest *t, uint32_t reg, uint32_t val)
{
    qtest_writel(t->qts, Q35_HOST_BRIDGE_IOMMU_ADDR + reg, val);
}

static void vtd_writeq(DpTest *t, uint32_t reg, uint64_t val)
{
    qtest_writeq(t->qts, Q35_HOST_BRIDGE_IOMMU_ADDR + reg, val);
}

/* Issue one global command and wait until the status reports it done */
static void vtd_gcmd(DpTest *t, uint32_t cmd, uint32_t sts)
{
    gint64 end = g_get_monotonic_time() + DP_TIMEOUT_US;

    /* GCMD is write-only: keep translation on if it is, add @cmd */
    vtd_writel(t, DMAR_GCMD_REG,
               (vtd_readl(t, DMAR_GSTS_REG) & VTD_GSTS_TES) | cmd);
    while (!(vtd_readl(t, DMAR_GSTS_REG) & sts)) {
        g_assert(g_get_monotonic_time() < end);
        g_usleep(100);
    }
}

/* Write an invalidation register and wait until the IOMMU clears @busy */
static void vtd_invalidate(DpTest *t, uint32_t reg, uint64_t cmd,
                           uint64_t busy)
{
    gint64 end = g_get_monotonic_time() + DP_TIMEOUT_US;

    vtd_writeq(t, reg, cmd);
    while (vtd_readq(t, reg) & busy) {
        g_assert(g_get_monotonic_time() < end);
        g_usleep(100);
    }
}

static void vtd_flush_all(DpTest *t)
{
    vtd_invalidate(t, DMAR_CCMD_REG, VTD_CCMD_ICC | VTD_CCMD_GLOBAL_INVL,
                   VTD_CCMD_ICC);
    vtd_invalidate(t, DMAR_IOTLB_REG, VTD_TLB_IVT | VTD_TLB_GLOBAL_FLUSH,
                   VTD_TLB_IVT);
}

/*
 * Page-selective IOTLB invalidation of the page at @iova: what a guest
 * does after changing one PTE.  The IOMMU passes it on to the device
 * (vhost's IOMMU notifier), which must no longer use the old page once
 * the invalidation completes.
 */
static void vtd_flush_page(DpTest *t, uint64_t iova)
{
    if (!t->translate) {
        return;
    }
    vtd_writeq(t, DMAR_IVA_REG, iova & ~(DP_PAGE - 1));    /* AM = 0 */
    vtd_invalidate(t, DMAR_IOTLB_REG, VTD_TLB_IVT | VTD_TLB_PSI_FLUSH |
                   ((uint64_t)DP_DID << 32), VTD_TLB_IVT);
}

/*
 * Second-level page tables: 3 levels (39-bit IOVAs), 4 KiB pages
 */

static uint64_t dp_zero_page(DpTest *t)
{
    uint64_t gpa = guest_alloc(&t->alloc, DP_PAGE);

    qtest_memset(t->qts, gpa, 0, DP_PAGE);
    return gpa;
}

/* The guest address of the last-level PTE for @iova */
static uint64_t dp_pte(DpTest *t, uint64_t iova, bool make)
{
    uint64_t table = t->slpt;

    for (int level = 3; level > 1; level--) {
        uint64_t at = table + 8 * ((iova >> (12 + 9 * (level - 1))) & 511);
        uint64_t e = qtest_readq(t->qts, at);

        if (!(e & VTD_SL_RW_MASK)) {
            g_assert(make);
            /* the access rights of all levels add up: grant all above */
            e = dp_zero_page(t) | VTD_SL_R | VTD_SL_W;
            qtest_writeq(t->qts, at, e);
        }
        table = e & VTD_PAGE_MASK_4K;
    }
    return table + 8 * ((iova >> 12) & 511);
}

/* Map (or with @perm 0, unmap) the page at @iova; no invalidation */
static void dp_map(DpTest *t, uint64_t iova, uint64_t gpa, uint64_t perm)
{
    g_assert(t->translate);
    qtest_writeq(t->qts, dp_pte(t, iova, true), perm ? gpa | perm : 0);
}

/* The guest address behind @iova, as the guest's CPU reaches it */
static uint64_t dp_gpa(DpTest *t, uint64_t iova)
{
    uint64_t pte;

    if (!t->translate) {
        return iova;
    }
    pte = qtest_readq(t->qts, dp_pte(t, iova, false));
    g_assert(pte & VTD_SL_RW_MASK);
    return (pte & VTD_PAGE_MASK_4K) + (iova & (DP_PAGE - 1));
}

/*
 * Map @npages fresh guest pages at the next free IOVAs.  The pages are
 * taken with a page left out after each and mapped in reverse order, so
 * that no two neighbours in IOVA space are neighbours in guest memory;
 * an unmapped IOVA page follows the range.
 */
static uint64_t dp_map_new(DpTest *t, unsigned int npages, uint64_t perm)
{
    g_autofree uint64_t *gpa = g_new(uint64_t, npages);
    uint64_t iova = t->next_iova;

    if (!t->translate) {
        /* translation off: the device sees guest addresses */
        iova = guest_alloc(&t->alloc, npages * DP_PAGE);
        qtest_memset(t->qts, iova, 0, npages * DP_PAGE);
        return iova;
    }
    for (unsigned int i = 0; i < npages; i++) {
        gpa[i] = dp_zero_page(t);
        guest_alloc(&t->alloc, DP_PAGE);
    }
    for (unsigned int i = 0; i < npages; i++) {
        dp_map(t, iova + i * DP_PAGE, gpa[npages - 1 - i], perm);
    }
    t->next_iova += (npages + 1) * DP_PAGE;
    return iova;
}

/*
 * Guest memory by IOVA, as the guest's driver reaches its DMA buffers
 */

static void dp_iowrite(DpTest *t, uint64_t iova, const void *buf, size_t len)
{
    const uint8_t *p = buf;

    while (len) {
        size_t chunk = MIN(len, DP_PAGE - (iova & (DP_PAGE - 1)));

        qtest_memwrite(t->qts, dp_gpa(t, iova), p, chunk);
        iova += chunk;
        p += chunk;
        len -= chunk;
    }
}

static void dp_ioread(DpTest *t, uint64_t iova, void *buf, size_t len)
{
    uint8_t *p = buf;

    while (len) {
        size_t chunk = MIN(len, DP_PAGE - (iova & (DP_PAGE - 1)));

        qtest_memread(t->qts, dp_gpa(t, iova), p, chunk);
        iova += chunk;
        p += chunk;
        len -= chunk;
    }
}

static void dp_iofill(DpTest *t, uint64_t iova, uint8_t byte, size_t len)
{
    g_autofree uint8_t *buf = g_malloc(len);

    memset(buf, byte, len);
    dp_iowrite(t, iova, buf, len);
}

static void dp_iowritew(DpTest *t, uint64_t iova, uint16_t val)
{
    val = cpu_to_le16(val);
    dp_iowrite(t, iova, &val, sizeof(val));
}

static uint16_t dp_ioreadw(DpTest *t, uint64_t iova)
{
    uint16_t val;

    dp_ioread(t, iova, &val, sizeof(val));
    return le16_to_cpu(val);
}

/* Does the guest page at @gpa hold only @byte? */
static bool dp_page_is(DpTest *t, uint64_t gpa, uint8_t byte, size_t len)
{
    g_autofree uint8_t *buf = g_malloc(len);

    qtest_memread(t->qts, gpa, buf, len);
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != byte) {
            g_printerr("byte 0x%zx of guest page 0x%" PRIx64 " is 0x%02x, "
                       "not 0x%02x\n", i, gpa, buf[i], byte);
            return false;
        }
    }
    return true;
}

/*
 * Machine, VT-d and device
 */

/* A counter of queue pair 0 of netdev hs0, from query-vhost-dp */
static uint64_t dp_stat(DpTest *t, const char *name)
{
    QDict *rsp = qtest_qmp(t->qts, "{'execute': 'query-vhost-dp', "
                           "'arguments': {'id': 'hs0'}}");
    QList *nets = qdict_get_qlist(rsp, "return");
    QDict *net = qobject_to(QDict, qlist_peek(nets));
    QDict *q = qobject_to(QDict,
                          qlist_peek(qdict_get_qlist(net, "queues")));
    uint64_t v;

    g_assert_cmpint(qdict_get_int(q, "queue"), ==, 0);
    v = qdict_get_int(q, name);
    qobject_unref(rsp);
    return v;
}

static void dp_assert_running(DpTest *t)
{
    QDict *rsp = qtest_qmp(t->qts, "{'execute': 'query-status'}");

    g_assert_cmpstr(qdict_get_str(qdict_get_qdict(rsp, "return"), "status"),
                    ==, "running");
    qobject_unref(rsp);
}

/*
 * Point VT-d at a root table whose entry for bus 0 leads to a context
 * table with one present entry, the device's: second-level translation
 * in domain DP_DID through a 3-level table.  Then translation on.
 */
static void dp_vtd_setup(DpTest *t, bool passthrough)
{
    uint64_t root = dp_zero_page(t), ctx = dp_zero_page(t);
    uint64_t cap = vtd_readq(t, DMAR_CAP_REG);

    g_assert(cap & VTD_CAP_SAGAW_39bit);
    g_assert(cap & VTD_CAP_PSI);
    t->slpt = dp_zero_page(t);
    qtest_writeq(t->qts, root, ctx | VTD_ROOT_ENTRY_P);
    if (passthrough) {
        g_assert(vtd_readq(t, DMAR_ECAP_REG) & VTD_ECAP_PT);
    }
    qtest_writeq(t->qts, ctx + 16 * DP_DEVFN,
                 t->slpt | VTD_CONTEXT_ENTRY_P |
                 (passthrough ? VTD_CONTEXT_TT_PASS_THROUGH :
                  VTD_CONTEXT_TT_MULTI_LEVEL));
    /* AW 1: 39-bit, 3 levels */
    qtest_writeq(t->qts, ctx + 16 * DP_DEVFN + 8, 1 | (DP_DID << 8));

    vtd_writeq(t, DMAR_RTADDR_REG, root);
    vtd_gcmd(t, VTD_GCMD_SRTP, VTD_GSTS_RTPS);
    vtd_flush_all(t);
    vtd_gcmd(t, VTD_GCMD_TE, VTD_GSTS_TES);
    t->next_iova = DP_IOVA_BASE;
}

#define DP_CFG(field) (t->dev->common_cfg_offset + \
                       offsetof(struct virtio_pci_common_cfg, field))

static void dp_cfg_writeq(DpTest *t, uint64_t lo_off, uint64_t val)
{
    qpci_io_writel(t->dev->pdev, t->dev->bar, lo_off, val);
    qpci_io_writel(t->dev->pdev, t->dev->bar, lo_off + 4, val >> 32);
}

/* Give the device virtqueue @index at the IOVAs @desc, @avail, @used */
static void dp_vq_setup(DpTest *t, uint16_t index, uint64_t desc,
                        uint64_t avail, uint64_t used)
{
    DpVq *vq = &t->vq[index];
    uint16_t notify_off;

    *vq = (DpVq) {
        .index = index, .desc = desc, .avail = avail, .used = used,
    };
    t->dev->vdev.bus->queue_select(&t->dev->vdev, index);
    /* the ring layouts below are for 256 entries */
    g_assert_cmpuint(t->dev->vdev.bus->get_queue_size(&t->dev->vdev), >=,
                     DP_QSIZE);
    qpci_io_writew(t->dev->pdev, t->dev->bar, DP_CFG(queue_size), DP_QSIZE);
    vq->size = DP_QSIZE;
    dp_cfg_writeq(t, DP_CFG(queue_desc_lo), desc);
    dp_cfg_writeq(t, DP_CFG(queue_avail_lo), avail);
    dp_cfg_writeq(t, DP_CFG(queue_used_lo), used);
    notify_off = qpci_io_readw(t->dev->pdev, t->dev->bar,
                               DP_CFG(queue_notify_off));
    vq->notify = t->dev->notify_cfg_offset +
                 notify_off * t->dev->notify_off_multiplier;
    qpci_io_writew(t->dev->pdev, t->dev->bar, DP_CFG(queue_enable), 1);
}

/* Lay out and enable the ring of queue @index */
static void dp_ring_setup(DpTest *t, uint16_t index, DpLayout layout)
{
    const uint64_t desc_len = DP_QSIZE * sizeof(struct vring_desc);
    uint64_t base;

    switch (layout) {
    case DP_LAYOUT_STRADDLE:
        /*
         * desc [0x800, 0x1800), avail [0x1f00, 0x2106), used
         * [0x2c00, 0x3406): each crosses into the next page
         */
        base = dp_map_new(t, 4, VTD_SL_R | VTD_SL_W);
        dp_vq_setup(t, index, base + 0x800, base + 0x1f00, base + 0x2c00);
        break;
    case DP_LAYOUT_PAGES:
        dp_vq_setup(t, index, dp_map_new(t, 1, VTD_SL_R | VTD_SL_W),
                    dp_map_new(t, 1, VTD_SL_R | VTD_SL_W),
                    dp_map_new(t, 1, VTD_SL_R | VTD_SL_W));
        break;
    case DP_LAYOUT_MISALIGNED:
        base = dp_map_new(t, 1 + DIV_ROUND_UP(desc_len, DP_PAGE),
                          VTD_SL_R | VTD_SL_W);
        dp_vq_setup(t, index, base + DP_PAGE - 8,
                    dp_map_new(t, 1, VTD_SL_R | VTD_SL_W),
                    dp_map_new(t, 1, VTD_SL_R | VTD_SL_W));
        break;
    }
}

/*
 * Start QEMU, program VT-d as @iommu says (without translation, the
 * device's IOVAs are guest addresses) and bring the
 * device up to DRIVER_OK with its rings laid out as @layout (RX) and
 * @tx_layout (TX).  Returns the device status after DRIVER_OK.
 */
static uint8_t dp_start(DpTest *t, DpIommu iommu, DpLayout layout,
                        DpLayout tx_layout)
{
    QPCIAddress addr = { .devfn = DP_DEVFN };
    QVirtioDevice *vdev;
    uint64_t want = (1ULL << VIRTIO_F_VERSION_1) |
                    (1ULL << VIRTIO_F_ACCESS_PLATFORM) |
                    (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
    uint8_t status;

    memset(t, 0, sizeof(*t));
    t->qts = qtest_initf(DP_CMDLINE, dp_zero_copy ? ",zero-copy=on" : "");
    t->translate = iommu == DP_IOMMU_TRANSLATE;
    pc_alloc_init(&t->alloc, t->qts, 0);
    if (iommu != DP_IOMMU_OFF) {
        /* before the device: its rings are reached through VT-d */
        dp_vtd_setup(t, iommu == DP_IOMMU_PASSTHROUGH);
    }
    t->bus = qpci_new_pc(t->qts, &t->alloc);
    t->dev = virtio_pci_new(t->bus, &addr);
    g_assert_nonnull(t->dev);
    vdev = &t->dev->vdev;
    g_assert_cmpuint(vdev->device_type, ==, VIRTIO_ID_NET);
    qvirtio_pci_device_enable(t->dev);
    qvirtio_start_device(vdev);

    /*
     * libqos's own virtio-net setup masks the features it knows; here the
     * device must see ACCESS_PLATFORM accepted, or it would not use the
     * IOMMU for its rings at all.
     */
    g_assert_cmphex(qvirtio_get_features(vdev) & want, ==, want);
    qvirtio_set_features(vdev, want);
    g_assert_cmphex(vdev->bus->get_guest_features(vdev), ==, want);

    dp_ring_setup(t, DP_RX, layout);
    dp_ring_setup(t, DP_TX, tx_layout);
    vdev->bus->set_status(vdev, vdev->bus->get_status(vdev) |
                          VIRTIO_CONFIG_S_DRIVER_OK);
    status = vdev->bus->get_status(vdev);
    if (status & VIRTIO_CONFIG_S_NEEDS_RESET) {
        g_printerr("the device refused to start (status 0x%02x)\n", status);
    }
    return status;
}

static void dp_start_ok(DpTest *t, DpIommu iommu, DpLayout layout)
{
    uint8_t status = dp_start(t, iommu, layout, layout);

    g_assert_cmphex(status, ==, VIRTIO_CONFIG_S_ACKNOWLEDGE |
                    VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |
                    VIRTIO_CONFIG_S_DRIVER_OK);
    g_assert_cmpuint(dp_stat(t, "ring-errors"), ==, 0);
}

static void dp_end(DpTest *t)
{
    qvirtio_pci_destructor(&t->dev->obj);
    g_free(t->dev);
    qpci_free_pc(t->bus);
    alloc_destroy(&t->alloc);
    qtest_quit(t->qts);
}

/*
 * The guest's side of the rings
 */

/* Write a chain of @n buffers into the descriptor table; returns its head */
static uint16_t dp_add(DpTest *t, DpVq *vq, const uint64_t *iova,
                       const uint32_t *len, unsigned int n, bool write)
{
    uint16_t head = vq->next_desc % vq->size;

    for (unsigned int i = 0; i < n; i++) {
        uint16_t d = (vq->next_desc + i) % vq->size;
        struct vring_desc desc = {
            .addr = cpu_to_le64(iova[i]),
            .len = cpu_to_le32(len[i]),
            .flags = cpu_to_le16((write ? VRING_DESC_F_WRITE : 0) |
                                 (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
            .next = cpu_to_le16((d + 1) % vq->size),
        };

        dp_iowrite(t, vq->desc + d * sizeof(desc), &desc, sizeof(desc));
    }
    vq->next_desc += n;
    return head;
}

/* Make the chain at @head available (the index last) */
static void dp_publish(DpTest *t, DpVq *vq, uint16_t head)
{
    dp_iowritew(t, vq->avail + 4 + 2 * (vq->avail_idx % vq->size), head);
    vq->avail_idx++;
    dp_iowritew(t, vq->avail + 2, vq->avail_idx);
}

static void dp_kick(DpTest *t, DpVq *vq)
{
    qpci_io_writew(t->dev->pdev, t->dev->bar, vq->notify, vq->index);
}

static uint16_t dp_used_idx(DpTest *t, DpVq *vq)
{
    return dp_ioreadw(t, vq->used + 2);
}

/* Wait for the next used element of @vq */
static bool dp_wait_used(DpTest *t, DpVq *vq, uint32_t *id, uint32_t *len)
{
    gint64 end = g_get_monotonic_time() + DP_TIMEOUT_US;
    uint64_t elem;
    uint32_t v;

    while (dp_used_idx(t, vq) == vq->used_seen) {
        if (g_get_monotonic_time() > end) {
            return false;
        }
        g_usleep(200);
    }
    elem = vq->used + 4 + 8 * (vq->used_seen % vq->size);
    dp_ioread(t, elem, &v, 4);
    *id = le32_to_cpu(v);
    dp_ioread(t, elem + 4, &v, 4);
    *len = le32_to_cpu(v);
    vq->used_seen++;
    return true;
}

/* The next used element of @vq must be @head with @len bytes written */
static void dp_expect_used(DpTest *t, DpVq *vq, uint16_t head, uint32_t len)
{
    uint32_t got_id, got_len;

    g_assert(dp_wait_used(t, vq, &got_id, &got_len));
    g_assert_cmpuint(got_id, ==, head);
    g_assert_cmpuint(got_len, ==, len);
}

/* Nothing more is used in @vq, after a while */
static void dp_expect_idle(DpTest *t, DpVq *vq)
{
    g_usleep(DP_QUIET_US);
    g_assert_cmpuint(dp_used_idx(t, vq), ==, vq->used_seen);
}

static void dp_fill_frame(uint8_t *f, size_t len, uint32_t seq)
{
    memset(f, 0xff, 6);                 /* broadcast */
    memcpy(f + 6, "\x52\x54\x00\x12\x34\x56", 6);
    f[12] = 0x88;                       /* local experimental ethertype */
    f[13] = 0xb5;
    for (size_t i = 14; i < len; i++) {
        f[i] = (uint8_t)(seq * 13 + i * 7);
    }
    stl_le_p(f + 14, seq);
}

/* Write frame @seq of @len bytes with an empty header at @iova */
static void dp_put_frame(DpTest *t, uint64_t iova, uint32_t seq, size_t len)
{
    g_autofree uint8_t *buf = g_malloc0(DP_HDR_LEN + len);

    dp_fill_frame(buf + DP_HDR_LEN, len, seq);
    dp_iowrite(t, iova, buf, DP_HDR_LEN + len);
}

/* Transmit the frame written at @iova in one descriptor */
static uint16_t dp_send(DpTest *t, uint64_t iova, size_t len)
{
    DpVq *tx = &t->vq[DP_TX];
    uint32_t l = DP_HDR_LEN + len;
    uint16_t head = dp_add(t, tx, &iova, &l, 1, false);

    dp_publish(t, tx, head);
    dp_kick(t, tx);
    return head;
}

/* Post a receive buffer, filled with DP_RX_FILL first */
static uint16_t dp_post_rx(DpTest *t, uint64_t iova, uint32_t len)
{
    DpVq *rx = &t->vq[DP_RX];
    uint16_t head;

    dp_iofill(t, iova, DP_RX_FILL, len);
    head = dp_add(t, rx, &iova, &len, 1, true);
    dp_publish(t, rx, head);
    dp_kick(t, rx);
    return head;
}

/*
 * The receive buffer of @size bytes at @iova holds the header and frame
 * @seq of @len bytes, byte for byte, and nothing was written after them.
 */
static void dp_check_rx(DpTest *t, uint64_t iova, uint32_t size,
                        uint32_t seq, size_t len)
{
    g_autofree uint8_t *got = g_malloc(size);
    g_autofree uint8_t *frame = g_malloc(len);
    struct virtio_net_hdr_mrg_rxbuf hdr = { .num_buffers = cpu_to_le16(1) };

    g_assert_cmpuint(DP_HDR_LEN + len, <=, size);
    dp_ioread(t, iova, got, size);
    dp_fill_frame(frame, len, seq);
    g_assert(memcmp(got, &hdr, DP_HDR_LEN) == 0);
    g_assert(memcmp(got + DP_HDR_LEN, frame, len) == 0);
    for (size_t i = DP_HDR_LEN + len; i < size; i++) {
        g_assert_cmphex(got[i], ==, DP_RX_FILL);
    }
}

/* Frame @seq goes out of @txbuf and comes back into @rxbuf intact */
static void dp_roundtrip(DpTest *t, uint64_t txbuf, uint64_t rxbuf,
                         uint32_t rxsize, uint32_t seq, size_t len)
{
    uint16_t rxhead = dp_post_rx(t, rxbuf, rxsize);
    uint16_t txhead;

    dp_put_frame(t, txbuf, seq, len);
    txhead = dp_send(t, txbuf, len);
    dp_expect_used(t, &t->vq[DP_TX], txhead, 0);
    dp_expect_used(t, &t->vq[DP_RX], rxhead, DP_HDR_LEN + len);
    dp_check_rx(t, rxbuf, rxsize, seq, len);
}

/*
 * 1. Traffic with buffers and ring parts at IOVAs whose pages are
 * scattered in guest memory, single frames and a burst, one- and
 * two-descriptor chains.
 */
static void test_traffic(const void *data)
{
    enum { N = 4, RXSIZE = 1600 };
    static const size_t lens[N] = { 60, 1514, 1000, 777 };
    DpTest t;
    DpVq *rx = &t.vq[DP_RX], *tx = &t.vq[DP_TX];
    uint64_t txbuf, rxbuf, bytes = 0;
    uint16_t rxhead[N], txhead[N];

    dp_start_ok(&t, DP_IOMMU_TRANSLATE, DP_LAYOUT_STRADDLE);
    txbuf = dp_map_new(&t, 4, VTD_SL_R | VTD_SL_W);
    rxbuf = dp_map_new(&t, 8, VTD_SL_R | VTD_SL_W);
    g_assert_cmphex(dp_gpa(&t, txbuf), !=, txbuf);
    g_assert_cmphex(dp_gpa(&t, txbuf + DP_PAGE), !=,
                    dp_gpa(&t, txbuf) + DP_PAGE);

    /* one at a time; buffers 0xe00 and 0xc80 apart cross pages */
    for (int i = 0; i < N; i++) {
        dp_roundtrip(&t, txbuf + i * 0xe00, rxbuf + i * 0xc80, RXSIZE, i,
                     lens[i]);
        bytes += lens[i];
    }

    /* a burst: all published, one kick */
    for (int i = 0; i < N; i++) {
        uint64_t b = rxbuf + (N + i) * 0xc80;
        uint32_t l = RXSIZE;

        dp_iofill(&t, b, DP_RX_FILL, RXSIZE);
        rxhead[i] = dp_add(&t, rx, &b, &l, 1, true);
        dp_publish(&t, rx, rxhead[i]);
    }
    dp_kick(&t, rx);
    for (int i = 0; i < N; i++) {
        uint64_t b = txbuf + i * 0xe00;
        uint32_t l = DP_HDR_LEN + lens[i];

        dp_put_frame(&t, b, 100 + i, lens[i]);
        txhead[i] = dp_add(&t, tx, &b, &l, 1, false);
        dp_publish(&t, tx, txhead[i]);
        bytes += lens[i];
    }
    dp_kick(&t, tx);
    for (int i = 0; i < N; i++) {
        dp_expect_used(&t, tx, txhead[i], 0);
    }
    for (int i = 0; i < N; i++) {
        dp_expect_used(&t, rx, rxhead[i], DP_HDR_LEN + lens[i]);
        dp_check_rx(&t, rxbuf + (N + i) * 0xc80, RXSIZE, 100 + i, lens[i]);
    }

    /* header and frame in two descriptors, the frame across two pages */
    {
        uint64_t b[2] = { txbuf + 0x3f00, txbuf + 0x1f00 };
        uint32_t l[2] = { DP_HDR_LEN, 1400 };
        g_autofree uint8_t *frame = g_malloc(l[1]);
        uint16_t h, r = dp_post_rx(&t, rxbuf, RXSIZE);

        dp_iofill(&t, b[0], 0, DP_HDR_LEN);
        dp_fill_frame(frame, l[1], 200);
        dp_iowrite(&t, b[1], frame, l[1]);
        h = dp_add(&t, tx, b, l, 2, false);
        dp_publish(&t, tx, h);
        dp_kick(&t, tx);
        dp_expect_used(&t, tx, h, 0);
        dp_expect_used(&t, rx, r, DP_HDR_LEN + l[1]);
        dp_check_rx(&t, rxbuf, RXSIZE, 200, l[1]);
        bytes += l[1];
    }

    g_assert_cmpuint(dp_stat(&t, "tx-packets"), ==, 2 * N + 1);
    g_assert_cmpuint(dp_stat(&t, "rx-packets"), ==, 2 * N + 1);
    g_assert_cmpuint(dp_stat(&t, "tx-bytes"), ==, bytes);
    g_assert_cmpuint(dp_stat(&t, "rx-bytes"), ==, bytes);
    g_assert_cmpuint(dp_stat(&t, "ring-errors"), ==, 0);
    dp_end(&t);
}

/*
 * 2. A ring page moves while the device runs: the guest copies it to
 * another page, points the PTE there, invalidates the IOTLB entry and
 * reuses the old page for something else.  From then on the device must
 * use only the new page.
 */
typedef struct DpRemap {
    unsigned int queue;
    size_t part;            /* offsetof the part's address in DpVq */
} DpRemap;

static void test_ring_remap(const void *data)
{
    const DpRemap *m = data;
    enum { RXSIZE = 2048, LEN = 1000 };
    DpTest t;
    DpVq *rx = &t.vq[DP_RX], *tx = &t.vq[DP_TX];
    uint64_t txbuf, rxbuf, iova, old, new, errs;
    g_autofree uint8_t *page = g_malloc(DP_PAGE);
    uint16_t rxhead, txhead;
    uint32_t id = 0, len = 0;
    bool tx_used, rx_used = false, intact;

    dp_start_ok(&t, DP_IOMMU_TRANSLATE, DP_LAYOUT_PAGES);
    txbuf = dp_map_new(&t, 1, VTD_SL_R | VTD_SL_W);
    rxbuf = dp_map_new(&t, 1, VTD_SL_R | VTD_SL_W);
    for (int i = 0; i < 3; i++) {
        dp_roundtrip(&t, txbuf, rxbuf, RXSIZE, i, LEN);
    }

    iova = *(uint64_t *)((uint8_t *)&t.vq[m->queue] + m->part);
    old = dp_gpa(&t, iova);
    new = dp_zero_page(&t);
    qtest_memread(t.qts, old, page, DP_PAGE);
    qtest_memwrite(t.qts, new, page, DP_PAGE);
    dp_map(&t, iova, new, VTD_SL_R | VTD_SL_W);
    vtd_flush_page(&t, iova);
    qtest_memset(t.qts, old, DP_OLD_FILL, DP_PAGE);

    rxhead = dp_post_rx(&t, rxbuf, RXSIZE);
    dp_put_frame(&t, txbuf, 10, LEN);
    txhead = dp_send(&t, txbuf, LEN);
    tx_used = dp_wait_used(&t, tx, &id, &len);
    if (tx_used) {
        g_assert_cmpuint(id, ==, txhead);
        g_assert_cmpuint(len, ==, 0);
        rx_used = dp_wait_used(&t, rx, &id, &len);
    }
    errs = dp_stat(&t, "ring-errors");
    intact = dp_page_is(&t, old, DP_OLD_FILL, DP_PAGE);
    if (!intact || errs || !tx_used || !rx_used) {
        g_printerr("ring page moved from 0x%" PRIx64 " to 0x%" PRIx64
                   ": tx used %s, rx used %s, ring-errors %" PRIu64
                   ", old page %s\n", old, new, tx_used ? "yes" : "no",
                   rx_used ? "yes" : "no", errs,
                   intact ? "untouched" : "written");
    }
    g_assert_true(intact);
    g_assert_cmpuint(errs, ==, 0);
    g_assert_true(tx_used);
    g_assert_true(rx_used);
    g_assert_cmpuint(id, ==, rxhead);
    g_assert_cmpuint(len, ==, DP_HDR_LEN + LEN);
    dp_check_rx(&t, rxbuf, RXSIZE, 10, LEN);

    /* and it goes on working there */
    for (int i = 11; i < 14; i++) {
        dp_roundtrip(&t, txbuf, rxbuf, RXSIZE, i, LEN);
    }
    g_assert_true(dp_page_is(&t, old, DP_OLD_FILL, DP_PAGE));
    g_assert_cmpuint(dp_stat(&t, "ring-errors"), ==, 0);
    dp_end(&t);
}

/*
 * 3. A transmit buffer the guest unmapped: the TX queue stops with one
 * ring error, nothing of it reaches the receive side, QEMU runs on.
 */
static void test_unmapped_buffer(const void *data)
{
    enum { RXSIZE = 2048, LEN = 300 };
    DpTest t;
    DpVq *rx = &t.vq[DP_RX], *tx = &t.vq[DP_TX];
    uint64_t txbuf, rxbuf, gone;
    uint64_t tx_pkts, rx_pkts;

    dp_start_ok(&t, DP_IOMMU_TRANSLATE, DP_LAYOUT_STRADDLE);
    txbuf = dp_map_new(&t, 1, VTD_SL_R | VTD_SL_W);
    rxbuf = dp_map_new(&t, 2, VTD_SL_R | VTD_SL_W);
    gone = dp_map_new(&t, 1, VTD_SL_R | VTD_SL_W);
    dp_roundtrip(&t, txbuf, rxbuf, RXSIZE, 1, LEN);
    /* the translation is in VT-d's IOTLB and maybe the device's */
    dp_roundtrip(&t, gone, rxbuf, RXSIZE, 2, LEN);
    tx_pkts = dp_stat(&t, "tx-packets");
    rx_pkts = dp_stat(&t, "rx-packets");

    dp_put_frame(&t, gone, 3, LEN);
    dp_map(&t, gone, 0, 0);
    vtd_flush_page(&t, gone);

    dp_post_rx(&t, rxbuf, RXSIZE);
    dp_post_rx(&t, rxbuf + RXSIZE, RXSIZE);
    dp_send(&t, gone, LEN);
    dp_expect_idle(&t, tx);
    dp_expect_idle(&t, rx);
    g_assert_cmpuint(dp_stat(&t, "ring-errors"), ==, 1);

    /* the queue stays stopped: a good frame after it is not taken */
    dp_put_frame(&t, txbuf, 4, LEN);
    dp_send(&t, txbuf, LEN);
    dp_expect_idle(&t, tx);
    dp_expect_idle(&t, rx);
    g_assert_cmpuint(dp_stat(&t, "tx-packets"), ==, tx_pkts);
    g_assert_cmpuint(dp_stat(&t, "rx-packets"), ==, rx_pkts);
    g_assert_cmpuint(dp_stat(&t, "ring-errors"), ==, 1);
    g_assert_true(dp_page_is(&t, dp_gpa(&t, rxbuf), DP_RX_FILL, RXSIZE));
    dp_assert_running(&t);
    dp_end(&t);
}

/*
 * 4. A receive buffer on a page the guest mapped read-only for the
 * device: the device must not write it.  Alone, and (@mixed) on a page
 * the device reads a transmit buffer from in the same run just before:
 * a translation the device got for reading does not allow writing.
 */
static void test_readonly(const void *data)
{
    bool mixed = GPOINTER_TO_INT(data);
    enum { LEN = 500, RXOFF = 0x800, RXSIZE = 0x800 };
    DpTest t;
    DpVq *rx = &t.vq[DP_RX], *tx = &t.vq[DP_TX];
    uint64_t txbuf, rxbuf, ro, rxro;
    g_autofree uint8_t *before = g_malloc(RXOFF);
    g_autofree uint8_t *after = g_malloc(RXOFF);
    uint16_t txhead;

    dp_start_ok(&t, DP_IOMMU_TRANSLATE, DP_LAYOUT_STRADDLE);
    txbuf = dp_map_new(&t, 1, VTD_SL_R | VTD_SL_W);
    rxbuf = dp_map_new(&t, 1, VTD_SL_R | VTD_SL_W);
    ro = dp_map_new(&t, 1, VTD_SL_R);
    dp_roundtrip(&t, txbuf, rxbuf, RXSIZE, 1, LEN);

    /* the guest's CPU writes the page; only the device may not */
    rxro = ro + RXOFF;
    dp_post_rx(&t, rxro, RXSIZE);
    if (mixed) {
        txbuf = ro;
    }
    dp_put_frame(&t, txbuf, 2, LEN);
    dp_ioread(&t, ro, before, RXOFF);
    txhead = dp_send(&t, txbuf, LEN);

    /* the frame is read and sent: the read-only mapping allows that */
    dp_expect_used(&t, tx, txhead, 0);
    g_usleep(DP_QUIET_US);
    g_assert_true(dp_page_is(&t, dp_gpa(&t, rxro), DP_RX_FILL, RXSIZE));
    dp_ioread(&t, ro, after, RXOFF);
    g_assert(memcmp(before, after, RXOFF) == 0);
    dp_expect_idle(&t, rx);
    g_assert_cmpuint(dp_stat(&t, "ring-errors"), ==, 1);
    g_assert_cmpuint(dp_stat(&t, "tx-packets"), ==, 2);
    g_assert_cmpuint(dp_stat(&t, "rx-packets"), ==, 1);
    dp_assert_running(&t);
    dp_end(&t);
}

/*
 * 5. A descriptor table that is not 16-byte aligned, at page offset
 * 0xff8 of two IOVA pages on scattered guest pages: its first
 * descriptor lies on both.  The device refuses to start rather than read
 * past the first page; QEMU runs on.
 */
static void test_misaligned(const void *data)
{
    DpTest t;
    uint8_t status = dp_start(&t, DP_IOMMU_TRANSLATE, DP_LAYOUT_STRADDLE,
                              DP_LAYOUT_MISALIGNED);

    g_assert_cmphex(t.vq[DP_TX].desc & (DP_PAGE - 1), ==, 0xff8);
    g_assert_cmphex(dp_gpa(&t, t.vq[DP_TX].desc + 8), !=,
                    dp_gpa(&t, t.vq[DP_TX].desc) + 8);
    g_assert_cmphex(status & VIRTIO_CONFIG_S_NEEDS_RESET, ==,
                    VIRTIO_CONFIG_S_NEEDS_RESET);
    dp_assert_running(&t);
    dp_end(&t);
}

/*
 * An indirect table is a buffer like any other: contiguous in IOVA
 * space only.  This one crosses from one guest page to a scattered one.
 */
static void test_indirect_scattered(const void *data)
{
    enum { RXSIZE = 2048, LEN = 900 };
    DpTest t;
    DpVq *tx = &t.vq[DP_TX];
    uint64_t table, txbuf, rxbuf;
    struct vring_desc d[2];
    uint16_t rxhead, head;

    dp_start_ok(&t, DP_IOMMU_TRANSLATE, DP_LAYOUT_STRADDLE);
    table = dp_map_new(&t, 2, VTD_SL_R | VTD_SL_W) + DP_PAGE - 16;
    txbuf = dp_map_new(&t, 1, VTD_SL_R | VTD_SL_W);
    rxbuf = dp_map_new(&t, 1, VTD_SL_R | VTD_SL_W);

    dp_put_frame(&t, txbuf, 5, LEN);
    d[0] = (struct vring_desc) {
        .addr = cpu_to_le64(txbuf),
        .len = cpu_to_le32(DP_HDR_LEN),
        .flags = cpu_to_le16(VRING_DESC_F_NEXT),
        .next = cpu_to_le16(1),
    };
    d[1] = (struct vring_desc) {
        .addr = cpu_to_le64(txbuf + DP_HDR_LEN),
        .len = cpu_to_le32(LEN),
    };
    dp_iowrite(&t, table, d, sizeof(d));

    rxhead = dp_post_rx(&t, rxbuf, RXSIZE);
    head = tx->next_desc++ % tx->size;
    d[0] = (struct vring_desc) {
        .addr = cpu_to_le64(table),
        .len = cpu_to_le32(sizeof(d)),
        .flags = cpu_to_le16(VRING_DESC_F_INDIRECT),
    };
    dp_iowrite(&t, tx->desc + head * sizeof(d[0]), &d[0], sizeof(d[0]));
    dp_publish(&t, tx, head);
    dp_kick(&t, tx);
    dp_expect_used(&t, tx, head, 0);
    dp_expect_used(&t, &t.vq[DP_RX], rxhead, DP_HDR_LEN + LEN);
    dp_check_rx(&t, rxbuf, RXSIZE, 5, LEN);
    g_assert_cmpuint(dp_stat(&t, "ring-errors"), ==, 0);
    dp_end(&t);
}

/*
 * A guest that negotiated ACCESS_PLATFORM but left VT-d translation off
 * (intel_iommu=off, or firmware), or put the device in a pass-through
 * context (Linux's iommu=pt): its DMA goes to guest addresses as they
 * are, and the dataplane must work as without an IOMMU.
 */
static void test_untranslated(const void *data)
{
    enum { RXSIZE = 2048 };
    DpTest t;
    uint64_t txbuf, rxbuf;

    dp_start_ok(&t, GPOINTER_TO_INT(data), DP_LAYOUT_STRADDLE);
    txbuf = dp_map_new(&t, 1, 0);
    rxbuf = dp_map_new(&t, 1, 0);
    for (int i = 0; i < 3; i++) {
        dp_roundtrip(&t, txbuf, rxbuf, RXSIZE, i, 64 + i * 500);
    }
    g_assert_cmpuint(dp_stat(&t, "ring-errors"), ==, 0);
    dp_end(&t);
}

/*
 * 8. Zero-copy (vhost-dp-loopback,zero-copy=on): transmitted frames wait
 * in the driver, still in the guest's buffers, for receive buffers; the
 * guest unmaps the page of those transmit buffers.  The invalidation
 * makes the driver let go of guest memory first: the guest gets its
 * buffers back, what it then writes into the old page does not reach the
 * frames, and they arrive intact once it posts receive buffers.
 */
static void test_zero_copy_unmap(const void *data)
{
    enum { N = 4, RXSIZE = 2048, LEN = 700, STRIDE = 0x400 };
    DpTest t;
    DpVq *rx = &t.vq[DP_RX], *tx = &t.vq[DP_TX];
    uint64_t txbuf, rxbuf, gpa;
    uint16_t txhead[N], rxhead[N];
    gint64 end;

    dp_zero_copy = true;
    dp_start_ok(&t, DP_IOMMU_TRANSLATE, DP_LAYOUT_PAGES);
    txbuf = dp_map_new(&t, 1, VTD_SL_R | VTD_SL_W);
    rxbuf = dp_map_new(&t, N * RXSIZE / DP_PAGE, VTD_SL_R | VTD_SL_W);
    dp_roundtrip(&t, txbuf, rxbuf, RXSIZE, 1, LEN);
    g_assert_cmpuint(dp_stat(&t, "tx-zero-copy"), ==, 1);

    for (int i = 0; i < N; i++) {
        dp_put_frame(&t, txbuf + i * STRIDE, 50 + i, LEN);
        txhead[i] = dp_send(&t, txbuf + i * STRIDE, LEN);
    }
    end = g_get_monotonic_time() + DP_TIMEOUT_US;
    while (dp_stat(&t, "tx-packets") < 1 + N) {
        g_assert(g_get_monotonic_time() < end);
        g_usleep(1000);
    }
    /* taken, and held: the guest has none of the buffers back */
    dp_expect_idle(&t, tx);
    g_assert_cmpuint(dp_stat(&t, "tx-zero-copy"), ==, 1 + N);

    gpa = dp_gpa(&t, txbuf);
    dp_map(&t, txbuf, 0, 0);
    vtd_flush_page(&t, txbuf);
    for (int i = 0; i < N; i++) {
        dp_expect_used(&t, tx, txhead[i], 0);
    }
    qtest_memset(t.qts, gpa, DP_OLD_FILL, DP_PAGE);

    for (int i = 0; i < N; i++) {
        rxhead[i] = dp_post_rx(&t, rxbuf + i * RXSIZE, RXSIZE);
    }
    for (int i = 0; i < N; i++) {
        dp_expect_used(&t, rx, rxhead[i], DP_HDR_LEN + LEN);
        dp_check_rx(&t, rxbuf + i * RXSIZE, RXSIZE, 50 + i, LEN);
    }
    g_assert_cmpuint(dp_stat(&t, "ring-errors"), ==, 0);
    dp_end(&t);
}

typedef struct DpCase {
    const char *path;
    void (*fn)(const void *data);
    const void *data;
} DpCase;

/*
 * Each case runs in a process of its own, so that one that fails (some
 * do on purpose until the engine handles what they check) does not keep
 * the others from running and reporting.
 */
static void dp_isolated(const void *data)
{
    const DpCase *c = data;

    if (g_test_subprocess()) {
        c->fn(c->data);
        return;
    }
    /* on failure, glib shows what the case printed */
    g_test_trap_subprocess(NULL, 60 * G_USEC_PER_SEC, 0);
    g_test_trap_assert_passed();
}

int main(int argc, char **argv)
{
    static const DpRemap remap_tx_desc = { DP_TX, offsetof(DpVq, desc) };
    static const DpRemap remap_tx_avail = { DP_TX, offsetof(DpVq, avail) };
    static const DpRemap remap_tx_used = { DP_TX, offsetof(DpVq, used) };
    static const DpRemap remap_rx_used = { DP_RX, offsetof(DpVq, used) };
    static const DpCase cases[] = {
        { "traffic", test_traffic },
        { "ring-remap/tx-desc", test_ring_remap, &remap_tx_desc },
        { "ring-remap/tx-avail", test_ring_remap, &remap_tx_avail },
        { "ring-remap/tx-used", test_ring_remap, &remap_tx_used },
        { "ring-remap/rx-used", test_ring_remap, &remap_rx_used },
        { "unmapped-buffer", test_unmapped_buffer },
        { "read-only/rx", test_readonly, GINT_TO_POINTER(false) },
        { "read-only/tx-then-rx", test_readonly, GINT_TO_POINTER(true) },
        { "misaligned-desc", test_misaligned },
        { "indirect-scattered", test_indirect_scattered },
        { "translation-off", test_untranslated,
          GINT_TO_POINTER(DP_IOMMU_OFF) },
        { "passthrough", test_untranslated,
          GINT_TO_POINTER(DP_IOMMU_PASSTHROUGH) },
        { "zero-copy-unmap", test_zero_copy_unmap },
    };

    g_test_init(&argc, &argv, NULL);
    if (!g_test_subprocess()) {
        /* a failed case marks the test failed, the next one runs */
        g_test_set_nonfatal_assertions();
    }
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        g_autofree char *path = g_strdup_printf("/vhost-dp-iommu/%s",
                                                cases[i].path);

        qtest_add_data_func(path, &cases[i], dp_isolated);
    }
    return g_test_run();
}
