/*
 * libFuzzer target for the vhost-dp ring core
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The input is a small guest: a memory table of 1 to 3 regions (each its
 * own heap allocation, so that ASan sees their edges), an optional
 * vIOMMU page table, the two vrings of a queue pair (split, or packed:
 * a setup byte and restarts choose), and then a sequence
 * of operations: the guest writing descriptors, chains, indirect tables,
 * avail entries and stray bytes, the vIOMMU mapping and unmapping pages
 * (with the invalidations it sends), migration logging going on and off,
 * device restarts, and the engine's TX and RX bursts, notifications and
 * runs, done the way vhost-dp-net.c and vhost-dp-iothread.c do them.
 *
 * Every call into the core is checked against a reference model of what
 * it must do (the same pieces for every buffer, the same verdict on every
 * chain, the same ring pages) and against the engine's invariants:
 *  - no iovec outside the regions of the memory table, and each iovec is
 *    where its guest address says;
 *  - no dirty range outside the guest RAM regions, and every byte the
 *    core or the RX copy writes while logging is marked dirty;
 *  - the core touches no guest memory but the parts of the vring it works
 *    (the rest is ASan-poisoned meanwhile) and writes only the used ring;
 *  - a used id is a head the guest made available, completed once per
 *    time it was taken; the used index never passes what was taken;
 *  - a walk visits at most ring size + DP_MAX_INDIRECT descriptors;
 *  - a broken vring is reported exactly once;
 *  - after an invalidation, the core never uses a ring page the vIOMMU
 *    no longer maps that way;
 *  - every MemoryRegion reference taken is dropped.
 * Packed vrings have their own reference model (the guest driver's and
 * the device's positions, the chains the core must find with their
 * descriptors as they were then, what each used element must say, when
 * an interrupt is due, the vring base at a stop).
 * A violation aborts, which libFuzzer reports as a crash.
 *
 * The core's calls into the rest of QEMU (memory_region_set_dirty(),
 * memory_region_ref()/unref(), address_space_get_iotlb_entry()) and its
 * owner's report callback are faked here.
 */

#include "qemu/osdep.h"
#include "qemu/iov.h"
#include "qemu/rcu.h"
#include "exec/memory.h"
#include "hw/virtio/vhost-dp-int.h"
#include <sanitizer/asan_interface.h>
#include <sys/eventfd.h>

#define MAX_REGIONS     3
#define MAX_PTES        64
#define MAX_OPS         256
#define MAX_SEGS        8
#define PAGE            4096ULL
#define MAX_MARKS       64

#define CHECK(cond, ...) do {                                           \
        if (!(cond)) {                                                  \
            fprintf(stderr, "vhost-dp-ring-fuzz: invariant broken: "    \
                    __VA_ARGS__);                                       \
            fprintf(stderr, " (%s:%d)\n", __FILE__, __LINE__);          \
            abort();                                                    \
        }                                                               \
    } while (0)

/*
 * VDP_FUZZ_KNOWN_BUGS=name,...: bugs of the core already reported, which
 * the target then tolerates (emulating their fix) so that fuzzing goes
 * on past them.  Without it, every invariant is checked as stated.
 */
static bool known_bug(const char *name);

/*
 * The input, consumed from the front; zeros once it runs out
 */

typedef struct Fdp {
    const uint8_t *p;
    size_t n;
} Fdp;

static uint8_t fdp_u8(Fdp *f)
{
    if (!f->n) {
        return 0;
    }
    f->n--;
    return *f->p++;
}

static uint16_t fdp_u16(Fdp *f)
{
    uint16_t v = fdp_u8(f);

    return v | fdp_u8(f) << 8;
}

static uint32_t fdp_u32(Fdp *f)
{
    uint32_t v = fdp_u16(f);

    return v | (uint32_t)fdp_u16(f) << 16;
}

static uint64_t fdp_u64(Fdp *f)
{
    uint64_t v = fdp_u32(f);

    return v | (uint64_t)fdp_u32(f) << 32;
}

/*
 * The guest
 */

typedef struct Region {
    uint64_t gpa;
    uint64_t size;
    uint8_t *hva;
    uint8_t *pending;       /* written while logging, not marked dirty */
    unsigned int mr;
    uint64_t mr_offset;
} Region;

typedef struct Pte {
    uint64_t iova;
    uint64_t gpa;
    uint64_t size;
    unsigned int perm;      /* IOMMU_RO, IOMMU_WO, IOMMU_RW */
} Pte;

/* Where a ring part is, as the core must see it after dp_vring_map() */
typedef struct Seg {
    uint8_t *hva;
    uint64_t gpa;
    uint64_t len;
} Seg;

typedef struct PartMap {
    uint64_t len;
    unsigned int nseg;
    Seg seg[MAX_SEGS];
    /* with a vIOMMU: the pages, as DpRingPages must hold them */
    unsigned int first_off;
    unsigned int npages;
    uint64_t page_gpa[MAX_SEGS];
    uint8_t *page_hva[MAX_SEGS];
} PartMap;

typedef struct RingMap {
    bool ok;
    PartMap part[DP_RING_PARTS];
} RingMap;

typedef struct Piece {
    uint8_t *hva;
    uint64_t gpa;
    uint64_t len;
} Piece;

/* A chain of a packed vring, see DpPackedChain */
typedef struct PChain {
    unsigned int pos;
    unsigned int ndescs;
    uint16_t id;
} PChain;

typedef struct VringModel {
    RingMap map;            /* what the core maps, when ready */
    unsigned int reports;   /* DpRings.report calls in this start */
    uint64_t taken;         /* chains taken off the avail ring */
    uint64_t completed;     /* used elements put */
    uint16_t used_start;
    uint32_t *outstanding;  /* per head: taken, not yet completed */

    /* packed vrings: positions as the core counts them, in [0, 2 num) */
    unsigned int drv_avail;     /* where the guest writes its next chain */
    unsigned int dev_avail;     /* where the core must look for chains */
    unsigned int dev_used;      /* where its next used element goes */
    unsigned int signalled;     /* dev_used at the last interrupt check */
    uint16_t found;             /* chains found */
    unsigned int live;          /* chains found and not put */
    PChain *chain;              /* by found % num */
    PChain *by_handle;          /* the chain each core handle names */
    struct vring_packed_desc *copy;     /* by slot, as found */
} VringModel;

static struct {
    unsigned int nreg;
    Region reg[MAX_REGIONS];
    DpMemTable *mt;

    bool iommu;
    bool passthrough;       /* a vIOMMU with translation off */
    unsigned int npte;
    Pte pte[MAX_PTES];
    bool scatter;           /* auto-mapped ring pages in reverse order */

    bool mrg_rxbuf;
    unsigned int hdr_len;
    unsigned int iov_max;

    DpRings *rg;
    DpVring *vr;
    VringModel m[DP_NVQS];
    uint64_t total_reports;
    int call_fd;

    struct iovec *iov;
    uint64_t *gpas;
    Piece *ref;
    uint8_t *snap;
    size_t snap_len;
    const char *known_bugs;
    bool trace;                 /* VDP_FUZZ_TRACE: the operations */
    unsigned int sink;          /* what the TX "driver" read */
    bool in_core;
    uint64_t npending;          /* bytes of Region.pending set */
    unsigned int nmarks;
    Piece marks[MAX_MARKS];     /* dirty marks made inside a core call */
} fz;

static MemoryRegion fake_mr[MAX_REGIONS];
static int mr_refs[MAX_REGIONS];
static AddressSpace fake_iommu_as, fake_target_as;

/*
 * What the core calls in the rest of QEMU
 */

static unsigned int mr_index(MemoryRegion *mr)
{
    CHECK(mr >= fake_mr && mr < fake_mr + MAX_REGIONS,
          "a MemoryRegion %p that the memory table does not have", mr);
    return mr - fake_mr;
}

void memory_region_ref(MemoryRegion *mr)
{
    qatomic_inc(&mr_refs[mr_index(mr)]);
}

void memory_region_unref(MemoryRegion *mr)
{
    CHECK(qatomic_fetch_dec(&mr_refs[mr_index(mr)]) > 0,
          "a MemoryRegion unreferenced more than referenced");
}

static void clear_pending(uint8_t *p, uint64_t len)
{
    if (!fz.npending) {
        return;
    }
    for (uint64_t i = 0; i < len; i++) {
        fz.npending -= p[i];
        p[i] = 0;
    }
}

void memory_region_set_dirty(MemoryRegion *mr, hwaddr addr, hwaddr size)
{
    unsigned int i = mr_index(mr);

    for (unsigned int j = 0; j < fz.nreg; j++) {
        Region *r = &fz.reg[j];

        if (r->mr == i && addr >= r->mr_offset &&
            addr - r->mr_offset <= r->size &&
            size <= r->size - (addr - r->mr_offset)) {
            if (!fz.in_core) {
                clear_pending(r->pending + (addr - r->mr_offset), size);
                return;
            }
            /* applied after the writes core_leave() finds */
            CHECK(fz.nmarks < MAX_MARKS, "harness: too many dirty marks");
            fz.marks[fz.nmarks++] = (Piece) {
                r->pending + (addr - r->mr_offset), 0, size
            };
            return;
        }
    }
    CHECK(false, "dirty range 0x%" PRIx64 "+0x%" PRIx64 " of MR %u is not "
          "in a guest RAM region", (uint64_t)addr, (uint64_t)size, i);
}

static const Pte *pte_find(uint64_t iova)
{
    for (unsigned int i = 0; i < fz.npte; i++) {
        if (iova - fz.pte[i].iova < fz.pte[i].size) {
            return &fz.pte[i];
        }
    }
    return NULL;
}

IOMMUTLBEntry address_space_get_iotlb_entry(AddressSpace *as, hwaddr addr,
                                            bool is_write, MemTxAttrs attrs)
{
    const Pte *p;

    CHECK(as == &fake_iommu_as && fz.iommu,
          "IOMMU translation without a vIOMMU");
    if (fz.passthrough) {
        return (IOMMUTLBEntry) {
            .target_as = &fake_target_as,
            .iova = addr & ~(PAGE - 1),
            .translated_addr = addr & ~(PAGE - 1),
            .addr_mask = PAGE - 1,
            .perm = IOMMU_RW,
        };
    }
    p = pte_find(addr);
    if (!p || !(p->perm & (is_write ? IOMMU_WO : IOMMU_RO))) {
        return (IOMMUTLBEntry) { 0 };
    }
    /* as memory.c does: the access asked for is allowed, and says RW */
    return (IOMMUTLBEntry) {
        .target_as = &fake_target_as,
        .iova = p->iova,
        .translated_addr = p->gpa,
        .addr_mask = p->size - 1,
        .perm = IOMMU_RW,
    };
}

/*
 * The core's call_rcu() (linked with --wrap=call_rcu1): no other thread
 * reads what the core frees, so free it now, rather than after a grace
 * period.  A use after the put then shows at once (ASan), and the
 * MemoryRegion references are exact after every call.
 */
