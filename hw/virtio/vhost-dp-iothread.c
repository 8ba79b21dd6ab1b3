/*
 * vhost dataplane: in-process vhost backend and IOThread ring engine
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * dp_ops serves the vhost API of one virtio-net queue pair inside QEMU.
 * The ops are direct function calls from hw/virtio/vhost.c under the
 * BQL: the set_* ops only record state; dev_start attaches the queue
 * pair to its IOThread and dev_start(false) detaches it, both inside the
 * IOThread (aio_wait_bh_oneshot), so every op returns only once the
 * IOThread uses the new state.
 *
 * Vocabulary: "vring" is a split virtqueue in guest memory; index 0 of a
 * queue pair is the RX vring (the device writes guest buffers), index 1
 * the TX vring (the device reads them).  "avail" and "used" are the
 * rings' halves; last_avail is the next avail entry the device will take,
 * used_idx the device's shadow of used->idx.
 *
 * Ownership: while a queue pair is started, its vrings, its driver queue
 * and all fields marked [io] belong to the IOThread.  The BQL side only
 * touches them while the queue pair is stopped.  Fields marked [atomic]
 * are written under the BQL and read by the IOThread.
 *
 * Guest memory: descriptor addresses are guest physical addresses,
 * translated through an RCU-published copy of the vhost memory table
 * (dp_translate(), the one translation step; with a vIOMMU it first
 * turns the IOVA into a guest physical address, dp_iova_to_gpa()).
 * Ring addresses are host virtual addresses mapped by vhost.c, or IOVAs
 * resolved when the queue pair starts (dp_map_ring()).  Every
 * guest write is marked dirty while migration logs (VHOST_F_LOG_ALL).
 *
 * Guest input is hostile: every index, descriptor, length and chain is
 * checked.  A vring that breaks the rules is stopped with one report and
 * a counter; the other queues and QEMU go on.
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qemu/log.h"
#include "qemu/timer.h"
#include "qemu/iov.h"
#include "qemu/main-loop.h"
#include "qemu/rcu.h"
#include "qemu/lockable.h"
#include "qemu/queue.h"
#include "qemu/units.h"
#include "qemu/atomic.h"
#include "qemu/bswap.h"
#include "block/aio.h"
#include "block/aio-wait.h"
#include "exec/memory.h"
#include "system/dma.h"
#include "hw/qdev-core.h"
#include "hw/virtio/vhost.h"
#include "hw/virtio/virtio.h"
#include "hw/virtio/vhost-backend.h"
#include "hw/virtio/vhost-dp.h"
#include "net/vhost-dp-vnet.h"
#include "standard-headers/linux/virtio_ring.h"
#include "standard-headers/linux/virtio_net.h"
#include "standard-headers/linux/vhost_types.h"
#include "linux-headers/linux/vhost.h"
#include "trace.h"

/*
 * Per run of a queue pair, at most this much work before yielding:
 * packets, bytes, and descriptors visited (a guest can give 1024-entry
 * chains for every slot).
 */
#define DP_RUN_PKT_BUDGET   256
#define DP_RUN_BYTE_BUDGET  (1024 * 1024)
#define DP_RUN_DESC_BUDGET  8192

/* iovec entries for one burst, and for one packet */
#define DP_IOV_MAX          2048
#define DP_PKT_IOV_MAX      1024

/* Largest frame accepted from the guest, without its virtio header */
#define DP_MAX_FRAME        (65535 + 14 + 4)

/* Indirect tables larger than this are refused (as virtio.c does) */
#define DP_MAX_INDIRECT     1024
/* at most this many pieces of guest memory (pages, regions) to one */
#define DP_INDIRECT_PIECES  16

enum {
    DP_RX = 0,
    DP_TX = 1,
    DP_NVQS = 2,
};

/* What the vhost ops set up for a vring in the current start */
enum {
    DP_SETUP_NUM = 1 << 0,
    DP_SETUP_ADDR = 1 << 1,
    DP_SETUP_KICK = 1 << 2,
    DP_SETUP_ALL = DP_SETUP_NUM | DP_SETUP_ADDR | DP_SETUP_KICK,
};

typedef struct DpMemRegion {
    uint64_t gpa;
    uint64_t size;
    uint8_t *hva;
    MemoryRegion *mr;
    uint64_t mr_offset;     /* of gpa within mr */
} DpMemRegion;

/* An immutable snapshot of the vhost memory table */
typedef struct DpMemTable {
    struct rcu_head rcu;
    unsigned int n;
    DpMemRegion r[];
} DpMemTable;

/*
 * The parts of a split vring.  With a vIOMMU, a part that is contiguous
 * in IOVA space may be scattered in guest memory: it is then reached
 * page by page (dp_ring_at()).  No field of the ring crosses a page:
 * the parts are aligned as the virtio spec requires (checked at start,
 * dp_ring_align), descriptors are 16 bytes, avail entries 2 bytes, and
 * the used ring is written 4 bytes at a time.
 */
enum {
    DP_RING_DESC,
    DP_RING_AVAIL,
    DP_RING_USED,
    DP_RING_PARTS,
};

static const unsigned int dp_ring_align[DP_RING_PARTS] = { 16, 2, 4 };

/*
 * The guest pages of a ring part behind a vIOMMU, each with a reference
 * to its MemoryRegion so that the RAM stays while the engine may use it.
 * Freed after an RCU grace period (dp_ring_pages_free()).
 */
typedef struct DpRingPages {
    struct rcu_head rcu;
    unsigned int first_off;         /* of the part in its first page */
    unsigned int n;
    struct {
        uint8_t *hva;
        uint64_t gpa;
        MemoryRegion *mr;
    } page[];
} DpRingPages;

typedef struct DpVring {
    struct VhostDpEngine *e;
    unsigned int index;             /* DP_RX or DP_TX */

    /*
     * Set by the vhost ops while stopped, for one start: vhost.c leaves
     * out the vrings the guest did not set up, so what a previous start
     * set is cleared when it stops (@setup says what this start set).
     */
    unsigned int setup;             /* DP_SETUP_* */
    unsigned int num;
    uint64_t addr[DP_RING_PARTS];   /* as vhost gives them: HVAs, or */
                                    /* IOVAs with a vIOMMU */
    uint64_t used_log_addr;
    int kick_fd;
    int call_fd;                    /* [atomic]: swapped by masking */

    /* resolved at start; [io] while started with a vIOMMU */
    bool ready;                     /* set up: the engine serves it */
    struct vring_desc *desc;
    struct vring_avail *avail;
    struct vring_used *used;
    uint64_t used_gpa;
    /* with a vIOMMU: every part's pages; scatter[] if not contiguous */
    struct DpRingPages *pages[DP_RING_PARTS];
    struct DpRingPages *scatter[DP_RING_PARTS];
    bool remap;                     /* [io] the vIOMMU changed a part */

    /* [io] */
    EventNotifier kick;
    uint16_t last_avail;
    uint16_t used_idx;
    uint16_t signalled_used;
    bool signalled_used_valid;
    bool notify_pending;            /* used entries not yet signalled */
    bool polling;                   /* between poll_begin and poll_end */
    bool broken;
} DpVring;

typedef struct DpRxFilter {
    struct rcu_head rcu;
    VhostDpRxFilter f;
} DpRxFilter;

/* An IOVA range the vIOMMU translated, see dp_iova_to_gpa() */
typedef struct DpIotlb {
    uint64_t iova;                  /* aligned to mask + 1 */
    uint64_t mask;
    uint64_t gpa;
    IOMMUAccessFlags perm;
} DpIotlb;

#define DP_IOTLB_SIZE   8
#define DP_RING_PAGE    4096    /* how scattered ring parts are reached */

/* A frame from QEMU itself on its way to the driver */
typedef struct DpInjected {
    QSIMPLEQ_ENTRY(DpInjected) next;
    size_t len;
    uint8_t data[];
} DpInjected;

/* how many may wait for the IOThread; the rest are dropped */
#define DP_INJECT_MAX   8
#define DP_INJECT_LEN_MAX (64 * KiB)

struct VhostDpEngine {
    VhostDpDriverQueue *dq;
    VhostDpDriverCaps caps;
    AioContext *ctx;
    char *name;
    uint64_t offered;               /* features the engine implements */

    /* set under the BQL while stopped */
    struct vhost_dev *dev;
    uint64_t features;
    unsigned int hdr_len;
    bool event_idx;
    bool mrg_rxbuf;
    bool started;
    bool dma_map;                   /* x-dma-map: measure dma_memory_map */
    AddressSpace *dma_as;           /* the device's, while started */
    AddressSpace *iommu_as;         /* with a vIOMMU: what IOVAs go to */

    bool log_all;                   /* [atomic] */
    bool enabled;                   /* [atomic] */
    uint32_t rx_offloads_ok;        /* [atomic] */
    DpMemTable *mem;                /* RCU */
    struct DpRxFilter *rx_filter;   /* RCU; NULL: take every frame */

    DpVring vr[DP_NVQS];

    /* [io] */
    bool running;
    bool fd_read_armed;
    bool fd_write_armed;
    bool tx_stalled;                /* the driver pushed back */
    unsigned int run_descs;         /* descriptors visited this run */
    QEMUBH *bh;
    unsigned int mem_hint;
    VhostDpEngineStats st;           /* published after each run */
    VhostDpEngineStats pub;          /* [atomic] what readers see */

    /* frames QEMU sends itself (the announcement), for the driver */
    QemuMutex inject_lock;
    QSIMPLEQ_HEAD(, DpInjected) injected;   /* [inject_lock] */
    unsigned int n_injected;                /* [inject_lock] */
    bool inject_pending;                    /* [atomic] */

