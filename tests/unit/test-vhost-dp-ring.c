/*
 * Unit tests of the vhost dataplane's split-ring core
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * hw/virtio/vhost-dp-ring.c over a fake memory table: guest RAM is two
 * regions, each its own allocation (so that ASan sees their ends), next
 * to each other in guest physical space, with a hole after them.  The
 * few QEMU functions the core calls outside itself are faked here: dirty
 * marking is recorded, MemoryRegion references are counted, and a vIOMMU
 * is a table of 4 KiB pages answering as address_space_get_iotlb_entry()
 * does (IOMMU_RW for whatever access it allows).
 */

#include "qemu/osdep.h"
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include "qemu/cutils.h"
#include "qemu/rcu.h"
#include "qemu/thread.h"
#include "hw/virtio/vhost-dp-ring.h"

#define RAM_SIZE        0x10000
#define RAM1_GPA        RAM_SIZE            /* region 1 follows region 0 */
#define HOLE_GPA        (2 * RAM_SIZE)      /* nothing there */
#define NUM             16

/* ring parts and buffers, as guest physical addresses in region 0 */
#define DESC_GPA        0x1000
#define AVAIL_GPA       0x2000
#define USED_GPA        0x3000
#define BUF_GPA         0x4000
#define TABLE_GPA       0x6000

typedef struct Fake {
    uint8_t *ram[2];
    DpMemTable *mt;
    DpRings rg;
    DpVring vr;
    GArray *dirty;              /* of FakeDirty */
    unsigned int reports;
    char *last_report;
    int refs;
    /* the vIOMMU: IOVA page -> guest page and permissions */
    GHashTable *iommu;
} Fake;

typedef struct FakeDirty {
    unsigned int region;
    uint64_t off, len;
} FakeDirty;

static Fake *fake;
static int fake_mr_tag[2];
static int fake_as_tag;

#define FAKE_MR(i)  ((MemoryRegion *)&fake_mr_tag[i])

/*
 * What the core calls outside itself
 */

void memory_region_set_dirty(MemoryRegion *mr, hwaddr addr, hwaddr size)
{
    FakeDirty d = { mr == FAKE_MR(1), addr, size };

    g_assert(mr == FAKE_MR(0) || mr == FAKE_MR(1));
    g_assert_cmpuint(addr + size, <=, RAM_SIZE);
    g_array_append_val(fake->dirty, d);
}

void memory_region_ref(MemoryRegion *mr)
{
    g_assert(mr == FAKE_MR(0) || mr == FAKE_MR(1));
    qatomic_inc(&fake->refs);
}

void memory_region_unref(MemoryRegion *mr)
{
    g_assert(mr == FAKE_MR(0) || mr == FAKE_MR(1));
    g_assert_cmpint(qatomic_fetch_dec(&fake->refs), >, 0);
}

IOMMUTLBEntry address_space_get_iotlb_entry(AddressSpace *as, hwaddr addr,
                                            bool is_write, MemTxAttrs attrs)
{
    uint64_t *e;

    g_assert(as == (AddressSpace *)&fake_as_tag);
    e = g_hash_table_lookup(fake->iommu, GUINT_TO_POINTER(addr >> 12));
    if (!e || !(e[1] & (is_write ? IOMMU_WO : IOMMU_RO))) {
        return (IOMMUTLBEntry) { 0 };
    }
    return (IOMMUTLBEntry) {
        .target_as = as,
        .iova = addr & ~0xfffULL,
        .translated_addr = e[0],
        .addr_mask = 0xfff,
        .perm = IOMMU_RW,
    };
}

static void fake_report(DpVring *vr, const char *msg)
{
    fake->reports++;
    g_free(fake->last_report);
    fake->last_report = g_strdup(msg);
}

/*
 * The fake guest
 */

static uint8_t *hva(uint64_t gpa)
{
    g_assert_cmpuint(gpa, <, HOLE_GPA);
    return fake->ram[gpa >= RAM1_GPA] + gpa % RAM_SIZE;
}

static void iommu_map(uint64_t iova, uint64_t gpa, unsigned int perm)
{
    uint64_t *e = g_new(uint64_t, 2);

    e[0] = gpa;
    e[1] = perm;
    g_hash_table_insert(fake->iommu, GUINT_TO_POINTER(iova >> 12), e);
}

static void put_desc(uint64_t table, unsigned int i, uint64_t addr,
                     uint32_t len, uint16_t flags, uint16_t next)
{
    struct vring_desc d = {
        .addr = cpu_to_le64(addr), .len = cpu_to_le32(len),
        .flags = cpu_to_le16(flags), .next = cpu_to_le16(next),
    };

    memcpy(hva(table + i * sizeof(d)), &d, sizeof(d));
}

static void publish(uint16_t head)
{
    uint16_t *idx = (uint16_t *)hva(AVAIL_GPA + 2);
    uint16_t *ring = (uint16_t *)hva(AVAIL_GPA + 4);

    ring[le16_to_cpu(*idx) % NUM] = cpu_to_le16(head);
    *idx = cpu_to_le16(le16_to_cpu(*idx) + 1);
}

static uint16_t used_idx(void)
{
    return le16_to_cpu(*(uint16_t *)hva(USED_GPA + 2));
}

static void fake_setup(void)
{
    fake = g_new0(Fake, 1);
    fake->dirty = g_array_new(false, false, sizeof(FakeDirty));
    fake->iommu = g_hash_table_new_full(NULL, NULL, NULL, g_free);
    fake->mt = g_malloc0(sizeof(*fake->mt) + 2 * sizeof(DpMemRegion));
    fake->mt->n = 2;
    for (int i = 0; i < 2; i++) {
        fake->ram[i] = g_malloc0(RAM_SIZE);
        fake->mt->r[i] = (DpMemRegion) {
            .gpa = i * RAM_SIZE, .size = RAM_SIZE, .hva = fake->ram[i],
            .mr = FAKE_MR(i),
        };
    }
    fake->rg.name = "test";
    fake->rg.report = fake_report;
    fake->rg.mem = fake->mt;
    fake->vr = (DpVring) {
        .rings = &fake->rg,
        .index = DP_TX,
        .setup = DP_SETUP_ALL,
        .num = NUM,
        .addr = { (uintptr_t)hva(DESC_GPA), (uintptr_t)hva(AVAIL_GPA),
                  (uintptr_t)hva(USED_GPA) },
        .used_log_addr = USED_GPA,
        .kick_fd = -1,
        .call_fd = -1,
        .ready = true,
    };
    g_assert(dp_vring_map(&fake->vr));
}

static void fake_teardown(void)
{
    dp_vring_unmap(&fake->vr);
    drain_call_rcu();
    g_assert_cmpint(fake->refs, ==, 0);
    for (int i = 0; i < 2; i++) {
        g_free(fake->ram[i]);
    }
    g_free(fake->mt);
    g_array_free(fake->dirty, true);
    g_hash_table_destroy(fake->iommu);
    g_free(fake->last_report);
    g_free(fake);
    fake = NULL;
}

