/*
 * vhost dataplane: the ring core (split and packed virtqueues)
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * One job: work a virtqueue in guest memory for the engine, split or
 * packed (see "Packed vrings" below).
 * Guest physical addresses are translated through an RCU-published copy
 * of the vhost memory table (dp_translate(), the one translation step;
 * with a vIOMMU it first turns the IOVA into a guest physical address,
 * dp_iova_to_gpa()).  Ring addresses are host virtual addresses mapped
 * by vhost.c, or IOVAs whose pages are resolved when the queue pair
 * starts and again after the vIOMMU changes them (dp_vring_map()).
 * Every guest write is marked dirty while migration logs.
 *
 * Guest input is hostile: every index, descriptor, length and chain is
 * checked.  A vring that breaks the rules is stopped with one report and
 * a counter (dp_vring_error()); the other queues and QEMU go on.
 *
 * See vhost-dp-ring.h for what this needs from the rest of QEMU.
 */

#include "qemu/osdep.h"
#include "qemu/iov.h"
#include "qemu/atomic.h"
#include "qemu/bswap.h"
#include "system/memory.h"
#include "hw/virtio/vhost-dp-ring.h"

static const unsigned int dp_ring_align[DP_RING_PARTS] = { 16, 2, 4 };
/* of a packed vring: the descriptor ring, and the two event areas */
static const unsigned int dp_packed_align[DP_RING_PARTS] = { 16, 4, 4 };

/*
 * Memory
 */

/* After the IOThreads: they read the table under RCU */
void dp_mem_table_free(DpMemTable *mt)
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
const DpMemRegion *dp_mem_lookup(DpRings *rg, const DpMemTable *mt,
                                 uint64_t gpa, uint64_t *len)
{
    unsigned int hint = rg->mem_hint;

    if (hint < mt->n && gpa - mt->r[hint].gpa < mt->r[hint].size) {
        *len = mt->r[hint].size - (gpa - mt->r[hint].gpa);
        return &mt->r[hint];
    }
    for (unsigned int i = 0; i < mt->n; i++) {
        if (gpa - mt->r[i].gpa < mt->r[i].size) {
            rg->mem_hint = i;
            *len = mt->r[i].size - (gpa - mt->r[i].gpa);
            return &mt->r[i];
        }
    }
    return NULL;
}


/*
 * With a vIOMMU, the addresses the guest gives are IOVAs: translate @iova
 * for reading or (@write) writing into a guest physical address, with
 * *@len the bytes that stay contiguous from there.  The translations of a
 * run are kept for that run only, so that an unmap the guest makes is
 * seen by the next run at the latest; dp_send_device_iotlb_msg() waits
 * for the current one.  In the IOThread, under rcu_read_lock.
 */