void __wrap_call_rcu1(struct rcu_head *head, RCUCBFunc *func)
{
    func(head);
}

static void fz_report(DpVring *vr, const char *msg)
{
    CHECK(vr == &fz.vr[DP_RX] || vr == &fz.vr[DP_TX], "report of a vring "
          "that is not one of the queue pair");
    CHECK(vr->broken && msg && *msg, "a report of a vring not stopped");
    fz.m[vr->index].reports++;
    fz.total_reports++;
}

/*
 * The reference model
 */

static const Region *reg_by_gpa(uint64_t gpa, uint64_t *left)
{
    for (unsigned int i = 0; i < fz.nreg; i++) {
        if (gpa - fz.reg[i].gpa < fz.reg[i].size) {
            *left = fz.reg[i].size - (gpa - fz.reg[i].gpa);
            return &fz.reg[i];
        }
    }
    return NULL;
}

static const Region *reg_by_hva(const uint8_t *hva, uint64_t len)
{
    for (unsigned int i = 0; i < fz.nreg; i++) {
        uintptr_t off = (uintptr_t)hva - (uintptr_t)fz.reg[i].hva;

        if (off < fz.reg[i].size && len <= fz.reg[i].size - off) {
            return &fz.reg[i];
        }
    }
    return NULL;
}

static bool ref_iova(uint64_t iova, bool write, uint64_t *gpa, uint64_t *len)
{
    const Pte *p;

    if (fz.passthrough) {
        *gpa = iova;
        *len = PAGE - (iova & (PAGE - 1));
        return true;
    }
    p = pte_find(iova);
    if (!p || !(p->perm & (write ? IOMMU_WO : IOMMU_RO))) {
        return false;
    }
    *gpa = p->gpa + (iova - p->iova);
    *len = p->size - (iova - p->iova);
    return true;
}

static bool ref_translate_gpa(uint64_t gpa, uint64_t len, Piece *pc,
                              unsigned int *cnt, unsigned int max)
{
    while (len) {
        const Region *r;
        uint64_t left, chunk;

        if (*cnt >= max) {
            return false;
        }
        r = reg_by_gpa(gpa, &left);
        if (!r) {
            return false;
        }
        chunk = MIN(left, len);
        pc[*cnt] = (Piece) { r->hva + (gpa - r->gpa), gpa, chunk };
        (*cnt)++;
        gpa += chunk;
        len -= chunk;
    }
    return true;
}

/* What dp_translate() must give: the same pieces, split the same way */
static bool ref_translate(uint64_t addr, uint32_t len, bool write, Piece *pc,
                          unsigned int *cnt, unsigned int max)
{
    if (!fz.iommu) {
        return ref_translate_gpa(addr, len, pc, cnt, max);
    }
    while (len) {
        uint64_t gpa, left, chunk;

        if (!ref_iova(addr, write, &gpa, &left)) {
            return false;
        }
        chunk = MIN(left, len);
        if (!ref_translate_gpa(gpa, chunk, pc, cnt, max)) {
            return false;
        }
        addr += chunk;
        len -= chunk;
    }
    return true;
}

static const unsigned int split_align[DP_RING_PARTS] = { 16, 2, 4 };
static const unsigned int packed_align[DP_RING_PARTS] = { 16, 4, 4 };
#define part_align (fz.rg->packed ? packed_align : split_align)

static uint64_t part_len(unsigned int num, unsigned int part)
{
    if (fz.rg->packed) {
        return part == DP_RING_DESC ? num * 16ULL : 4;
    }
    switch (part) {
    case DP_RING_DESC:
        return num * 16ULL;
    case DP_RING_AVAIL:
        return 6 + 2ULL * num;
    default:
        return 6 + 8ULL * num;
    }
}

/* Where dp_vring_map() must put the parts of @vr, if it can */
static void ref_map(const DpVring *vr, RingMap *rm)
{
    memset(rm, 0, sizeof(*rm));
    for (unsigned int p = 0; p < DP_RING_PARTS; p++) {
        PartMap *pm = &rm->part[p];
        uint64_t addr = vr->addr[p], len = part_len(vr->num, p);

        pm->len = len;
        if (addr % part_align[p] || addr + len - 1 < addr) {
            return;             /* misaligned, or wraps the address space */
        }
        if (!fz.iommu) {
            const Region *r = reg_by_hva((uint8_t *)(uintptr_t)addr, len);

            if (!r) {
                return;
            }
            pm->nseg = 1;
            pm->seg[0].hva = (uint8_t *)(uintptr_t)addr;
            pm->seg[0].gpa = r->gpa + (pm->seg[0].hva - r->hva);
            pm->seg[0].len = len;
            continue;
        }
        pm->first_off = addr % PAGE;
        pm->npages = DIV_ROUND_UP(pm->first_off + len, PAGE);
        CHECK(pm->npages <= MAX_SEGS, "harness: ring too large");
        for (unsigned int i = 0; i < pm->npages; i++) {
            uint64_t iova = addr - pm->first_off + i * PAGE, g, g2, left;
            const Region *r;

            /*
             * the used ring is written and read (flags, index), and so
             * is a packed descriptor ring
             */
            bool w = p == DP_RING_USED ||
                     (fz.rg->packed && p == DP_RING_DESC);

            if (!ref_iova(iova, w, &g, &left) || left < PAGE ||
                (w && (!ref_iova(iova, false, &g2, &left) || g2 != g))) {
                return;
            }
            r = reg_by_gpa(g, &left);
            if (!r || left < PAGE) {
                return;
            }
            pm->page_gpa[i] = g;
            pm->page_hva[i] = r->hva + (g - r->gpa);
        }
        for (unsigned int i = 0, off = pm->first_off; i < pm->npages; i++) {
            uint64_t l = MIN(PAGE - off, len);

            pm->seg[i] = (Seg) { pm->page_hva[i] + off,
                                 pm->page_gpa[i] + off, l };
            len -= l;
            off = 0;
        }
        pm->nseg = pm->npages;
    }
    rm->ok = true;
}

/* Byte @off of part @p of vring @q, as the core maps it */
static uint8_t *part_at(int q, unsigned int p, uint64_t off)
{
    const PartMap *pm = &fz.m[q].map.part[p];

    for (unsigned int i = 0; i < pm->nseg; i++) {
        if (off < pm->seg[i].len) {
            return pm->seg[i].hva + off;
        }
        off -= pm->seg[i].len;
    }
    CHECK(false, "harness: offset %" PRIu64 " beyond ring part %u", off, p);
    return NULL;
}

static uint16_t part_get16(int q, unsigned int p, uint64_t off)
{
    uint16_t v;

    /* no field of the ring crosses a page, see vhost-dp-ring.h */
    memcpy(&v, part_at(q, p, off), 2);
    return le16_to_cpu(v);
}

static uint32_t part_get32(int q, unsigned int p, uint64_t off)
{
    uint32_t v;

    memcpy(&v, part_at(q, p, off), 4);
    return le32_to_cpu(v);
}

static void part_set16(int q, unsigned int p, uint64_t off, uint16_t val)
{
    val = cpu_to_le16(val);
    memcpy(part_at(q, p, off), &val, 2);
}

static void part_read(int q, unsigned int p, uint64_t off, void *buf,
                      size_t len)
{
    for (size_t i = 0; i < len; i++) {
        ((uint8_t *)buf)[i] = *part_at(q, p, off + i);
    }
}

static void part_write(int q, unsigned int p, uint64_t off, const void *buf,
                       size_t len)
{
    for (size_t i = 0; i < len; i++) {
        *part_at(q, p, off + i) = ((const uint8_t *)buf)[i];
    }
}

/* What dp_vring_walk() must find */
typedef struct RefWalk {
    DpWalk r;
    uint64_t len;
    unsigned int visits;
    unsigned int nind;
    Piece ind[DP_INDIRECT_PIECES];
} RefWalk;

static DpWalk ref_buffer(const struct vring_desc *d, bool write,
                         unsigned int *cnt, unsigned int max, uint64_t *total)
{
    uint16_t flags = le16_to_cpu(d->flags);
    uint64_t addr = le64_to_cpu(d->addr);
    uint32_t len = le32_to_cpu(d->len);

    if (!!(flags & VRING_DESC_F_WRITE) != write || addr + len < addr) {
        return DP_WALK_BROKEN;
    }
    if (len && !ref_translate(addr, len, write, fz.ref, cnt, max)) {
        return *cnt >= max ? DP_WALK_FULL : DP_WALK_BROKEN;
    }
    *total += len;
    return DP_WALK_OK;
}

static void ref_walk(int q, uint16_t head, bool write, unsigned int *cnt,
                     unsigned int max, RefWalk *w)
{
    static struct vring_desc table[DP_MAX_INDIRECT];
    unsigned int size = fz.vr[q].num, i = head;
    bool indirect = false;
    uint64_t total = 0;

    memset(w, 0, sizeof(*w));
    for (unsigned int seen = 1; ; seen++) {
        struct vring_desc d;
        uint16_t flags;

        if (seen > size) {
            w->r = DP_WALK_BROKEN;
            return;
        }
        w->visits++;
        if (indirect) {
            d = table[i];
        } else {
            part_read(q, DP_RING_DESC, i * 16ULL, &d, sizeof(d));
        }
        flags = le16_to_cpu(d.flags);
        if (flags & VRING_DESC_F_INDIRECT) {
            uint32_t len = le32_to_cpu(d.len);
            size_t off = 0;

            if (indirect || (flags & VRING_DESC_F_NEXT) || seen != 1 ||
                len == 0 || len % 16 || len / 16 > DP_MAX_INDIRECT ||
                !ref_translate(le64_to_cpu(d.addr), len, false, w->ind,
                               &w->nind, DP_INDIRECT_PIECES)) {
                w->r = DP_WALK_BROKEN;
                return;
            }
            for (unsigned int k = 0; k < w->nind; k++) {
                memcpy((uint8_t *)table + off, w->ind[k].hva, w->ind[k].len);
                off += w->ind[k].len;
            }
            indirect = true;
            size = len / 16;
            i = 0;
            seen = 0;
            continue;
        }
        w->r = ref_buffer(&d, write, cnt, max, &total);
        if (w->r != DP_WALK_OK) {
            return;
        }
        if (!(flags & VRING_DESC_F_NEXT)) {
            break;
        }
        i = le16_to_cpu(d.next);
        if (i >= size) {
            w->r = DP_WALK_BROKEN;
            return;
        }
    }
    if (total > INT32_MAX) {
        w->r = DP_WALK_BROKEN;
        return;
    }
    w->len = total;
}


/*
 * Packed vrings: positions in [0, 2 * num), as the core counts them
 */

static unsigned int pnum(int q)
{
    return fz.vr[q].num;
}

static unsigned int pslot(int q, unsigned int pos)
{
    return pos % pnum(q);
}