/* Walk the next available chain */
static DpWalk walk(bool write, struct iovec *iov, uint64_t *gpas,
                   unsigned int *cnt, unsigned int max, uint64_t *len)
{
    uint16_t avail;
    int head;

    g_assert(dp_vring_avail(&fake->vr, &avail));
    head = dp_vring_peek(&fake->vr, avail);
    g_assert_cmpint(head, >=, 0);
    *cnt = 0;
    return dp_vring_walk(&fake->vr, fake->mt, head, write, iov, gpas, cnt,
                         max, len);
}

/*
 * The tests
 */

/* A chain across both regions: one iovec per piece, in guest order */
static void test_walk_chain(void)
{
    struct iovec iov[8];
    uint64_t gpas[8], len;
    unsigned int cnt;

    fake_setup();
    put_desc(DESC_GPA, 0, BUF_GPA, 100, VRING_DESC_F_NEXT, 5);
    /* this one crosses from region 0 into region 1 */
    put_desc(DESC_GPA, 5, RAM1_GPA - 24, 124, 0, 0);
    publish(0);
    g_assert_cmpint(walk(false, iov, gpas, &cnt, 8, &len), ==, DP_WALK_OK);
    g_assert_cmpuint(len, ==, 224);
    g_assert_cmpuint(cnt, ==, 3);
    g_assert(iov[0].iov_base == hva(BUF_GPA) && iov[0].iov_len == 100);
    g_assert(iov[1].iov_base == hva(RAM1_GPA - 24) && iov[1].iov_len == 24);
    g_assert(iov[2].iov_base == hva(RAM1_GPA) && iov[2].iov_len == 100);
    g_assert_cmpuint(gpas[2], ==, RAM1_GPA);
    g_assert_cmpuint(fake->rg.run_descs, ==, 2);

    /* the same chain does not fit in two iovecs: not an error */
    g_assert_cmpint(walk(false, iov, NULL, &cnt, 2, &len), ==, DP_WALK_FULL);
    g_assert(!fake->vr.broken);
    fake_teardown();
}

/* An indirect table that straddles the regions is read from a copy */
static void test_walk_indirect(void)
{
    uint64_t table = RAM1_GPA - 2 * sizeof(struct vring_desc);
    struct iovec iov[8];
    uint64_t len;
    unsigned int cnt;

    fake_setup();
    for (int i = 0; i < 4; i++) {
        put_desc(table, i, BUF_GPA + i * 256, 10 + i,
                 i < 3 ? VRING_DESC_F_NEXT : 0, i + 1);
    }
    put_desc(DESC_GPA, 3, table, 4 * sizeof(struct vring_desc),
             VRING_DESC_F_INDIRECT, 0);
    publish(3);
    g_assert_cmpint(walk(false, iov, NULL, &cnt, 8, &len), ==, DP_WALK_OK);
    g_assert_cmpuint(len, ==, 10 + 11 + 12 + 13);
    g_assert_cmpuint(cnt, ==, 4);
    g_assert(iov[3].iov_base == hva(BUF_GPA + 3 * 256));
    fake_teardown();
}

typedef enum BadChain {
    BAD_LOOP,
    BAD_NEXT,
    BAD_NESTED,
    BAD_CHAINED_INDIRECT,
    BAD_INDIRECT_LEN,
    BAD_INDIRECT_ADDR,
    BAD_DIRECTION,
    BAD_HOLE,
    BAD_WRAP,
    BAD_HUGE,
} BadChain;

