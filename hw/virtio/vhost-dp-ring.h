/*
 * vhost dataplane: the ring core (split and packed virtqueues)
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * What the engine needs to work a virtqueue in guest memory: the memory
 * table, vIOMMU translation, ring mapping, the descriptor walk, used
 * elements, notifications and dirty marking.  Nothing here needs
 * a running QEMU: the few calls into the rest of it (dirty marking,
 * MemoryRegion references, IOMMU translation, reports) are named at the
 * end, so that tests/unit and the fuzzer can drive the core over a fake
 * memory table.
 *
 * Vocabulary: "vring" is a virtqueue in guest memory; index 0 of a
 * queue pair is the RX vring (the device writes guest buffers), index 1
 * the TX vring (the device reads them).  "avail" and "used" are the
 * split rings' halves; last_avail is the next avail entry the device will
 * take, used_idx the device's shadow of used->idx.
 *
 * A packed vring (VIRTIO_F_RING_PACKED) is worked through the same
 * interface: dp_vring_avail() finds the chains the guest made available
 * and gives each a handle below num, which the engine uses as the head of
 * a split ring; the count of chains found plays the avail index, and
 * last_avail and used_idx count chains taken and put.  The engine does
 * not know which kind it works.
 *
 * Ownership: fields marked [io] belong to the thread that runs the queue
 * pair while it is started; the BQL side touches them only while it is
 * stopped.  Fields marked [atomic] are written under the BQL and read by
 * that thread; RCU marks RCU-published pointers.
 */

#ifndef HW_VIRTIO_VHOST_DP_RING_H
#define HW_VIRTIO_VHOST_DP_RING_H

#include "qemu/event_notifier.h"
#include "qemu/rcu.h"
#include "system/memory.h"
#include "standard-headers/linux/virtio_ring.h"

/* Indirect tables larger than this are refused (as virtio.c does) */
#define DP_MAX_INDIRECT     1024
/* at most this many pieces of guest memory (pages, regions) to one */
#define DP_INDIRECT_PIECES  16

#define DP_IOTLB_SIZE   8
#define DP_RING_PAGE    4096    /* how scattered ring parts are reached */

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
 * the parts are aligned as the virtio spec requires (checked when they
 * are mapped), descriptors are 16 bytes, avail entries 2 bytes, and the
 * used ring is written 4 bytes at a time.
 */
enum {
    DP_RING_DESC,
    DP_RING_AVAIL,
    DP_RING_USED,
    DP_RING_PARTS,
};

/*
 * The guest pages of a ring part behind a vIOMMU, each with a reference
 * to its MemoryRegion so that the RAM stays while the engine may use it.
 * Freed after an RCU grace period (dp_ring_pages_put()).
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

/* An IOVA range the vIOMMU translated, see dp_iova_to_gpa() */
typedef struct DpIotlb {
    uint64_t iova;                  /* aligned to mask + 1 */
    uint64_t mask;
    uint64_t gpa;
    IOMMUAccessFlags perm;          /* the access that was checked */
} DpIotlb;

/*
 * A chain of a packed vring, from when it is found until it is put.
 * Positions in a packed vring are counted in [0, 2 * num): the slot is
 * pos % num, and the wrap counter is 1 in the first lap (pos < num) and 0
 * in the second, so that distances are differences modulo 2 * num.
 */
typedef struct DpPackedChain {
    uint16_t pos;                   /* of its first descriptor */
    uint16_t ndescs;                /* descriptors in the ring */
    uint16_t id;                    /* buffer id, of its last descriptor */
} DpPackedChain;

/* What the two vrings of a queue pair share */
typedef struct DpVring DpVring;

typedef struct DpRings {
    const char *name;               /* for reports, "vd0.0" */
    /* a vring stopped: report @msg (the core counted it already) */
    void (*report)(DpVring *vr, const char *msg);

    /* set under the BQL while stopped */
    bool event_idx;
    bool packed;                    /* VIRTIO_F_RING_PACKED */
    AddressSpace *iommu_as;         /* with a vIOMMU: what IOVAs go to */

    bool log_all;                   /* [atomic] */
    DpMemTable *mem;                /* RCU */

    /* [io] */
    unsigned int mem_hint;
    unsigned int run_descs;         /* descriptors visited this run */
    uint64_t ring_errors;           /* rings stopped */
    uint64_t interrupts;            /* guest interrupts sent */
    /* vIOMMU translations, valid for one run of the queue pair */
    DpIotlb iotlb[DP_IOTLB_SIZE];
    unsigned int iotlb_n;
    unsigned int iotlb_next;
    /* an indirect table that is not one piece of QEMU's memory */
    struct vring_desc ind_copy[DP_MAX_INDIRECT];
} DpRings;