static bool dp_iova_to_gpa(DpRings *rg, uint64_t iova, bool write,
                           uint64_t *gpa, uint64_t *len)
{
    IOMMUAccessFlags need = write ? IOMMU_WO : IOMMU_RO;
    IOMMUTLBEntry t;
    DpIotlb *c;

    for (unsigned int i = 0; i < rg->iotlb_n; i++) {
        c = &rg->iotlb[i];
        if ((iova & ~c->mask) == c->iova && (c->perm & need) == need) {
            goto hit;
        }
    }
    t = address_space_get_iotlb_entry(rg->iommu_as, iova, write,
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
    c = &rg->iotlb[rg->iotlb_next];
    rg->iotlb_next = (rg->iotlb_next + 1) % DP_IOTLB_SIZE;
    if (rg->iotlb_n < DP_IOTLB_SIZE) {
        rg->iotlb_n++;
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
static bool dp_translate_gpa(DpRings *rg, const DpMemTable *mt,
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
        r = dp_mem_lookup(rg, mt, gpa, &avail);
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

/* dp_translate() when the buffer is not one piece of the hinted region */
bool dp_translate_slow(DpRings *rg, const DpMemTable *mt, uint64_t addr,
                       uint32_t len, bool write, struct iovec *iov,
                       uint64_t *gpas, unsigned int *cnt, unsigned int max)
{
    if (likely(!rg->iommu_as)) {
        return dp_translate_gpa(rg, mt, addr, len, iov, gpas, cnt, max);
    }
    while (len) {
        uint64_t gpa, avail;
        uint32_t chunk;

        if (!dp_iova_to_gpa(rg, addr, write, &gpa, &avail)) {
            return false;
        }
        chunk = MIN(avail, len);
        if (!dp_translate_gpa(rg, mt, gpa, chunk, iov, gpas, cnt, max)) {
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
 * two RAM regions, or be misaligned) a copy in rg->ind_copy.
 */
static const struct vring_desc *dp_map_table(DpRings *rg,
                                             const DpMemTable *mt,
                                             uint64_t addr, uint32_t len)
{
    struct iovec iov[DP_INDIRECT_PIECES];
    unsigned int cnt = 0;

    if (!dp_translate(rg, mt, addr, len, false, iov, NULL, &cnt,
                      ARRAY_SIZE(iov))) {
        return NULL;
    }
    if (cnt == 1 && !((uintptr_t)iov[0].iov_base %
                      __alignof__(struct vring_desc))) {
        return iov[0].iov_base;
    }
    iov_to_buf(iov, cnt, 0, rg->ind_copy, len);
    return rg->ind_copy;
}

void dp_mark_dirty(DpRings *rg, const DpMemTable *mt, uint64_t gpa,
                   uint64_t len)
{
    while (len) {
        const DpMemRegion *r;
        uint64_t avail, chunk;

        r = dp_mem_lookup(rg, mt, gpa, &avail);
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
 * The guest broke the rules on @vr: stop it (nothing touches it until
 * the device is reset), count it and report it, once.
 */
void dp_vring_error(DpVring *vr, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    if (vr->broken) {
        return;
    }
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    vr->broken = true;
    vr->rings->ring_errors++;
    vr->rings->report(vr, msg);
}

/*
 * Packed vrings: positions (see DpPackedChain), and the forward
 * declarations of what the split ring's functions hand packed ones to
 */

static inline unsigned int dp_packed_slot(const DpVring *vr,
                                          unsigned int pos)
{
    return pos < vr->num ? pos : pos - vr->num;
}

/* @pos + @n, for @n <= num */
static inline unsigned int dp_packed_add(const DpVring *vr, unsigned int pos,
                                         unsigned int n)
{
    pos += n;
    return pos >= 2 * vr->num ? pos - 2 * vr->num : pos;
}

/* How far @to is ahead of @from */
static inline unsigned int dp_packed_dist(const DpVring *vr,
                                          unsigned int from, unsigned int to)
{
    return to >= from ? to - from : to + 2 * vr->num - from;
}

/* The wrap counter's bit as the guest sees it (off_wrap, vring base) */
static inline uint16_t dp_packed_wrap_bits(const DpVring *vr,
                                           unsigned int pos)
{
    return dp_packed_slot(vr, pos) | (pos < vr->num) << 15;
}

static inline struct vring_packed_desc *dp_packed_desc(DpVring *vr,
                                                       unsigned int pos)
{
    return dp_ring_at(vr, DP_RING_DESC, vr->desc, dp_packed_slot(vr, pos) *
                      sizeof(struct vring_packed_desc));
}

/* Has the guest made the descriptor at @pos available? */
static inline bool dp_packed_is_avail(DpVring *vr, unsigned int pos)
{
    const uint16_t avail = 1 << VRING_PACKED_DESC_F_AVAIL;
    const uint16_t used = 1 << VRING_PACKED_DESC_F_USED;
    uint16_t flags = le16_to_cpu(qatomic_read(&dp_packed_desc(vr, pos)->flags));

    /* on the first lap (wrap counter 1) AVAIL set, USED clear; then swapped */
    return (flags & (avail | used)) == (pos < vr->num ? avail : used);
}

static bool dp_packed_notify_on(DpVring *vr, uint16_t seen);
static bool dp_packed_find(DpVring *vr, uint16_t *avail_idx);
static void dp_packed_flush(DpVring *vr, const DpMemTable *mt);


/* Mark [@off, @off + @len) of ring part @part dirty (migration) */
static void dp_part_mark_dirty(DpVring *vr, unsigned int part,
                               const DpMemTable *mt, size_t off, size_t len)
{
    const DpRingPages *p = vr->scatter[part];

    if (likely(!p)) {
        dp_mark_dirty(vr->rings, mt, vr->gpa[part] + off, len);
        return;
    }
    off += p->first_off;
    while (len) {
        size_t chunk = MIN(len, DP_RING_PAGE - off % DP_RING_PAGE);

        dp_mark_dirty(vr->rings, mt, p->page[off / DP_RING_PAGE].gpa +
                      off % DP_RING_PAGE, chunk);
        off += chunk;
        len -= chunk;
    }
}


/* A 16-bit field of the used ring the device writes (flags, avail event) */
static void dp_used_set16(DpVring *vr, size_t off, uint16_t val)
{
    DpRings *rg = vr->rings;

    qatomic_set((uint16_t *)DP_USED_AT(vr, off), cpu_to_le16(val));
    if (unlikely(qatomic_read(&rg->log_all))) {
        WITH_RCU_READ_LOCK_GUARD() {
            const DpMemTable *mt = qatomic_rcu_read(&rg->mem);

            if (mt) {
                dp_part_mark_dirty(vr, DP_RING_USED, mt, off, 2);
            }
        }
    }
}

/* Turn guest kicks for @vr off (only a hint to the guest) */
void dp_vring_notify_off(DpVring *vr)
{
    if (unlikely(vr->packed)) {
        dp_used_set16(vr, offsetof(struct vring_packed_desc_event, flags),
                      VRING_PACKED_EVENT_FLAG_DISABLE);
    } else if (!vr->rings->event_idx) {
        uint16_t flags = le16_to_cpu(*(uint16_t *)DP_USED_AT(vr, 0));

        dp_used_set16(vr, 0, flags | VRING_USED_F_NO_NOTIFY);
    }
}

/*
 * Ask the guest for a kick once it makes avail entries past @seen, the
 * avail index the device has looked at (as vhost-kernel does: the last
 * entry taken when the ring ran empty, the avail index when what it
 * holds was not enough).  Returns true if the avail index has already
 * moved past @seen.  While the owner polls @vr (DpVring.polling), only
 * the check is made.
 */
bool dp_vring_notify_on(DpVring *vr, uint16_t seen)
{
    if (unlikely(vr->packed)) {
        return dp_packed_notify_on(vr, seen);
    }
    if (vr->polling) {
        /* the owner's poll handler watches the avail index instead */
        return !vr->broken && dp_avail_idx(vr) != seen;
    }
    if (vr->rings->event_idx) {
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

/* dp_vring_peek() found a bad avail entry */
void dp_vring_peek_bad(DpVring *vr, uint16_t head)
{
    dp_vring_error(vr, "avail ring entry %u is %u, ring size %u",
                   vr->last_avail, head, vr->num);
}

/* Read the avail index and check it is within a ring of the last one */
bool dp_vring_avail(DpVring *vr, uint16_t *avail_idx)
{
    uint16_t idx;

    if (unlikely(vr->packed)) {
        return dp_packed_find(vr, avail_idx);
    }
    idx = dp_avail_idx(vr);

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
static const char *dp_where(DpRings *rg)
{
    return rg->iommu_as ? "mapped by the vIOMMU for this access, or not "
                         "in guest RAM" : "in guest RAM";
}

/* A chain being walked, see dp_vring_walk() */
typedef struct DpWalkState {
    DpVring *vr;
    const DpMemTable *mt;
    uint16_t head;
    bool write;
    struct iovec *iov;
    uint64_t *gpas;
    unsigned int *cnt;
    unsigned int max;
    uint64_t total;
} DpWalkState;

static DpWalk dp_packed_walk(DpWalkState *w, const DpPackedChain *c);

/*
 * Append the buffer of descriptor @i, @d, to the chain's iovecs.  Inlined
 * into each walk: out of line, it costs the split ring's walk 15 more
 * instructions a descriptor (callgrind).
 */
static inline QEMU_ALWAYS_INLINE
DpWalk dp_walk_buffer(DpWalkState *w, unsigned int i,
                      const struct vring_desc *d)
{
    DpVring *vr = w->vr;
    uint16_t flags = le16_to_cpu(d->flags);
    uint64_t addr = le64_to_cpu(d->addr);
    uint32_t len = le32_to_cpu(d->len);

    if (!!(flags & VRING_DESC_F_WRITE) != w->write) {
        dp_vring_error(vr, "descriptor %u of chain %u is %s, expected %s",
                       i, w->head, w->write ? "read-only" : "writable",
                       w->write ? "writable" : "read-only");
        return DP_WALK_BROKEN;
    }
    if (addr + len < addr) {
        dp_vring_error(vr, "descriptor %u of chain %u wraps the address "
                       "space", i, w->head);
        return DP_WALK_BROKEN;
    }
    if (!len) {
        return DP_WALK_OK;
    }
    if (!dp_translate(vr->rings, w->mt, addr, len, w->write, w->iov,
                      w->gpas, w->cnt, w->max)) {
        if (*w->cnt >= w->max) {
            return DP_WALK_FULL;
        }
        dp_vring_error(vr, "descriptor %u of chain %u: 0x%" PRIx64 "+%u is "
                       "not %s", i, w->head, addr, len,
                       dp_where(vr->rings));
        return DP_WALK_BROKEN;
    }
    w->total += len;
    return DP_WALK_OK;
}

static DpWalk dp_walk_table(DpWalkState *w, const struct vring_desc *table,
                            unsigned int size, unsigned int i);

/* The chain continues in the indirect table @d points to */
static DpWalk dp_walk_indirect(DpWalkState *w, const struct vring_desc *d)
{
    DpVring *vr = w->vr;
    uint64_t addr = le64_to_cpu(d->addr);
    uint32_t len = le32_to_cpu(d->len);
    const struct vring_desc *table;

    if (len == 0 || len % sizeof(struct vring_desc) ||
        len / sizeof(struct vring_desc) > DP_MAX_INDIRECT) {
        dp_vring_error(vr, "bad indirect table length %u (chain %u)", len,
                       w->head);
        return DP_WALK_BROKEN;
    }
    table = dp_map_table(vr->rings, w->mt, addr, len);
    if (!table) {
        dp_vring_error(vr, "indirect table 0x%" PRIx64 "+%u is not %s "
                       "(chain %u)", addr, len, dp_where(vr->rings),
                       w->head);
        return DP_WALK_BROKEN;
    }
    return dp_walk_table(w, table, len / sizeof(struct vring_desc), 0);
}

/*
 * Walk the chain from descriptor @i of @table, an indirect table of
 * @size entries, or (NULL) the vring's own descriptor table.  Each
 * descriptor is read once, into a copy: the guest may change the table
 * meanwhile.
 */
static DpWalk dp_walk_table(DpWalkState *w, const struct vring_desc *table,
                            unsigned int size, unsigned int i)
{
    DpVring *vr = w->vr;

    for (unsigned int seen = 1; ; seen++) {
        struct vring_desc d;
        uint16_t flags;
        DpWalk r;

        if (seen > size) {
            dp_vring_error(vr, "descriptor chain at %u loops or is longer "
                           "than its table (%u)", w->head, size);
            return DP_WALK_BROKEN;
        }
        vr->rings->run_descs++;
        d = dp_desc_read(table ? &table[i]
                               : dp_ring_at(vr, DP_RING_DESC, vr->desc,
                                            i * sizeof(d)));
        flags = le16_to_cpu(d.flags);
        if (flags & VRING_DESC_F_INDIRECT) {
            if (table) {
                dp_vring_error(vr, "indirect descriptor inside an indirect "
                               "table (chain %u)", w->head);
                return DP_WALK_BROKEN;
            }
            if (flags & VRING_DESC_F_NEXT || seen != 1) {
                dp_vring_error(vr, "indirect descriptor chained (chain %u)",
                               w->head);
                return DP_WALK_BROKEN;
            }
            return dp_walk_indirect(w, &d);
        }
        r = dp_walk_buffer(w, i, &d);
        if (r != DP_WALK_OK || !(flags & VRING_DESC_F_NEXT)) {
            return r;
        }
        i = le16_to_cpu(d.next);
        if (i >= size) {
            dp_vring_error(vr, "descriptor chain %u: next %u is beyond the "
                           "table (%u)", w->head, i, size);
            return DP_WALK_BROKEN;
        }
    }
}

/* dp_vring_walk() for every chain its inline part does not take */
DpWalk dp_vring_walk_slow(DpVring *vr, const DpMemTable *mt, uint16_t head,
                          bool write, struct iovec *iov, uint64_t *gpas,
                          unsigned int *cnt, unsigned int max, uint64_t *len)
{
    DpWalkState w = {
        .vr = vr, .mt = mt, .head = head, .write = write,
        .iov = iov, .gpas = gpas, .cnt = cnt, .max = max,
    };
    DpWalk r;

    if (unlikely(vr->packed)) {
        w.head = dp_packed_slot(vr, vr->p_chain[head].pos);
        r = dp_packed_walk(&w, &vr->p_chain[head]);
    } else {
        r = dp_walk_table(&w, NULL, vr->num, head);
    }

    if (r == DP_WALK_OK && w.total > INT32_MAX) {
        dp_vring_error(vr, "descriptor chain %u is larger than 2 GiB", head);
        return DP_WALK_BROKEN;
    }
    *len = w.total;
    return r;
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
    vr->rings->interrupts++;
    /* order the signal before reading the fd again; pairs with the swap */
    smp_mb();
    now = qatomic_read(&vr->call_fd);
    if (now != fd && now >= 0) {
        dp_signal_fd(now);
    }
}

/* Publish the used elements put since @old and signal the guest if due */
void dp_vring_flush(DpVring *vr, uint16_t old, const DpMemTable *mt)
{
    DpRings *rg = vr->rings;
    uint16_t new = vr->used_idx;
    bool notify;

    if (new == old) {
        return;
    }
    if (unlikely(vr->packed)) {
        dp_packed_flush(vr, mt);
        return;
    }
    /* the guest must see the elements before the index */
    smp_wmb();
    qatomic_set((uint16_t *)DP_USED_AT(vr, 2), cpu_to_le16(new));

    if (qatomic_read(&rg->log_all)) {
        unsigned int first = dp_vring_slot(vr, old);
        /* the elements put since @old; a ring's worth covers them all */
        unsigned int n = MIN((uint16_t)(new - old), vr->num);
        size_t ring = offsetof(struct vring_used, ring);
        size_t esz = sizeof(struct vring_used_elem);

        if (first + n <= vr->num) {
            dp_part_mark_dirty(vr, DP_RING_USED, mt, ring + first * esz,
                               n * esz);
        } else {
            dp_part_mark_dirty(vr, DP_RING_USED, mt, ring + first * esz,
                               (vr->num - first) * esz);
            dp_part_mark_dirty(vr, DP_RING_USED, mt, ring,
                               (first + n - vr->num) * esz);
        }
        dp_part_mark_dirty(vr, DP_RING_USED, mt, 0, ring);
    }

    /* the index must be visible before we read the guest's event */
    smp_mb();
    if (rg->event_idx) {
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
 * Packed vrings
 *
 * The descriptor ring is avail and used ring at once: the guest makes a
 * chain available by writing its descriptors at its next positions, the
 * first one's flags last; the device puts a used element (buffer id and
 * length) at its own next position, which moves on by as many
 * descriptors as the chain had.  Chains are found in order (as the split
 * ring's avail entries), and each descriptor is read once, into a copy
 * (p_desc), when its chain is found: the guest may rewrite the ring
 * meanwhile.  The copies of the chains found and not yet taken are never
 * overwritten, as a guest that follows the rules cannot have more than
 * num descriptors outstanding.
 */

uint16_t dp_packed_avail_idx(DpVring *vr)
{
    return vr->p_found + dp_packed_is_avail(vr, vr->p_avail);
}

/*
 * Find the chains the guest made available since the last call.  The
 * packed functions the split ring's ones hand over to are kept out of
 * line, not to weigh on the split ring's paths.
 */
static G_GNUC_NO_INLINE bool dp_packed_find(DpVring *vr, uint16_t *avail_idx)
{
    unsigned int num = vr->num, room = num;

    /*
     * The ring holds num descriptors: those of the chains found and not
     * yet taken, from the oldest one's on, leave the rest for new ones
     */
    if (vr->last_avail != vr->p_found) {
        unsigned int h = vr->p_order[vr->last_avail % num];

        room -= dp_packed_dist(vr, vr->p_chain[h].pos, vr->p_avail);
    }
    while ((uint16_t)(vr->p_found - vr->last_avail) < num &&
           dp_packed_is_avail(vr, vr->p_avail)) {
        unsigned int start = vr->p_avail, n = 0, h;
        struct vring_packed_desc *d;

        /* the descriptors after the flags that published them */
        smp_rmb();
        do {
            if (n == room) {
                dp_vring_error(vr, "descriptor %u: more descriptors "
                               "available than the ring holds (%u)",
                               dp_packed_slot(vr, start), num);
                return false;
            }
            d = &vr->p_desc[dp_packed_slot(vr, dp_packed_add(vr, start, n))];
            *d = *dp_packed_desc(vr, dp_packed_add(vr, start, n));
            n++;
        } while (le16_to_cpu(d->flags) & VRING_DESC_F_NEXT);
        vr->rings->run_descs += n;
        room -= n;
        if (!vr->p_nfree) {
            dp_vring_error(vr, "descriptor %u: more than %u buffers "
                           "outstanding", dp_packed_slot(vr, start), num);
            return false;
        }
        h = vr->p_free[--vr->p_nfree];
        vr->p_chain[h] = (DpPackedChain) {
            .pos = start, .ndescs = n, .id = le16_to_cpu(d->id),
        };
        vr->p_order[vr->p_found % num] = h;
        vr->p_found++;
        vr->p_avail = dp_packed_add(vr, start, n);
    }
    *avail_idx = vr->p_found;
    return true;
}

/* A packed descriptor as a split one, for dp_walk_buffer() */
static inline struct vring_desc dp_packed_as_split(
    const struct vring_packed_desc *pd)
{
    return (struct vring_desc) {
        .addr = pd->addr, .len = pd->len, .flags = pd->flags,
    };
}

/* The chain continues in the packed indirect table @d points to */
static DpWalk dp_packed_walk_indirect(DpWalkState *w,
                                      const struct vring_packed_desc *d)
{
    DpVring *vr = w->vr;
    uint64_t addr = le64_to_cpu(d->addr);
    uint32_t len = le32_to_cpu(d->len);
    const struct vring_packed_desc *table;

    if (len == 0 || len % sizeof(*table) ||
        len / sizeof(*table) > DP_MAX_INDIRECT) {
        dp_vring_error(vr, "bad indirect table length %u (chain %u)", len,
                       w->head);
        return DP_WALK_BROKEN;
    }
    /* the same layout in size and alignment as a split one */
    table = (const void *)dp_map_table(vr->rings, w->mt, addr, len);
    if (!table) {
        dp_vring_error(vr, "indirect table 0x%" PRIx64 "+%u is not %s "
                       "(chain %u)", addr, len, dp_where(vr->rings),
                       w->head);
        return DP_WALK_BROKEN;
    }
    for (unsigned int i = 0; i < len / sizeof(*table); i++) {
        struct vring_desc e = dp_packed_as_split(&table[i]);
        DpWalk r;

        /* one read of the guest's table, as dp_desc_read() */
        barrier();
        vr->rings->run_descs++;
        if (le16_to_cpu(e.flags) & VRING_DESC_F_INDIRECT) {
            dp_vring_error(vr, "indirect descriptor inside an indirect "
                           "table (chain %u)", w->head);
            return DP_WALK_BROKEN;
        }
        r = dp_walk_buffer(w, i, &e);
        if (r != DP_WALK_OK) {
            return r;
        }
    }
    return DP_WALK_OK;
}

/*
 * dp_vring_walk() of a packed vring.  A chain of one descriptor whose
 * buffer is in the region the last lookup hit is taken here, from the
 * copy made when the chain was found (which counted its descriptors; a
 * last descriptor has no NEXT); anything else by dp_vring_walk_slow().
 */
DpWalk dp_packed_vring_walk(DpVring *vr, const DpMemTable *mt,
                            uint16_t head, bool write, struct iovec *iov,
                            uint64_t *gpas, unsigned int *cnt,
                            unsigned int max, uint64_t *len)
{
    const DpPackedChain *c = &vr->p_chain[head];
    const struct vring_packed_desc *pd =
        &vr->p_desc[dp_packed_slot(vr, c->pos)];
    uint32_t dlen = le32_to_cpu(pd->len);

    if (likely(c->ndescs == 1 &&
               (le16_to_cpu(pd->flags) &
                (VRING_DESC_F_WRITE | VRING_DESC_F_INDIRECT)) ==
               (write ? VRING_DESC_F_WRITE : 0) &&
               dlen <= INT32_MAX &&
               dp_translate_hit(vr->rings, mt, le64_to_cpu(pd->addr), dlen,
                                iov, gpas, cnt, max))) {
        *len = dlen;
        return DP_WALK_OK;
    }
    return dp_vring_walk_slow(vr, mt, head, write, iov, gpas, cnt, max, len);
}

/* Walk chain @c, from the copies made when it was found */
static G_GNUC_NO_INLINE DpWalk dp_packed_walk(DpWalkState *w,
                                              const DpPackedChain *c)
{
    DpVring *vr = w->vr;

    for (unsigned int k = 0; k < c->ndescs; k++) {
        const struct vring_packed_desc *pd =
            &vr->p_desc[dp_packed_slot(vr, dp_packed_add(vr, c->pos, k))];
        struct vring_desc d = dp_packed_as_split(pd);
        DpWalk r;

        if (le16_to_cpu(d.flags) & VRING_DESC_F_INDIRECT) {
            if (c->ndescs != 1) {
                dp_vring_error(vr, "indirect descriptor chained (chain %u)",
                               w->head);
                return DP_WALK_BROKEN;
            }
            return dp_packed_walk_indirect(w, pd);
        }
        r = dp_walk_buffer(w, k, &d);
        if (r != DP_WALK_OK) {
            return r;
        }
    }
    return DP_WALK_OK;
}

/* Put the used element of chain @head (a handle); see dp_vring_put() */
void dp_packed_put(DpVring *vr, uint16_t head, uint32_t len)
{
    const DpPackedChain *c = &vr->p_chain[head];
    unsigned int pos = vr->p_used;
    struct vring_packed_desc *d = dp_packed_desc(vr, pos);
    uint16_t flags = pos < vr->num ? (1 << VRING_PACKED_DESC_F_AVAIL) |
                                     (1 << VRING_PACKED_DESC_F_USED) : 0;

    if (unlikely(vr->p_nfree >= vr->num)) {
        /* more puts than chains taken: an engine bug, not a guest's */
        dp_vring_error(vr, "a used element for no chain outstanding");
        return;
    }
    if (vr->index == DP_RX) {
        flags |= VRING_DESC_F_WRITE;
    }
    d->id = cpu_to_le16(c->id);
    d->len = cpu_to_le32(len);
    /* the guest reads id and length once it sees the flags */
    smp_wmb();
    qatomic_set(&d->flags, cpu_to_le16(flags));
    vr->p_used = dp_packed_add(vr, pos, c->ndescs);
    vr->p_free[vr->p_nfree++] = head;
    vr->used_idx++;
}

/* dp_vring_flush() of a packed vring: the used elements are visible */
static G_GNUC_NO_INLINE void dp_packed_flush(DpVring *vr,
                                             const DpMemTable *mt)
{
    DpRings *rg = vr->rings;
    unsigned int num = vr->num, new = vr->p_used, old = vr->p_signalled;
    const size_t dsz = sizeof(struct vring_packed_desc);
    uint16_t flags;
    bool notify;

    if (qatomic_read(&rg->log_all)) {
        /* the elements put since the last flush, which set p_signalled */
        unsigned int first = dp_packed_slot(vr, old);
        unsigned int n = dp_packed_dist(vr, old, new);

        n = MIN(n, num);
        if (first + n <= num) {
            dp_part_mark_dirty(vr, DP_RING_DESC, mt, first * dsz, n * dsz);
        } else {
            dp_part_mark_dirty(vr, DP_RING_DESC, mt, first * dsz,
                               (num - first) * dsz);
            dp_part_mark_dirty(vr, DP_RING_DESC, mt, 0,
                               (first + n - num) * dsz);
        }
    }

    /* the elements must be visible before we read the guest's event */
    smp_mb();
    flags = le16_to_cpu(qatomic_read((uint16_t *)DP_AVAIL_AT(
        vr, offsetof(struct vring_packed_desc_event, flags))));
    if (rg->event_idx && flags == VRING_PACKED_EVENT_FLAG_DESC) {
        uint16_t off_wrap = le16_to_cpu(qatomic_read((uint16_t *)DP_AVAIL_AT(
            vr, offsetof(struct vring_packed_desc_event, off_wrap))));
        unsigned int event = (off_wrap & 0x7fff) % num +
                             (off_wrap >> VRING_PACKED_EVENT_F_WRAP_CTR ?
                              0 : num);

        /* was the element at @event among those put since @old? */
        notify = !vr->signalled_used_valid ||
                 dp_packed_dist(vr, event, new) - 1 <
                 dp_packed_dist(vr, old, new);
    } else {
        notify = flags != VRING_PACKED_EVENT_FLAG_DISABLE;
    }
    vr->p_signalled = new;
    vr->signalled_used_valid = true;
    if (notify) {
        dp_vring_signal(vr);
    }
}

/* dp_vring_notify_on() of a packed vring */
static G_GNUC_NO_INLINE bool dp_packed_notify_on(DpVring *vr, uint16_t seen)
{
    if (!vr->polling) {
        /* the next position the device looks at for a chain */
        if (vr->rings->event_idx) {
            dp_used_set16(vr, offsetof(struct vring_packed_desc_event,
                                       off_wrap),
                          dp_packed_wrap_bits(vr, vr->p_avail));
        }
        dp_used_set16(vr, offsetof(struct vring_packed_desc_event, flags),
                      vr->rings->event_idx ? VRING_PACKED_EVENT_FLAG_DESC
                                           : VRING_PACKED_EVENT_FLAG_ENABLE);
        /* the guest's next descriptor write must see the event */
        smp_mb();
    }
    return !vr->broken && (seen != vr->p_found ||
                           dp_packed_is_avail(vr, vr->p_avail));
}

/*
 * The vring base, as vhost's set and get_vring_base give and take it: a
 * split vring's last avail index; of a packed vring, the next position
 * the device looks at for a chain and that of its next used element,
 * each with its wrap counter in bit 15 (avail in the low 16 bits), as
 * virtio.c keeps them.
 */
void dp_vring_set_base(DpVring *vr, uint32_t base)
{
    vr->base = base;
    vr->last_avail = base;
}

uint32_t dp_vring_get_base(DpVring *vr)
{
    return vr->packed ? vr->base : vr->last_avail;
}

/* Position @bits (a slot with the wrap counter in bit 15) if valid */
static bool dp_packed_pos(const DpVring *vr, uint16_t bits,
                          unsigned int *pos)
{
    unsigned int slot = bits & 0x7fff;

    *pos = slot + (bits >> 15 ? 0 : vr->num);
    return slot < vr->num;
}

static void dp_packed_free(DpVring *vr)
{
    g_clear_pointer(&vr->p_chain, g_free);
    g_clear_pointer(&vr->p_order, g_free);
    g_clear_pointer(&vr->p_free, g_free);
    g_clear_pointer(&vr->p_desc, g_free);
}

/*
 * @vr starts, mapped (dp_vring_map()): take up where the vring base
 * says.  False if a packed vring's base is beyond its size; it is
 * stopped then.
 */
bool dp_vring_begin(DpVring *vr)
{
    unsigned int num = vr->num;

    vr->signalled_used_valid = false;
    vr->broken = false;
    vr->polling = false;
    vr->remap = false;
    if (!vr->packed) {
        vr->used_idx = le16_to_cpu(*(uint16_t *)DP_USED_AT(vr, 2));
        return true;
    }
    vr->last_avail = vr->used_idx = vr->p_found = 0;
    if (!dp_packed_pos(vr, vr->base, &vr->p_avail) ||
        !dp_packed_pos(vr, vr->base >> 16, &vr->p_used)) {
        vr->p_avail = vr->p_used = 0;
        dp_vring_error(vr, "packed vring base 0x%x is beyond the ring "
                       "size %u", vr->base, num);
    }
    vr->p_signalled = vr->p_used;
    dp_packed_free(vr);
    vr->p_chain = g_new(DpPackedChain, num);
    vr->p_order = g_new(uint16_t, num);
    vr->p_free = g_new(uint16_t, num);
    vr->p_desc = g_new(struct vring_packed_desc, num);
    for (unsigned int i = 0; i < num; i++) {
        vr->p_free[i] = num - 1 - i;
    }
    vr->p_nfree = num;
    return !vr->broken;
}

/*
 * @vr stops, every chain it took put: keep where it is in the vring
 * base.  Chains found and not taken are found again in the next start.
 */
void dp_vring_end(DpVring *vr)
{
    unsigned int pos;

    if (!vr->p_chain) {
        return;
    }
    pos = vr->last_avail != vr->p_found ?
          vr->p_chain[vr->p_order[vr->last_avail % vr->num]].pos :
          vr->p_avail;
    vr->base = dp_packed_wrap_bits(vr, pos) |
               (uint32_t)dp_packed_wrap_bits(vr, vr->p_used) << 16;
    dp_packed_free(vr);
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

/* The guest address of @hva, QEMU's mapping of some region of @mt */
static uint64_t dp_hva_to_gpa(const DpMemTable *mt, uintptr_t hva)
{
    for (unsigned int i = 0; i < mt->n; i++) {
        uint64_t off = hva - (uintptr_t)mt->r[i].hva;

        if (off < mt->r[i].size) {
            return mt->r[i].gpa + off;
        }
    }
    return 0;
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
static void *dp_map_ring(DpRings *rg, const DpMemTable *mt,
                         uint64_t addr, uint64_t len, bool write,
                         DpRingPages **pages)
{
    unsigned int first = addr % DP_RING_PAGE;
    unsigned int npages = DIV_ROUND_UP(first + len, DP_RING_PAGE);
    DpRingPages *p;
    const DpMemRegion *r;
    uint64_t avail;

    *pages = NULL;
    if (addr + len - 1 < addr) {
        return NULL;            /* wraps the address space */
    }
    if (!rg->iommu_as) {
        return dp_hva_in_table(mt, addr, len) ? (void *)(uintptr_t)addr
                                              : NULL;
    }
    p = g_malloc(sizeof(*p) + npages * sizeof(p->page[0]));
    p->first_off = first;
    p->n = 0;
    for (unsigned int i = 0; i < npages; i++) {
        uint64_t iova = addr - first + (uint64_t)i * DP_RING_PAGE;
        uint64_t g, g2, avail2;

        /* the used ring is read too (flags, index): it needs both */
        if (!dp_iova_to_gpa(rg, iova, write, &g, &avail) ||
            avail < DP_RING_PAGE ||
            (write && (!dp_iova_to_gpa(rg, iova, false, &g2, &avail2) ||
                       g2 != g))) {
            goto fail;
        }
        r = dp_mem_lookup(rg, mt, g, &avail);
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

void dp_vring_unmap(DpVring *vr)
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

/* The bytes of ring part @part of @vr (with the event index fields) */
static uint64_t dp_ring_part_len(const DpVring *vr, unsigned int part)
{
    if (vr->rings->packed) {
        return part == DP_RING_DESC ?
               vr->num * sizeof(struct vring_packed_desc) :
               sizeof(struct vring_packed_desc_event);
    }
    switch (part) {
    case DP_RING_DESC:
        return vr->num * sizeof(struct vring_desc);
    case DP_RING_AVAIL:
        return 6 + 2 * vr->num;
    default:
        return 6 + vr->num * sizeof(struct vring_used_elem);
    }
}

/*
 * Map the three parts of @vr, each aligned as the spec requires (so that
 * no field crosses a page), and in guest RAM.  On failure @vr keeps what
 * it had.  BQL while stopped, or the IOThread while started (a vIOMMU
 * change).
 */
bool dp_vring_map(DpVring *vr)
{
    DpRings *rg = vr->rings;
    DpRingPages *pages[DP_RING_PARTS] = { NULL };
    void *hva[DP_RING_PARTS];
    const DpMemTable *mt;
    unsigned int i;

    RCU_READ_LOCK_GUARD();
    mt = qatomic_rcu_read(&rg->mem);
    for (i = 0; mt && i < DP_RING_PARTS; i++) {
        if (vr->addr[i] % (rg->packed ? dp_packed_align : dp_ring_align)[i]) {
            break;
        }
        /* the device writes used elements into a packed descriptor ring */
        hva[i] = dp_map_ring(rg, mt, vr->addr[i], dp_ring_part_len(vr, i),
                             i == DP_RING_USED ||
                             (rg->packed && i == DP_RING_DESC), &pages[i]);
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
    vr->packed = rg->packed;
    vr->desc = hva[DP_RING_DESC];
    vr->avail = hva[DP_RING_AVAIL];
    vr->used = hva[DP_RING_USED];
    for (i = 0; i < DP_RING_PARTS; i++) {
        vr->pages[i] = pages[i];
        vr->scatter[i] = pages[i] && !dp_ring_pages_contiguous(pages[i]) ?
                         pages[i] : NULL;
        /* what migration marks dirty: the parts the device writes */
        if (pages[i]) {
            vr->gpa[i] = pages[i]->page[0].gpa + pages[i]->first_off;
        } else if (i == DP_RING_USED) {
            vr->gpa[i] = vr->used_log_addr;
        } else {
            vr->gpa[i] = dp_hva_to_gpa(mt, (uintptr_t)hva[i]);
        }
    }
    return true;
}

/*
 * The vIOMMU dropped its translations of the IOVAs [@first, @last]: does
 * a part of @vr lie there?  Then its pages must be translated again.
 */
bool dp_vring_invalidated(DpVring *vr, uint64_t first, uint64_t last)
{
    for (unsigned int i = 0; vr->ready && i < DP_RING_PARTS; i++) {
        if (vr->addr[i] <= last &&
            first <= vr->addr[i] + dp_ring_part_len(vr, i) - 1) {
            return true;
        }
    }
    return false;
}