/* Each malformed chain stops the vring with one report */
static void test_walk_bad(const void *opaque)
{
    BadChain bad = GPOINTER_TO_INT(opaque);
    struct iovec iov[2 * NUM];
    uint64_t len;
    unsigned int cnt;

    fake_setup();
    switch (bad) {
    case BAD_LOOP:
        put_desc(DESC_GPA, 0, BUF_GPA, 8, VRING_DESC_F_NEXT, 1);
        put_desc(DESC_GPA, 1, BUF_GPA, 8, VRING_DESC_F_NEXT, 0);
        break;
    case BAD_NEXT:
        put_desc(DESC_GPA, 0, BUF_GPA, 8, VRING_DESC_F_NEXT, NUM);
        break;
    case BAD_NESTED:
        put_desc(TABLE_GPA, 0, TABLE_GPA, 16, VRING_DESC_F_INDIRECT, 0);
        put_desc(DESC_GPA, 0, TABLE_GPA, 16, VRING_DESC_F_INDIRECT, 0);
        break;
    case BAD_CHAINED_INDIRECT:
        put_desc(DESC_GPA, 0, TABLE_GPA, 16,
                 VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
        break;
    case BAD_INDIRECT_LEN:
        put_desc(DESC_GPA, 0, TABLE_GPA, 24, VRING_DESC_F_INDIRECT, 0);
        break;
    case BAD_INDIRECT_ADDR:
        put_desc(DESC_GPA, 0, HOLE_GPA, 16, VRING_DESC_F_INDIRECT, 0);
        break;
    case BAD_DIRECTION:
        put_desc(DESC_GPA, 0, BUF_GPA, 8, VRING_DESC_F_WRITE, 0);
        break;
    case BAD_HOLE:
        put_desc(DESC_GPA, 0, HOLE_GPA - 4, 8, 0, 0);
        break;
    case BAD_WRAP:
        put_desc(DESC_GPA, 0, UINT64_MAX - 4, 8, 0, 0);
        break;
    case BAD_HUGE:
        /* 4 GiB from a buffer in the first page: runs into the hole */
        put_desc(DESC_GPA, 0, BUF_GPA, UINT32_MAX, 0, 0);
        break;
    }
    publish(0);
    g_assert_cmpint(walk(false, iov, NULL, &cnt, ARRAY_SIZE(iov), &len), ==,
                    DP_WALK_BROKEN);
    g_assert(fake->vr.broken);
    g_assert_cmpuint(fake->reports, ==, 1);
    g_assert_cmpuint(fake->rg.ring_errors, ==, 1);
    g_assert_cmpuint(fake->rg.run_descs, <=, NUM + DP_MAX_INDIRECT);
    /* a broken vring has no work and reports nothing more */
    g_assert(!dp_vring_has_work(&fake->vr));
    dp_vring_error(&fake->vr, "again");
    g_assert_cmpuint(fake->reports, ==, 1);
    fake_teardown();
}

/* The avail index may run at most a ring ahead */
static void test_avail_jump(void)
{
    uint16_t avail;

    fake_setup();
    *(uint16_t *)hva(AVAIL_GPA + 2) = cpu_to_le16(NUM);
    g_assert(dp_vring_avail(&fake->vr, &avail));
    *(uint16_t *)hva(AVAIL_GPA + 2) = cpu_to_le16(NUM + 1);
    g_assert(!dp_vring_avail(&fake->vr, &avail));
    g_assert(fake->vr.broken);
    g_assert_cmpuint(fake->reports, ==, 1);
    fake_teardown();
}

/* Used elements are published, signalled as the guest asks */
static void test_flush_event_idx(void)
{
    int fd = eventfd(0, EFD_NONBLOCK);
    uint16_t *used_event;
    uint64_t n;

    fake_setup();
    used_event = (uint16_t *)hva(AVAIL_GPA + 4 + 2 * NUM);
    fake->rg.event_idx = true;
    fake->vr.call_fd = fd;
    *used_event = cpu_to_le16(0);
    for (int i = 0; i < 3; i++) {
        dp_vring_put(&fake->vr, i, 100 + i);
    }
    dp_vring_flush(&fake->vr, 0, fake->mt);
    g_assert_cmpuint(used_idx(), ==, 3);
    g_assert_cmpuint(le32_to_cpu(*(uint32_t *)hva(USED_GPA + 4 + 8 * 2)),
                     ==, 2);
    g_assert_cmpuint(le32_to_cpu(*(uint32_t *)hva(USED_GPA + 8 + 8 * 2)),
                     ==, 102);
    g_assert_cmpint(read(fd, &n, sizeof(n)), ==, sizeof(n));
    g_assert_cmpuint(fake->rg.interrupts, ==, 1);

    /* the guest wants to hear at 10 only */
    *used_event = cpu_to_le16(10);
    dp_vring_put(&fake->vr, 3, 0);
    dp_vring_flush(&fake->vr, 3, fake->mt);
    g_assert_cmpint(read(fd, &n, sizeof(n)), <, 0);
    g_assert_cmpuint(fake->rg.interrupts, ==, 1);
    close(fd);
    fake_teardown();
}

/*
 * The call fd swapped while the engine signals (finding 5 of the
 * hardening issue): vhost moves the call fd to its masked notifier and
 * back when the guest masks and unmasks the vector, and checks the
 * masked one for a pending interrupt at unmask.  A signal that was
 * under way to the old fd then is lost unless the new fd gets one too.
 *
 * To stop the engine inside that window, the old fd is a full pipe:
 * its write blocks until the test has swapped the fd and drains it.
 */
typedef struct SwapSignal {
    int tid;
} SwapSignal;

static void *swap_signal_thread(void *opaque)
{
    SwapSignal *s = opaque;

    qatomic_set(&s->tid, qemu_get_thread_id());
    dp_vring_put(&fake->vr, 0, 1);
    dp_vring_flush(&fake->vr, 0, fake->mt);
    return NULL;
}

/* Whether thread @tid sleeps in write(2) */
static bool thread_in_write(int tid)
{
    g_autofree char *path = g_strdup_printf("/proc/self/task/%d/syscall",
                                            tid);
    g_autofree char *text = NULL;
    const char *end;
    long nr;

    return g_file_get_contents(path, &text, NULL, NULL) &&
           !qemu_strtol(text, &end, 10, &nr) && nr == SYS_write;
}

static void test_call_swap(void)
{
    SwapSignal s = { 0 };
    QemuThread th;
    int p[2], fd = eventfd(0, EFD_NONBLOCK);
    char junk[4096] = { 0 };
    gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    uint64_t n = 0;

    fake_setup();
    g_assert(g_unix_open_pipe(p, FD_CLOEXEC, NULL));
    g_assert(g_unix_set_fd_nonblocking(p[1], true, NULL));
    while (write(p[1], junk, sizeof(junk)) > 0) {
        /* fill the pipe */
    }
    while (write(p[1], junk, 1) > 0) {
        /* to the last byte */
    }
    g_assert(g_unix_set_fd_nonblocking(p[1], false, NULL));
    fake->vr.call_fd = p[1];

    qemu_thread_create(&th, "signal", swap_signal_thread, &s,
                       QEMU_THREAD_JOINABLE);
    while (!qatomic_read(&s.tid) || !thread_in_write(qatomic_read(&s.tid))) {
        g_assert(g_get_monotonic_time() < end);
        g_usleep(1000);
    }
    /* the vector is masked: the fd changes while the signal is under way */
    qatomic_set(&fake->vr.call_fd, fd);
    while (read(p[0], junk, sizeof(junk)) == sizeof(junk)) {
        /* drain the pipe: the old signal completes */
    }
    qemu_thread_join(&th);

    g_assert_cmpuint(used_idx(), ==, 1);
    g_assert_cmpint(read(fd, &n, sizeof(n)), ==, sizeof(n));
    g_assert_cmpuint(n, ==, 1);
    g_assert_cmpuint(fake->rg.interrupts, ==, 1);
    close(p[0]);
    close(p[1]);
    close(fd);
    fake_teardown();
}

/* Dirty marking while logging stays inside the used ring */
static void test_flush_dirty(void)
{
    const uint64_t end = USED_GPA + 6 + NUM * sizeof(struct vring_used_elem);
    uint64_t covered = 0;

    fake_setup();
    fake->rg.log_all = true;
    /* more elements than the ring holds in one flush (a hostile guest) */
    for (int i = 0; i < 2 * NUM + 3; i++) {
        dp_vring_put(&fake->vr, i % NUM, 0);
    }
    dp_vring_flush(&fake->vr, 0, fake->mt);
    for (unsigned int i = 0; i < fake->dirty->len; i++) {
        FakeDirty *d = &g_array_index(fake->dirty, FakeDirty, i);

        g_assert_cmpuint(d->region, ==, 0);
        g_assert_cmpuint(d->off, >=, USED_GPA);
        g_assert_cmpuint(d->off + d->len, <=, end);
        covered += d->len;
    }
    g_assert_cmpuint(covered, >=, end - USED_GPA - 2);
    fake_teardown();
}

/* Notification writes: flags and the avail event, marked dirty */
static void test_notify(void)
{
    uint16_t *flags, *avail_event;

    fake_setup();
    flags = (uint16_t *)hva(USED_GPA);
    avail_event = (uint16_t *)hva(USED_GPA + 4 + 8 * NUM);
    fake->rg.log_all = true;
    dp_vring_notify_off(&fake->vr);
    g_assert(le16_to_cpu(*flags) & VRING_USED_F_NO_NOTIFY);
    g_assert_cmpuint(fake->dirty->len, ==, 1);
    g_assert_cmpuint(g_array_index(fake->dirty, FakeDirty, 0).off, ==,
                     USED_GPA);
    g_assert(!dp_vring_notify_on(&fake->vr, 0));
    g_assert(!(le16_to_cpu(*flags) & VRING_USED_F_NO_NOTIFY));

    /* with the event index: the avail event says what was seen */
    fake->rg.event_idx = true;
    publish(0);
    publish(1);
    g_assert(!dp_vring_notify_on(&fake->vr, 2));
    g_assert_cmpuint(le16_to_cpu(*avail_event), ==, 2);
    g_assert(dp_vring_notify_on(&fake->vr, 1));

    /* while the owner polls, only the check: no write the guest sees */
    fake->vr.polling = true;
    g_array_set_size(fake->dirty, 0);
    publish(2);
    g_assert(dp_vring_notify_on(&fake->vr, 2));
    g_assert(!dp_vring_notify_on(&fake->vr, 3));
    g_assert_cmpuint(le16_to_cpu(*avail_event), ==, 1);
    fake->rg.event_idx = false;
    dp_vring_notify_off(&fake->vr);
    g_assert(!dp_vring_notify_on(&fake->vr, 3));
    g_assert(le16_to_cpu(*flags) & VRING_USED_F_NO_NOTIFY);
    g_assert_cmpuint(fake->dirty->len, ==, 1);
    fake_teardown();
}

/* Rings must be aligned as the spec says, and in guest RAM */
static void test_map_refused(void)
{
    static const struct {
        unsigned int part;
        uint64_t shift;
    } bad[] = {
        { DP_RING_DESC, 8 }, { DP_RING_AVAIL, 1 }, { DP_RING_USED, 2 },
    };
    g_autofree uint8_t *elsewhere = g_malloc0(4096);

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        fake_setup();
        fake->vr.addr[bad[i].part] += bad[i].shift;
        g_assert(!dp_vring_map(&fake->vr));
        fake_teardown();
    }
    fake_setup();
    fake->vr.addr[DP_RING_USED] = (uintptr_t)elsewhere;
    g_assert(!dp_vring_map(&fake->vr));
    /* a ring that runs past the end of its region */
    fake->vr.addr[DP_RING_USED] = (uintptr_t)hva(RAM1_GPA - 64);
    g_assert(!dp_vring_map(&fake->vr));
    fake_teardown();
}