static unsigned int padd(int q, unsigned int pos, unsigned int n)
{
    return (pos + n) % (2 * pnum(q));
}

static unsigned int pdist(int q, unsigned int from, unsigned int to)
{
    return (to + 2 * pnum(q) - from) % (2 * pnum(q));
}

static uint16_t pbits(int q, unsigned int pos)
{
    return pslot(q, pos) | (pos < pnum(q)) << 15;
}

static unsigned int ppos(int q, uint16_t bits)
{
    return (bits & 0x7fff) + (bits & 0x8000 ? 0 : pnum(q));
}

/* The flags the guest gives a descriptor it makes available at @pos */
static uint16_t pavail_bits(int q, unsigned int pos)
{
    return pos < pnum(q) ? 1 << VRING_PACKED_DESC_F_AVAIL
                         : 1 << VRING_PACKED_DESC_F_USED;
}

static bool pis_avail(int q, unsigned int pos)
{
    uint16_t flags = part_get16(q, DP_RING_DESC, pslot(q, pos) * 16ULL + 14);
    bool wrap = pos < pnum(q);

    return !!(flags & 1 << VRING_PACKED_DESC_F_AVAIL) == wrap &&
           !!(flags & 1 << VRING_PACKED_DESC_F_USED) != wrap;
}

/*
 * What dp_vring_avail() must find on packed vring @q: the model's chains
 * grow as the core's must.  False if the ring must break.
 */
static bool pref_find(int q)
{
    DpVring *vr = &fz.vr[q];
    VringModel *m = &fz.m[q];
    unsigned int num = vr->num;

    while ((uint16_t)(m->found - vr->last_avail) < num &&
           pis_avail(q, m->dev_avail)) {
        unsigned int start = m->dev_avail, room = num, n = 0;
        struct vring_packed_desc d;

        if (vr->last_avail != m->found) {
            room -= pdist(q, m->chain[vr->last_avail % num].pos, start);
        }
        do {
            if (n == room) {
                return false;
            }
            part_read(q, DP_RING_DESC, pslot(q, padd(q, start, n)) * 16ULL,
                      &d, sizeof(d));
            m->copy[pslot(q, padd(q, start, n))] = d;
            n++;
        } while (le16_to_cpu(d.flags) & VRING_DESC_F_NEXT);
        if (m->live == num) {
            return false;
        }
        m->chain[m->found % num] = (PChain) {
            start, n, le16_to_cpu(d.id),
        };
        m->found++;
        m->live++;
        m->dev_avail = padd(q, start, n);
    }
    return true;
}

/* What dp_vring_walk() must find for packed chain @c, from its copies */
static void pref_walk(int q, const PChain *c, bool write, unsigned int *cnt,
                      unsigned int max, RefWalk *w)
{
    static struct vring_packed_desc table[DP_MAX_INDIRECT];
    uint64_t total = 0;

    memset(w, 0, sizeof(*w));
    for (unsigned int k = 0; k < c->ndescs; k++) {
        const struct vring_packed_desc *pd =
            &fz.m[q].copy[pslot(q, padd(q, c->pos, k))];
        struct vring_desc d = {
            .addr = pd->addr, .len = pd->len, .flags = pd->flags,
        };

        if (le16_to_cpu(d.flags) & VRING_DESC_F_INDIRECT) {
            uint32_t len = le32_to_cpu(d.len);
            size_t off = 0;

            if (c->ndescs != 1 || len == 0 || len % 16 ||
                len / 16 > DP_MAX_INDIRECT ||
                !ref_translate(le64_to_cpu(d.addr), len, false, w->ind,
                               &w->nind, DP_INDIRECT_PIECES)) {
                w->r = DP_WALK_BROKEN;
                return;
            }
            for (unsigned int i = 0; i < w->nind; i++) {
                memcpy((uint8_t *)table + off, w->ind[i].hva, w->ind[i].len);
                off += w->ind[i].len;
            }
            for (unsigned int i = 0; i < len / 16; i++) {
                struct vring_desc e = {
                    .addr = table[i].addr, .len = table[i].len,
                    .flags = table[i].flags,
                };

                w->visits++;
                if (le16_to_cpu(e.flags) & VRING_DESC_F_INDIRECT) {
                    w->r = DP_WALK_BROKEN;
                    return;
                }
                w->r = ref_buffer(&e, write, cnt, max, &total);
                if (w->r != DP_WALK_OK) {
                    return;
                }
            }
            break;
        }
        w->r = ref_buffer(&d, write, cnt, max, &total);
        if (w->r != DP_WALK_OK) {
            return;
        }
    }
    if (total > INT32_MAX) {
        w->r = DP_WALK_BROKEN;
        return;
    }
    w->len = total;
}

/*
 * Entering and leaving the core: while it runs, guest RAM is poisoned but
 * for the parts of the vring it works (and the indirect table it may
 * read), and those parts are snapshot to see what it writes.
 */

static void poison_all(bool poison)
{
    for (unsigned int i = 0; i < fz.nreg; i++) {
        if (poison) {
            ASAN_POISON_MEMORY_REGION(fz.reg[i].hva, fz.reg[i].size);
        } else {
            ASAN_UNPOISON_MEMORY_REGION(fz.reg[i].hva, fz.reg[i].size);
        }
    }
}

static void core_enter(int q, const Piece *extra, unsigned int nextra)
{
    const RingMap *rm = &fz.m[q].map;
    bool mapped = fz.vr[q].ready && rm->ok;
    size_t n = 0;

    for (unsigned int p = 0; mapped && p < DP_RING_PARTS; p++) {
        for (unsigned int s = 0; s < rm->part[p].nseg; s++) {
            memcpy(fz.snap + n, rm->part[p].seg[s].hva,
                   rm->part[p].seg[s].len);
            n += rm->part[p].seg[s].len;
        }
    }
    poison_all(true);
    fz.in_core = true;
    fz.nmarks = 0;
    for (unsigned int p = 0; mapped && p < DP_RING_PARTS; p++) {
        for (unsigned int s = 0; s < rm->part[p].nseg; s++) {
            ASAN_UNPOISON_MEMORY_REGION(rm->part[p].seg[s].hva,
                                        rm->part[p].seg[s].len);
        }
    }
    for (unsigned int i = 0; i < nextra; i++) {
        ASAN_UNPOISON_MEMORY_REGION(extra[i].hva, extra[i].len);
    }
}

/* A byte at @hva was written: while logging it must be marked dirty */
static void note_write(const uint8_t *hva)
{
    const Region *r = reg_by_hva(hva, 1);

    CHECK(r, "harness: a write outside guest RAM");
    if (qatomic_read(&fz.rg->log_all) && !r->pending[hva - r->hva]) {
        r->pending[hva - r->hva] = 1;
        fz.npending++;
    }
}

static void check_reports(void)
{
    for (int q = 0; q < DP_NVQS; q++) {
        bool broken = fz.vr[q].ready && fz.vr[q].broken;

        CHECK(fz.m[q].reports == (broken ? 1 : 0),
              "vring %d: %s, reported %u times", q,
              broken ? "broken" : "not broken", fz.m[q].reports);
    }
    CHECK(fz.rg->ring_errors == fz.total_reports,
          "ring_errors %" PRIu64 " but %" PRIu64 " reports",
          fz.rg->ring_errors, fz.total_reports);
}

/* Is @hva in a part of vring @q the core may write? */
static bool in_used(int q, const uint8_t *hva)
{
    for (unsigned int p = 0; p < DP_RING_PARTS; p++) {
        const PartMap *pm = &fz.m[q].map.part[p];

        if (p != DP_RING_USED && !(fz.rg->packed && p == DP_RING_DESC)) {
            continue;
        }
        for (unsigned int s = 0; s < pm->nseg; s++) {
            if (hva >= pm->seg[s].hva &&
                hva < pm->seg[s].hva + pm->seg[s].len) {
                return true;
            }
        }
    }
    return false;
}

static void core_leave(int q)
{
    const RingMap *rm = &fz.m[q].map;
    size_t n = 0;

    poison_all(false);
    fz.in_core = false;
    if (fz.vr[q].ready && rm->ok) {
        for (unsigned int p = 0; p < DP_RING_PARTS; p++) {
            for (unsigned int s = 0; s < rm->part[p].nseg; s++) {
                const Seg *sg = &rm->part[p].seg[s];

                if (!memcmp(sg->hva, fz.snap + n, sg->len)) {
                    n += sg->len;
                    continue;
                }
                for (uint64_t b = 0; b < sg->len; b++) {
                    if (sg->hva[b] == fz.snap[n + b]) {
                        continue;
                    }
                    /* the guest may lay the parts over each other */
                    CHECK(in_used(q, sg->hva + b), "vring %d: the core "
                          "wrote byte %" PRIu64 " of ring part %u", q, b, p);
                    note_write(sg->hva + b);
                }
                n += sg->len;
            }
        }
    }
    for (unsigned int i = 0; i < fz.nmarks; i++) {
        clear_pending(fz.marks[i].hva, fz.marks[i].len);
    }
    check_reports();
}

/* At the end of an operation: was every write of it marked in time? */
static void check_dirty(void)
{
    bool logging = qatomic_read(&fz.rg->log_all);

    if (!fz.npending) {
        return;
    }
    for (unsigned int i = 0; i < fz.nreg; i++) {
        Region *r = &fz.reg[i];

        if (logging) {
            for (uint64_t b = 0; b < r->size; b++) {
                CHECK(!r->pending[b], "guest byte 0x%" PRIx64 " written "
                      "while logging but not marked dirty", r->gpa + b);
            }
        }
        memset(r->pending, 0, r->size);
    }
    fz.npending = 0;
}

/*
 * The core's calls, each checked
 */

static bool ring_live(int q)
{
    return dp_vring_live(&fz.vr[q]);
}

static void check_map(int q)
{
    DpVring *vr = &fz.vr[q];
    const RingMap *rm = &fz.m[q].map;
    void *base[DP_RING_PARTS] = { vr->desc, vr->avail, vr->used };

    for (unsigned int p = 0; p < DP_RING_PARTS; p++) {
        const PartMap *pm = &rm->part[p];
        const DpRingPages *pg = vr->pages[p];
        bool contiguous;

        CHECK(base[p] == pm->seg[0].hva, "vring %d part %u mapped at %p, "
              "not %p", q, p, base[p], pm->seg[0].hva);
        if (!fz.iommu) {
            CHECK(!pg && !vr->scatter[p], "pages without a vIOMMU");
            continue;
        }
        CHECK(pg && pg->n == pm->npages && pg->first_off == pm->first_off,
              "vring %d part %u: wrong page list", q, p);
        for (unsigned int i = 0; i < pg->n; i++) {
            CHECK(pg->page[i].gpa == pm->page_gpa[i] &&
                  pg->page[i].hva == pm->page_hva[i] &&
                  pg->page[i].mr == &fake_mr[reg_by_hva(pm->page_hva[i],
                                                        1)->mr],
                  "vring %d part %u: page %u is not where the vIOMMU "
                  "maps it", q, p, i);
        }
        contiguous = true;
        for (unsigned int i = 1; i < pm->npages; i++) {
            contiguous &= pm->page_gpa[i] == pm->page_gpa[i - 1] + PAGE &&
                          pm->page_hva[i] == pm->page_hva[i - 1] + PAGE;
        }
        CHECK(vr->scatter[p] == (contiguous ? NULL : pg),
              "vring %d part %u: scattered is %d, expected %d", q, p,
              !!vr->scatter[p], !contiguous);
    }
    CHECK(vr->gpa[DP_RING_USED] == rm->part[DP_RING_USED].seg[0].gpa,
          "vring %d: used ring at GPA 0x%" PRIx64 ", not 0x%" PRIx64, q,
          vr->gpa[DP_RING_USED], rm->part[DP_RING_USED].seg[0].gpa);
}