    /* [io] vIOMMU translations, valid for one run of the queue pair */
    DpIotlb iotlb[DP_IOTLB_SIZE];
    unsigned int iotlb_n;
    unsigned int iotlb_next;

    /*
     * [io] TX burst scratch.  tx_chain[] has every chain taken in the
     * burst in avail order (so chain k came from avail position
     * last_avail + k): a packet for the driver or a drop.
     */
    struct iovec tx_iov[DP_IOV_MAX];
    VhostDpPkt tx_pkts[VHOST_DP_BURST];
    struct {
        uint16_t head;
        int16_t pkt;                /* index in tx_pkts, or -1: dropped */
    } tx_chain[VHOST_DP_BURST];

    /* [io] RX: frames taken from the driver, not yet delivered */
    VhostDpPkt rx_pkts[VHOST_DP_BURST];
    unsigned int rx_first;
    unsigned int rx_count;

    /* [io] an indirect table that is not one piece of QEMU's memory */
    struct vring_desc ind_copy[DP_MAX_INDIRECT];

    /* [io] RX scratch: the guest buffers of one frame */
    struct iovec rx_iov[DP_IOV_MAX];
    uint64_t rx_gpa[DP_IOV_MAX];
    uint16_t rx_heads[DP_PKT_IOV_MAX];
    uint32_t rx_head_len[DP_PKT_IOV_MAX];
    unsigned int rx_head_iov[DP_PKT_IOV_MAX];
};

/*
 * Memory
 */

static void dp_mem_table_free(DpMemTable *mt)
{
    for (unsigned int i = 0; i < mt->n; i++) {
        memory_region_unref(mt->r[i].mr);
    }
    g_free(mt);
}

/*
 * Find the region holding @gpa.  @len is how many bytes from @gpa on are
 * inside it.  Called in the IOThread under rcu_read_lock.
 */
static const DpMemRegion *dp_mem_lookup(VhostDpEngine *e,
                                        const DpMemTable *mt,
                                        uint64_t gpa, uint64_t *len)
{
    unsigned int hint = e->mem_hint;

    if (hint < mt->n && gpa - mt->r[hint].gpa < mt->r[hint].size) {
        *len = mt->r[hint].size - (gpa - mt->r[hint].gpa);
        return &mt->r[hint];
    }
    for (unsigned int i = 0; i < mt->n; i++) {
        if (gpa - mt->r[i].gpa < mt->r[i].size) {
            e->mem_hint = i;
            *len = mt->r[i].size - (gpa - mt->r[i].gpa);
            return &mt->r[i];
        }
    }
    return NULL;
}

static inline void dp_iotlb_flush(VhostDpEngine *e)
{
    e->iotlb_n = 0;
    e->iotlb_next = 0;
}

/*
 * With a vIOMMU, the addresses the guest gives are IOVAs: translate @iova
 * for reading or (@write) writing into a guest physical address, with
 * *@len the bytes that stay contiguous from there.  The translations of a
 * run are kept for that run only, so that an unmap the guest makes is
 * seen by the next run at the latest; dp_send_device_iotlb_msg() waits
 * for the current one.  In the IOThread, under rcu_read_lock.
 */
static bool dp_iova_to_gpa(VhostDpEngine *e, uint64_t iova, bool write,
                           uint64_t *gpa, uint64_t *len)
{
    IOMMUAccessFlags need = write ? IOMMU_WO : IOMMU_RO;
    IOMMUTLBEntry t;
    DpIotlb *c;

    for (unsigned int i = 0; i < e->iotlb_n; i++) {
        c = &e->iotlb[i];
        if ((iova & ~c->mask) == c->iova && (c->perm & need) == need) {
            goto hit;
        }
    }
    t = address_space_get_iotlb_entry(e->iommu_as, iova, write,
                                      MEMTXATTRS_UNSPECIFIED);
    /*
     * A translation that succeeds says that @write access is allowed,
     * nothing more (it returns IOMMU_RW): cache it for that access only.
     * Without translation on the path (the vIOMMU off, or pass-through
     * for the device) the target is the device's own address space,
     * whose addresses are guest physical ones, as vhost.c assumes too.
     */
    if (!t.target_as || (t.perm & need) != need) {
        return false;
    }
    c = &e->iotlb[e->iotlb_next];
    e->iotlb_next = (e->iotlb_next + 1) % DP_IOTLB_SIZE;
    if (e->iotlb_n < DP_IOTLB_SIZE) {
        e->iotlb_n++;
    }
    *c = (DpIotlb) {
        .iova = iova & ~t.addr_mask,
        .mask = t.addr_mask,
        .gpa = t.translated_addr & ~t.addr_mask,
        .perm = need,
    };
hit:
    *gpa = c->gpa + (iova & c->mask);
    *len = c->mask + 1 - (iova & c->mask);
    return true;
}

/*
 * Translate the guest buffer [@gpa, @gpa + @len) into iovecs appended at
 * @iov[*cnt], at most @max in all; also record each piece's guest address
 * in @gpas when it is not NULL.  Returns false if the buffer is not all
 * guest RAM or does not fit.
 */
static bool dp_translate_gpa(VhostDpEngine *e, const DpMemTable *mt,
                             uint64_t gpa, uint32_t len, struct iovec *iov,
                             uint64_t *gpas, unsigned int *cnt,
                             unsigned int max)
{
    while (len) {
        const DpMemRegion *r;
        uint64_t avail;
        uint32_t chunk;

        if (*cnt >= max) {
            return false;
        }
        r = dp_mem_lookup(e, mt, gpa, &avail);
        if (!r) {
            return false;
        }
        chunk = MIN(avail, len);
        iov[*cnt].iov_base = r->hva + (gpa - r->gpa);
        iov[*cnt].iov_len = chunk;
        if (gpas) {
            gpas[*cnt] = gpa;
        }
        (*cnt)++;
        gpa += chunk;
        len -= chunk;
    }
    return true;
}

/*
 * x-dma-map: what QEMU's virtqueue code does for each descriptor on top
 * of the translation above, so that its cost can be measured in place:
 * dma_memory_map() the buffer piece by piece when popping it, and
 * dma_memory_unmap() it when pushing it back (here right away: the
 * memory table keeps the RAM mapped).
 */
static void dp_dma_map_unmap(VhostDpEngine *e, uint64_t gpa, uint32_t len,
                             bool write)
{
    DMADirection dir = write ? DMA_DIRECTION_FROM_DEVICE
                             : DMA_DIRECTION_TO_DEVICE;

    while (len) {
        dma_addr_t plen = len;
        void *p = dma_memory_map(e->dma_as, gpa, &plen, dir,
                                 MEMTXATTRS_UNSPECIFIED);

        if (!p || !plen) {
            return;
        }
        dma_memory_unmap(e->dma_as, p, plen, dir, write ? plen : 0);
        gpa += plen;
        len -= plen;
    }
}

/*
 * The same for a buffer the guest gave by address: an IOVA with a vIOMMU
 * (@write: the device writes it), a guest physical address otherwise.
 */
static bool dp_translate(VhostDpEngine *e, const DpMemTable *mt,
                         uint64_t addr, uint32_t len, bool write,
                         struct iovec *iov, uint64_t *gpas,
                         unsigned int *cnt, unsigned int max)
{
    if (likely(!e->iommu_as)) {
        return dp_translate_gpa(e, mt, addr, len, iov, gpas, cnt, max);
    }
    while (len) {
        uint64_t gpa, avail;
        uint32_t chunk;

        if (!dp_iova_to_gpa(e, addr, write, &gpa, &avail)) {
            return false;
        }
        chunk = MIN(avail, len);
        if (!dp_translate_gpa(e, mt, gpa, chunk, iov, gpas, cnt, max)) {
            return false;
        }
        addr += chunk;
        len -= chunk;
    }
    return true;
}

/*
 * An indirect table (@len bytes at the guest address @addr), for reading
 * as an array.  In place when it is one aligned piece of QEMU's memory;
 * else (behind a vIOMMU its pages may be scattered, or it may straddle
 * two RAM regions, or be misaligned) a copy in e->ind_copy.
 */
static const struct vring_desc *dp_map_table(VhostDpEngine *e,
                                             const DpMemTable *mt,
                                             uint64_t addr, uint32_t len)
{
    struct iovec iov[DP_INDIRECT_PIECES];
    unsigned int cnt = 0;

    if (!dp_translate(e, mt, addr, len, false, iov, NULL, &cnt,
                      ARRAY_SIZE(iov))) {
        return NULL;
    }
    if (cnt == 1 && !((uintptr_t)iov[0].iov_base %
                      __alignof__(struct vring_desc))) {
        return iov[0].iov_base;
    }
    iov_to_buf(iov, cnt, 0, e->ind_copy, len);
    return e->ind_copy;
}

static void dp_mark_dirty(VhostDpEngine *e, const DpMemTable *mt,
                          uint64_t gpa, uint64_t len)
{
    while (len) {
        const DpMemRegion *r;
        uint64_t avail, chunk;

        r = dp_mem_lookup(e, mt, gpa, &avail);
        if (!r) {
            return;
        }
        chunk = MIN(avail, len);
        memory_region_set_dirty(r->mr, r->mr_offset + (gpa - r->gpa), chunk);
        gpa += chunk;
        len -= chunk;
    }
}