struct DpVring {
    DpRings *rings;
    unsigned int index;             /* DP_RX or DP_TX */

    /*
     * Set by the vhost ops while stopped, for one start: vhost.c leaves
     * out the vrings the guest did not set up, so what a previous start
     * set is cleared when it stops (@setup says what this start set).
     */
    unsigned int setup;             /* DP_SETUP_* */
    unsigned int num;               /* a power of 2: dp_vring_slot() */
    uint64_t addr[DP_RING_PARTS];   /* as vhost gives them: HVAs, or */
                                    /* IOVAs with a vIOMMU */
    uint64_t used_log_addr;
    uint32_t base;                  /* vhost's vring base, see */
                                    /* dp_vring_begin() */
    int kick_fd;
    int call_fd;                    /* [atomic]: swapped by masking */

    /* resolved at start; [io] while started with a vIOMMU */
    bool ready;                     /* set up: the engine serves it */
    bool packed;                    /* DpRings.packed, when mapped */
    struct vring_desc *desc;        /* packed: the descriptor ring */
    struct vring_avail *avail;      /* packed: the driver event area */
    struct vring_used *used;        /* packed: the device event area */
    uint64_t gpa[DP_RING_PARTS];    /* where each part starts */
    /* with a vIOMMU: every part's pages; scatter[] if not contiguous */
    DpRingPages *pages[DP_RING_PARTS];
    DpRingPages *scatter[DP_RING_PARTS];
    bool remap;                     /* [io] the vIOMMU changed a part */

    /* [io] */
    EventNotifier kick;
    uint16_t last_avail;
    uint16_t used_idx;
    uint16_t signalled_used;
    bool signalled_used_valid;
    bool polling;                   /* the owner polls: no kicks */
    bool broken;

    /* [io] packed vrings only, see DpPackedChain */
    unsigned int p_avail;           /* where the next chain starts */
    unsigned int p_used;            /* where the next used element goes */
    unsigned int p_signalled;       /* p_used at the last flush */
    uint16_t p_found;               /* chains found: the "avail index" */
    unsigned int p_nfree;
    DpPackedChain *p_chain;         /* by handle */
    uint16_t *p_order;              /* handles, by p_found % num */
    uint16_t *p_free;               /* free handles, p_nfree of them */
    /* the descriptors of chains found and not yet taken, by slot */
    struct vring_packed_desc *p_desc;
};

/* What dp_vring_walk() found */
typedef enum DpWalk {
    DP_WALK_OK,
    DP_WALK_FULL,           /* more pieces than the iovec array holds */
    DP_WALK_BROKEN,         /* a malformed chain: the vring is stopped */
} DpWalk;

/*
 * Memory
 */

void dp_mem_table_free(DpMemTable *mt);
const DpMemRegion *dp_mem_lookup(DpRings *rg, const DpMemTable *mt,
                                 uint64_t gpa, uint64_t *len);

static inline void dp_iotlb_flush(DpRings *rg)
{
    rg->iotlb_n = 0;
    rg->iotlb_next = 0;
}

/*
 * A start of the queue pair begins: nothing translated before it is used
 * (invalidations are not passed on while it is stopped, and translation
 * may have been switched on or off meanwhile).  Call before mapping.
 */
static inline void dp_rings_start(DpRings *rg)
{
    dp_iotlb_flush(rg);
}

bool dp_translate_slow(DpRings *rg, const DpMemTable *mt, uint64_t addr,
                       uint32_t len, bool write, struct iovec *iov,
                       uint64_t *gpas, unsigned int *cnt, unsigned int max);

/*
 * The common case of dp_translate(), inline: no vIOMMU, and one
 * non-empty piece of the region the last lookup hit.  Appends that
 * piece and returns true, or returns false having done nothing.
 */