static bool core_map(int q)
{
    DpVring *vr = &fz.vr[q];
    RingMap want;
    bool ok;

    ref_map(vr, &want);
    core_enter(q, NULL, 0);
    ok = dp_vring_map(vr);
    core_leave(q);
    CHECK(ok == want.ok, "vring %d: dp_vring_map() says %d, expected %d "
          "(size %u, parts 0x%" PRIx64 " 0x%" PRIx64 " 0x%" PRIx64 ", vIOMMU "
          "%d, pass-through %d)", q, ok, want.ok, vr->num,
          vr->addr[0], vr->addr[1], vr->addr[2], fz.iommu, fz.passthrough);
    if (ok) {
        fz.m[q].map = want;
        check_map(q);
    }
    return ok;
}

static void core_notify(int q, bool on, uint16_t seen)
{
    DpVring *vr = &fz.vr[q];
    uint16_t flags;
    bool r = false;

    if (!ring_live(q) || vr->remap) {
        return;
    }
    core_enter(q, NULL, 0);
    if (on) {
        r = dp_vring_notify_on(vr, seen);
    } else {
        dp_vring_notify_off(vr);
    }
    core_leave(q);
    if (fz.rg->packed) {
        flags = part_get16(q, DP_RING_USED, 2);
        if (!on) {
            CHECK(flags == VRING_PACKED_EVENT_FLAG_DISABLE,
                  "packed notify_off left kicks on");
            return;
        }
        if (fz.rg->event_idx) {
            CHECK(flags == VRING_PACKED_EVENT_FLAG_DESC &&
                  part_get16(q, DP_RING_USED, 0) ==
                  pbits(q, fz.m[q].dev_avail),
                  "packed notify_on did not ask for the next position");
        } else {
            CHECK(flags == VRING_PACKED_EVENT_FLAG_ENABLE,
                  "packed notify_on left kicks off");
        }
        CHECK(r == (!vr->broken && (seen != fz.m[q].found ||
                                    pis_avail(q, fz.m[q].dev_avail))),
              "packed notify_on returned %d", r);
        return;
    }
    flags = part_get16(q, DP_RING_USED, 0);
    if (!on) {
        CHECK(fz.rg->event_idx || (flags & VRING_USED_F_NO_NOTIFY),
              "notify_off left kicks on");
        return;
    }
    if (fz.rg->event_idx) {
        CHECK(part_get16(q, DP_RING_USED, 4 + 8ULL * vr->num) == seen,
              "notify_on did not set avail_event");
    } else {
        CHECK(!(flags & VRING_USED_F_NO_NOTIFY), "notify_on left NO_NOTIFY");
    }
    CHECK(r == (!vr->broken && part_get16(q, DP_RING_AVAIL, 2) != seen),
          "notify_on returned %d", r);
}

static bool pcore_avail(int q, uint16_t *idx)
{
    DpVring *vr = &fz.vr[q];
    VringModel *m = &fz.m[q];
    uint16_t before = m->found;
    bool expect = pref_find(q), ok;

    core_enter(q, NULL, 0);
    ok = dp_vring_avail(vr, idx);
    core_leave(q);
    CHECK(ok == expect && vr->broken == !ok, "packed vring %d: "
          "dp_vring_avail() gave %d, expected %d", q, ok, expect);
    if (!ok) {
        return false;
    }
    CHECK(*idx == m->found && vr->p_found == m->found &&
          vr->p_avail == m->dev_avail, "packed vring %d: found %u chains "
          "up to %u, expected %u up to %u", q, *idx, vr->p_avail, m->found,
          m->dev_avail);
    for (uint16_t i = before; i != m->found; i++) {
        const PChain *c = &m->chain[i % vr->num];
        uint16_t h = vr->p_order[i % vr->num];

        CHECK(h < vr->num && !m->outstanding[h] &&
              vr->p_chain[h].pos == c->pos &&
              vr->p_chain[h].ndescs == c->ndescs &&
              vr->p_chain[h].id == c->id, "packed vring %d: chain %u "
              "found as handle %u at %u (%u descriptors, id %u), expected "
              "at %u (%u, id %u)", q, i, h, vr->p_chain[h].pos,
              vr->p_chain[h].ndescs, vr->p_chain[h].id, c->pos, c->ndescs,
              c->id);
        m->by_handle[h] = *c;
    }
    return true;
}

static bool core_avail(int q, uint16_t *idx)
{
    DpVring *vr = &fz.vr[q];
    uint16_t want;
    bool ok, expect;

    if (fz.rg->packed) {
        return pcore_avail(q, idx);
    }
    want = part_get16(q, DP_RING_AVAIL, 2);
    expect = (uint16_t)(want - vr->last_avail) <= vr->num;

    core_enter(q, NULL, 0);
    ok = dp_vring_avail(vr, idx);
    core_leave(q);
    CHECK(ok == expect && (!ok || *idx == want) && vr->broken == !ok,
          "vring %d: dp_vring_avail() gave %d for %u after %u", q, ok, want,
          vr->last_avail);
    return ok;
}

static int pcore_peek(int q, uint16_t avail_idx)
{
    DpVring *vr = &fz.vr[q];
    VringModel *m = &fz.m[q];
    int h;

    core_enter(q, NULL, 0);
    h = dp_vring_peek(vr, avail_idx);
    core_leave(q);
    if (vr->last_avail == avail_idx) {
        CHECK(h == -1, "packed vring %d: peek gave %d past the end", q, h);
        return h;
    }
    CHECK(h >= 0 && h < vr->num && !m->outstanding[h] &&
          m->by_handle[h].pos == m->chain[vr->last_avail % vr->num].pos,
          "packed vring %d: peek gave handle %d, not the chain at %u", q,
          h, m->chain[vr->last_avail % vr->num].pos);
    return h;
}

static int core_peek(int q, uint16_t avail_idx)
{
    DpVring *vr = &fz.vr[q];
    int want = -1, head;
    bool was_broken = vr->broken;

    if (fz.rg->packed) {
        return pcore_peek(q, avail_idx);
    }
    if (vr->last_avail != avail_idx) {
        want = part_get16(q, DP_RING_AVAIL, 4 + 2 * (vr->last_avail %
                                                     vr->num));
        if (want >= vr->num) {
            want = -1;
        }
    }
    core_enter(q, NULL, 0);
    head = dp_vring_peek(vr, avail_idx);
    core_leave(q);
    CHECK(head == want, "vring %d: peek gave %d, the avail ring says %d",
          q, head, want);
    CHECK(vr->broken == (was_broken ||
                         (vr->last_avail != avail_idx && want < 0)),
          "vring %d: peek broke the ring wrongly", q);
    return head;
}

static DpWalk core_walk(int q, uint16_t head, bool write, unsigned int *cnt,
                        unsigned int max, uint64_t *len)
{
    DpVring *vr = &fz.vr[q];
    unsigned int before = fz.rg->run_descs, cnt0 = *cnt, rcnt = *cnt;
    RefWalk w;
    DpWalk r;

    if (fz.rg->packed) {
        pref_walk(q, &fz.m[q].by_handle[head], write, &rcnt, max, &w);
    } else {
        ref_walk(q, head, write, &rcnt, max, &w);
    }
    core_enter(q, w.ind, w.nind);
    r = dp_vring_walk(vr, fz.mt, head, write, fz.iov, write ? fz.gpas : NULL,
                      cnt, max, len);
    core_leave(q);

    CHECK(fz.rg->run_descs - before <= vr->num + DP_MAX_INDIRECT,
          "a walk visited %u descriptors, ring size %u",
          fz.rg->run_descs - before, vr->num);
    CHECK(fz.rg->run_descs - before == w.visits,
          "a walk visited %u descriptors, the model %u",
          fz.rg->run_descs - before, w.visits);
    CHECK(r == w.r, "vring %d chain %u: walk gave %d, expected %d", q, head,
          r, w.r);
    CHECK(*cnt == rcnt, "vring %d chain %u: %u iovecs, expected %u", q, head,
          *cnt, rcnt);
    CHECK(vr->broken == (r == DP_WALK_BROKEN), "broken but walk gave %d", r);
    for (unsigned int i = cnt0; i < *cnt; i++) {
        const Region *rg = reg_by_hva(fz.iov[i].iov_base, fz.iov[i].iov_len);

        CHECK(rg && fz.iov[i].iov_len, "iovec %u (%p+%zu) is not in a guest "
              "RAM region", i, fz.iov[i].iov_base, fz.iov[i].iov_len);
        CHECK(fz.iov[i].iov_base == fz.ref[i].hva &&
              fz.iov[i].iov_len == fz.ref[i].len,
              "iovec %u is %p+%zu, expected %p+%" PRIu64, i,
              fz.iov[i].iov_base, fz.iov[i].iov_len, fz.ref[i].hva,
              fz.ref[i].len);
        CHECK(!write || (fz.gpas[i] == fz.ref[i].gpa &&
                         fz.gpas[i] - rg->gpa ==
                         (uint8_t *)fz.iov[i].iov_base - rg->hva),
              "iovec %u: guest address 0x%" PRIx64 " is not where it is",
              i, fz.gpas[i]);
    }
    CHECK(r != DP_WALK_OK || *len == w.len, "chain length %" PRIu64 ", "
          "expected %" PRIu64, *len, w.len);
    return r;
}