/*
 * Vrings
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

static void G_GNUC_PRINTF(2, 3) dp_vring_error(DpVring *vr,
                                               const char *fmt, ...)
{
    VhostDpEngine *e = vr->e;
    g_autofree char *msg = NULL;
    const char *q = vr->index == DP_RX ? "rx" : "tx";
    va_list ap;

    if (vr->broken) {
        return;
    }
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    vr->broken = true;
    e->st.ring_errors++;
    trace_vhost_dp_vring_error(e, vr->index, msg);
    if (dp_report_allowed()) {
        error_report("vhost-dp: %s: %s queue stopped: %s", e->name, q, msg);
    } else {
        qemu_log_mask(LOG_GUEST_ERROR, "vhost-dp: %s: %s queue stopped: "
                      "%s\n", e->name, q, msg);
    }
}

static inline void *dp_ring_at(DpVring *vr, unsigned int part, void *base,
                               size_t off)
{
    const DpRingPages *p = vr->scatter[part];

    if (likely(!p)) {
        return (uint8_t *)base + off;
    }
    off += p->first_off;
    return p->page[off / DP_RING_PAGE].hva + off % DP_RING_PAGE;
}

#define DP_AVAIL_AT(vr, off) dp_ring_at(vr, DP_RING_AVAIL, (vr)->avail, off)
#define DP_USED_AT(vr, off)  dp_ring_at(vr, DP_RING_USED, (vr)->used, off)

/* Mark [@off, @off + @len) of the used ring dirty (migration) */
static void dp_used_mark_dirty(DpVring *vr, const DpMemTable *mt,
                               size_t off, size_t len)
{
    const DpRingPages *p = vr->scatter[DP_RING_USED];

    if (likely(!p)) {
        dp_mark_dirty(vr->e, mt, vr->used_gpa + off, len);
        return;
    }
    off += p->first_off;
    while (len) {
        size_t chunk = MIN(len, DP_RING_PAGE - off % DP_RING_PAGE);

        dp_mark_dirty(vr->e, mt, p->page[off / DP_RING_PAGE].gpa +
                      off % DP_RING_PAGE, chunk);
        off += chunk;
        len -= chunk;
    }
}

static inline uint16_t dp_avail_idx(DpVring *vr)
{
    return le16_to_cpu(qatomic_read((uint16_t *)DP_AVAIL_AT(vr, 2)));
}

/* Is there work in the avail ring? */
static bool dp_vring_has_work(DpVring *vr)
{
    return vr->ready && !vr->broken && dp_avail_idx(vr) != vr->last_avail;
}

/* A 16-bit field of the used ring the device writes (flags, avail event) */
static void dp_used_set16(DpVring *vr, size_t off, uint16_t val)
{
    VhostDpEngine *e = vr->e;

    qatomic_set((uint16_t *)DP_USED_AT(vr, off), cpu_to_le16(val));
    if (unlikely(qatomic_read(&e->log_all))) {
        WITH_RCU_READ_LOCK_GUARD() {
            const DpMemTable *mt = qatomic_rcu_read(&e->mem);

            if (mt) {
                dp_used_mark_dirty(vr, mt, off, 2);
            }
        }
    }
}

/* Turn guest kicks for @vr off (only a hint to the guest) */
static void dp_vring_notify_off(DpVring *vr)
{
    if (!vr->e->event_idx) {
        uint16_t flags = le16_to_cpu(*(uint16_t *)DP_USED_AT(vr, 0));

        dp_used_set16(vr, 0, flags | VRING_USED_F_NO_NOTIFY);
    }
}

/*
 * Ask the guest for a kick once it makes avail entries past @seen, the
 * avail index the device has looked at (as vhost-kernel does: the last
 * entry taken when the ring ran empty, the avail index when what it
 * holds was not enough).  Returns true if the avail index has already
 * moved past @seen.
 */
static bool dp_vring_notify_on(DpVring *vr, uint16_t seen)
{
    if (vr->e->event_idx) {
        dp_used_set16(vr, offsetof(struct vring_used, ring) +
                      vr->num * sizeof(struct vring_used_elem), seen);
    } else {
        uint16_t flags = le16_to_cpu(*(uint16_t *)DP_USED_AT(vr, 0));

        dp_used_set16(vr, 0, flags & ~VRING_USED_F_NO_NOTIFY);
    }
    /* the guest's next avail index read must see the flag or event */
    smp_mb();
    return !vr->broken && dp_avail_idx(vr) != seen;
}

/*
 * Get the next avail head, or -1 if there is none or the ring is broken.
 * Does not consume it.
 */
static int dp_vring_peek(DpVring *vr, uint16_t avail_idx)
{
    uint16_t head;

    if (vr->last_avail == avail_idx) {
        return -1;
    }
    head = le16_to_cpu(*(uint16_t *)DP_AVAIL_AT(vr, 4 + 2 *
                                                 (vr->last_avail % vr->num)));
    if (head >= vr->num) {
        dp_vring_error(vr, "avail ring entry %u is %u, ring size %u",
                       vr->last_avail, head, vr->num);
        return -1;
    }
    return head;
}

/* Read the avail index and check it is within a ring of the last one */
static bool dp_vring_avail(DpVring *vr, uint16_t *avail_idx)
{
    uint16_t idx = dp_avail_idx(vr);

    if ((uint16_t)(idx - vr->last_avail) > vr->num) {
        dp_vring_error(vr, "avail index jumped from %u to %u, ring size %u",
                       vr->last_avail, idx, vr->num);
        return false;
    }
    /* descriptors are read only after the index that publishes them */
    smp_rmb();
    *avail_idx = idx;
    return true;
}

/* What a guest address that does not translate is not */
static const char *dp_where(VhostDpEngine *e)
{
    return e->iommu_as ? "mapped by the vIOMMU for this access, or not "
                         "in guest RAM" : "in guest RAM";
}

/*
 * Walk the descriptor chain at @head into iovecs (appended at
 * @iov[*cnt], at most @max), with their guest addresses in @gpas if not
 * NULL.  @write: the device writes these buffers (RX) rather than reads
 * them (TX).  Returns the chain's byte count, or -1 after stopping the
 * vring for a malformed chain, or -2 if it did not fit in @max (the
 * caller decides whether that is an error).
 */
static int64_t dp_vring_walk(DpVring *vr, const DpMemTable *mt,
                             uint16_t head, bool write, struct iovec *iov,
                             uint64_t *gpas, unsigned int *cnt,
                             unsigned int max)
{
    VhostDpEngine *e = vr->e;
    const struct vring_desc *table = vr->desc;
    unsigned int table_size = vr->num;
    unsigned int i = head, seen = 0;
    bool indirect = false;
    uint64_t total = 0;

    for (;;) {
        struct vring_desc d;
        uint16_t flags;
        uint64_t addr;
        uint32_t len;

        e->run_descs++;
        if (++seen > table_size) {
            dp_vring_error(vr, "descriptor chain at %u loops or is longer "
                           "than its table (%u)", head, table_size);
            return -1;
        }
        d = indirect ? table[i]
                     : *(struct vring_desc *)dp_ring_at(vr, DP_RING_DESC,
                                                        vr->desc,
                                                        i * sizeof(d));
        flags = le16_to_cpu(d.flags);
        addr = le64_to_cpu(d.addr);
        len = le32_to_cpu(d.len);

        if (flags & VRING_DESC_F_INDIRECT) {
            if (indirect) {
                dp_vring_error(vr, "indirect descriptor inside an indirect "
                               "table (chain %u)", head);
                return -1;
            }
            if (flags & VRING_DESC_F_NEXT || seen != 1) {
                dp_vring_error(vr, "indirect descriptor chained (chain %u)",
                               head);
                return -1;
            }
            if (len == 0 || len % sizeof(struct vring_desc) ||
                len / sizeof(struct vring_desc) > DP_MAX_INDIRECT) {
                dp_vring_error(vr, "bad indirect table length %u (chain %u)",
                               len, head);
                return -1;
            }
            table = dp_map_table(e, mt, addr, len);
            if (!table) {
                dp_vring_error(vr, "indirect table 0x%" PRIx64 "+%u is not "
                               "%s (chain %u)", addr, len, dp_where(e),
                               head);
                return -1;
            }
            table_size = len / sizeof(struct vring_desc);
            indirect = true;
            i = 0;
            seen = 0;
            continue;
        }

        if (!!(flags & VRING_DESC_F_WRITE) != write) {
            dp_vring_error(vr, "descriptor %u of chain %u is %s, expected "
                           "%s", i, head,
                           write ? "read-only" : "writable",
                           write ? "writable" : "read-only");
            return -1;
        }
        if (addr + len < addr) {
            dp_vring_error(vr, "descriptor %u of chain %u wraps the address "
                           "space", i, head);
            return -1;
        }
        if (len) {
            if (!dp_translate(e, mt, addr, len, write, iov, gpas, cnt,
                              max)) {
                if (*cnt >= max) {
                    return -2;
                }
                dp_vring_error(vr, "descriptor %u of chain %u: 0x%" PRIx64
                               "+%u is not %s", i, head, addr, len,
                               dp_where(e));
                return -1;
            }
            if (unlikely(e->dma_as)) {
                dp_dma_map_unmap(e, addr, len, write);
            }
            total += len;
        }
        if (!(flags & VRING_DESC_F_NEXT)) {
            break;
        }
        i = le16_to_cpu(d.next);
        if (i >= table_size) {
            dp_vring_error(vr, "descriptor chain %u: next %u is beyond the "
                           "table (%u)", head, i, table_size);
            return -1;
        }
    }
    if (total > INT32_MAX) {
        dp_vring_error(vr, "descriptor chain %u is larger than 2 GiB", head);
        return -1;
    }
    return total;
}