#define IOVA    0x80000000ULL

/*
 * Behind a vIOMMU: a descriptor table contiguous in IOVA space on two
 * guest pages that are not, reached page by page; the pages hold
 * references; invalidations that touch a part say so.
 */
static void test_iommu_ring(void)
{
    uint64_t desc = IOVA + 0x800;  /* 16 x 16 bytes: one page is enough */
    struct iovec iov[4];
    uint64_t len;
    unsigned int cnt;

    fake_setup();
    dp_vring_unmap(&fake->vr);
    fake->rg.iommu_as = (AddressSpace *)&fake_as_tag;
    /* a bigger ring, so that the descriptor table spans two pages */
    fake->vr.num = 256;
    iommu_map(IOVA, 0x8000, IOMMU_RO);
    iommu_map(IOVA + 0x1000, 0x5000, IOMMU_RO);
    iommu_map(IOVA + 0x2000, AVAIL_GPA, IOMMU_RO);
    iommu_map(IOVA + 0x3000, USED_GPA, IOMMU_RW);
    iommu_map(IOVA + 0x4000, BUF_GPA, IOMMU_RO);
    fake->vr.addr[DP_RING_DESC] = desc;
    fake->vr.addr[DP_RING_AVAIL] = IOVA + 0x2000;
    fake->vr.addr[DP_RING_USED] = IOVA + 0x3000;
    g_assert(dp_vring_map(&fake->vr));
    g_assert(fake->vr.scatter[DP_RING_DESC]);
    g_assert(!fake->vr.scatter[DP_RING_USED]);
    g_assert_cmpint(fake->refs, ==, 2 + 1 + 1);
    g_assert_cmpuint(fake->vr.gpa[DP_RING_USED], ==, USED_GPA);

    /* descriptor 200 is on the second page: guest page 0x5000 */
    put_desc(0x5000, (0x800 + 200 * 16 - 0x1000) / 16, IOVA + 0x4000 + 16,
             64, 0, 0);
    *(uint16_t *)hva(AVAIL_GPA + 4) = cpu_to_le16(200);
    *(uint16_t *)hva(AVAIL_GPA + 2) = cpu_to_le16(1);
    g_assert_cmpint(walk(false, iov, NULL, &cnt, 4, &len), ==, DP_WALK_OK);
    g_assert(iov[0].iov_base == hva(BUF_GPA + 16) && len == 64);

    g_assert(dp_vring_invalidated(&fake->vr, IOVA + 0x1000, IOVA + 0x1fff));
    g_assert(dp_vring_invalidated(&fake->vr, IOVA + 0x3005, IOVA + 0x3005));
    g_assert(!dp_vring_invalidated(&fake->vr, IOVA + 0x4000, UINT64_MAX));
    g_assert(!dp_vring_invalidated(&fake->vr, 0, IOVA + 0x7ff));
    fake_teardown();
}

/* A translation made for reading does not allow writing */
static void test_iommu_perm(void)
{
    struct iovec iov[2];
    unsigned int cnt = 0;

    fake_setup();
    fake->rg.iommu_as = (AddressSpace *)&fake_as_tag;
    iommu_map(IOVA, BUF_GPA, IOMMU_RO);
    g_assert(dp_translate(&fake->rg, fake->mt, IOVA + 8, 8, false, iov,
                          NULL, &cnt, 2));
    g_assert(iov[0].iov_base == hva(BUF_GPA + 8));
    cnt = 0;
    g_assert(!dp_translate(&fake->rg, fake->mt, IOVA + 8, 8, true, iov,
                           NULL, &cnt, 2));
    /* unmapped: nothing, also not from the cache after a flush */
    g_hash_table_remove_all(fake->iommu);
    dp_iotlb_flush(&fake->rg);
    cnt = 0;
    g_assert(!dp_translate(&fake->rg, fake->mt, IOVA + 8, 8, false, iov,
                           NULL, &cnt, 2));
    fake_teardown();
}

/*
 * Packed vrings, with a fake guest driver: the same guest memory, the
 * descriptor ring at DESC_GPA, the driver event area at AVAIL_GPA and the
 * device event area at USED_GPA
 */

#define PACKED_BASE(avail, used)    ((avail) | (uint32_t)(used) << 16)
#define WRAP1                       0x8000

typedef struct PackedDriver {
    unsigned int avail;         /* positions, counted as the device does */
    unsigned int used;
    uint16_t ndescs[NUM];       /* by buffer id */
} PackedDriver;

static PackedDriver pdrv;

static unsigned int pos_of(uint16_t bits)
{
    return (bits & 0x7fff) + (bits & WRAP1 ? 0 : NUM);
}

static void packed_setup(uint32_t base)
{
    fake_setup();
    dp_vring_unmap(&fake->vr);
    fake->rg.packed = true;
    g_assert(dp_vring_map(&fake->vr));
    g_assert_cmpuint(fake->vr.gpa[DP_RING_DESC], ==, DESC_GPA);
    dp_vring_set_base(&fake->vr, base);
    pdrv = (PackedDriver) {
        .avail = pos_of(base), .used = pos_of(base >> 16),
    };
    g_assert(dp_vring_begin(&fake->vr));
}

static void packed_teardown(void)
{
    dp_vring_end(&fake->vr);
    g_assert(!fake->vr.p_chain);
    fake_teardown();
}

static uint16_t avail_bits(unsigned int pos)
{
    return pos < NUM ? 1 << VRING_PACKED_DESC_F_AVAIL
                     : 1 << VRING_PACKED_DESC_F_USED;
}

static void pdesc_write(uint64_t table, unsigned int i, uint64_t addr,
                        uint32_t len, uint16_t id, uint16_t flags)
{
    struct vring_packed_desc d = {
        .addr = cpu_to_le64(addr), .len = cpu_to_le32(len),
        .id = cpu_to_le16(id), .flags = cpu_to_le16(flags),
    };

    memcpy(hva(table + i * sizeof(d)), &d, sizeof(d));
}