static inline bool dp_translate_hit(DpRings *rg, const DpMemTable *mt,
                                    uint64_t addr, uint32_t len,
                                    struct iovec *iov, uint64_t *gpas,
                                    unsigned int *cnt, unsigned int max)
{
    unsigned int h = rg->mem_hint;

    if (likely(!rg->iommu_as && h < mt->n && *cnt < max)) {
        const DpMemRegion *r = &mt->r[h];
        uint64_t off = addr - r->gpa;

        if (likely(len && off < r->size && len <= r->size - off)) {
            iov[*cnt].iov_base = r->hva + off;
            iov[*cnt].iov_len = len;
            if (gpas) {
                gpas[*cnt] = addr;
            }
            (*cnt)++;
            return true;
        }
    }
    return false;
}

/*
 * Translate the guest buffer [@addr, @addr + @len) into iovecs appended
 * at @iov[*cnt], at most @max in all; also record each piece's guest
 * physical address in @gpas when it is not NULL.  @addr is an IOVA with
 * a vIOMMU (@write: the device writes the buffer), a guest physical
 * address otherwise.  Returns false if the buffer is not all guest RAM
 * (mapped for the access) or does not fit; *@cnt >= @max tells which.
 * An empty buffer gives no piece.
 */
static inline bool dp_translate(DpRings *rg, const DpMemTable *mt,
                                uint64_t addr, uint32_t len, bool write,
                                struct iovec *iov, uint64_t *gpas,
                                unsigned int *cnt, unsigned int max)
{
    return dp_translate_hit(rg, mt, addr, len, iov, gpas, cnt, max) ||
           dp_translate_slow(rg, mt, addr, len, write, iov, gpas, cnt, max);
}
void dp_mark_dirty(DpRings *rg, const DpMemTable *mt, uint64_t gpa,
                   uint64_t len);

/*
 * Vrings
 */

void G_GNUC_PRINTF(2, 3) dp_vring_error(DpVring *vr, const char *fmt, ...);

/* Can the engine use @vr now? */
static inline bool dp_vring_live(const DpVring *vr)
{
    return vr->ready && !vr->broken;
}

/*
 * The ring slot of a free-running index.  vhost gives only powers of 2
 * (dp_set_vring_num()), so the division the hot paths would otherwise
 * make for every frame is a mask.
 */