/* Put one used element; published by dp_vring_flush() */
static inline void dp_vring_put(DpVring *vr, uint16_t head, uint32_t len)
{
    size_t off = offsetof(struct vring_used, ring) +
                 (vr->used_idx % vr->num) * sizeof(struct vring_used_elem);

    *(uint32_t *)DP_USED_AT(vr, off) = cpu_to_le32(head);
    *(uint32_t *)DP_USED_AT(vr, off + 4) = cpu_to_le32(len);
    vr->used_idx++;
}

static bool dp_signal_fd(int fd)
{
    static const uint64_t one = 1;

    /* an eventfd write cannot fail short; EAGAIN means "pending" */
    return write(fd, &one, sizeof(one)) == sizeof(one) || errno == EAGAIN;
}

/*
 * Interrupt the guest.  A vCPU thread can swap the call fd meanwhile
 * (MSI-X masking: vhost moves it to its masked notifier, and on unmask
 * back, then checks the masked notifier for a pending interrupt).  If
 * the fd changed while signalling, the signal may have gone to a
 * notifier already checked: signal the new one too.  A spurious
 * interrupt is harmless, a lost one stalls the queue.
 */
static void dp_vring_signal(DpVring *vr)
{
    int fd = qatomic_read(&vr->call_fd), now;

    if (fd < 0 || !dp_signal_fd(fd)) {
        return;
    }
    vr->e->st.interrupts++;
    /* order the signal before reading the fd again; pairs with the swap */
    smp_mb();
    now = qatomic_read(&vr->call_fd);
    if (now != fd && now >= 0) {
        dp_signal_fd(now);
    }
}

/* Publish the used elements put since @old and signal the guest if due */
static void dp_vring_flush(DpVring *vr, uint16_t old, const DpMemTable *mt)
{
    VhostDpEngine *e = vr->e;
    uint16_t new = vr->used_idx;
    bool notify;

    if (new == old) {
        return;
    }
    /* the guest must see the elements before the index */
    smp_wmb();
    qatomic_set((uint16_t *)DP_USED_AT(vr, 2), cpu_to_le16(new));

    if (qatomic_read(&e->log_all)) {
        unsigned int first = old % vr->num;
        /* the elements put since @old; a ring's worth covers them all */
        unsigned int n = MIN((uint16_t)(new - old), vr->num);
        size_t ring = offsetof(struct vring_used, ring);
        size_t esz = sizeof(struct vring_used_elem);

        if (first + n <= vr->num) {
            dp_used_mark_dirty(vr, mt, ring + first * esz, n * esz);
        } else {
            dp_used_mark_dirty(vr, mt, ring + first * esz,
                               (vr->num - first) * esz);
            dp_used_mark_dirty(vr, mt, ring, (first + n - vr->num) * esz);
        }
        dp_used_mark_dirty(vr, mt, 0, ring);
    }

    /* the index must be visible before we read the guest's event */
    smp_mb();
    if (e->event_idx) {
        uint16_t used_event = le16_to_cpu(
            qatomic_read((uint16_t *)DP_AVAIL_AT(vr, 4 + 2 * vr->num)));

        notify = !vr->signalled_used_valid ||
                 vring_need_event(used_event, new, vr->signalled_used);
        vr->signalled_used = new;
        vr->signalled_used_valid = true;
    } else {
        notify = !(le16_to_cpu(qatomic_read((uint16_t *)DP_AVAIL_AT(vr, 0))) &
                   VRING_AVAIL_F_NO_INTERRUPT);
    }
    if (notify) {
        dp_vring_signal(vr);
    }
}

/*
 * TX: guest to driver
 */

typedef enum DpTxResult {
    DP_TX_QUEUED,       /* a packet for the driver */
    DP_TX_DROPPED,      /* a bad packet, not a bad ring: completed unsent */
    DP_TX_LATER,        /* does not fit in this burst: the next one */
    DP_TX_BROKEN,       /* the ring is stopped */
} DpTxResult;

/*
 * Walk the chain at @head into e->tx_pkts[@n], its iovecs appended at
 * e->tx_iov[*@iov_used].
 */
static DpTxResult dp_tx_one(VhostDpEngine *e, const DpMemTable *mt,
                            uint16_t head, unsigned int n,
                            unsigned int *iov_used)
{
    DpVring *vr = &e->vr[DP_TX];
    struct virtio_net_hdr_mrg_rxbuf hdr;
    VhostDpPkt *p = &e->tx_pkts[n];
    unsigned int first = *iov_used;
    int64_t len;

    len = dp_vring_walk(vr, mt, head, false, e->tx_iov, NULL, iov_used,
                        DP_IOV_MAX);
    if (len == -2) {
        *iov_used = first;
        if (n) {
            return DP_TX_LATER;
        }
        dp_vring_error(vr, "chain %u has more than %u pieces", head,
                       DP_IOV_MAX);
        return DP_TX_BROKEN;
    }
    if (len < 0) {
        return DP_TX_BROKEN;
    }
    if (len < e->hdr_len || len - e->hdr_len > DP_MAX_FRAME) {
        *iov_used = first;
        return DP_TX_DROPPED;
    }
    iov_to_buf(&e->tx_iov[first], *iov_used - first, 0, &hdr, e->hdr_len);
    vhost_dp_vnet_to_offload(&hdr.hdr, &p->ol);
    if (!vhost_dp_offload_allowed(&p->ol, e->caps.tx_offloads)) {
        *iov_used = first;
        return DP_TX_DROPPED;
    }
    p->iov = &e->tx_iov[first];
    p->iov_cnt = *iov_used - first;
    iov_discard_front(&p->iov, &p->iov_cnt, e->hdr_len);
    p->len = len - e->hdr_len;
    p->priv = 0;
    return DP_TX_QUEUED;
}

/*
 * Move one burst from the TX vring to the driver.  Returns the number of
 * chains taken off the ring (sent or dropped), and adds the bytes sent
 * to *@bytes; sets *@stall when the driver pushed back.
 *
 * Chains are completed in avail order once the driver has answered:
 * when it takes fewer packets than offered, the ring is rewound to the
 * first packet it did not take, and the drops after that one are left
 * for the next burst to complete (completing them now would complete
 * them twice).
 */
static unsigned int dp_tx_burst(VhostDpEngine *e, const DpMemTable *mt,
                                unsigned int max, uint64_t *bytes,
                                bool *stall)
{
    DpVring *vr = &e->vr[DP_TX];
    unsigned int n = 0, iov_used = 0, sent, taken = 0, k;
    uint16_t avail_idx, start = vr->last_avail, old_used = vr->used_idx;

    if (!dp_vring_avail(vr, &avail_idx)) {
        return 0;
    }
    max = MIN(max, VHOST_DP_BURST);
    while (taken < max && (!taken || e->run_descs < DP_RUN_DESC_BUDGET)) {
        int head = dp_vring_peek(vr, avail_idx);
        DpTxResult r;

        if (head < 0) {
            break;
        }
        r = dp_tx_one(e, mt, head, n, &iov_used);
        if (r == DP_TX_LATER || r == DP_TX_BROKEN) {
            break;
        }
        e->tx_chain[taken].head = head;
        e->tx_chain[taken].pkt = r == DP_TX_QUEUED ? n++ : -1;
        taken++;
        vr->last_avail++;
    }

    sent = n ? e->dq->ops->tx_burst(e->dq, e->tx_pkts, n) : 0;
    assert(sent <= n);
    for (k = 0; k < taken; k++) {
        int pkt = e->tx_chain[k].pkt;

        if (pkt >= (int)sent) {
            break;
        }
        dp_vring_put(vr, e->tx_chain[k].head, 0);
        if (pkt < 0) {
            e->st.tx_drops++;
        } else {
            *bytes += e->tx_pkts[pkt].len;
            e->st.tx_bytes += e->tx_pkts[pkt].len;
        }
    }
    if (k < taken) {
        /* back-pressure: give the rest back to the ring, in order */
        vr->last_avail = start + k;
        taken = k;
        *stall = true;
    }
    if (sent) {
        e->st.tx_packets += sent;
        e->st.bursts++;
    }
    dp_vring_flush(vr, old_used, mt);
    trace_vhost_dp_tx_burst(e, n, sent);
    return taken;
}

/*
 * RX: driver to guest
 */

static bool dp_offload_to_hdr(VhostDpEngine *e, const VhostDpOffload *ol,
                              struct virtio_net_hdr *h)
{
    uint32_t ok = qatomic_read(&e->rx_offloads_ok);

    if (!vhost_dp_offload_allowed(ol, ok)) {
        return false;
    }
    vhost_dp_vnet_from_offload(h, ol);
    if (!(ok & VHOST_DP_CAP_CSUM)) {
        /* a guest without GUEST_CSUM gets no DATA_VALID either */
        h->flags = 0;
    }
    return true;
}

typedef enum DpRxResult {
    DP_RX_DELIVERED,
    DP_RX_DROPPED,
    DP_RX_NO_BUFFERS,
    DP_RX_BROKEN,
} DpRxResult;

/* Copy @len bytes from @src to @dst, both iovec arrays */
static void dp_iov_copy(const struct iovec *dst, unsigned int dst_cnt,
                        size_t dst_off, const struct iovec *src,
                        unsigned int src_cnt, size_t len)
{
    unsigned int di = 0, si = 0;
    size_t soff = 0;

    while (di < dst_cnt && dst_off >= dst[di].iov_len) {
        dst_off -= dst[di].iov_len;
        di++;
    }
    while (len && di < dst_cnt && si < src_cnt) {
        size_t chunk = MIN(dst[di].iov_len - dst_off,
                           src[si].iov_len - soff);

        chunk = MIN(chunk, len);
        memcpy((uint8_t *)dst[di].iov_base + dst_off,
               (uint8_t *)src[si].iov_base + soff, chunk);
        len -= chunk;
        dst_off += chunk;
        soff += chunk;
        if (dst_off == dst[di].iov_len) {
            di++;
            dst_off = 0;
        }
        if (soff == src[si].iov_len) {
            si++;
            soff = 0;
        }
    }
}