/*
 * Make a chain of @n buffers of @len bytes available with buffer id @id,
 * each with @flags; the first descriptor's flags go last, as a driver
 * publishes a chain
 */
static void pchain(uint16_t id, unsigned int n, uint32_t len, uint16_t flags)
{
    for (int i = n - 1; i >= 0; i--) {
        unsigned int pos = (pdrv.avail + i) % (2 * NUM);

        pdesc_write(DESC_GPA, pos % NUM, BUF_GPA + 256 * i, len, id,
                    flags | avail_bits(pos) |
                    (i < n - 1 ? VRING_DESC_F_NEXT : 0));
    }
    pdrv.avail = (pdrv.avail + n) % (2 * NUM);
    pdrv.ndescs[id] = n;
}

/* The next used element the guest sees */
static bool pused(uint16_t *id, uint32_t *len)
{
    struct vring_packed_desc *d =
        (void *)hva(DESC_GPA + pdrv.used % NUM * sizeof(*d));
    uint16_t flags = le16_to_cpu(d->flags);
    bool wrap = pdrv.used < NUM;

    if (!!(flags & 1 << VRING_PACKED_DESC_F_AVAIL) != wrap ||
        !!(flags & 1 << VRING_PACKED_DESC_F_USED) != wrap) {
        return false;
    }
    *id = le16_to_cpu(d->id);
    *len = le32_to_cpu(d->len);
    g_assert_cmpuint(*id, <, NUM);
    pdrv.used = (pdrv.used + pdrv.ndescs[*id]) % (2 * NUM);
    return true;
}

/* What one walk of a one-descriptor chain gave, for test_walk_inline() */
typedef struct WalkSeen {
    DpWalk r;
    unsigned int cnt, run_descs, reports;
    bool broken;
    struct iovec iov[4];
    uint64_t gpas[4], len;
    char *report;
} WalkSeen;

static WalkSeen walk_one(uint64_t addr, uint32_t len, uint16_t flags,
                         bool write, unsigned int hint, bool big, bool slow)
{
    WalkSeen s = { 0 };
    uint16_t avail;
    int head;

    /* the fake of test_walk_inline(), as new */
    fake->vr.broken = false;
    fake->rg.run_descs = 0;
    fake->reports = 0;
    g_clear_pointer(&fake->last_report, g_free);
    /* region 1 as large as a guest's RAM, or not (buffers are not touched) */
    fake->mt->r[1].size = big ? 1ULL << 33 : RAM_SIZE;
    if (fake->vr.packed && !slow) {
        /*
         * a new chain of one descriptor for the inline walk; the full
         * walk that follows walks it again, and takes it
         */
        pdesc_write(DESC_GPA, pdrv.avail % NUM, addr, len, 0,
                    flags | avail_bits(pdrv.avail));
        pdrv.avail = (pdrv.avail + 1) % (2 * NUM);
    } else if (!fake->vr.packed) {
        /* a second descriptor, for the chains that go on */
        put_desc(DESC_GPA, 1, BUF_GPA + 0x100, 32,
                 write ? VRING_DESC_F_WRITE : 0, 0);
        put_desc(DESC_GPA, 0, addr, len, flags, 1);
    }
    g_assert(dp_vring_avail(&fake->vr, &avail));
    head = dp_vring_peek(&fake->vr, avail);
    g_assert_cmpint(head, >=, 0);
    fake->rg.mem_hint = hint;
    fake->rg.run_descs = 0;
    s.r = (slow ? dp_vring_walk_slow : dp_vring_walk)(&fake->vr, fake->mt,
                                                      head, write, s.iov,
                                                      s.gpas, &s.cnt, 4,
                                                      &s.len);
    s.run_descs = fake->rg.run_descs;
    s.reports = fake->reports;
    s.broken = fake->vr.broken;
    s.report = g_strdup(fake->last_report);
    if (fake->vr.packed && slow) {
        fake->vr.last_avail++;
        dp_vring_put(&fake->vr, head, 0);
    }
    return s;
}

static void walk_inline(bool packed)
{
    static const uint64_t addrs[] = {
        BUF_GPA, RAM1_GPA - 24, RAM1_GPA - 1, RAM1_GPA, HOLE_GPA - 8,
        HOLE_GPA, 0, UINT64_MAX - 8,
    };
    static const uint32_t lens[] = {
        0, 1, 24, 100, RAM_SIZE, 2 * RAM_SIZE, 0x80000000u, UINT32_MAX,
    };
    /* (a packed chain of one descriptor has no NEXT: it would go on) */
    static const uint16_t flags[] = {
        0, VRING_DESC_F_WRITE, VRING_DESC_F_INDIRECT,
        VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE, 0x8, 0x8 | 0x2,
        VRING_DESC_F_NEXT, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE,
    };
    unsigned int inline_hits = 0, nflags = ARRAY_SIZE(flags) - 2 * packed;

    if (packed) {
        packed_setup(PACKED_BASE(WRAP1, WRAP1));
    } else {
        fake_setup();
        publish(0);
    }
    for (unsigned int a = 0; a < ARRAY_SIZE(addrs); a++) {
        for (unsigned int l = 0; l < ARRAY_SIZE(lens); l++) {
            for (unsigned int f = 0; f < nflags; f++) {
                for (unsigned int w = 0; w < 8; w++) {
                    bool write = w & 1, big = w & 4;
                    unsigned int hint = (w >> 1) & 1;
                    WalkSeen fast = walk_one(addrs[a], lens[l], flags[f],
                                             write, hint, big, false);
                    WalkSeen slow = walk_one(addrs[a], lens[l], flags[f],
                                             write, hint, big, true);

                    g_assert_cmpint(fast.r, ==, slow.r);
                    g_assert_cmpuint(fast.cnt, ==, slow.cnt);
                    g_assert_cmpuint(fast.run_descs, ==, slow.run_descs);
                    g_assert_cmpuint(fast.reports, ==, slow.reports);
                    g_assert_cmpint(fast.broken, ==, slow.broken);
                    g_assert_cmpstr(fast.report, ==, slow.report);
                    if (fast.r == DP_WALK_OK) {
                        g_assert_cmpuint(fast.len, ==, slow.len);
                    }
                    for (unsigned int i = 0; i < fast.cnt; i++) {
                        g_assert_cmpuint(fast.gpas[i], ==, slow.gpas[i]);
                        g_assert(fast.iov[i].iov_base == slow.iov[i].iov_base);
                        g_assert_cmpuint(fast.iov[i].iov_len, ==,
                                         slow.iov[i].iov_len);
                    }
                    inline_hits += fast.r == DP_WALK_OK && fast.cnt == 1 &&
                                   !(flags[f] & ~VRING_DESC_F_WRITE);
                    g_free(fast.report);
                    g_free(slow.report);
                }
            }
        }
    }
    fake->mt->r[1].size = RAM_SIZE;
    fake->vr.broken = false;
    if (packed) {
        packed_teardown();
    } else {
        fake_teardown();
    }
    /* the cases the inline part takes were among them */
    g_assert_cmpuint(inline_hits, >, 10);
}