static void core_put(int q, uint16_t head, uint32_t len)
{
    DpVring *vr = &fz.vr[q];
    VringModel *m = &fz.m[q];
    uint64_t off = 4 + 8ULL * (vr->used_idx % vr->num);

    CHECK(head < vr->num && m->outstanding[head] > 0,
          "vring %d: completing %u, which is not outstanding", q, head);
    CHECK(m->completed < m->taken, "vring %d: the used index passes what "
          "was taken", q);
    m->outstanding[head]--;
    m->completed++;
    core_enter(q, NULL, 0);
    dp_vring_put(vr, head, len);
    core_leave(q);
    if (fz.rg->packed) {
        const PChain *c = &m->by_handle[head];
        uint64_t d = pslot(q, m->dev_used) * 16ULL;
        uint16_t flags = m->dev_used < vr->num ?
                         1 << VRING_PACKED_DESC_F_AVAIL |
                         1 << VRING_PACKED_DESC_F_USED : 0;

        flags |= q == DP_RX ? VRING_DESC_F_WRITE : 0;
        CHECK(part_get16(q, DP_RING_DESC, d + 12) == c->id &&
              part_get32(q, DP_RING_DESC, d + 8) == len &&
              part_get16(q, DP_RING_DESC, d + 14) == flags,
              "packed vring %d: used element at %u not written", q,
              m->dev_used);
        m->dev_used = padd(q, m->dev_used, c->ndescs);
        m->live--;
        CHECK(vr->p_used == m->dev_used, "packed vring %d: used position "
              "%u, expected %u", q, vr->p_used, m->dev_used);
        off = 0;
    }
    CHECK(fz.rg->packed ||
          (part_get32(q, DP_RING_USED, off) == head &&
           part_get32(q, DP_RING_USED, off + 4) == len),
          "vring %d: used element not written", q);
    CHECK(vr->used_idx == (uint16_t)(m->used_start + m->completed),
          "vring %d: used index %u after %" PRIu64 " completions", q,
          vr->used_idx, m->completed);
}

static void core_flush(int q, uint16_t old)
{
    DpVring *vr = &fz.vr[q];
    uint16_t new = vr->used_idx, sig_old = vr->signalled_used;
    bool sig_valid = vr->signalled_used_valid, notify;
    uint64_t irqs = fz.rg->interrupts;

    core_enter(q, NULL, 0);
    dp_vring_flush(vr, old, fz.mt);
    core_leave(q);
    if (new == old) {
        CHECK(fz.rg->interrupts == irqs, "an interrupt for nothing");
        return;
    }
    if (fz.rg->packed) {
        VringModel *m = &fz.m[q];
        uint16_t flags = part_get16(q, DP_RING_AVAIL, 2);

        if (fz.rg->event_idx && flags == VRING_PACKED_EVENT_FLAG_DESC) {
            uint16_t ow = part_get16(q, DP_RING_AVAIL, 0);
            unsigned int ev = (ow & 0x7fff) % vr->num +
                              (ow & 0x8000 ? 0 : vr->num);

            notify = !sig_valid || pdist(q, ev, m->dev_used) - 1 <
                                   pdist(q, m->signalled, m->dev_used);
        } else {
            notify = flags != VRING_PACKED_EVENT_FLAG_DISABLE;
        }
        m->signalled = m->dev_used;
        notify &= vr->call_fd >= 0;
        CHECK(fz.rg->interrupts - irqs == notify, "packed vring %d: %"
              PRIu64 " interrupts, expected %d", q,
              fz.rg->interrupts - irqs, notify);
        return;
    }
    CHECK(part_get16(q, DP_RING_USED, 2) == new, "used index not published");
    if (fz.rg->event_idx) {
        uint16_t ev = part_get16(q, DP_RING_AVAIL, 4 + 2 * vr->num);

        notify = !sig_valid || vring_need_event(ev, new, sig_old);
    } else {
        notify = !(part_get16(q, DP_RING_AVAIL, 0) &
                   VRING_AVAIL_F_NO_INTERRUPT);
    }
    notify &= vr->call_fd >= 0;
    CHECK(fz.rg->interrupts - irqs == notify, "vring %d: %" PRIu64
          " interrupts, expected %d", q, fz.rg->interrupts - irqs, notify);
}

static void take(int q, uint16_t head)
{
    fz.m[q].outstanding[head]++;
    fz.m[q].taken++;
}

/* The chains given back to the ring (TX back-pressure) */
static void untake(int q, uint16_t head)
{
    CHECK(fz.m[q].outstanding[head] > 0, "harness: untake");
    fz.m[q].outstanding[head]--;
    fz.m[q].taken--;
}

/*
 * The start of a run of the queue pair (vhost-dp-iothread.c: dp_run()):
 * the IOTLB of the last run goes, rings the vIOMMU changed are mapped
 * again, and then a live ring must be mapped where the vIOMMU says.
 */
static void run_start(void)
{
    dp_iotlb_flush(fz.rg);
    fz.rg->run_descs = 0;
    for (int q = 0; q < DP_NVQS; q++) {
        DpVring *vr = &fz.vr[q];
        RingMap now;

        if (vr->remap) {
            vr->remap = false;
            if (ring_live(q) && !core_map(q)) {
                dp_vring_error(vr, "the vIOMMU no longer maps the ring");
                check_reports();
            }
        }
        if (!ring_live(q)) {
            continue;
        }
        ref_map(vr, &now);
        CHECK(now.ok, "vring %d: in use, but the vIOMMU no longer maps it "
              "for its accesses", q);
        for (unsigned int p = 0; p < DP_RING_PARTS; p++) {
            const PartMap *a = &now.part[p], *b = &fz.m[q].map.part[p];

            for (unsigned int s = 0; s < a->nseg; s++) {
                CHECK(a->seg[s].hva == b->seg[s].hva, "vring %d part %u: "
                      "stale mapping of page %u after an invalidation", q,
                      p, s);
            }
        }
    }
}

static bool remap_pending(void)
{
    return fz.vr[DP_RX].remap || fz.vr[DP_TX].remap;
}

/*
 * vhost-dp-net.c: dp_tx_burst()
 */

static void op_tx_burst(Fdp *f)
{
    unsigned int max = 1 + fdp_u8(f) % VHOST_DP_BURST, sent_max = fdp_u8(f);
    DpVring *vr = &fz.vr[DP_TX];
    struct {
        uint16_t head;
        int pkt;
    } chain[VHOST_DP_BURST];
    unsigned int n = 0, iov_used = 0, taken = 0, sent, k;
    uint16_t avail_idx, start, old_used;

    if (remap_pending()) {
        run_start();
    }
    if (!ring_live(DP_TX)) {
        return;
    }
    if (!vr->polling) {
        core_notify(DP_TX, false, 0);
    }
    start = vr->last_avail;
    old_used = vr->used_idx;
    if (!core_avail(DP_TX, &avail_idx)) {
        return;
    }
    while (taken < max &&
           (!taken || fz.rg->run_descs < DP_RUN_DESC_BUDGET)) {
        int head = core_peek(DP_TX, avail_idx);
        unsigned int first = iov_used;
        uint64_t len;
        DpWalk r;

        if (head < 0) {
            break;
        }
        r = core_walk(DP_TX, head, false, &iov_used, fz.iov_max, &len);
        if (r == DP_WALK_FULL) {
            iov_used = first;
            if (!n) {
                dp_vring_error(vr, "chain %u has more than %u pieces",
                               head, fz.iov_max);
                check_reports();
            }
            break;
        }
        if (r != DP_WALK_OK) {
            break;
        }
        /* the driver reads the packet */
        for (unsigned int i = first; i < iov_used; i++) {
            const uint8_t *b = fz.iov[i].iov_base;

            fz.sink += b[0] + b[fz.iov[i].iov_len - 1];
        }
        chain[taken].head = head;
        if (len < fz.hdr_len || len - fz.hdr_len > DP_MAX_FRAME) {
            iov_used = first;
            chain[taken].pkt = -1;
        } else {
            chain[taken].pkt = n++;
        }
        take(DP_TX, head);
        taken++;
        vr->last_avail++;
    }
    sent = MIN(n, sent_max);
    for (k = 0; k < taken; k++) {
        if (chain[k].pkt >= (int)sent) {
            break;
        }
        core_put(DP_TX, chain[k].head, 0);
    }
    if (k < taken) {
        for (unsigned int j = k; j < taken; j++) {
            untake(DP_TX, chain[j].head);
        }
        vr->last_avail = start + k;
    }
    core_flush(DP_TX, old_used);
}

/*
 * vhost-dp-net.c: dp_rx_burst()
 */

typedef enum {
    RX_DELIVERED,
    RX_DROPPED,
    RX_NO_BUFFERS,
    RX_BROKEN,
} RxResult;

static RxResult rx_one(uint16_t avail_idx, uint32_t plen, uint8_t fill)
{
    static uint16_t heads[DP_PKT_IOV_MAX];
    static uint32_t head_len[DP_PKT_IOV_MAX];
    DpVring *vr = &fz.vr[DP_RX];
    uint64_t need = (uint64_t)plen + fz.hdr_len, have = 0, left;
    unsigned int nheads = 0, iov_cnt = 0;
    uint16_t start = vr->last_avail;
    RxResult r = RX_DELIVERED;

    while (have < need) {
        uint64_t len;
        int head;

        if ((nheads && !fz.mrg_rxbuf) || nheads == DP_PKT_IOV_MAX) {
            r = RX_DROPPED;
            break;
        }
        head = core_peek(DP_RX, avail_idx);
        if (head < 0) {
            r = vr->broken ? RX_BROKEN :
                (uint16_t)(avail_idx - start) == vr->num ?
                RX_DROPPED : RX_NO_BUFFERS;
            break;
        }
        switch (core_walk(DP_RX, head, true, &iov_cnt, fz.iov_max, &len)) {
        case DP_WALK_OK:
            break;
        case DP_WALK_FULL:
            r = RX_DROPPED;
            break;
        default:
            r = RX_BROKEN;
            break;
        }
        if (r == RX_DELIVERED && !len) {
            dp_vring_error(vr, "empty receive buffer %u", head);
            check_reports();
            r = RX_BROKEN;
        }
        if (r != RX_DELIVERED) {
            break;
        }
        vr->last_avail++;
        heads[nheads] = head;
        head_len[nheads] = MIN(len, need - have);
        have += len;
        nheads++;
    }
    if (r != RX_DELIVERED) {
        vr->last_avail = start;
        return r;
    }
    /* the header and the frame, into the guest's buffers */
    left = need;
    for (unsigned int i = 0; i < iov_cnt && left; i++) {
        uint64_t l = MIN(left, fz.iov[i].iov_len);

        memset(fz.iov[i].iov_base, fill, l);
        for (uint64_t b = 0; b < l; b++) {
            note_write((uint8_t *)fz.iov[i].iov_base + b);
        }
        left -= l;
    }
    for (unsigned int i = 0; i < nheads; i++) {
        take(DP_RX, heads[i]);
    }
    for (unsigned int i = 0; i < nheads; i++) {
        core_put(DP_RX, heads[i], head_len[i]);
    }
    if (qatomic_read(&fz.rg->log_all)) {
        left = need;
        for (unsigned int i = 0; i < iov_cnt && left; i++) {
            uint64_t l = MIN(left, fz.iov[i].iov_len);

            dp_mark_dirty(fz.rg, fz.mt, fz.gpas[i], l);
            left -= l;
        }
    }
    return RX_DELIVERED;
}