/* Deliver one frame into guest buffers */
static DpRxResult dp_rx_one(VhostDpEngine *e, const DpMemTable *mt,
                            uint16_t avail_idx, const VhostDpPkt *p)
{
    DpVring *vr = &e->vr[DP_RX];
    struct virtio_net_hdr_mrg_rxbuf hdr;
    uint64_t need = (uint64_t)p->len + e->hdr_len, have = 0;
    unsigned int nheads = 0, iov_cnt = 0;
    uint16_t start = vr->last_avail;

    if (!dp_offload_to_hdr(e, &p->ol, &hdr.hdr)) {
        return DP_RX_DROPPED;
    }

    /* gather buffers until the frame fits */
    while (have < need) {
        int64_t len;
        int head;

        if (nheads && !e->mrg_rxbuf) {
            /* one buffer must hold the frame: too small, drop it */
            vr->last_avail = start;
            return DP_RX_DROPPED;
        }
        if (nheads == DP_PKT_IOV_MAX) {
            vr->last_avail = start;
            return DP_RX_DROPPED;
        }
        head = dp_vring_peek(vr, avail_idx);
        if (head < 0) {
            vr->last_avail = start;
            if (vr->broken) {
                return DP_RX_BROKEN;
            }
            /* a whole ring of buffers cannot hold it: it never will */
            return (uint16_t)(avail_idx - start) == vr->num ?
                   DP_RX_DROPPED : DP_RX_NO_BUFFERS;
        }
        e->rx_head_iov[nheads] = iov_cnt;
        len = dp_vring_walk(vr, mt, head, true, e->rx_iov, e->rx_gpa,
                            &iov_cnt, DP_IOV_MAX);
        if (len == -2) {
            vr->last_avail = start;
            return DP_RX_DROPPED;
        }
        if (len < 0) {
            vr->last_avail = start;
            return DP_RX_BROKEN;
        }
        if (len == 0) {
            dp_vring_error(vr, "empty receive buffer %u", head);
            vr->last_avail = start;
            return DP_RX_BROKEN;
        }
        vr->last_avail++;
        e->rx_heads[nheads] = head;
        e->rx_head_len[nheads] = MIN(len, need - have);
        have += len;
        nheads++;
    }
    if (nheads > 1 && e->hdr_len < sizeof(hdr)) {
        /* cannot happen: mergeable buffers imply the long header */
        vr->last_avail = start;
        return DP_RX_DROPPED;
    }

    hdr.num_buffers = cpu_to_le16(nheads);
    iov_from_buf(e->rx_iov, iov_cnt, 0, &hdr, e->hdr_len);
    dp_iov_copy(e->rx_iov, iov_cnt, e->hdr_len, p->iov, p->iov_cnt, p->len);

    for (unsigned int i = 0; i < nheads; i++) {
        dp_vring_put(vr, e->rx_heads[i], e->rx_head_len[i]);
    }
    if (qatomic_read(&e->log_all)) {
        uint64_t left = need;

        for (unsigned int i = 0; i < iov_cnt && left; i++) {
            uint64_t l = MIN(left, e->rx_iov[i].iov_len);

            dp_mark_dirty(e, mt, e->rx_gpa[i], l);
            left -= l;
        }
    }
    return DP_RX_DELIVERED;
}

static void dp_rx_release(VhostDpEngine *e, unsigned int n)
{
    if (n && e->dq->ops->rx_release) {
        e->dq->ops->rx_release(e->dq, &e->rx_pkts[e->rx_first], n);
    }
    e->rx_first += n;
    e->rx_count -= n;
    if (!e->rx_count) {
        e->rx_first = 0;
    }
}

/* Does the guest's receive filter let @p through? */
static bool dp_rx_filter_pass(const VhostDpRxFilter *f, const VhostDpPkt *p)
{
    static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    uint8_t h[16];

    if (iov_to_buf(p->iov, p->iov_cnt, 0, h, sizeof(h)) < sizeof(h)) {
        return true;            /* a runt: the guest's business */
    }
    if (f->vlan_filter && h[12] == 0x81 && h[13] == 0x00) {
        unsigned int vid = ((h[14] << 8) | h[15]) & 0xfff;

        if (!(f->vlans[vid / 32] & (1U << (vid % 32)))) {
            return false;
        }
    }
    if (h[0] & 1) {
        if (!memcmp(h, bcast, 6)) {
            return f->broadcast;
        }
        if (f->no_multi || f->all_multi) {
            return !f->no_multi;
        }
    } else {
        if (f->no_uni || f->all_uni) {
            return !f->no_uni;
        }
        if (!memcmp(h, f->mac, 6)) {
            return true;
        }
    }
    for (unsigned int i = 0; i < f->n_macs; i++) {
        if (!memcmp(h, f->macs[i], 6)) {
            return true;
        }
    }
    return false;
}

/*
 * Move frames from the driver to the RX vring.  Returns the frames
 * handled; sets *@starved when the guest has no buffers left.
 */
static unsigned int dp_rx_burst(VhostDpEngine *e, const DpMemTable *mt,
                                unsigned int max, uint64_t *bytes,
                                bool *starved)
{
    DpVring *vr = &e->vr[DP_RX];
    const DpRxFilter *flt = qatomic_rcu_read(&e->rx_filter);
    uint16_t avail_idx, old_used = vr->used_idx;
    unsigned int done = 0, delivered = 0;

    if (!e->rx_count) {
        e->rx_first = 0;
        e->rx_count = e->dq->ops->rx_burst(e->dq, e->rx_pkts,
                                           MIN(max, VHOST_DP_BURST));
        assert(e->rx_count <= VHOST_DP_BURST);
        if (!e->rx_count) {
            return 0;
        }
    }
    if (!dp_vring_avail(vr, &avail_idx)) {
        return 0;
    }
    while (done < e->rx_count && done < max) {
        const VhostDpPkt *p = &e->rx_pkts[e->rx_first + done];
        DpRxResult r;

        if (flt && !dp_rx_filter_pass(&flt->f, p)) {
            e->st.rx_drops++;
            done++;
            continue;
        }
        r = dp_rx_one(e, mt, avail_idx, p);

        if (r == DP_RX_NO_BUFFERS) {
            /*
             * Wait for buffers past the ones seen.  If some came
             * meanwhile, the run goes on in a new burst; never retry
             * with the same buffers.
             */
            if (!dp_vring_notify_on(vr, avail_idx)) {
                *starved = true;
                e->st.rx_no_buffers++;
            }
            break;
        }
        if (r == DP_RX_BROKEN) {
            break;
        }
        if (r == DP_RX_DELIVERED) {
            delivered++;
            *bytes += p->len;
            e->st.rx_bytes += p->len;
        } else {
            e->st.rx_drops++;
        }
        done++;
    }
    if (delivered) {
        e->st.rx_packets += delivered;
        e->st.bursts++;
    }
    dp_vring_flush(vr, old_used, mt);
    dp_rx_release(e, done);
    trace_vhost_dp_rx_burst(e, done, delivered);
    return done;
}

/*
 * The run loop of a queue pair, in its IOThread
 */

static void dp_driver_rx_ready(void *opaque);

static void dp_driver_tx_ready(void *opaque);

/*
 * Listen to the driver's fd for reading and writing, or not.  While the
 * guest has no receive buffers the fd is not read: it would stay
 * readable and spin.
 */
static void dp_fd_arm(VhostDpEngine *e, bool read, bool write)
{
    if (e->dq->fd < 0 ||
        (e->fd_read_armed == read && e->fd_write_armed == write)) {
        return;
    }
    e->fd_read_armed = read;
    e->fd_write_armed = write;
    aio_set_fd_handler(e->ctx, e->dq->fd, read ? dp_driver_rx_ready : NULL,
                       write ? dp_driver_tx_ready : NULL, NULL, NULL, e);
}

static void dp_publish_stats(VhostDpEngine *e)
{
    uint64_t *src = (uint64_t *)&e->st;
    uint64_t *dst = (uint64_t *)&e->pub;

    for (size_t i = 0; i < sizeof(e->st) / sizeof(uint64_t); i++) {
        qatomic_set(&dst[i], src[i]);
    }
}

/*
 * Take the frames QEMU injected and hand them to the driver like guest
 * frames without offloads.  Best effort: what the driver does not take
 * now is dropped, as a full TAP would drop it.
 */
static void dp_inject_flush(VhostDpEngine *e)
{
    QSIMPLEQ_HEAD(, DpInjected) list = QSIMPLEQ_HEAD_INITIALIZER(list);
    DpInjected *f, *next;

    WITH_QEMU_LOCK_GUARD(&e->inject_lock) {
        QSIMPLEQ_CONCAT(&list, &e->injected);
        e->n_injected = 0;
        qatomic_set(&e->inject_pending, false);
    }
    QSIMPLEQ_FOREACH_SAFE(f, &list, next, next) {
        struct iovec iov = { .iov_base = f->data, .iov_len = f->len };
        VhostDpPkt pkt = { .iov = &iov, .iov_cnt = 1, .len = f->len };

        if (e->dq->ops->tx_burst(e->dq, &pkt, 1) != 1) {
            e->st.tx_drops++;
        }
        g_free(f);
    }
}