/*
 * dp_vring_walk() takes one-descriptor chains inline: for every kind of
 * descriptor, in either direction and whichever region the last lookup
 * hit, it must do exactly what the full walk does
 */
static void test_walk_inline(void)
{
    walk_inline(false);
}

static void test_walk_inline_packed(void)
{
    walk_inline(true);
}

/* The device takes the next chain: its handle, or -1 */
static int ptake(bool write, struct iovec *iov, unsigned int *cnt,
                 uint64_t *len)
{
    uint16_t avail;
    int h;

    if (!dp_vring_avail(&fake->vr, &avail)) {
        return -1;
    }
    h = dp_vring_peek(&fake->vr, avail);
    if (h < 0) {
        return -1;
    }
    g_assert_cmpint(h, <, NUM);
    *cnt = 0;
    g_assert_cmpint(dp_vring_walk(&fake->vr, fake->mt, h, write, iov, NULL,
                                  cnt, 8, len), ==, DP_WALK_OK);
    fake->vr.last_avail++;
    return h;
}

/* Chains in, used elements out of order, each the guest's buffer id */
static void test_packed_chain(void)
{
    struct iovec iov[8];
    unsigned int cnt;
    uint64_t len;
    uint32_t ulen;
    uint16_t id;
    int h1, h2;

    packed_setup(PACKED_BASE(WRAP1, WRAP1));
    pchain(7, 2, 100, 0);
    pchain(3, 1, 50, 0);
    h1 = ptake(false, iov, &cnt, &len);
    g_assert_cmpuint(cnt, ==, 2);
    g_assert_cmpuint(len, ==, 200);
    g_assert(iov[1].iov_base == hva(BUF_GPA + 256));
    h2 = ptake(false, iov, &cnt, &len);
    g_assert_cmpuint(len, ==, 50);
    g_assert_cmpint(ptake(false, iov, &cnt, &len), ==, -1);
    g_assert_cmpuint(fake->rg.run_descs, ==, 3);

    dp_vring_put(&fake->vr, h2, 11);
    dp_vring_put(&fake->vr, h1, 22);
    dp_vring_flush(&fake->vr, 0, fake->mt);
    g_assert(pused(&id, &ulen));
    g_assert_cmpuint(id, ==, 3);
    g_assert_cmpuint(ulen, ==, 11);
    g_assert(pused(&id, &ulen));
    g_assert_cmpuint(id, ==, 7);
    g_assert_cmpuint(ulen, ==, 22);
    /* the second element went where the first chain's second one was */
    g_assert_cmpuint(pdrv.used, ==, 3);
    g_assert(!pused(&id, &ulen));
    g_assert_cmpuint(fake->reports, ==, 0);
    packed_teardown();
}

/*
 * Several laps of the ring, chains of 1 to 3 descriptors, while the
 * first chain is held all along: the guest reuses its slot, and the
 * device's used elements overwrite it, but the held chain's buffer id
 * comes back right at the end
 */
static void test_packed_laps(void)
{
    struct iovec iov[8];
    unsigned int cnt;
    uint64_t len;
    uint32_t ulen;
    uint16_t id;
    int held, h;

    packed_setup(PACKED_BASE(WRAP1, WRAP1));
    pchain(0, 1, 10, 0);
    held = ptake(false, iov, &cnt, &len);
    g_assert_cmpint(held, >=, 0);
    for (unsigned int i = 1; i < 6 * NUM; i++) {
        unsigned int n = 1 + i % 3;
        uint16_t want = 1 + i % (NUM - 1);
        uint16_t old = fake->vr.used_idx;

        pchain(want, n, 20 + i, 0);
        h = ptake(false, iov, &cnt, &len);
        g_assert_cmpint(h, >=, 0);
        g_assert_cmpint(h, !=, held);
        g_assert_cmpuint(cnt, ==, n);
        g_assert_cmpuint(len, ==, n * (20 + i));
        dp_vring_put(&fake->vr, h, i);
        dp_vring_flush(&fake->vr, old, fake->mt);
        g_assert(pused(&id, &ulen));
        g_assert_cmpuint(id, ==, want);
        g_assert_cmpuint(ulen, ==, i);
    }
    dp_vring_put(&fake->vr, held, 1234);
    dp_vring_flush(&fake->vr, fake->vr.used_idx - 1, fake->mt);
    g_assert(pused(&id, &ulen));
    g_assert_cmpuint(id, ==, 0);
    g_assert_cmpuint(ulen, ==, 1234);
    g_assert(!pused(&id, &ulen));
    g_assert_cmpuint(fake->reports, ==, 0);
    packed_teardown();
}

/* A packed indirect table, for the device to write (RX) */
static void test_packed_indirect(void)
{
    struct iovec iov[8];
    unsigned int cnt;
    uint64_t len;
    uint32_t ulen;
    uint16_t id;
    int h;

    packed_setup(PACKED_BASE(WRAP1, WRAP1));
    fake->vr.index = DP_RX;
    for (int i = 0; i < 3; i++) {
        pdesc_write(TABLE_GPA, i, BUF_GPA + 512 * i, 100 + i, 0,
                    VRING_DESC_F_WRITE);
    }
    pdesc_write(DESC_GPA, 0, TABLE_GPA, 48, 5,
                VRING_DESC_F_INDIRECT | avail_bits(0));
    pdrv.avail = 1;
    pdrv.ndescs[5] = 1;
    h = ptake(true, iov, &cnt, &len);
    g_assert_cmpuint(cnt, ==, 3);
    g_assert_cmpuint(len, ==, 303);
    g_assert(iov[2].iov_base == hva(BUF_GPA + 1024));
    dp_vring_put(&fake->vr, h, 303);
    dp_vring_flush(&fake->vr, 0, fake->mt);
    g_assert(pused(&id, &ulen));
    g_assert_cmpuint(id, ==, 5);
    g_assert(le16_to_cpu(*(uint16_t *)hva(DESC_GPA + 14)) &
             VRING_DESC_F_WRITE);
    g_assert_cmpuint(fake->reports, ==, 0);
    packed_teardown();
}

typedef enum {
    PBAD_CHAINED_INDIRECT,
    PBAD_NESTED,
    PBAD_INDIRECT_LEN,
    PBAD_DIRECTION,
    PBAD_ENDLESS,
    PBAD_OUTSTANDING,
    PBAD_BASE,
    PBAD_COUNT,
} PackedBad;

static const char *const packed_bad[PBAD_COUNT] = {
    [PBAD_CHAINED_INDIRECT] = "chained-indirect",
    [PBAD_NESTED] = "nested-indirect",
    [PBAD_INDIRECT_LEN] = "indirect-len",
    [PBAD_DIRECTION] = "direction",
    [PBAD_ENDLESS] = "endless",
    [PBAD_OUTSTANDING] = "outstanding",
    [PBAD_BASE] = "base",
};