static inline unsigned int dp_vring_slot(const DpVring *vr, unsigned int idx)
{
    return idx & (vr->num - 1);
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

uint16_t dp_packed_avail_idx(DpVring *vr);

/*
 * The avail index: of a packed vring, the chains found, plus one if
 * another chain is there (enough to tell whether there is work).
 */
static inline uint16_t dp_avail_idx(DpVring *vr)
{
    if (unlikely(vr->packed)) {
        return dp_packed_avail_idx(vr);
    }
    return le16_to_cpu(qatomic_read((uint16_t *)DP_AVAIL_AT(vr, 2)));
}

/* Is there work in the avail ring? */
static inline bool dp_vring_has_work(DpVring *vr)
{
    return dp_vring_live(vr) && dp_avail_idx(vr) != vr->last_avail;
}

void dp_vring_notify_off(DpVring *vr);
bool dp_vring_notify_on(DpVring *vr, uint16_t seen);
bool dp_vring_avail(DpVring *vr, uint16_t *avail_idx);
void dp_vring_peek_bad(DpVring *vr, uint16_t head);

/*
 * Get the next avail head, or -1 if there is none or the ring is broken.
 * Does not consume it.
 */
static inline int dp_vring_peek(DpVring *vr, uint16_t avail_idx)
{
    uint16_t head;

    if (vr->last_avail == avail_idx) {
        return -1;
    }
    if (unlikely(vr->packed)) {
        /* a handle the engine gave when it found the chain */
        return vr->p_order[dp_vring_slot(vr, vr->last_avail)];
    }
    /* one read: the entry checked is the entry returned */
    head = le16_to_cpu(qatomic_read((uint16_t *)
                                    DP_AVAIL_AT(vr, 4 + 2 *
                                                dp_vring_slot(vr,
                                                    vr->last_avail))));
    if (likely(head < vr->num)) {
        return head;
    }
    dp_vring_peek_bad(vr, head);
    return -1;
}
/*
 * Read split descriptor @d, in guest memory, once.  The guest may
 * rewrite it meanwhile, so every check and every use must see the values
 * of one read: the compiler barrier keeps the compiler from reading the
 * guest's descriptor again in place of this copy.
 */
static inline struct vring_desc dp_desc_read(const struct vring_desc *d)
{
    struct vring_desc copy = *d;

    barrier();
    return copy;
}

DpWalk dp_vring_walk_slow(DpVring *vr, const DpMemTable *mt, uint16_t head,
                          bool write, struct iovec *iov, uint64_t *gpas,
                          unsigned int *cnt, unsigned int max, uint64_t *len);

DpWalk dp_packed_vring_walk(DpVring *vr, const DpMemTable *mt,
                            uint16_t head, bool write, struct iovec *iov,
                            uint64_t *gpas, unsigned int *cnt,
                            unsigned int max, uint64_t *len);

/*
 * Walk the descriptor chain at @head into iovecs (appended at
 * @iov[*cnt], at most @max), with their guest addresses in @gpas if not
 * NULL.  @write: the device writes these buffers (RX) rather than reads
 * them (TX).  On DP_WALK_OK *@len is the chain's byte count; on
 * DP_WALK_FULL the caller decides whether that is an error; on
 * DP_WALK_BROKEN the vring is stopped.  Either way *@cnt may have grown.
 *
 * Inline for the common case: on a split vring without a vIOMMU, a chain
 * of one direct descriptor whose buffer is in the region the last lookup
 * hit (a packed vring has its own, dp_packed_vring_walk()).  Anything
 * else, including a descriptor that fails a check, goes to
 * dp_vring_walk_slow(), which reads it again and decides; nothing read
 * here is used then.  Always inline: GCC otherwise keeps it out of line
 * for the five callers in vhost-dp-net.c, which costs a transmitted
 * 64-byte frame about 40 more instructions (callgrind).
 */
static inline QEMU_ALWAYS_INLINE
DpWalk dp_vring_walk(DpVring *vr, const DpMemTable *mt, uint16_t head,
                     bool write, struct iovec *iov, uint64_t *gpas,
                     unsigned int *cnt, unsigned int max, uint64_t *len)
{
    if (likely(!vr->packed)) {
        struct vring_desc d = dp_desc_read(
            dp_ring_at(vr, DP_RING_DESC, vr->desc, head * sizeof(d)));
        uint32_t dlen = le32_to_cpu(d.len);

        /* no NEXT, no INDIRECT, and the direction asked for */
        if (likely(le16_to_cpu(d.flags) == (write ? VRING_DESC_F_WRITE : 0) &&
                   dlen <= INT32_MAX &&
                   dp_translate_hit(vr->rings, mt, le64_to_cpu(d.addr), dlen,
                                    iov, gpas, cnt, max))) {
            vr->rings->run_descs++;
            *len = dlen;
            return DP_WALK_OK;
        }
    } else {
        /* (out of line, not to weigh on the split ring's walk) */
        return dp_packed_vring_walk(vr, mt, head, write, iov, gpas, cnt,
                                    max, len);
    }
    return dp_vring_walk_slow(vr, mt, head, write, iov, gpas, cnt, max, len);
}

void dp_packed_put(DpVring *vr, uint16_t head, uint32_t len);

/* Put one used element; published by dp_vring_flush() */
static inline void dp_vring_put(DpVring *vr, uint16_t head, uint32_t len)
{
    size_t off;

    if (unlikely(vr->packed)) {
        dp_packed_put(vr, head, len);
        return;
    }
    off = offsetof(struct vring_used, ring) +
          dp_vring_slot(vr, vr->used_idx) * sizeof(struct vring_used_elem);
    *(uint32_t *)DP_USED_AT(vr, off) = cpu_to_le32(head);
    *(uint32_t *)DP_USED_AT(vr, off + 4) = cpu_to_le32(len);
    vr->used_idx++;
}

void dp_vring_flush(DpVring *vr, uint16_t old, const DpMemTable *mt);

bool dp_vring_map(DpVring *vr);
void dp_vring_unmap(DpVring *vr);
void dp_vring_set_base(DpVring *vr, uint32_t base);
uint32_t dp_vring_get_base(DpVring *vr);
bool dp_vring_begin(DpVring *vr);
void dp_vring_end(DpVring *vr);
bool dp_vring_invalidated(DpVring *vr, uint64_t first, uint64_t last);

#endif