static void dp_inject_drop_all(VhostDpEngine *e)
{
    DpInjected *f;

    WITH_QEMU_LOCK_GUARD(&e->inject_lock) {
        while ((f = QSIMPLEQ_FIRST(&e->injected))) {
            QSIMPLEQ_REMOVE_HEAD(&e->injected, next);
            g_free(f);
        }
        e->n_injected = 0;
        qatomic_set(&e->inject_pending, false);
    }
}

/* Can the engine use @vr now? */
static inline bool dp_vring_live(const DpVring *vr)
{
    return vr->ready && !vr->broken;
}

static bool dp_vring_map(VhostDpEngine *e, DpVring *vr);

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
            if (dp_vring_live(vr) && !dp_vring_map(e, vr)) {
                dp_vring_error(vr, "the vIOMMU no longer maps the ring");
            }
        }
    }
}

static void dp_run(VhostDpEngine *e)
{
    DpVring *tx = &e->vr[DP_TX], *rx = &e->vr[DP_RX];
    unsigned int pkts = 0;
    uint64_t bytes = 0;
    bool tx_stall = false, rx_starved = false, again, within = true;
    DpMemTable *mt;

    if (!e->running) {
        return;
    }
    if (!qatomic_read(&e->enabled)) {
        /* a level-triggered driver fd would spin: enabling runs us again */
        dp_fd_arm(e, false, false);
        return;
    }
    if (unlikely(qatomic_read(&e->inject_pending))) {
        dp_inject_flush(e);
    }
    dp_iotlb_flush(e);  /* vIOMMU translations live for one run */
    e->run_descs = 0;
    RCU_READ_LOCK_GUARD();
    mt = qatomic_rcu_read(&e->mem);
    if (!mt) {
        return;
    }
    dp_vrings_remap(e);

    do {
        unsigned int moved = 0;

        if (dp_vring_live(tx) && !tx_stall) {
            if (!tx->polling) {
                dp_vring_notify_off(tx);
            }
            moved += dp_tx_burst(e, mt, DP_RUN_PKT_BUDGET - pkts, &bytes,
                                 &tx_stall);
        }
        if (dp_vring_live(rx) && !rx_starved) {
            moved += dp_rx_burst(e, mt, DP_RUN_PKT_BUDGET - pkts, &bytes,
                                 &rx_starved);
        }
        pkts += moved;
        within = pkts < DP_RUN_PKT_BUDGET && bytes < DP_RUN_BYTE_BUDGET &&
                 e->run_descs < DP_RUN_DESC_BUDGET;
        again = moved && within;
        if (!again && dp_vring_live(tx) && !tx->polling && !tx_stall) {
            /* re-enable kicks; work that raced in runs now */
            again = dp_vring_notify_on(tx, tx->last_avail) && within;
        }
    } while (again);

    /* polling must not find work the driver does not take yet */
    e->tx_stalled = tx_stall;
    e->st.tx_stalls += tx_stall;

    /*
     * No guest buffers (or no RX ring): wait for the RX kick before
     * reading more.  Driver back-pressure: wait for the driver's fd.
     */
    rx_starved |= !dp_vring_live(rx);
    dp_fd_arm(e, !rx_starved || (tx_stall && !e->dq->tx_wait_writable),
              tx_stall && e->dq->tx_wait_writable);
    if (!within || (!rx_starved && (e->rx_count ||
                                    (e->dq->rx_poll &&
                                     e->dq->rx_poll(e->dq))))) {
        /* budget used up: let other handlers run, then go on */
        qemu_bh_schedule(e->bh);
    }
    dp_publish_stats(e);
}

static void dp_run_bh(void *opaque)
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
    DpVring *vr = container_of(n, DpVring, kick);

    if (event_notifier_test_and_clear(n)) {
        vr->e->st.kicks++;
    }
    dp_run(vr->e);
}

/*
 * Only work that can progress counts: none while the queue pair is
 * disabled or the driver pushes back (it wakes the engine when it takes
 * packets again), else polling would spin at full CPU.
 */
static bool dp_tx_poll(void *opaque)
{
    DpVring *vr = container_of(opaque, DpVring, kick);
    VhostDpEngine *e = vr->e;

    if (!e->running || !qatomic_read(&e->enabled) || e->tx_stalled) {
        return false;
    }
    /* a ring to translate again: dp_run() does it, not this */
    return vr->remap || dp_vring_has_work(vr);
}

static void dp_tx_poll_ready(EventNotifier *n)
{
    DpVring *vr = container_of(n, DpVring, kick);

    vr->e->st.poll_hits++;
    dp_run(vr->e);
}

static void dp_tx_poll_begin(EventNotifier *n)
{
    DpVring *vr = container_of(n, DpVring, kick);

    if (vr->e->running && dp_vring_live(vr) && !vr->remap) {
        vr->polling = true;
        dp_vring_notify_off(vr);
    }
}