static void op_rx_burst(Fdp *f)
{
    unsigned int nf = 1 + fdp_u8(f) % 4;
    uint32_t plen[4];
    DpVring *vr = &fz.vr[DP_RX];
    uint16_t avail_idx, old_used;

    for (unsigned int i = 0; i < nf; i++) {
        plen[i] = fdp_u16(f);
    }
    if (remap_pending()) {
        run_start();
    }
    if (!ring_live(DP_RX)) {
        return;
    }
    old_used = vr->used_idx;
    if (!core_avail(DP_RX, &avail_idx)) {
        return;
    }
    for (unsigned int i = 0; i < nf; i++) {
        RxResult r = rx_one(avail_idx, plen[i], 0xa0 + i);

        if (r == RX_NO_BUFFERS) {
            core_notify(DP_RX, true, avail_idx);
            break;
        }
        if (r == RX_BROKEN) {
            break;
        }
    }
    core_flush(DP_RX, old_used);
}

/*
 * The guest's side
 */

/* The address the guest gives for byte @off of region @r */
static uint64_t gaddr(unsigned int r, uint64_t off)
{
    const Region *rg = &fz.reg[r % fz.nreg];
    uint64_t gpa = rg->gpa + off;

    if (fz.iommu && !fz.passthrough) {
        for (unsigned int i = 0; i < fz.npte; i++) {
            if (gpa - fz.pte[i].gpa < fz.pte[i].size) {
                return fz.pte[i].iova + (gpa - fz.pte[i].gpa);
            }
        }
    }
    return gpa;
}

static bool pte_add(uint64_t iova, uint64_t gpa, uint64_t size,
                    unsigned int perm)
{
    iova &= ~(size - 1);
    gpa &= ~(size - 1);
    if (fz.npte == MAX_PTES || iova + size - 1 < iova) {
        return false;
    }
    for (unsigned int i = 0; i < fz.npte; i++) {
        const Pte *p = &fz.pte[i];

        if (iova <= p->iova + p->size - 1 && p->iova <= iova + size - 1) {
            return false;
        }
    }
    fz.pte[fz.npte++] = (Pte) { iova, gpa, size, perm };
    return true;
}

static void write_desc(int q, uint16_t i, uint64_t addr, uint32_t len,
                       uint16_t flags, uint16_t next)
{
    struct vring_desc d = {
        .addr = cpu_to_le64(addr), .len = cpu_to_le32(len),
        .flags = cpu_to_le16(flags), .next = cpu_to_le16(next),
    };

    if (fz.rg->packed) {
        /* a packed descriptor: @next is the buffer id */
        struct vring_packed_desc pd = {
            .addr = d.addr, .len = d.len, .id = d.next, .flags = d.flags,
        };

        memcpy(&d, &pd, sizeof(d));
    }
    if (fz.vr[q].ready && fz.m[q].map.ok) {
        part_write(q, DP_RING_DESC, (i % fz.vr[q].num) * 16ULL, &d,
                   sizeof(d));
    }
}

static void avail_push(int q, uint16_t head)
{
    DpVring *vr = &fz.vr[q];
    uint16_t idx;

    if (!vr->ready || !fz.m[q].map.ok) {
        return;
    }
    idx = part_get16(q, DP_RING_AVAIL, 2);
    part_set16(q, DP_RING_AVAIL, 4 + 2 * (idx % vr->num), head);
    part_set16(q, DP_RING_AVAIL, 2, idx + 1);
}

static void write_ram(unsigned int r, uint64_t off, const void *buf,
                      size_t len)
{
    Region *rg = &fz.reg[r % fz.nreg];

    if (off < rg->size) {
        memcpy(rg->hva + off, buf, MIN(len, rg->size - off));
    }
}

static void op_desc(Fdp *f)
{
    uint8_t x = fdp_u8(f);
    int q = x & 1;
    uint16_t i = fdp_u16(f), flags, next;
    uint64_t addr;
    uint32_t len;

    if (x & 2) {
        addr = fdp_u64(f);
    } else {
        unsigned int r = fdp_u8(f);

        addr = gaddr(r, fdp_u16(f));
    }
    len = x & 4 ? fdp_u32(f) : fdp_u16(f);
    flags = fdp_u8(f);
    next = fdp_u16(f);
    if (fz.rg->packed) {
        flags |= (x & 8 ? 1 << VRING_PACKED_DESC_F_AVAIL : 0) |
                 (x & 16 ? 1 << VRING_PACKED_DESC_F_USED : 0);
    }
    write_desc(q, i, addr, len, flags, next);
}

static void op_chain(Fdp *f)
{
    uint8_t x = fdp_u8(f);
    int q = x & 1;
    uint16_t head = fdp_u16(f);
    unsigned int k = 1 + fdp_u8(f) % 8, r = fdp_u8(f);
    uint16_t off = fdp_u16(f), seg = fdp_u16(f) % 4096;
    unsigned int num = fz.vr[q].num ? fz.vr[q].num : 1;
    uint16_t wflag = q == DP_RX ? VRING_DESC_F_WRITE : 0;

    if (fz.rg->packed) {
        /* at the guest's position, the first descriptor's flags last */
        unsigned int at = fz.m[q].drv_avail;

        if (!fz.vr[q].ready || !fz.m[q].map.ok) {
            return;
        }
        for (int j = k - 1; j >= 0; j--) {
            unsigned int pos = padd(q, at, j);
            uint16_t flags = wflag | pavail_bits(q, pos);

            if (j + 1 < (int)k) {
                flags |= VRING_DESC_F_NEXT;
            } else if (x & 4) {
                flags ^= VRING_DESC_F_WRITE;
            }
            if (!j && (x & 2)) {
                flags ^= 1 << VRING_PACKED_DESC_F_AVAIL |
                         1 << VRING_PACKED_DESC_F_USED;
            }
            write_desc(q, pslot(q, pos),
                       gaddr(r, off + (uint64_t)j * seg), seg, flags, head);
        }
        if (!(x & 2)) {
            fz.m[q].drv_avail = padd(q, at, k);
        }
        return;
    }
    head %= num;
    for (unsigned int j = 0; j < k; j++) {
        uint16_t idx = (head + j) % num, flags = wflag;

        if (j + 1 < k) {
            flags |= VRING_DESC_F_NEXT;
        } else if (x & 4) {
            flags ^= VRING_DESC_F_WRITE;
        }
        write_desc(q, idx, gaddr(r, off + (uint64_t)j * seg), seg, flags,
                   (idx + 1) % num);
    }
    if (!(x & 2)) {
        avail_push(q, head);
    }
}

static void op_indirect(Fdp *f)
{
    static struct vring_desc table[DP_MAX_INDIRECT];
    uint8_t x = fdp_u8(f);
    int q = x & 1;
    uint16_t head = fdp_u16(f);
    unsigned int k = x & 8 ? DP_MAX_INDIRECT : 1 + fdp_u8(f) % 64;
    unsigned int tr = fdp_u8(f), r = fdp_u8(f);
    uint16_t toff = fdp_u16(f), off = fdp_u16(f), seg = fdp_u16(f) % 4096;
    unsigned int num = fz.vr[q].num ? fz.vr[q].num : 1;
    uint16_t wflag = q == DP_RX ? VRING_DESC_F_WRITE : 0;
    uint32_t tlen = k * 16;

    if (!(x & 32)) {
        toff &= ~15;
    }
    if (fz.rg->packed) {
        struct vring_packed_desc *pt = (void *)table;
        unsigned int at = fz.m[q].drv_avail;

        if (!fz.vr[q].ready || !fz.m[q].map.ok) {
            return;
        }
        for (unsigned int j = 0; j < k; j++) {
            pt[j] = (struct vring_packed_desc) {
                .addr = cpu_to_le64(gaddr(r, off + (uint64_t)j * seg)),
                .len = cpu_to_le32(seg),
                .flags = cpu_to_le16(wflag | (j + 1 == k && (x & 16) ?
                                              VRING_DESC_F_INDIRECT : 0)),
            };
        }
        write_ram(tr, toff, pt, tlen);
        if (x & 64) {
            tlen += 8;
        }
        write_desc(q, pslot(q, at), gaddr(tr, toff), tlen,
                   VRING_DESC_F_INDIRECT | pavail_bits(q, at) |
                   (x & 128 ? VRING_DESC_F_NEXT : 0), head);
        if (!(x & 2)) {
            fz.m[q].drv_avail = padd(q, at, 1);
        }
        return;
    }
    for (unsigned int j = 0; j < k; j++) {
        bool last = j + 1 == k;

        table[j] = (struct vring_desc) {
            .addr = cpu_to_le64(gaddr(r, off + (uint64_t)j * seg)),
            .len = cpu_to_le32(seg),
            .flags = cpu_to_le16(wflag | (last && !(x & 16) ? 0 :
                                          VRING_DESC_F_NEXT)),
            .next = cpu_to_le16(last ? 0 : j + 1),
        };
    }
    write_ram(tr, toff, table, tlen);
    if (x & 64) {
        tlen += 8;
    }
    write_desc(q, head % num, gaddr(tr, toff), tlen,
               VRING_DESC_F_INDIRECT | (x & 128 ? VRING_DESC_F_NEXT : 0), 0);
    if (!(x & 2)) {
        avail_push(q, head % num);
    }
}

static void op_avail(Fdp *f)
{
    uint8_t x = fdp_u8(f);
    int q = x & 1;
    uint16_t a = fdp_u16(f), b = fdp_u16(f);
    DpVring *vr = &fz.vr[q];

    if (!vr->ready || !fz.m[q].map.ok) {
        return;
    }
    if (fz.rg->packed) {
        uint64_t fo = (a % vr->num) * 16ULL + 14;
        uint16_t flags = part_get16(q, DP_RING_DESC, fo) &
                         ~(1 << VRING_PACKED_DESC_F_AVAIL |
                           1 << VRING_PACKED_DESC_F_USED);

        switch ((x >> 1) & 3) {
        case 0:     /* available in the guest's lap */
            flags |= pavail_bits(q, fz.m[q].drv_avail);
            part_set16(q, DP_RING_DESC, fo, flags);
            break;
        case 1:     /* the guest's position jumps */
            fz.m[q].drv_avail = a % (2 * vr->num);
            break;
        case 2:
            part_set16(q, DP_RING_DESC, fo, b);
            break;
        default:    /* looks used in the guest's lap */
            if (fz.m[q].drv_avail < vr->num) {
                flags |= 1 << VRING_PACKED_DESC_F_AVAIL |
                         1 << VRING_PACKED_DESC_F_USED;
            }
            part_set16(q, DP_RING_DESC, fo, flags);
            break;
        }
        return;
    }
    switch ((x >> 1) & 3) {
    case 0:
        avail_push(q, a);
        break;
    case 1:
        part_set16(q, DP_RING_AVAIL, 2, vr->last_avail + a % (2 * vr->num +
                                                              1));
        break;
    case 2:
        part_set16(q, DP_RING_AVAIL, 2, a);
        break;
    default:
        part_set16(q, DP_RING_AVAIL, 4 + 2 * (a % vr->num), b);
        break;
    }
}