/* Each malformed packed vring stops with one report, and no spin */
static void test_packed_bad(const void *opaque)
{
    PackedBad bad = GPOINTER_TO_INT(opaque);
    struct iovec iov[2 * NUM];
    unsigned int cnt = 0;
    uint16_t avail;
    uint64_t len;
    int h;

    packed_setup(PACKED_BASE(WRAP1, WRAP1));
    switch (bad) {
    case PBAD_CHAINED_INDIRECT:
        pdesc_write(DESC_GPA, 1, BUF_GPA, 8, 0, avail_bits(1));
        pdesc_write(DESC_GPA, 0, TABLE_GPA, 16, 0, VRING_DESC_F_INDIRECT |
                    VRING_DESC_F_NEXT | avail_bits(0));
        break;
    case PBAD_NESTED:
        pdesc_write(TABLE_GPA, 0, TABLE_GPA, 16, 0, VRING_DESC_F_INDIRECT);
        pdesc_write(DESC_GPA, 0, TABLE_GPA, 16, 0, VRING_DESC_F_INDIRECT |
                    avail_bits(0));
        break;
    case PBAD_INDIRECT_LEN:
        pdesc_write(DESC_GPA, 0, TABLE_GPA, 24, 0, VRING_DESC_F_INDIRECT |
                    avail_bits(0));
        break;
    case PBAD_DIRECTION:
        pchain(0, 1, 8, VRING_DESC_F_WRITE);
        break;
    case PBAD_ENDLESS:
        /* every descriptor chained on, into the next lap */
        for (unsigned int pos = 2 * NUM - 1; pos < 2 * NUM; pos--) {
            pdesc_write(DESC_GPA, pos % NUM, BUF_GPA, 8, 0,
                        VRING_DESC_F_NEXT | avail_bits(pos));
            if (pos == NUM) {
                break;
            }
        }
        for (int i = NUM - 1; i >= 0; i--) {
            pdesc_write(DESC_GPA, i, BUF_GPA, 8, 0,
                        VRING_DESC_F_NEXT | avail_bits(i));
        }
        break;
    case PBAD_OUTSTANDING:
        /* a ring's worth taken and not put, and one more made available */
        for (unsigned int i = 0; i < NUM; i++) {
            pchain(i, 1, 8, 0);
            g_assert_cmpint(ptake(false, iov, &cnt, &len), >=, 0);
        }
        pchain(0, 1, 8, 0);
        break;
    case PBAD_BASE:
        dp_vring_end(&fake->vr);
        dp_vring_set_base(&fake->vr, PACKED_BASE(NUM, WRAP1));
        g_assert(!dp_vring_begin(&fake->vr));
        break;
    default:
        g_assert_not_reached();
    }
    if (dp_vring_live(&fake->vr) && dp_vring_avail(&fake->vr, &avail)) {
        h = dp_vring_peek(&fake->vr, avail);
        g_assert_cmpint(h, >=, 0);
        g_assert_cmpint(dp_vring_walk(&fake->vr, fake->mt, h, false, iov,
                                      NULL, &cnt, ARRAY_SIZE(iov), &len),
                        ==, DP_WALK_BROKEN);
    }
    g_assert(fake->vr.broken);
    g_assert_cmpuint(fake->reports, ==, 1);
    g_assert_cmpuint(fake->rg.run_descs, <=, 2 * NUM + DP_MAX_INDIRECT);
    g_assert(!dp_vring_has_work(&fake->vr));
    packed_teardown();
}

/*
 * The vring base: where a stopped vring takes up again, in both laps,
 * across the end of the ring; chains found and not taken are found again
 */
static void test_packed_base(void)
{
    struct iovec iov[8];
    unsigned int cnt;
    uint64_t len;
    uint32_t ulen;
    uint16_t id, avail;
    int h;

    packed_setup(PACKED_BASE(5, 5));
    g_assert_cmpuint(fake->vr.p_avail, ==, NUM + 5);
    for (int i = 0; i < 3; i++) {
        pchain(i, 1, 10 + i, 0);
    }
    h = ptake(false, iov, &cnt, &len);
    g_assert_cmpuint(len, ==, 10);
    dp_vring_put(&fake->vr, h, 1);
    dp_vring_flush(&fake->vr, 0, fake->mt);
    g_assert(dp_vring_avail(&fake->vr, &avail));
    g_assert_cmpuint(avail, ==, 3);
    dp_vring_end(&fake->vr);
    g_assert_cmphex(dp_vring_get_base(&fake->vr), ==, PACKED_BASE(6, 6));

    dp_vring_set_base(&fake->vr, PACKED_BASE(6, 6));
    g_assert(dp_vring_begin(&fake->vr));
    h = ptake(false, iov, &cnt, &len);
    g_assert_cmpuint(len, ==, 11);
    g_assert(pused(&id, &ulen));
    g_assert_cmpuint(id, ==, 0);
    dp_vring_end(&fake->vr);

    /* the last slot of the second lap, a chain into the first */
    dp_vring_set_base(&fake->vr, PACKED_BASE(NUM - 1, NUM - 1));
    pdrv.avail = pdrv.used = 2 * NUM - 1;
    g_assert(dp_vring_begin(&fake->vr));
    pchain(4, 2, 30, 0);
    h = ptake(false, iov, &cnt, &len);
    g_assert_cmpuint(cnt, ==, 2);
    dp_vring_put(&fake->vr, h, 60);
    dp_vring_flush(&fake->vr, 0, fake->mt);
    g_assert(pused(&id, &ulen));
    g_assert_cmpuint(id, ==, 4);
    g_assert_cmpuint(ulen, ==, 60);
    g_assert_cmpuint(pdrv.used, ==, 1);
    dp_vring_end(&fake->vr);
    g_assert_cmphex(dp_vring_get_base(&fake->vr), ==,
                    PACKED_BASE(WRAP1 | 1, WRAP1 | 1));
    g_assert(dp_vring_begin(&fake->vr));
    g_assert_cmpuint(fake->reports, ==, 0);
    packed_teardown();
}