static void dp_tx_poll_end(EventNotifier *n)
{
    DpVring *vr = container_of(n, DpVring, kick);

    if (!vr->polling) {
        return;
    }
    vr->polling = false;
    if (vr->e->running && dp_vring_live(vr) && !vr->remap) {
        /* the caller polls once more after this */
        dp_vring_notify_on(vr, vr->last_avail);
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
    DpVring *tx = &e->vr[DP_TX], *rx = &e->vr[DP_RX];

    e->running = true;
    e->tx_stalled = false;
    if (tx->ready) {
        aio_set_event_notifier(e->ctx, &tx->kick, dp_kick, dp_tx_poll,
                               dp_tx_poll_ready);
        aio_set_event_notifier_poll(e->ctx, &tx->kick, dp_tx_poll_begin,
                                    dp_tx_poll_end);
    }
    if (rx->ready) {
        aio_set_event_notifier(e->ctx, &rx->kick, dp_kick, NULL, NULL);
    }
    /* without an RX ring, frames stay with the driver */
    dp_fd_arm(e, rx->ready, false);
    /* the guest may have queued work before we listened */
    qemu_bh_schedule(e->bh);
}

static void dp_detach_bh(void *opaque)
{
    VhostDpEngine *e = opaque;

    for (unsigned int i = 0; i < DP_NVQS; i++) {
        if (e->vr[i].ready) {
            aio_set_event_notifier(e->ctx, &e->vr[i].kick, NULL, NULL,
                                   NULL);
        }
    }
    dp_fd_arm(e, false, false);
    qemu_bh_cancel(e->bh);
    /* frames taken from the driver but not delivered are dropped */
    e->st.rx_drops += e->rx_count;
    dp_rx_release(e, e->rx_count);
    e->running = false;
    e->vr[DP_TX].polling = false;
    dp_publish_stats(e);
}

/*
 * VhostOps
 */

static VhostDpEngine *dp_engine(struct vhost_dev *dev)
{
    return dev->opaque;
}

static DpVring *dp_vring(struct vhost_dev *dev, unsigned int idx)
{
    assert(idx < DP_NVQS);
    return &dp_engine(dev)->vr[idx];
}

static int dp_backend_init(struct vhost_dev *dev, void *opaque, Error **errp)
{
    VhostDpEngine *e = opaque;

    assert(dev->nvqs == DP_NVQS);
    dev->opaque = e;
    e->dev = dev;
    return 0;
}

static int dp_backend_cleanup(struct vhost_dev *dev)
{
    VhostDpEngine *e = dp_engine(dev);

    assert(!e->started);
    e->dev = NULL;
    return 0;
}

static int dp_memslots_limit(struct vhost_dev *dev)
{
    return INT_MAX;
}

static int dp_set_log_base(struct vhost_dev *dev, uint64_t base,
                           struct vhost_log *log)
{
    /* dirty pages are marked directly, see dp_mark_dirty() */
    return 0;
}

static int dp_set_mem_table(struct vhost_dev *dev, struct vhost_memory *mem)
{
    VhostDpEngine *e = dp_engine(dev);
    DpMemTable *mt, *old;

    assert(mem->nregions == dev->n_mem_sections);
    mt = g_malloc0(sizeof(*mt) + mem->nregions * sizeof(mt->r[0]));
    mt->n = mem->nregions;
    for (unsigned int i = 0; i < mt->n; i++) {
        const struct vhost_memory_region *reg = &mem->regions[i];
        MemoryRegionSection *s = &dev->mem_sections[i];

        mt->r[i] = (DpMemRegion) {
            .gpa = reg->guest_phys_addr,
            .size = reg->memory_size,
            .hva = (uint8_t *)(uintptr_t)reg->userspace_addr,
            .mr = s->mr,
            .mr_offset = s->offset_within_region,
        };
        memory_region_ref(s->mr);
    }
    old = e->mem;
    qatomic_rcu_set(&e->mem, mt);
    if (old) {
        /* IOThreads read the table under RCU; free it after them */
        call_rcu(old, dp_mem_table_free, rcu);
    }
    trace_vhost_dp_set_mem_table(e, mt->n);
    return 0;
}

static int dp_set_vring_addr(struct vhost_dev *dev,
                             struct vhost_vring_addr *addr)
{
    VhostDpEngine *e = dp_engine(dev);
    DpVring *vr = dp_vring(dev, addr->index);

    trace_vhost_dp_set_vring_addr(e, addr->index, addr->desc_user_addr,
                                  addr->avail_user_addr,
                                  addr->used_user_addr);
    if (e->started) {
        /* toggling logging while running: the same rings */
        return 0;
    }
    /* resolved when the queue pair starts */
    vr->addr[DP_RING_DESC] = addr->desc_user_addr;
    vr->addr[DP_RING_AVAIL] = addr->avail_user_addr;
    vr->addr[DP_RING_USED] = addr->used_user_addr;
    vr->used_log_addr = addr->log_guest_addr;
    vr->setup |= DP_SETUP_ADDR;
    return 0;
}

static int dp_set_vring_endian(struct vhost_dev *dev,
                               struct vhost_vring_state *ring)
{
    /* legacy big-endian guests are not supported */
    return ring->num == VHOST_VRING_LITTLE_ENDIAN ? 0 : -ENOTSUP;
}

static int dp_set_vring_num(struct vhost_dev *dev,
                            struct vhost_vring_state *ring)
{
    DpVring *vr = dp_vring(dev, ring->index);

    if (!ring->num || ring->num > 32768 || (ring->num & (ring->num - 1))) {
        return -EINVAL;
    }
    vr->num = ring->num;
    vr->setup |= DP_SETUP_NUM;
    return 0;
}

static int dp_set_vring_base(struct vhost_dev *dev,
                             struct vhost_vring_state *ring)
{
    DpVring *vr = dp_vring(dev, ring->index);

    vr->last_avail = ring->num;
    return 0;
}

static int dp_get_vring_base(struct vhost_dev *dev,
                             struct vhost_vring_state *ring)
{
    DpVring *vr = dp_vring(dev, ring->index);

    /* stopped: every buffer taken so far is in the used ring */
    assert(!dp_engine(dev)->started);
    ring->num = vr->last_avail;
    return 0;
}

static int dp_set_vring_kick(struct vhost_dev *dev,
                             struct vhost_vring_file *file)
{
    DpVring *vr = dp_vring(dev, file->index);

    assert(!dp_engine(dev)->started);
    vr->kick_fd = file->fd;
    if (file->fd >= 0) {
        vr->setup |= DP_SETUP_KICK;
    } else {
        vr->setup &= ~DP_SETUP_KICK;
    }
    return 0;
}

static int dp_set_vring_call(struct vhost_dev *dev,
                             struct vhost_vring_file *file)
{
    DpVring *vr = dp_vring(dev, file->index);

    /* vCPU threads swap it while running (masking): atomic */
    qatomic_set(&vr->call_fd, file->fd);
    return 0;
}

static int dp_set_features(struct vhost_dev *dev, uint64_t features)
{
    VhostDpEngine *e = dp_engine(dev);

    e->features = features;
    e->event_idx = features & (1ULL << VIRTIO_RING_F_EVENT_IDX);
    e->mrg_rxbuf = features & (1ULL << VIRTIO_NET_F_MRG_RXBUF);
    e->hdr_len = (features & ((1ULL << VIRTIO_NET_F_MRG_RXBUF) |
                              (1ULL << VIRTIO_F_VERSION_1))) ?
                 sizeof(struct virtio_net_hdr_mrg_rxbuf) :
                 sizeof(struct virtio_net_hdr);
    /* toggled while running when migration starts and ends */
    qatomic_set(&e->log_all, !!(features & (1ULL << VHOST_F_LOG_ALL)));
    return 0;
}

static int dp_get_features(struct vhost_dev *dev, uint64_t *features)
{
    *features = dp_engine(dev)->offered;
    return 0;
}

static int dp_set_owner(struct vhost_dev *dev)
{
    return 0;
}

static int dp_get_vq_index(struct vhost_dev *dev, int idx)
{
    assert(idx >= dev->vq_index && idx < dev->vq_index + dev->nvqs);
    return idx - dev->vq_index;
}

static int dp_set_vring_enable(struct vhost_dev *dev, int enable)
{
    VhostDpEngine *e = dp_engine(dev);

    qatomic_set(&e->enabled, !!enable);
    trace_vhost_dp_set_vring_enable(e, enable);
    if (e->dq->set_enabled) {
        e->dq->set_enabled(e->dq, !!enable);
    }
    if (enable && e->started) {
        aio_bh_schedule_oneshot(e->ctx, dp_run_bh, e);
    }
    return 0;
}

static int dp_net_set_mtu(struct vhost_dev *dev, uint16_t mtu)
{
    /* any MTU up to 64 KiB frames is fine for the engine */
    return 0;
}

static void dp_ring_pages_free(DpRingPages *p)
{
    for (unsigned int i = 0; i < p->n; i++) {
        memory_region_unref(p->page[i].mr);
    }
    g_free(p);
}

/* After the IOThread: it may still read the pages in this grace period */
static void dp_ring_pages_put(DpRingPages *p)
{
    if (p) {
        call_rcu(p, dp_ring_pages_free, rcu);
    }
}

/* Is [@hva, @hva + @len) QEMU's mapping of one region of the table? */
static bool dp_hva_in_table(const DpMemTable *mt, uintptr_t hva,
                            uint64_t len)
{
    for (unsigned int i = 0; i < mt->n; i++) {
        uint64_t off = hva - (uintptr_t)mt->r[i].hva;

        if (off < mt->r[i].size && len <= mt->r[i].size - off) {
            return true;
        }
    }
    return false;
}

/*
 * Where a part of a vring (@len bytes at @addr) is.  vhost gives QEMU's
 * own mapping of guest RAM, which must be in the memory table (not a
 * bounce buffer), or with a vIOMMU an IOVA.  Then the part is
 * contiguous in IOVA space only: *@pages gets its guest pages, with a
 * reference to their RAM.  BQL while stopped, or the IOThread.
 */
static void *dp_map_ring(VhostDpEngine *e, const DpMemTable *mt,
                         uint64_t addr, uint64_t len, bool write,
                         DpRingPages **pages)
{
    unsigned int first = addr % DP_RING_PAGE;
    unsigned int npages = DIV_ROUND_UP(first + len, DP_RING_PAGE);
    DpRingPages *p;
    const DpMemRegion *r;
    uint64_t avail;

    *pages = NULL;
    if (!e->iommu_as) {
        return dp_hva_in_table(mt, addr, len) ? (void *)(uintptr_t)addr
                                              : NULL;
    }
    p = g_malloc(sizeof(*p) + npages * sizeof(p->page[0]));
    p->first_off = first;
    p->n = 0;
    for (unsigned int i = 0; i < npages; i++) {
        uint64_t iova = addr - first + (uint64_t)i * DP_RING_PAGE;
        uint64_t g;

        if (!dp_iova_to_gpa(e, iova, write, &g, &avail) ||
            avail < DP_RING_PAGE) {
            goto fail;
        }
        r = dp_mem_lookup(e, mt, g, &avail);
        if (!r || avail < DP_RING_PAGE) {
            goto fail;
        }
        p->page[i].gpa = g;
        p->page[i].hva = r->hva + (g - r->gpa);
        p->page[i].mr = r->mr;
        memory_region_ref(r->mr);
        p->n++;
    }
    *pages = p;
    return p->page[0].hva + first;

fail:
    dp_ring_pages_put(p);
    return NULL;
}

/* Are the pages of @p one run of QEMU's memory? */
static bool dp_ring_pages_contiguous(const DpRingPages *p)
{
    for (unsigned int i = 1; i < p->n; i++) {
        if (p->page[i].gpa != p->page[i - 1].gpa + DP_RING_PAGE ||
            p->page[i].hva != p->page[i - 1].hva + DP_RING_PAGE) {
            return false;
        }
    }
    return true;
}

static void dp_vring_unmap(DpVring *vr)
{
    for (unsigned int i = 0; i < DP_RING_PARTS; i++) {
        dp_ring_pages_put(vr->pages[i]);
        vr->pages[i] = NULL;
        vr->scatter[i] = NULL;
    }
    vr->desc = NULL;
    vr->avail = NULL;
    vr->used = NULL;
}

/*
 * Map the three parts of @vr, each aligned as the spec requires (so that
 * no field crosses a page), and in guest RAM.  On failure @vr keeps what
 * it had.  BQL while stopped, or the IOThread while started (a vIOMMU
 * change, dp_vrings_remap()).
 */
static bool dp_vring_map(VhostDpEngine *e, DpVring *vr)
{
    const uint64_t len[DP_RING_PARTS] = {
        [DP_RING_DESC] = vr->num * sizeof(struct vring_desc),
        [DP_RING_AVAIL] = 6 + 2 * vr->num,
        [DP_RING_USED] = 6 + vr->num * sizeof(struct vring_used_elem),
    };
    DpRingPages *pages[DP_RING_PARTS] = { NULL };
    void *hva[DP_RING_PARTS];
    const DpMemTable *mt;
    unsigned int i;

    RCU_READ_LOCK_GUARD();
    mt = qatomic_rcu_read(&e->mem);
    for (i = 0; mt && i < DP_RING_PARTS; i++) {
        if (vr->addr[i] % dp_ring_align[i]) {
            break;
        }
        hva[i] = dp_map_ring(e, mt, vr->addr[i], len[i],
                             i == DP_RING_USED, &pages[i]);
        if (!hva[i]) {
            break;
        }
    }
    if (i < DP_RING_PARTS) {
        for (unsigned int j = 0; j < DP_RING_PARTS; j++) {
            dp_ring_pages_put(pages[j]);
        }
        return false;
    }
    dp_vring_unmap(vr);
    vr->desc = hva[DP_RING_DESC];
    vr->avail = hva[DP_RING_AVAIL];
    vr->used = hva[DP_RING_USED];
    for (i = 0; i < DP_RING_PARTS; i++) {
        vr->pages[i] = pages[i];
        vr->scatter[i] = pages[i] && !dp_ring_pages_contiguous(pages[i]) ?
                         pages[i] : NULL;
    }
    vr->used_gpa = pages[DP_RING_USED] ?
                   pages[DP_RING_USED]->page[0].gpa +
                   pages[DP_RING_USED]->first_off : vr->used_log_addr;
    return true;
}

/* Forget what the vhost ops set up for the start that ends */
static void dp_vring_clear(DpVring *vr)
{
    dp_vring_unmap(vr);
    vr->ready = false;
    vr->setup = 0;
    vr->num = 0;
    memset(vr->addr, 0, sizeof(vr->addr));
    vr->used_log_addr = 0;
    vr->kick_fd = -1;
}

static void dp_dev_stop(VhostDpEngine *e)
{
    trace_vhost_dp_dev_start(e, false);
    aio_wait_bh_oneshot(e->ctx, dp_detach_bh, e);
    e->dq->engine = NULL;
    e->started = false;
    qemu_bh_delete(e->bh);
    e->bh = NULL;
    dp_inject_drop_all(e);
    for (unsigned int i = 0; i < DP_NVQS; i++) {
        dp_vring_clear(&e->vr[i]);
    }
}

/*
 * Serve the vrings the guest set up in this start.  One it did not set
 * up is not served, as vhost-kernel leaves it without a backend: a
 * queue pair may run with only its TX vring, say.
 */
static int dp_dev_start(struct vhost_dev *dev, bool started)
{
    VhostDpEngine *e = dp_engine(dev);

    if (started == e->started) {
        return 0;
    }
    if (!started) {
        dp_dev_stop(e);
        return 0;
    }
    e->iommu_as = vhost_dev_has_iommu(dev) ? dev->vdev->dma_as : NULL;
    for (unsigned int i = 0; i < DP_NVQS; i++) {
        DpVring *vr = &e->vr[i];

        vr->ready = vr->setup == DP_SETUP_ALL;
        trace_vhost_dp_vring_start(e, i, vr->ready);
        if (!vr->ready) {
            continue;
        }
        if (!dp_vring_map(e, vr)) {
            error_report("vhost-dp: %s: vring %u is not aligned as virtio "
                         "requires, or not in guest memory", e->name, i);
            for (unsigned int j = 0; j < DP_NVQS; j++) {
                dp_vring_clear(&e->vr[j]);
            }
            dp_iotlb_flush(e);
            return -EINVAL;
        }
        event_notifier_init_fd(&vr->kick, vr->kick_fd);
        vr->used_idx = le16_to_cpu(*(uint16_t *)DP_USED_AT(vr, 2));
        vr->signalled_used_valid = false;
        vr->broken = false;
        vr->polling = false;
        vr->remap = false;
        /* kicks off on RX until buffers run out, on TX until idle */
        if (i == DP_TX) {
            dp_vring_notify_on(vr, vr->last_avail);
        } else {
            dp_vring_notify_off(vr);
        }
    }
    /* what the run loop translates, it translates again */
    dp_iotlb_flush(e);
    e->started = true;
    e->dma_as = e->dma_map ? dev->vdev->dma_as : NULL;
    e->dq->engine = e;
    e->bh = aio_bh_new_guarded(e->ctx, dp_run_bh, e,
                               &DEVICE(dev->vdev)->mem_reentrancy_guard);
    trace_vhost_dp_dev_start(e, true);
    aio_wait_bh_oneshot(e->ctx, dp_attach_bh, e);
    return 0;
}

typedef struct DpInvalidate {
    VhostDpEngine *e;
    uint64_t first, last;           /* the IOVA range, inclusive */
} DpInvalidate;

static void dp_invalidate_bh(void *opaque)
{
    DpInvalidate *inv = opaque;
    VhostDpEngine *e = inv->e;

    dp_iotlb_flush(e);
    for (unsigned int i = 0; i < DP_NVQS; i++) {
        DpVring *vr = &e->vr[i];
        const uint64_t len[DP_RING_PARTS] = {
            vr->num * sizeof(struct vring_desc), 6 + 2 * vr->num,
            6 + vr->num * sizeof(struct vring_used_elem),
        };

        for (unsigned int j = 0; vr->ready && j < DP_RING_PARTS; j++) {
            if (vr->addr[j] <= inv->last &&
                inv->first <= vr->addr[j] + len[j] - 1) {
                vr->remap = true;
            }
        }
    }
}

/*
 * The guest unmapped an IOVA range (vIOMMU).  Buffer translations live
 * for one run of the queue pair: once the run in progress is over,
 * nothing uses the old mapping any more.  The rings' pages are kept
 * across runs: a ring in the range is translated again before its next
 * use (not here: this runs inside the IOMMU model's notifier).
 */
static int dp_send_device_iotlb_msg(struct vhost_dev *dev,
                                    struct vhost_iotlb_msg *imsg)
{
    VhostDpEngine *e = dp_engine(dev);
    DpInvalidate inv = {
        .e = e,
        .first = imsg->iova,
        /* a size of 0 is the whole 64-bit space */
        .last = imsg->size && imsg->iova + imsg->size - 1 >= imsg->iova ?
                imsg->iova + imsg->size - 1 : UINT64_MAX,
    };

    if (imsg->type == VHOST_IOTLB_INVALIDATE && e->started) {
        aio_wait_bh_oneshot(e->ctx, dp_invalidate_bh, &inv);
    }
    return 0;
}

const VhostOps dp_ops = {
    .backend_type = VHOST_BACKEND_TYPE_DP,
    .vhost_backend_init = dp_backend_init,
    .vhost_backend_cleanup = dp_backend_cleanup,
    .vhost_backend_memslots_limit = dp_memslots_limit,
    .vhost_net_set_mtu = dp_net_set_mtu,
    .vhost_set_log_base = dp_set_log_base,
    .vhost_set_mem_table = dp_set_mem_table,
    .vhost_set_vring_addr = dp_set_vring_addr,
    .vhost_set_vring_endian = dp_set_vring_endian,
    .vhost_set_vring_num = dp_set_vring_num,
    .vhost_set_vring_base = dp_set_vring_base,
    .vhost_get_vring_base = dp_get_vring_base,
    .vhost_set_vring_kick = dp_set_vring_kick,
    .vhost_set_vring_call = dp_set_vring_call,
    .vhost_set_features = dp_set_features,
    .vhost_get_features = dp_get_features,
    .vhost_set_owner = dp_set_owner,
    .vhost_get_vq_index = dp_get_vq_index,
    .vhost_set_vring_enable = dp_set_vring_enable,
    .vhost_dev_start = dp_dev_start,
    .vhost_send_device_iotlb_msg = dp_send_device_iotlb_msg,
};

/*
 * Engine life cycle, for the netdev
 */

static uint64_t dp_offered_features(const VhostDpDriverCaps *caps)
{
    uint64_t f = (1ULL << VIRTIO_F_VERSION_1) |
                 (1ULL << VIRTIO_F_ANY_LAYOUT) |
                 (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |
                 (1ULL << VIRTIO_RING_F_EVENT_IDX) |
                 (1ULL << VIRTIO_NET_F_MRG_RXBUF) |
                 (1ULL << VIRTIO_NET_F_MTU) |
                 (1ULL << VIRTIO_F_IOMMU_PLATFORM) |
                 (1ULL << VHOST_F_LOG_ALL);

    if (caps->tx_offloads & VHOST_DP_CAP_CSUM) {
        f |= 1ULL << VIRTIO_NET_F_CSUM;
        if (caps->tx_offloads & VHOST_DP_CAP_TSO4) {
            f |= 1ULL << VIRTIO_NET_F_HOST_TSO4;
        }
        if (caps->tx_offloads & VHOST_DP_CAP_TSO6) {
            f |= 1ULL << VIRTIO_NET_F_HOST_TSO6;
        }
        if (caps->tx_offloads & VHOST_DP_CAP_ECN) {
            f |= 1ULL << VIRTIO_NET_F_HOST_ECN;
        }
    }
    if (caps->rx_offloads & VHOST_DP_CAP_CSUM) {
        f |= 1ULL << VIRTIO_NET_F_GUEST_CSUM;
        if (caps->rx_offloads & VHOST_DP_CAP_TSO4) {
            f |= 1ULL << VIRTIO_NET_F_GUEST_TSO4;
        }
        if (caps->rx_offloads & VHOST_DP_CAP_TSO6) {
            f |= 1ULL << VIRTIO_NET_F_GUEST_TSO6;
        }
        if (caps->rx_offloads & VHOST_DP_CAP_ECN) {
            f |= 1ULL << VIRTIO_NET_F_GUEST_ECN;
        }
    }
    return f;
}

VhostDpEngine *vhost_dp_engine_new(VhostDpDriverQueue *dq,
                                   const VhostDpDriverCaps *caps,
                                   AioContext *ctx, const char *name)
{
    VhostDpEngine *e = g_new0(VhostDpEngine, 1);

    e->dq = dq;
    e->caps = *caps;
    e->ctx = ctx;
    e->name = g_strdup(name);
    e->offered = dp_offered_features(caps);
    e->enabled = true;
    e->hdr_len = sizeof(struct virtio_net_hdr);
    qemu_mutex_init(&e->inject_lock);
    QSIMPLEQ_INIT(&e->injected);
    for (unsigned int i = 0; i < DP_NVQS; i++) {
        e->vr[i].e = e;
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
    if (e->mem) {
        call_rcu(e->mem, dp_mem_table_free, rcu);
    }
    dp_inject_drop_all(e);
    vhost_dp_engine_set_rx_filter(e, NULL);
    qemu_mutex_destroy(&e->inject_lock);
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

void vhost_dp_engine_set_rx_offloads(VhostDpEngine *e, uint32_t rx_offloads)
{
    qatomic_set(&e->rx_offloads_ok, rx_offloads & e->caps.rx_offloads);
}

void vhost_dp_engine_set_dma_map(VhostDpEngine *e, bool on)
{
    assert(!e->started);
    e->dma_map = on;
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