static void op_flags(Fdp *f)
{
    int q = fdp_u8(f) & 1;
    uint16_t flags = fdp_u16(f), ev = fdp_u16(f);

    if (fz.vr[q].ready && fz.m[q].map.ok && fz.rg->packed) {
        /* the driver event area: off_wrap, and flags mostly valid */
        part_set16(q, DP_RING_AVAIL, 0, ev);
        part_set16(q, DP_RING_AVAIL, 2, flags & 0x100 ? flags : flags % 3);
    } else if (fz.vr[q].ready && fz.m[q].map.ok) {
        part_set16(q, DP_RING_AVAIL, 0, flags);
        part_set16(q, DP_RING_AVAIL, 4 + 2 * fz.vr[q].num, ev);
    }
}

static void op_raw(Fdp *f)
{
    unsigned int r = fdp_u8(f), n = 1 + fdp_u8(f) % 16;
    uint16_t off = fdp_u16(f);
    uint8_t buf[16];

    for (unsigned int i = 0; i < n; i++) {
        buf[i] = fdp_u8(f);
    }
    write_ram(r, off, buf, n);
}

static void op_ring(Fdp *f)
{
    uint8_t x = fdp_u8(f);
    int q = x & 1;
    unsigned int p = (x >> 1) % DP_RING_PARTS;
    uint16_t off = fdp_u16(f), val = fdp_u16(f);

    if (fz.vr[q].ready && fz.m[q].map.ok) {
        part_set16(q, p, (off % fz.m[q].map.part[p].len) & ~1ULL, val);
    }
}

static void op_notify(Fdp *f)
{
    uint8_t x = fdp_u8(f);
    int q = x & 1;
    uint16_t raw = fdp_u16(f), seen;

    if (!ring_live(q) || fz.vr[q].remap) {
        return;
    }
    switch ((x >> 2) & 3) {
    case 0:
        seen = fz.vr[q].last_avail;
        break;
    case 1:
        seen = fz.rg->packed ? fz.m[q].found
                             : part_get16(q, DP_RING_AVAIL, 2);
        break;
    default:
        seen = raw;
        break;
    }
    core_notify(q, x & 2, seen);
}

/* The vIOMMU dropped [first, last]: vhost-dp-ops.c, and what it misses */
static void invalidate(uint64_t first, uint64_t last)
{
    if (!fz.iommu) {
        return;
    }
    dp_iotlb_flush(fz.rg);
    for (int q = 0; q < DP_NVQS; q++) {
        DpVring *vr = &fz.vr[q];
        bool hit = dp_vring_invalidated(vr, first, last), want = false;

        for (unsigned int p = 0; vr->ready && p < DP_RING_PARTS; p++) {
            uint64_t a = vr->addr[p], l = part_len(vr->num, p);

            /* the bytes of the part, wrapping the IOVA space or not */
            for (uint64_t o = 0; o < l && !want; o += PAGE) {
                uint64_t lo = a + o, hi = lo + MIN(PAGE, l - o) - 1;

                want = hi >= lo ? lo <= last && first <= hi
                                : lo <= last || first <= hi;
            }
        }
        CHECK(hit || !want, "vring %d: "
              "invalidating [0x%" PRIx64 ", 0x%" PRIx64 "] misses a part "
              "of the ring", q, first, last);
        if (hit || want) {
            vr->remap = true;
        }
    }
}

static void op_ptmap(Fdp *f)
{
    uint8_t x = fdp_u8(f);
    uint64_t size = PAGE << (x % 5);
    uint64_t iova = fdp_u64(f);
    unsigned int r = fdp_u8(f);
    uint64_t off = fdp_u16(f);

    pte_add(iova, fz.reg[r % fz.nreg].gpa + off, size, 1 + (x >> 3) % 3);
}

static void op_ptunmap(Fdp *f)
{
    uint8_t x = fdp_u8(f);
    uint64_t first, last;
    Pte p;

    if (!fz.npte) {
        return;
    }
    p = fz.pte[x % fz.npte];
    fz.pte[x % fz.npte] = fz.pte[--fz.npte];
    first = p.iova;
    last = p.iova + p.size - 1;
    if (x & 0x80) {
        /* the guest invalidates a wider range */
        first = first > PAGE ? first - PAGE : 0;
        last = last + PAGE > last ? last + PAGE : UINT64_MAX;
    }
    invalidate(first, last);
}

static void op_inval(Fdp *f)
{
    uint64_t first = fdp_u64(f), len = fdp_u32(f);

    invalidate(first, first + len < first ? UINT64_MAX : first + len);
}

static void op_translate(Fdp *f)
{
    uint8_t x = fdp_u8(f);
    unsigned int r = fdp_u8(f), max = 1 + fdp_u8(f) % 32;
    uint64_t addr = x & 2 ? fdp_u64(f) : gaddr(r, fdp_u16(f));
    uint32_t len = fdp_u16(f);
    unsigned int cnt = 0, rcnt = 0;
    bool ok, want;

    want = ref_translate(addr, len, x & 1, fz.ref, &rcnt, max);
    poison_all(true);
    ok = dp_translate(fz.rg, fz.mt, addr, len, x & 1, fz.iov, fz.gpas, &cnt,
                      max);
    poison_all(false);
    CHECK(ok == want && cnt == rcnt, "dp_translate(0x%" PRIx64 "+%u) gave "
          "%d with %u pieces, expected %d with %u", addr, len, ok, cnt, want,
          rcnt);
    for (unsigned int i = 0; i < cnt; i++) {
        CHECK(fz.iov[i].iov_base == fz.ref[i].hva &&
              fz.iov[i].iov_len == fz.ref[i].len &&
              fz.gpas[i] == fz.ref[i].gpa, "dp_translate: piece %u", i);
    }
}

/*
 * Device start and stop (vhost-dp-ops.c)
 */

static void vring_config(Fdp *f, int q)
{
    DpVring *vr = &fz.vr[q];
    VringModel *m = &fz.m[q];
    uint8_t nl = fdp_u8(f), pl = fdp_u8(f);
    unsigned int r = (pl >> 2) % fz.nreg, ib = fdp_u8(f);
    uint64_t off = fdp_u16(f), iova_base;
    Region *rg = &fz.reg[r];
    static const uint64_t bases[] = {
        0, 0x100000, 0x7fff0000, 0x100000000ULL, 0xfffffffffff00000ULL,
        0xffffffffffffe000ULL,
    };

    vr->num = 1u << (nl % 11);
    vr->setup = nl & 0x80 ? DP_SETUP_NUM : DP_SETUP_ALL;
    vr->last_avail = fdp_u16(f);
    if (fz.rg->packed) {
        /* mostly a base inside the ring, as after a stop */
        uint16_t a = vr->last_avail;
        uint16_t bits = (a & 0x8000) | (a & 0x3fff) % vr->num;

        dp_vring_set_base(vr, a & 0x4000 ? a | (uint32_t)fdp_u16(f) << 16
                                         : bits | (uint32_t)bits << 16);
    }
    g_free(m->outstanding);
    m->outstanding = g_new0(uint32_t, vr->num);
    m->taken = m->completed = 0;
    iova_base = bases[ib % ARRAY_SIZE(bases)] + (ib / ARRAY_SIZE(bases)) *
                0x10000ULL;

    switch (pl & 3) {
    case 0:
    case 1: {
        /* one after the other, the used ring on its own page with 1 */
        uint64_t o[DP_RING_PARTS];

        o[0] = (off % rg->size) & ~15ULL;
        o[1] = o[0] + part_len(vr->num, 0);
        o[2] = ROUND_UP(o[1] + part_len(vr->num, 1), pl & 1 ? PAGE : 4);
        for (unsigned int p = 0; p < DP_RING_PARTS; p++) {
            vr->addr[p] = fz.iommu && !fz.passthrough ? iova_base + o[p] :
                          fz.iommu ? rg->gpa + o[p] :
                          (uintptr_t)rg->hva + o[p];
        }
        if (fz.iommu && !fz.passthrough) {
            uint64_t npages = DIV_ROUND_UP(rg->size, PAGE);

            for (uint64_t i = 0; i < npages; i++) {
                uint64_t g = fz.scatter ? npages - 1 - i : i;

                pte_add(iova_base + i * PAGE,
                        (rg->gpa & ~(PAGE - 1)) + g * PAGE, PAGE, IOMMU_RW);
            }
        }
        vr->used_log_addr = rg->gpa + o[2];
        break;
    }
    case 2:
        for (unsigned int p = 0; p < DP_RING_PARTS; p++) {
            unsigned int pr = fdp_u8(f) % fz.nreg;
            uint64_t po = (fdp_u16(f) % fz.reg[pr].size) &
                          ~(uint64_t)(part_align[p] - 1);

            vr->addr[p] = fz.iommu ? gaddr(pr, po)
                                   : (uintptr_t)fz.reg[pr].hva + po;
            if (p == DP_RING_USED) {
                vr->used_log_addr = fz.reg[pr].gpa + po;
            }
        }
        break;
    default:
        for (unsigned int p = 0; p < DP_RING_PARTS; p++) {
            vr->addr[p] = fdp_u64(f);
        }
        vr->used_log_addr = 0;
        break;
    }
}

static void dev_stop(void)
{
    for (int q = 0; q < DP_NVQS; q++) {
        DpVring *vr = &fz.vr[q];
        VringModel *m = &fz.m[q];

        if (vr->p_chain) {
            /* where a packed vring takes up again: no chain is held */
            unsigned int pos = vr->last_avail != m->found ?
                               m->chain[vr->last_avail % vr->num].pos :
                               m->dev_avail;
            bool check = !vr->broken;

            dp_vring_end(vr);
            CHECK(!check || vr->base ==
                  (pbits(q, pos) | (uint32_t)pbits(q, m->dev_used) << 16),
                  "packed vring %d: base 0x%x at the stop", q, vr->base);
        }
        g_clear_pointer(&m->chain, g_free);
        g_clear_pointer(&m->by_handle, g_free);
        g_clear_pointer(&m->copy, g_free);
        dp_vring_unmap(&fz.vr[q]);
        fz.vr[q].ready = false;
        memset(&fz.m[q].map, 0, sizeof(fz.m[q].map));
    }
}