/* Event suppression, both ways */
static void test_packed_event(void)
{
    uint16_t *dev_flags, *dev_off, *drv_flags, *drv_off;
    int fd = eventfd(0, EFD_NONBLOCK);
    uint16_t avail, old;
    uint64_t n;

    packed_setup(PACKED_BASE(WRAP1, WRAP1));
    dev_off = (uint16_t *)hva(USED_GPA);
    dev_flags = (uint16_t *)hva(USED_GPA + 2);
    drv_off = (uint16_t *)hva(AVAIL_GPA);
    drv_flags = (uint16_t *)hva(AVAIL_GPA + 2);
    fake->vr.call_fd = fd;

    /* kicks: off, on, and on at the next position with the event index */
    dp_vring_notify_off(&fake->vr);
    g_assert_cmpuint(le16_to_cpu(*dev_flags), ==,
                     VRING_PACKED_EVENT_FLAG_DISABLE);
    g_assert(!dp_vring_notify_on(&fake->vr, 0));
    g_assert_cmpuint(le16_to_cpu(*dev_flags), ==,
                     VRING_PACKED_EVENT_FLAG_ENABLE);
    pchain(0, 3, 8, 0);
    g_assert(dp_vring_notify_on(&fake->vr, 0));
    g_assert(dp_vring_avail(&fake->vr, &avail));
    g_assert_cmpuint(avail, ==, 1);
    fake->rg.event_idx = true;
    g_assert(!dp_vring_notify_on(&fake->vr, 1));
    g_assert_cmpuint(le16_to_cpu(*dev_flags), ==,
                     VRING_PACKED_EVENT_FLAG_DESC);
    g_assert_cmphex(le16_to_cpu(*dev_off), ==, WRAP1 | 3);

    /* interrupts: the guest's flags, then its event position */
    *drv_flags = cpu_to_le16(VRING_PACKED_EVENT_FLAG_DISABLE);
    for (unsigned int i = 1; i < 4; i++) {
        pdrv.ndescs[i] = 1;
    }
    fake->vr.p_chain[0] = (DpPackedChain) { .pos = 0, .ndescs = 1 };
    old = fake->vr.used_idx;
    fake->vr.p_nfree--;
    dp_vring_put(&fake->vr, 0, 1);
    dp_vring_flush(&fake->vr, old, fake->mt);
    g_assert_cmpint(read(fd, &n, sizeof(n)), <, 0);
    *drv_flags = cpu_to_le16(VRING_PACKED_EVENT_FLAG_ENABLE);
    for (int round = 0; round < 3; round++) {
        /* positions 1 and 2, 3 and 4, 5 and 6 */
        static const uint16_t event[] = { 2, 7, 5 };
        static const bool fires[] = { true, false, true };

        *drv_flags = cpu_to_le16(VRING_PACKED_EVENT_FLAG_DESC);
        *drv_off = cpu_to_le16(WRAP1 | event[round]);
        old = fake->vr.used_idx;
        for (int k = 0; k < 2; k++) {
            fake->vr.p_nfree--;
            dp_vring_put(&fake->vr, 0, 1);
        }
        dp_vring_flush(&fake->vr, old, fake->mt);
        g_assert_cmpint(read(fd, &n, sizeof(n)) == sizeof(n), ==,
                        fires[round]);
    }
    close(fd);
    packed_teardown();
}

/*
 * A put for no chain outstanding (an engine bug) stops the ring rather
 * than writing past the free handles (ASan sees that in its build)
 */
static void test_packed_put_unowned(void)
{
    packed_setup(PACKED_BASE(WRAP1, WRAP1));
    dp_vring_put(&fake->vr, 3, 1);
    g_assert(fake->vr.broken);
    g_assert_cmpuint(fake->reports, ==, 1);
    g_assert_cmpuint(fake->vr.p_nfree, ==, NUM);
    g_assert_cmpuint(fake->vr.p_used, ==, 0);
    packed_teardown();
}

/* Used elements are marked dirty in the descriptor ring, and only there */
static void test_packed_dirty(void)
{
    struct iovec iov[8];
    unsigned int cnt;
    uint64_t len, covered = 0;
    int h[3];

    packed_setup(PACKED_BASE(WRAP1 | (NUM - 1), WRAP1 | (NUM - 1)));
    fake->rg.log_all = true;
    for (int i = 0; i < 3; i++) {
        pchain(i, 1, 8, 0);
        h[i] = ptake(false, iov, &cnt, &len);
    }
    for (int i = 0; i < 3; i++) {
        dp_vring_put(&fake->vr, h[i], 1);
    }
    dp_vring_flush(&fake->vr, 0, fake->mt);
    for (unsigned int i = 0; i < fake->dirty->len; i++) {
        FakeDirty *d = &g_array_index(fake->dirty, FakeDirty, i);

        g_assert_cmpuint(d->off, >=, DESC_GPA);
        g_assert_cmpuint(d->off + d->len, <=,
                         DESC_GPA + NUM * sizeof(struct vring_packed_desc));
        covered += d->len;
    }
    /* slots 15, 0 and 1 */
    g_assert_cmpuint(covered, ==, 3 * sizeof(struct vring_packed_desc));
    g_assert_cmpuint(fake->dirty->len, ==, 2);
    packed_teardown();
}

int main(int argc, char **argv)
{
    static const char *const bad[] = {
        [BAD_LOOP] = "loop", [BAD_NEXT] = "next",
        [BAD_NESTED] = "nested-indirect",
        [BAD_CHAINED_INDIRECT] = "chained-indirect",
        [BAD_INDIRECT_LEN] = "indirect-len",
        [BAD_INDIRECT_ADDR] = "indirect-addr",
        [BAD_DIRECTION] = "direction", [BAD_HOLE] = "hole",
        [BAD_WRAP] = "wrap", [BAD_HUGE] = "huge",
    };

    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vhost-dp-ring/walk/chain", test_walk_chain);
    g_test_add_func("/vhost-dp-ring/walk/indirect", test_walk_indirect);
    g_test_add_func("/vhost-dp-ring/walk/inline", test_walk_inline);
    g_test_add_func("/vhost-dp-ring/walk/inline-packed",
                    test_walk_inline_packed);
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        g_autofree char *path = g_strdup_printf("/vhost-dp-ring/walk/bad/%s",
                                                bad[i]);

        g_test_add_data_func(path, GINT_TO_POINTER(i), test_walk_bad);
    }
    g_test_add_func("/vhost-dp-ring/avail-jump", test_avail_jump);
    g_test_add_func("/vhost-dp-ring/flush/event-idx", test_flush_event_idx);
    g_test_add_func("/vhost-dp-ring/flush/dirty", test_flush_dirty);
    g_test_add_func("/vhost-dp-ring/flush/call-swap", test_call_swap);
    g_test_add_func("/vhost-dp-ring/notify", test_notify);
    g_test_add_func("/vhost-dp-ring/map-refused", test_map_refused);
    g_test_add_func("/vhost-dp-ring/iommu/ring", test_iommu_ring);
    g_test_add_func("/vhost-dp-ring/iommu/perm", test_iommu_perm);
    g_test_add_func("/vhost-dp-ring/packed/chain", test_packed_chain);
    g_test_add_func("/vhost-dp-ring/packed/laps", test_packed_laps);
    g_test_add_func("/vhost-dp-ring/packed/indirect", test_packed_indirect);
    for (size_t i = 0; i < PBAD_COUNT; i++) {
        g_autofree char *path =
            g_strdup_printf("/vhost-dp-ring/packed/bad/%s", packed_bad[i]);

        g_test_add_data_func(path, GINT_TO_POINTER(i), test_packed_bad);
    }
    g_test_add_func("/vhost-dp-ring/packed/base", test_packed_base);
    g_test_add_func("/vhost-dp-ring/packed/event", test_packed_event);
    g_test_add_func("/vhost-dp-ring/packed/dirty", test_packed_dirty);
    g_test_add_func("/vhost-dp-ring/packed/put-unowned",
                    test_packed_put_unowned);
    return g_test_run();
}