static void dev_start(uint8_t cfg)
{
    /* as dp_dev_start() */
    dp_rings_start(fz.rg);
    fz.rg->event_idx = cfg & 1;
    qatomic_set(&fz.rg->log_all, !!(cfg & 2));
    fz.rg->iommu_as = fz.iommu ? &fake_iommu_as : NULL;
    for (int q = 0; q < DP_NVQS; q++) {
        /* a new start: what broke in the last one is forgotten */
        fz.m[q].reports = 0;
        fz.vr[q].broken = false;
    }
    for (int q = 0; q < DP_NVQS; q++) {
        DpVring *vr = &fz.vr[q];

        vr->ready = vr->setup == DP_SETUP_ALL;
        if (!vr->ready) {
            continue;
        }
        if (!core_map(q)) {
            dev_stop();
            dp_iotlb_flush(fz.rg);
            return;
        }
    }
    /* both mapped: a start that fails has begun nothing */
    for (int q = 0; q < DP_NVQS; q++) {
        DpVring *vr = &fz.vr[q];

        if (!vr->ready) {
            continue;
        }
        if (fz.rg->packed) {
            VringModel *m = &fz.m[q];
            bool want = (vr->base & 0x7fff) < vr->num &&
                        (vr->base >> 16 & 0x7fff) < vr->num, ok;

            m->chain = g_new0(PChain, vr->num);
            m->by_handle = g_new0(PChain, vr->num);
            m->copy = g_new0(struct vring_packed_desc, vr->num);
            m->dev_avail = want ? ppos(q, vr->base) : 0;
            m->dev_used = want ? ppos(q, vr->base >> 16) : 0;
            m->drv_avail = m->dev_avail;
            m->signalled = m->dev_used;
            m->found = 0;
            m->live = 0;
            m->used_start = 0;
            core_enter(q, NULL, 0);
            ok = dp_vring_begin(vr);
            core_leave(q);
            CHECK(ok == want && vr->broken == !ok, "packed vring %d: "
                  "begin gave %d for base 0x%x", q, ok, vr->base);
            CHECK(!ok || (vr->p_avail == m->dev_avail &&
                          vr->p_used == m->dev_used),
                  "packed vring %d: begins at the wrong place", q);
            if (!ok) {
                continue;
            }
        } else {
            vr->used_idx = part_get16(q, DP_RING_USED, 2);
        }
        fz.m[q].used_start = vr->used_idx;
        vr->signalled_used_valid = false;
        vr->broken = false;
        vr->polling = false;
        vr->remap = false;
        if (q == DP_TX) {
            core_notify(q, true, vr->last_avail);
        } else {
            core_notify(q, false, 0);
        }
    }
    dp_iotlb_flush(fz.rg);
}

static void op_restart(Fdp *f)
{
    uint8_t cfg = fdp_u8(f);

    dev_stop();
    fz.iommu = cfg & 4;
    fz.passthrough = fz.iommu && (cfg & 8);
    fz.rg->packed = cfg & 32;     /* the guest renegotiates */
    for (int q = 0; q < DP_NVQS; q++) {
        /* no call fd: the guest masked the interrupt, say */
        fz.vr[q].call_fd = cfg & 16 ? -1 : fz.call_fd;
    }
    for (int q = 0; q < DP_NVQS; q++) {
        vring_config(f, q);
    }
    dev_start(cfg);
}

/*
 * One input: the set-up (setup()), then operations, one byte each and
 * their arguments (tests/fuzz/gen-corpus.py writes them too)
 */

enum {
    OP_DESC,        /* write one descriptor */
    OP_CHAIN,       /* write a chain and make it available */
    OP_INDIRECT,    /* write an indirect table, its head, make it avail */
    OP_AVAIL,       /* avail entries and index */
    OP_FLAGS,       /* avail flags and used_event */
    OP_RAW,         /* stray bytes in guest RAM */
    OP_RING,        /* a 16-bit write into a ring part */
    OP_TX,          /* a TX burst */
    OP_RX,          /* an RX burst */
    OP_NOTIFY,      /* notifications on or off */
    OP_RUN,         /* a new run of the queue pair */
    OP_LOG,         /* migration logging toggled */
    OP_PTMAP,       /* the vIOMMU maps a block */
    OP_PTUNMAP,     /* the vIOMMU unmaps one, and invalidates */
    OP_INVAL,       /* an invalidation alone */
    OP_RESTART,     /* the device stops and starts again */
    OP_TRANSLATE,   /* dp_translate() alone */
    OP_COUNT,
};

static const char *const op_names[OP_COUNT] = {
    "desc", "chain", "indirect", "avail", "flags", "raw", "ring", "tx",
    "rx", "notify", "run", "log", "ptmap", "ptunmap", "inval", "restart",
    "translate",
};

static void setup(Fdp *f)
{
    uint8_t lay = fdp_u8(f), cfg;
    unsigned int mode = (lay / 3) % 3;
    uint64_t gpa = (uint64_t)fdp_u8(f) << 16;
    DpMemTable *mt;

    fz.nreg = 1 + lay % 3;
    mt = g_malloc0(sizeof(*mt) + fz.nreg * sizeof(mt->r[0]));
    mt->n = fz.nreg;
    for (unsigned int i = 0; i < fz.nreg; i++) {
        Region *r = &fz.reg[i];
        uint8_t rs = fdp_u8(f);
        unsigned int slot = (lay / 9) & 1 ? fz.nreg - 1 - i : i;

        r->size = (1 + rs % 16) * PAGE;
        if (rs & 0x80) {
            r->size -= 1 + ((rs >> 4) & 7) * 9;
        }
        /*
         * As in QEMU, a region starts on a page, in guest physical
         * space and in the host mapping (its end may be anywhere)
         */
        r->gpa = gpa;
        if (posix_memalign((void **)&r->hva, PAGE, r->size)) {
            abort();
        }
        memset(r->hva, 0, r->size);
        r->pending = g_malloc0(r->size);
        /* regions after the first may be the same RAM block */
        if (i && ((lay / 18) & 1)) {
            r->mr = fz.reg[i - 1].mr;
            r->mr_offset = fz.reg[i - 1].mr_offset + fz.reg[i - 1].size +
                           (mode ? PAGE : 0);
        } else {
            r->mr = i;
            r->mr_offset = 0;
        }
        mt->r[slot] = (DpMemRegion) {
            .gpa = r->gpa, .size = r->size, .hva = r->hva,
            .mr = &fake_mr[r->mr], .mr_offset = r->mr_offset,
        };
        memory_region_ref(&fake_mr[r->mr]);
        gpa = ROUND_UP(gpa + r->size, PAGE);
        if (mode == 1) {
            gpa += PAGE;                            /* a guard hole */
        } else if (mode == 2) {
            gpa += 1ULL << 32;
        }
    }
    fz.mt = mt;

    cfg = fdp_u8(f);
    fz.iommu = cfg & 4;
    fz.passthrough = fz.iommu && (cfg & 8);
    fz.mrg_rxbuf = cfg & 16;
    fz.hdr_len = cfg & 32 ? 12 : 10;
    fz.iov_max = cfg & 64 ? 1 + fdp_u8(f) % 32 : DP_IOV_MAX;
    fz.scatter = cfg & 128;

    fz.rg = g_new0(DpRings, 1);
    fz.rg->name = "fuzz.0";
    fz.rg->report = fz_report;
    fz.rg->packed = lay >= 216;
    qatomic_rcu_set(&fz.rg->mem, mt);
    fz.vr = g_new0(DpVring, DP_NVQS);
    for (int q = 0; q < DP_NVQS; q++) {
        fz.vr[q].rings = fz.rg;
        fz.vr[q].index = q;
        fz.vr[q].kick_fd = -1;
        fz.vr[q].call_fd = fz.call_fd;
        vring_config(f, q);
    }
    dev_start(cfg);
}

static void teardown(void)
{
    dev_stop();
    dp_mem_table_free(fz.mt);
    for (unsigned int i = 0; i < MAX_REGIONS; i++) {
        CHECK(qatomic_read(&mr_refs[i]) == 0, "MemoryRegion %u keeps %d "
              "references", i, mr_refs[i]);
    }
    for (unsigned int i = 0; i < fz.nreg; i++) {
        free(fz.reg[i].hva);
        g_free(fz.reg[i].pending);
    }
    for (int q = 0; q < DP_NVQS; q++) {
        g_free(fz.m[q].outstanding);
    }
    g_free(fz.vr);
    g_free(fz.rg);
    memset(&fz.reg, 0, sizeof(fz.reg));
    memset(&fz.m, 0, sizeof(fz.m));
    fz.npte = 0;
    fz.total_reports = 0;
    fz.npending = 0;
}

static bool known_bug(const char *name)
{
    g_auto(GStrv) list = NULL;

    if (!fz.known_bugs) {
        return false;
    }
    list = g_strsplit(fz.known_bugs, ",", -1);
    return g_strv_contains((const gchar * const *)list, name);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz.call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fz.call_fd < 0) {
        perror("eventfd");
        abort();
    }
    fz.known_bugs = getenv("VDP_FUZZ_KNOWN_BUGS");
    fz.trace = getenv("VDP_FUZZ_TRACE");
    fz.iov = g_new0(struct iovec, DP_IOV_MAX);
    fz.gpas = g_new0(uint64_t, DP_IOV_MAX);
    fz.ref = g_new0(Piece, DP_IOV_MAX);
    fz.snap_len = 3 * MAX_SEGS * PAGE;
    fz.snap = g_malloc(fz.snap_len);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Fdp f = { data, size };
    uint64_t drain;

    setup(&f);
    for (unsigned int n = 0; f.n && n < MAX_OPS; n++) {
        uint8_t op = fdp_u8(&f);

        if (fz.trace) {
            fprintf(stderr, "op %u: %s at byte %zu\n", n,
                    op_names[op % OP_COUNT], size - f.n - 1);
        }

        switch (op % OP_COUNT) {
        case OP_DESC:
            op_desc(&f);
            break;
        case OP_CHAIN:
            op_chain(&f);
            break;
        case OP_INDIRECT:
            op_indirect(&f);
            break;
        case OP_AVAIL:
            op_avail(&f);
            break;
        case OP_FLAGS:
            op_flags(&f);
            break;
        case OP_RAW:
            op_raw(&f);
            break;
        case OP_RING:
            op_ring(&f);
            break;
        case OP_TX:
            op_tx_burst(&f);
            break;
        case OP_RX:
            op_rx_burst(&f);
            break;
        case OP_NOTIFY:
            op_notify(&f);
            break;
        case OP_RUN:
            run_start();
            break;
        case OP_LOG:
            qatomic_set(&fz.rg->log_all, !qatomic_read(&fz.rg->log_all));
            break;
        case OP_PTMAP:
            op_ptmap(&f);
            break;
        case OP_PTUNMAP:
            op_ptunmap(&f);
            break;
        case OP_INVAL:
            op_inval(&f);
            break;
        case OP_RESTART:
            op_restart(&f);
            break;
        default:
            op_translate(&f);
            break;
        }
        check_dirty();
        check_reports();
    }
    /* keep the call eventfd from filling up */
    if (read(fz.call_fd, &drain, sizeof(drain)) < 0 && errno != EAGAIN) {
        abort();
    }
    teardown();
    return 0;
}
