/*
 * vdp-bench: a guest-less virtio-net driver for benchmarking QEMU network
 * backends
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * It starts QEMU (-accel qtest, guest RAM in a shared file it maps too),
 * sets up a virtio-net-pci device (legacy interface, programmed through
 * the qtest protocol's port I/O; with --packed the modern interface and
 * packed virtqueues, through its memory BAR), then drives the rings
 * directly in the shared RAM: it keeps the TX rings full and reclaims
 * them, keeps RX buffers posted and counts arrivals, checks sequence
 * numbers and payload on a sample, and kicks only when the device asks
 * for kicks (event index, or the packed ring's event suppression).  The
 * backend is any -netdev string.
 *
 * Output: one line of key=value pairs per run.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "tso-frame.h"

#define PAGE            4096u
#define RAM_SIZE        (1024u << 20)
#define POOL_BASE       (64u << 20)
#define IO_BAR          0xc000u
#define MAX_QP          8
#define HDR_LEN         12
#define RX_BUF          2048u
#define RX_BUF_BIG      (65536u + 64)
#define TX_BUF          (65536u + 64)

/* legacy virtio-pci registers */
#define VP_HOST_FEATURES    0x00
#define VP_GUEST_FEATURES   0x04
#define VP_QUEUE_PFN        0x08
#define VP_QUEUE_NUM        0x0c
#define VP_QUEUE_SEL        0x0e
#define VP_QUEUE_NOTIFY     0x10
#define VP_STATUS           0x12
#define VP_CONFIG           0x14    /* without MSI-X */

#define F_CSUM          0
#define F_GUEST_CSUM    1
#define F_GUEST_TSO4    7
#define F_HOST_TSO4     11
#define F_MRG_RXBUF     15
#define F_CTRL_VQ       17
#define F_MQ            22
#define F_ANY_LAYOUT    27
#define F_EVENT_IDX     29
#define F_VERSION_1     32
#define F_RING_PACKED   34

#define DESC_F_NEXT     1
#define DESC_F_WRITE    2
#define PDESC_F_AVAIL   (1u << 7)
#define PDESC_F_USED    (1u << 15)
#define PEVENT_ENABLE   0
#define PEVENT_DISABLE  1
#define PEVENT_DESC     2

/* the modern interface: its registers in BAR 4, mapped here */
#define MODERN_BAR      0xe0000000ull
#define CC_DFSELECT     0x00    /* common configuration */
#define CC_DF           0x04
#define CC_GFSELECT     0x08
#define CC_GF           0x0c
#define CC_STATUS       0x14
#define CC_Q_SELECT     0x16
#define CC_Q_SIZE       0x18
#define CC_Q_ENABLE     0x1c
#define CC_Q_NOFF       0x1e
#define CC_Q_DESC       0x20
#define CC_Q_DRIVER     0x28
#define CC_Q_DEVICE     0x30

struct desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct pdesc {
    uint64_t addr;
    uint32_t len;
    uint16_t id;
    uint16_t flags;
};

typedef struct Vq {
    unsigned int idx, num;
    uint64_t gpa;                   /* of the ring */
    struct desc *desc;
    volatile uint16_t *avail;       /* flags, idx, ring[num], used_event */
    volatile uint8_t *used;         /* flags, idx, ring[num], avail_event */
    uint16_t avail_idx, last_used;
    uint16_t *free;                 /* free descriptor stack */
    unsigned int nfree;
    uint64_t buf_gpa;               /* buffers: desc i uses buf + i * bsz */
    uint32_t bsz;
    uint64_t done, bytes, errors, checked;
    uint64_t kicks;                 /* notifications sent */
    uint32_t seq;                   /* TX: next sequence number */
    uint32_t rx_seq;                /* RX: next expected (loopback) */
    /* packed: the ring, event suppression, positions and wrap counters */
    bool packed;
    struct pdesc *pdesc;
    volatile uint16_t *drv_event;   /* off_wrap, flags: ours */
    volatile uint16_t *dev_event;   /* the device's */
    uint16_t next_avail, next_used;
    bool avail_wrap, used_wrap;
    uint64_t notify;                /* modern: its notification address */
} Vq;

static int qt_fd = -1, qmp_fd = -1;
static bool packed;                 /* --packed: modern, packed rings */
static uint64_t common_cfg, notify_base;
static uint32_t notify_mult;
static uint8_t *ram;
static uint64_t pool_next = POOL_BASE;
static uint64_t features;
static pid_t qemu_pid, during_pid;
static char sock_path[108], qmp_path[108], mem_path[128];

static void die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "vdp-bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    if (qemu_pid > 0) {
        kill(qemu_pid, SIGKILL);
    }
    unlink(sock_path);
    unlink(qmp_path);
    unlink(mem_path);
    exit(1);
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* qtest protocol: one command, one "OK ..." line */
static uint64_t qt_cmd(const char *fmt, ...)
{
    char buf[256], line[256];
    size_t len = 0;
    int64_t value = 0;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (write(qt_fd, buf, n) != n) {
        die("qtest write: %s", strerror(errno));
    }
    for (;;) {
        ssize_t r = read(qt_fd, line + len, 1);

        if (r <= 0) {
            die("qtest connection lost");
        }
        if (line[len] == '\n') {
            line[len] = 0;
            if (!strncmp(line, "IRQ", 3)) {
                len = 0;            /* an unsolicited IRQ line: skip */
                continue;
            }
            break;
        }
        if (++len == sizeof(line) - 1) {
            die("qtest: long line");
        }
    }
    if (strncmp(line, "OK", 2)) {
        die("qtest: '%s' -> '%s'", buf, line);
    }
    if (line[2] && sscanf(line + 3, "%" SCNi64, &value) != 1) {
        die("qtest: '%s' -> '%s'", buf, line);
    }
    return value;
}

static void outb(uint16_t p, uint8_t v)
{
    qt_cmd("outb 0x%x 0x%x\n", p, v);
}
static void outw(uint16_t p, uint16_t v)
{
    qt_cmd("outw 0x%x 0x%x\n", p, v);
}
static void outl(uint16_t p, uint32_t v)
{
    qt_cmd("outl 0x%x 0x%x\n", p, v);
}
static uint8_t inb(uint16_t p)
{
    return qt_cmd("inb 0x%x\n", p);
}
static uint16_t inw(uint16_t p)
{
    return qt_cmd("inw 0x%x\n", p);
}
static uint32_t inl(uint16_t p)
{
    return qt_cmd("inl 0x%x\n", p);
}

static uint32_t pci_cfg_read(int dev, int off)
{
    outl(0xcf8, 0x80000000u | (dev << 11) | (off & ~3));
    return inl(0xcfc);
}

static void pci_cfg_write(int dev, int off, uint32_t v)
{
    outl(0xcf8, 0x80000000u | (dev << 11) | (off & ~3));
    outl(0xcfc, v);
}

static void mw8(uint64_t a, uint8_t v)
{
    qt_cmd("writeb 0x%" PRIx64 " 0x%x\n", a, v);
}
static void mw16(uint64_t a, uint16_t v)
{
    qt_cmd("writew 0x%" PRIx64 " 0x%x\n", a, v);
}
static void mw32(uint64_t a, uint32_t v)
{
    qt_cmd("writel 0x%" PRIx64 " 0x%x\n", a, v);
}
static void mw64(uint64_t a, uint64_t v)
{
    qt_cmd("writeq 0x%" PRIx64 " 0x%" PRIx64 "\n", a, v);
}
static uint8_t mr8(uint64_t a)
{
    return qt_cmd("readb 0x%" PRIx64 "\n", a);
}
static uint16_t mr16(uint64_t a)
{
    return qt_cmd("readw 0x%" PRIx64 "\n", a);
}
static uint32_t mr32(uint64_t a)
{
    return qt_cmd("readl 0x%" PRIx64 "\n", a);
}

/* QMP: send a command, return the "return" line (a static buffer) */
static char qmp_buf[65536];

static const char *qmp(const char *cmd)
{
    size_t len = 0;

    if (write(qmp_fd, cmd, strlen(cmd)) != (ssize_t)strlen(cmd)) {
        die("qmp write");
    }
    for (;;) {
        ssize_t r = read(qmp_fd, qmp_buf + len, sizeof(qmp_buf) - 1 - len);
        char *nl;

        if (r <= 0) {
            die("qmp connection lost");
        }
        len += r;
        qmp_buf[len] = 0;
        while ((nl = strchr(qmp_buf, '\n'))) {
            *nl = 0;
            if (strstr(qmp_buf, "\"return\"") || strstr(qmp_buf, "\"error\"")) {
                return qmp_buf;
            }
            len -= nl + 1 - qmp_buf;
            memmove(qmp_buf, nl + 1, len + 1);
        }
    }
}

static uint64_t alloc_gpa(uint64_t size, uint64_t align)
{
    uint64_t a = (pool_next + align - 1) & ~(align - 1);

    pool_next = a + size;
    if (pool_next > RAM_SIZE) {
        die("out of guest memory");
    }
    return a;
}

static inline void *gpa(uint64_t a)
{
    return ram + a;
}

static inline uint16_t *used_idx(Vq *q)
{
    return (uint16_t *)(q->used + 2);
}

static inline uint16_t *avail_event(Vq *q)
{
    return (uint16_t *)(q->used + 4 + 8 * q->num);
}

/* Every descriptor free, each with a buffer of @bsz bytes of its own */
static void vq_init_buffers(Vq *q, uint32_t bsz)
{
    q->free = calloc(q->num, sizeof(*q->free));
    for (unsigned int i = 0; i < q->num; i++) {
        q->free[q->nfree++] = q->num - 1 - i;
    }
    q->bsz = bsz;
    if (bsz) {
        q->buf_gpa = alloc_gpa((uint64_t)bsz * q->num, PAGE);
    }
}

static void vq_setup_packed(Vq *q, unsigned int idx, uint32_t bsz)
{
    uint64_t ring, drv, dev;

    q->idx = idx;
    q->packed = true;
    mw16(common_cfg + CC_Q_SELECT, idx);
    q->num = mr16(common_cfg + CC_Q_SIZE);
    if (!q->num) {
        die("queue %u does not exist", idx);
    }
    ring = alloc_gpa(16ull * q->num, PAGE);
    drv = alloc_gpa(4, 64);
    dev = alloc_gpa(4, 64);
    memset(gpa(ring), 0, 16ull * q->num);
    memset(gpa(drv), 0, 4);
    memset(gpa(dev), 0, 4);
    q->gpa = ring;
    q->pdesc = gpa(ring);
    q->drv_event = gpa(drv);
    q->dev_event = gpa(dev);
    q->avail_wrap = q->used_wrap = true;
    vq_init_buffers(q, bsz);
    mw64(common_cfg + CC_Q_DESC, ring);
    mw64(common_cfg + CC_Q_DRIVER, drv);
    mw64(common_cfg + CC_Q_DEVICE, dev);
    q->notify = notify_base +
                (uint64_t)mr16(common_cfg + CC_Q_NOFF) * notify_mult;
    mw16(common_cfg + CC_Q_ENABLE, 1);
}

static void vq_setup(Vq *q, unsigned int idx, uint32_t bsz)
{
    uint64_t size;

    if (packed) {
        vq_setup_packed(q, idx, bsz);
        return;
    }
    q->idx = idx;
    outw(IO_BAR + VP_QUEUE_SEL, idx);
    q->num = inw(IO_BAR + VP_QUEUE_NUM);
    if (!q->num) {
        die("queue %u does not exist", idx);
    }
    size = ((16 * q->num + 2 * (3 + q->num) + PAGE - 1) & ~(PAGE - 1)) +
           ((2 * 3 + 8 * q->num + PAGE - 1) & ~(PAGE - 1));
    q->gpa = alloc_gpa(size, PAGE);
    memset(gpa(q->gpa), 0, size);
    q->desc = gpa(q->gpa);
    q->avail = gpa(q->gpa + 16 * q->num);
    q->used = gpa(q->gpa + ((16 * q->num + 2 * (3 + q->num) + PAGE - 1) &
                            ~(PAGE - 1)));
    vq_init_buffers(q, bsz);
    outl(IO_BAR + VP_QUEUE_PFN, q->gpa / PAGE);
}

static inline bool need_event(uint16_t event, uint16_t new, uint16_t old)
{
    return (uint16_t)(new - event - 1) < (uint16_t)(new - old);
}

static void vq_notify(Vq *q)
{
    if (q->packed) {
        mw16(q->notify, q->idx);
    } else {
        outw(IO_BAR + VP_QUEUE_NOTIFY, q->idx);
    }
    q->kicks++;
}

/*
 * Packed: the descriptors made available since position @old (the ring
 * position before them) are visible; kick as the device's event
 * suppression asks
 */
static void vq_publish_packed(Vq *q, uint16_t old)
{
    uint16_t off_wrap, flags, event, new = q->next_avail;
    bool kick;

    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    off_wrap = __atomic_load_n(&q->dev_event[0], __ATOMIC_ACQUIRE);
    flags = __atomic_load_n(&q->dev_event[1], __ATOMIC_ACQUIRE);
    if (flags != PEVENT_DESC) {
        kick = flags != PEVENT_DISABLE;
    } else {
        event = off_wrap & 0x7fff;
        /* positions wrap at num: compare in one frame of reference */
        if ((off_wrap >> 15) != q->avail_wrap) {
            event -= q->num;
        }
        if (new < old) {
            old -= q->num;
        }
        kick = need_event(event, new, old);
    }
    if (kick) {
        vq_notify(q);
    }
}

/* Publish avail entries added since @old; kick if the device asks */
static void vq_publish(Vq *q, uint16_t old)
{
    bool kick;

    if (q->packed) {
        vq_publish_packed(q, old);
        return;
    }

    __atomic_store_n(&q->avail[1], q->avail_idx, __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (features & (1ull << F_EVENT_IDX)) {
        kick = need_event(__atomic_load_n(avail_event(q), __ATOMIC_ACQUIRE),
                          q->avail_idx, old);
    } else {
        kick = !(__atomic_load_n((uint16_t *)q->used, __ATOMIC_ACQUIRE) & 1);
    }
    if (kick) {
        vq_notify(q);
    }
}

/* Where a batch starts, for vq_publish() */
static inline uint16_t vq_mark(Vq *q)
{
    return q->packed ? q->next_avail : q->avail_idx;
}

static inline void vq_add(Vq *q, uint16_t id, uint32_t len, bool write)
{
    if (q->packed) {
        struct pdesc *d = &q->pdesc[q->next_avail];
        uint16_t flags = (write ? DESC_F_WRITE : 0) |
                         (q->avail_wrap ? PDESC_F_AVAIL : PDESC_F_USED);

        d->addr = q->buf_gpa + (uint64_t)id * q->bsz;
        d->len = len;
        d->id = id;
        /* the flags last: they make the descriptor available */
        __atomic_store_n(&d->flags, flags, __ATOMIC_RELEASE);
        if (++q->next_avail == q->num) {
            q->next_avail = 0;
            q->avail_wrap = !q->avail_wrap;
        }
        return;
    }
    q->desc[id].addr = q->buf_gpa + (uint64_t)id * q->bsz;
    q->desc[id].len = len;
    q->desc[id].flags = write ? DESC_F_WRITE : 0;
    q->desc[id].next = 0;
    q->avail[2 + q->avail_idx % q->num] = id;
    q->avail_idx++;
}

/*
 * The next used buffer, if the device has returned one: its id and length.
 * Single-descriptor buffers only.
 */
static inline bool vq_get_used(Vq *q, uint32_t *id, uint32_t *len)
{
    if (q->packed) {
        struct pdesc *d = &q->pdesc[q->next_used];
        uint16_t flags = __atomic_load_n(&d->flags, __ATOMIC_ACQUIRE);
        bool avail = flags & PDESC_F_AVAIL, used = flags & PDESC_F_USED;

        if (avail != used || used != q->used_wrap) {
            return false;
        }
        *id = d->id;
        *len = d->len;
        if (++q->next_used == q->num) {
            q->next_used = 0;
            q->used_wrap = !q->used_wrap;
        }
        return true;
    }
    if (q->last_used == __atomic_load_n(used_idx(q), __ATOMIC_ACQUIRE)) {
        return false;
    }
    *id = *(uint32_t *)(q->used + 4 + 8 * (q->last_used % q->num));
    *len = *(uint32_t *)(q->used + 8 + 8 * (q->last_used % q->num));
    q->last_used++;
    return true;
}

/* Ask for interrupts never: the harness polls the used rings */
static void vq_quiet(Vq *q)
{
    if (q->packed) {
        q->drv_event[1] = PEVENT_DISABLE;
        return;
    }
    q->avail[0] = 1;                            /* NO_INTERRUPT */
    q->avail[2 + q->num] = 0x7fff;              /* used_event, far away */
}

/*
 * The traffic
 */

typedef struct Config {
    const char *qemu;
    const char *netdev;
    const char *objects[16];
    int nobjects;
    const char *device_extra;
    const char *qemu_extra;     /* more QEMU arguments, as shell words */
    const char *post_start;     /* a command run once QEMU is up */
    const char *during;         /* a command run during the measurement */
    const char *mode;           /* tx, rx, both */
    unsigned int size;          /* frame bytes, without the virtio header */
    unsigned int queues;
    double seconds, warmup;
    bool tso;
    bool check;
    bool quiet;
    int cpu_guest, cpu_qemu;    /* -1: not pinned */
    unsigned int round_us;      /* sleep after each round of work */
    double qmp_at;              /* seconds into the measurement, and */
    const char *qmp_cmd;        /* ...a QMP command to send then */
} Config;

static Config cfg = {
    .qemu = "build/qemu-system-x86_64",
    .mode = "tx",
    .size = 64,
    .queues = 1,
    .seconds = 3,
    .warmup = 0.5,
    .check = true,
    .cpu_guest = -1,
    .cpu_qemu = -1,
};

static void pin(int cpu)
{
    cpu_set_t set;

    if (cpu < 0) {
        return;
    }
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set)) {
        die("cannot pin to CPU %d: %s", cpu, strerror(errno));
    }
}

static Vq rxq[MAX_QP], txq[MAX_QP];

static void fill_frame(uint8_t *f, unsigned int len, uint32_t seq)
{
    static const uint8_t hdr[14] = {
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56,         /* to the guest MAC */
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
        0x88, 0xb5,
    };

    memcpy(f, hdr, 14);
    memcpy(f + 14, &seq, 4);
    for (unsigned int i = 18; i < len; i++) {
        f[i] = (uint8_t)(i * 7);
    }
}

/* A TSO frame: Ethernet, IPv4, TCP, payload up to @len */
static void fill_tso_frame(uint8_t *f, unsigned int len, uint32_t seq)
{
    static const uint8_t mac[12] = {
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
    };

    memcpy(f, mac, 12);
    tso_frame_headers(f, len);
    memcpy(f + 14 + 20 + 4, &seq, 4);
    for (unsigned int i = 54; i < len; i++) {
        f[i] = (uint8_t)(i * 7);
    }
}

static void tx_prepare(Vq *q)
{
    for (unsigned int i = 0; i < q->num; i++) {
        uint8_t *b = gpa(q->buf_gpa + (uint64_t)i * q->bsz);

        memset(b, 0, HDR_LEN);
        if (cfg.tso) {
            tso_vnet_hdr(b);
            fill_tso_frame(b + HDR_LEN, cfg.size, i);
        } else {
            fill_frame(b + HDR_LEN, cfg.size, i);
        }
    }
}

/* Reclaim sent buffers and refill the TX ring */
static void tx_work(Vq *q)
{
    uint16_t old = vq_mark(q);
    uint32_t id, len;

    while (vq_get_used(q, &id, &len)) {
        if (id >= q->num) {
            die("tx: bad used id %u", id);
        }
        q->free[q->nfree++] = id;
        q->done++;
        q->bytes += cfg.size;
    }
    if (!q->nfree) {
        return;
    }
    while (q->nfree) {
        uint16_t id = q->free[--q->nfree];

        if (!cfg.tso) {
            /* a sequence number per frame, for the receive side's check */
            memcpy(gpa(q->buf_gpa + (uint64_t)id * q->bsz + HDR_LEN + 14),
                   &q->seq, 4);
        }
        q->seq++;
        vq_add(q, id, HDR_LEN + cfg.size, false);
    }
    vq_publish(q, old);
}

static void rx_post_all(Vq *q)
{
    uint16_t old = vq_mark(q);

    while (q->nfree) {
        vq_add(q, q->free[--q->nfree], q->bsz, true);
    }
    vq_publish(q, old);
}

/* Count and check arrivals, and post the buffers again */
static void rx_work(Vq *q, bool loop)
{
    uint32_t id, len;
    bool any = false;

    while (vq_get_used(q, &id, &len)) {
        any = true;
        if (id >= q->num || len < HDR_LEN) {
            die("rx: bad used element id %u len %u", id, len);
        }
        q->free[q->nfree++] = id;
        q->done++;
        q->bytes += len - HDR_LEN;
        if (cfg.check && (q->done & 1023) == 1) {
            /* a sample: its length, and in loopback its number and bytes */
            const uint8_t *f = gpa(q->buf_gpa + (uint64_t)id * q->bsz);
            uint16_t nbuf = f[10] | f[11] << 8;

            if (nbuf == 1 && len - HDR_LEN != cfg.size) {
                q->errors++;
            } else if (loop && !cfg.tso && nbuf == 1) {
                uint32_t seq;

                memcpy(&seq, f + HDR_LEN + 14, 4);
                if ((int32_t)(seq - q->rx_seq) < 0 ||
                    f[HDR_LEN + cfg.size - 1] !=
                    (uint8_t)((cfg.size - 1) * 7)) {
                    q->errors++;
                }
                q->rx_seq = seq;
            }
            q->checked++;
        }
    }
    if (any) {
        rx_post_all(q);
    }
}

/* Read utime+stime (ticks) of every QEMU thread, by name */
typedef struct ThreadCpu {
    char name[32];
    unsigned long long ticks;
} ThreadCpu;

static int read_threads(ThreadCpu *t, int max)
{
    char path[64];
    int n = 0;
    FILE *f;
    char line[1024];
    FILE *ls;

    snprintf(path, sizeof(path), "ls /proc/%d/task", qemu_pid);
    ls = popen(path, "r");
    while (ls && n < max && fgets(line, sizeof(line), ls)) {
        char sp[96], buf[1024], *p;
        unsigned long long ut = 0, st = 0;

        snprintf(sp, sizeof(sp), "/proc/%d/task/%d/stat", qemu_pid,
                 atoi(line));
        f = fopen(sp, "r");
        if (!f) {
            continue;
        }
        if (!fgets(buf, sizeof(buf), f)) {
            fclose(f);
            continue;
        }
        fclose(f);
        p = strchr(buf, '(');
        if (!p || !strrchr(buf, ')')) {
            continue;
        }
        snprintf(t[n].name, sizeof(t[n].name), "%.*s",
                 (int)(strrchr(buf, ')') - p - 1), p + 1);
        p = strrchr(buf, ')') + 2;
        /* fields after ")": state is 3, utime 14, stime 15 */
        for (int i = 3; i < 14; i++) {
            p = strchr(p, ' ') + 1;
        }
        sscanf(p, "%llu %llu", &ut, &st);
        t[n].ticks = ut + st;
        n++;
    }
    if (ls) {
        pclose(ls);
    }
    return n;
}

static void start_qemu(void)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    char cmd[8192], netdev[2048];
    int lfd, fd;
    size_t off = 0;

    snprintf(sock_path, sizeof(sock_path), "/tmp/vdp-bench-%d.qtest",
             getpid());
    snprintf(qmp_path, sizeof(qmp_path), "/tmp/vdp-bench-%d.qmp", getpid());
    snprintf(mem_path, sizeof(mem_path), "/dev/shm/vdp-bench-%d", getpid());
    unlink(sock_path);
    lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    strcpy(sa.sun_path, sock_path);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 1)) {
        die("qtest socket: %s", strerror(errno));
    }

    snprintf(netdev, sizeof(netdev), "%s", cfg.netdev);
    off += snprintf(cmd + off, sizeof(cmd) - off,
        "exec %s -qtest unix:%s -qtest-log /dev/null -accel qtest"
        " -machine pc,memory-backend=mem"
        " -m %u -object memory-backend-file,id=mem,size=%u,mem-path=%s,"
        "share=on -nodefaults -display none -name vdp-bench,debug-threads=on"
        " -chardev socket,id=qmp,path=%s,server=on,wait=off"
        " -mon chardev=qmp,mode=control",
        cfg.qemu, sock_path, RAM_SIZE >> 20, RAM_SIZE, mem_path, qmp_path);
    for (int i = 0; i < cfg.nobjects; i++) {
        off += snprintf(cmd + off, sizeof(cmd) - off, " -object '%s'",
                        cfg.objects[i]);
    }
    if (cfg.qemu_extra) {
        off += snprintf(cmd + off, sizeof(cmd) - off, " %s", cfg.qemu_extra);
    }
    off += snprintf(cmd + off, sizeof(cmd) - off,
        " -netdev '%s' -device virtio-net-pci,netdev=%s,%s,"
        "vectors=0,romfile=,addr=3,rx_queue_size=1024%s%s%s",
        netdev, "bn0", packed ? "disable-modern=off,disable-legacy=on,"
                                "packed=on" :
                                "disable-modern=on,disable-legacy=off",
        cfg.queues > 1 ? ",mq=on" : "",
        cfg.device_extra ? "," : "", cfg.device_extra ? cfg.device_extra : "");
    if (!cfg.quiet) {
        fprintf(stderr, "vdp-bench: %s\n", cmd);
    }
    qemu_pid = fork();
    if (qemu_pid == 0) {
        pin(cfg.cpu_qemu);
        execl("/bin/sh", "sh", "-c", cmd, NULL);
        _exit(127);
    }
    {
        struct pollfd pfd = { .fd = lfd, .events = POLLIN };

        if (poll(&pfd, 1, 20000) != 1) {
            die("QEMU did not connect (see its messages above)");
        }
    }
    qt_fd = accept(lfd, NULL, NULL);
    close(lfd);
    unlink(sock_path);

    /* the shared guest RAM */
    for (int i = 0; i < 100; i++) {
        fd = open(mem_path, O_RDWR);
        if (fd >= 0) {
            break;
        }
        usleep(10000);
    }
    if (fd < 0) {
        die("cannot open %s", mem_path);
    }
    ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    unlink(mem_path);
    if (ram == MAP_FAILED) {
        die("mmap guest RAM: %s", strerror(errno));
    }

    /* QMP */
    qmp_fd = socket(AF_UNIX, SOCK_STREAM, 0);
    strcpy(sa.sun_path, qmp_path);
    for (int i = 0; i < 200; i++) {
        if (!connect(qmp_fd, (struct sockaddr *)&sa, sizeof(sa))) {
            break;
        }
        usleep(10000);
    }
    unlink(qmp_path);
    qmp("{\"execute\": \"qmp_capabilities\"}\n");
}

static void ctrl_mq(Vq *cq, unsigned int pairs)
{
    uint64_t cmd = alloc_gpa(64, 64);
    uint8_t *c = gpa(cmd);
    uint16_t old = cq->avail_idx;
    double t0 = now();

    c[0] = 4;                       /* VIRTIO_NET_CTRL_MQ */
    c[1] = 0;                       /* VQ_PAIRS_SET */
    c[2] = pairs & 0xff;
    c[3] = pairs >> 8;
    c[4] = 0xff;
    cq->desc[0] = (struct desc) { cmd, 2, DESC_F_NEXT, 1 };
    cq->desc[1] = (struct desc) { cmd + 2, 2, DESC_F_NEXT, 2 };
    cq->desc[2] = (struct desc) { cmd + 4, 1, DESC_F_WRITE, 0 };
    cq->avail[2 + cq->avail_idx % cq->num] = 0;
    cq->avail_idx++;
    vq_publish(cq, old);
    outw(IO_BAR + VP_QUEUE_NOTIFY, cq->idx);
    while (__atomic_load_n(used_idx(cq), __ATOMIC_ACQUIRE) == 0) {
        if (now() - t0 > 5) {
            die("the control queue did not answer");
        }
        usleep(100);
    }
    if (c[4] != 0) {
        die("MQ_VQ_PAIRS_SET %u failed", pairs);
    }
}

static uint8_t pci_cfg_readb(int dev, int off)
{
    return pci_cfg_read(dev, off) >> (8 * (off & 3));
}

/*
 * The modern interface of device @dev: BAR 4 mapped at MODERN_BAR, the
 * common configuration and notification areas found through the virtio
 * vendor capabilities
 */
static void setup_modern(int dev)
{
    uint64_t bar = MODERN_BAR;

    pci_cfg_write(dev, 0x20, (uint32_t)bar);
    pci_cfg_write(dev, 0x24, bar >> 32);
    pci_cfg_write(dev, 0x04, 0x6);          /* memory space, bus master */
    for (int off = pci_cfg_readb(dev, 0x34); off; ) {
        if (pci_cfg_readb(dev, off) == 0x09) {      /* vendor specific */
            int type = pci_cfg_readb(dev, off + 3);
            int bidx = pci_cfg_readb(dev, off + 4);
            uint32_t where = pci_cfg_read(dev, off + 8);

            if ((type == 1 || type == 2) && bidx != 4) {
                die("virtio capability %d in BAR %d, not 4", type, bidx);
            }
            if (type == 1) {                        /* common */
                common_cfg = bar + where;
            } else if (type == 2) {                 /* notify */
                notify_base = bar + where;
                notify_mult = pci_cfg_read(dev, off + 16);
            }
        }
        off = pci_cfg_readb(dev, off + 1);
    }
    if (!common_cfg || !notify_base) {
        die("no modern virtio capabilities");
    }
}

static void setup_device_packed(int dev)
{
    uint64_t host, want;

    if (cfg.queues > 1) {
        die("--packed drives one queue pair");
    }
    setup_modern(dev);
    mw8(common_cfg + CC_STATUS, 0);
    mw8(common_cfg + CC_STATUS, 1 | 2);     /* ACKNOWLEDGE, DRIVER */
    mw32(common_cfg + CC_DFSELECT, 0);
    host = mr32(common_cfg + CC_DF);
    mw32(common_cfg + CC_DFSELECT, 1);
    host |= (uint64_t)mr32(common_cfg + CC_DF) << 32;
    want = (1ull << F_MRG_RXBUF) | (1ull << F_CSUM) |
           (1ull << F_GUEST_CSUM) | (1ull << F_HOST_TSO4) |
           (1ull << F_GUEST_TSO4) | (1ull << F_VERSION_1) |
           (1ull << F_RING_PACKED);
    features = host & want;
    if (!(features & (1ull << F_RING_PACKED)) ||
        !(features & (1ull << F_MRG_RXBUF))) {
        die("the device does not offer packed rings and mergeable buffers");
    }
    if (cfg.tso && !(features & (1ull << F_HOST_TSO4))) {
        die("the backend does not offer TSO (host_tso4)");
    }
    mw32(common_cfg + CC_GFSELECT, 0);
    mw32(common_cfg + CC_GF, (uint32_t)features);
    mw32(common_cfg + CC_GFSELECT, 1);
    mw32(common_cfg + CC_GF, features >> 32);
    mw8(common_cfg + CC_STATUS, 1 | 2 | 8);         /* FEATURES_OK */
    if (!(mr8(common_cfg + CC_STATUS) & 8)) {
        die("the device refused the features");
    }
    vq_setup(&rxq[0], 0, cfg.tso ? RX_BUF_BIG : RX_BUF);
    vq_setup(&txq[0], 1, cfg.tso ? TX_BUF : RX_BUF);
    vq_quiet(&rxq[0]);
    vq_quiet(&txq[0]);
    mw8(common_cfg + CC_STATUS, 1 | 2 | 8 | 4);     /* DRIVER_OK */
    if (mr8(common_cfg + CC_STATUS) & 0x40) {
        die("the device needs a reset: the backend refused to start");
    }
}

static void setup_device(void)
{
    int dev = 3;
    uint32_t id = pci_cfg_read(dev, 0), host;
    uint64_t want;

    if (id != (packed ? 0x10411af4 : 0x10001af4)) {
        die("no virtio-net at 00:03.0 (id %08x)", id);
    }
    if (packed) {
        setup_device_packed(dev);
        return;
    }
    pci_cfg_write(dev, 0x10, IO_BAR | 1);
    pci_cfg_write(dev, 0x04, 0x5);          /* I/O space, bus master */
    outb(IO_BAR + VP_STATUS, 0);
    outb(IO_BAR + VP_STATUS, 1 | 2);        /* ACKNOWLEDGE, DRIVER */
    host = inl(IO_BAR + VP_HOST_FEATURES);
    want = (1ull << F_MRG_RXBUF) | (1ull << F_EVENT_IDX) |
           (1ull << F_ANY_LAYOUT) | (1ull << F_CTRL_VQ) | (1ull << F_MQ) |
           (1ull << F_CSUM) | (1ull << F_GUEST_CSUM) |
           (1ull << F_HOST_TSO4) | (1ull << F_GUEST_TSO4);
    features = host & want;
    if (!(features & (1ull << F_MRG_RXBUF))) {
        die("the device does not offer mergeable RX buffers");
    }
    if (cfg.tso && !(features & (1ull << F_HOST_TSO4))) {
        die("the backend does not offer TSO (host_tso4)");
    }
    outl(IO_BAR + VP_GUEST_FEATURES, features);
    for (unsigned int i = 0; i < cfg.queues; i++) {
        vq_setup(&rxq[i], 2 * i, cfg.tso ? RX_BUF_BIG : RX_BUF);
        vq_setup(&txq[i], 2 * i + 1, cfg.tso ? TX_BUF : RX_BUF);
        vq_quiet(&rxq[i]);
        vq_quiet(&txq[i]);
    }
    if (cfg.queues > 1) {
        static Vq cq;

        if (!(features & (1ull << F_MQ))) {
            die("the device does not offer multiqueue");
        }
        /* the netdev has exactly --queues pairs: the control queue is next */
        vq_setup(&cq, 2 * cfg.queues, 0);
        outb(IO_BAR + VP_STATUS, 1 | 2 | 4);        /* DRIVER_OK */
        ctrl_mq(&cq, cfg.queues);
    } else {
        outb(IO_BAR + VP_STATUS, 1 | 2 | 4);
    }
    if (inb(IO_BAR + VP_STATUS) & 0x40) {
        die("the device needs a reset: the backend refused to start");
    }
}

static void usage(void)
{
    fprintf(stderr,
        "usage: vdp-bench --netdev STR [--object STR]... [--qemu PATH]\n"
        "         [--mode tx|rx|both] [--size BYTES] [--tso] [--queues N]\n"
        "         [--seconds S] [--device-extra STR] [--no-check]\n"
        "         [--cpus GUEST,QEMU] [--qemu-extra STR]\n"
        "         [--post-start CMD] [--during CMD] [--round-sleep US]\n"
        "         [--qmp-at SECONDS:JSON] [--packed]\n"
        "The netdev's id must be bn0.\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "qemu", required_argument, NULL, 'q' },
        { "netdev", required_argument, NULL, 'n' },
        { "object", required_argument, NULL, 'o' },
        { "mode", required_argument, NULL, 'm' },
        { "size", required_argument, NULL, 's' },
        { "tso", no_argument, NULL, 't' },
        { "queues", required_argument, NULL, 'Q' },
        { "seconds", required_argument, NULL, 'S' },
        { "device-extra", required_argument, NULL, 'd' },
        { "qemu-extra", required_argument, NULL, 'x' },
        { "post-start", required_argument, NULL, 'p' },
        { "during", required_argument, NULL, 'D' },
        { "no-check", no_argument, NULL, 'C' },
        { "quiet", no_argument, NULL, 'z' },
        { "cpus", required_argument, NULL, 'c' },
        { "round-sleep", required_argument, NULL, 'i' },
        { "qmp-at", required_argument, NULL, 'A' },
        { "packed", no_argument, NULL, 'P' },
        { }
    };
    bool do_tx, do_rx, loop;
    ThreadCpu t0[64], t1[64];
    int n0, n1, c;
    double start, end, elapsed;
    uint64_t tx = 0, rx = 0, txb = 0, rxb = 0, errors = 0, checked = 0;
    uint64_t txk = 0, rxk = 0;
    long hz = sysconf(_SC_CLK_TCK);

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'q':
            cfg.qemu = optarg;
            break;
        case 'n':
            cfg.netdev = optarg;
            break;
        case 'o':
            if (cfg.nobjects == 16) {
                usage();
            }
            cfg.objects[cfg.nobjects++] = optarg;
            break;
        case 'm':
            cfg.mode = optarg;
            break;
        case 's':
            cfg.size = atoi(optarg);
            break;
        case 't':
            cfg.tso = true;
            break;
        case 'Q':
            cfg.queues = atoi(optarg);
            break;
        case 'S':
            cfg.seconds = atof(optarg);
            break;
        case 'd':
            cfg.device_extra = optarg;
            break;
        case 'x':
            cfg.qemu_extra = optarg;
            break;
        case 'p':
            cfg.post_start = optarg;
            break;
        case 'D':
            cfg.during = optarg;
            break;
        case 'C':
            cfg.check = false;
            break;
        case 'z':
            cfg.quiet = true;
            break;
        case 'P':
            packed = true;
            break;
        case 'i':
            cfg.round_us = atoi(optarg);
            break;
        case 'A':
            cfg.qmp_at = atof(optarg);
            cfg.qmp_cmd = strchr(optarg, ':');
            if (!cfg.qmp_cmd) {
                usage();
            }
            cfg.qmp_cmd++;
            break;
        case 'c':
            if (sscanf(optarg, "%d,%d", &cfg.cpu_guest, &cfg.cpu_qemu) != 2) {
                usage();
            }
            break;
        default:
            usage();
        }
    }
    if (!cfg.netdev || cfg.queues < 1 || cfg.queues > MAX_QP - 1 ||
        cfg.size < 60 || cfg.size > 65535 || (cfg.tso && cfg.size < 200)) {
        usage();
    }
    do_tx = strcmp(cfg.mode, "rx") != 0;
    do_rx = strcmp(cfg.mode, "tx") != 0;
    loop = !strcmp(cfg.mode, "both");
    signal(SIGPIPE, SIG_IGN);
    /* the driver ("the guest") and QEMU each on a core of their own */
    pin(cfg.cpu_guest);

    start_qemu();
    if (cfg.post_start && system(cfg.post_start) != 0) {
        die("--post-start command failed: %s", cfg.post_start);
    }
    setup_device();
    for (unsigned int i = 0; i < cfg.queues; i++) {
        if (do_rx) {
            rx_post_all(&rxq[i]);
        }
        if (do_tx) {
            tx_prepare(&txq[i]);
        }
    }

    if (cfg.during) {
        during_pid = fork();
        if (during_pid == 0) {
            setpgid(0, 0);
            execl("/bin/sh", "sh", "-c", cfg.during, NULL);
            _exit(127);
        }
    }
    start = now();
    end = start + cfg.warmup + cfg.seconds;
    n0 = 0;
    while (now() < end) {
        for (int k = 0; k < 64; k++) {
            for (unsigned int i = 0; i < cfg.queues; i++) {
                if (do_tx) {
                    tx_work(&txq[i]);
                }
                if (do_rx) {
                    rx_work(&rxq[i], loop);
                }
            }
        }
        if (cfg.round_us) {
            /*
             * Share the core with the host side's sender of a receive
             * test: run every so often, like an interrupt-moderated
             * driver, and let it have the rest.
             */
            usleep(cfg.round_us);
        }
        if (n0 && cfg.qmp_cmd && now() >= start + cfg.qmp_at) {
            /* a change under load, e.g. a rate limit */
            const char *r = qmp(cfg.qmp_cmd);

            if (!strstr(r, "\"return\"")) {
                die("--qmp-at: %s", r);
            }
            cfg.qmp_cmd = NULL;
        }
        if (!n0 && now() >= start + cfg.warmup) {
            /* the measurement starts */
            n0 = read_threads(t0, 64);
            for (unsigned int i = 0; i < cfg.queues; i++) {
                txq[i].done = txq[i].bytes = txq[i].kicks = 0;
                rxq[i].done = rxq[i].bytes = rxq[i].kicks = 0;
            }
            start = now();
        }
    }
    elapsed = now() - start;
    n1 = read_threads(t1, 64);
    if (during_pid > 0) {
        kill(-during_pid, SIGTERM);
        kill(during_pid, SIGTERM);
        waitpid(during_pid, NULL, 0);
    }

    for (unsigned int i = 0; i < cfg.queues; i++) {
        tx += txq[i].done;
        txb += txq[i].bytes;
        rx += rxq[i].done;
        rxb += rxq[i].bytes;
        errors += rxq[i].errors;
        checked += rxq[i].checked;
        txk += txq[i].kicks;
        rxk += rxq[i].kicks;
    }
    printf("mode=%s size=%u tso=%d queues=%u packed=%d seconds=%.2f "
           "tx_pps=%.0f "
           "rx_pps=%.0f tx_gbps=%.3f rx_gbps=%.3f checked=%" PRIu64
           " errors=%" PRIu64, cfg.mode, cfg.size, cfg.tso, cfg.queues,
           packed, elapsed, tx / elapsed, rx / elapsed, txb * 8 / elapsed / 1e9,
           rxb * 8 / elapsed / 1e9, checked, errors);
    /* notifications the device asked for, per 1,000 frames moved */
    printf(" tx_kicks_per_k=%.3f rx_kicks_per_k=%.3f",
           tx ? txk * 1000.0 / tx : 0.0, rx ? rxk * 1000.0 / rx : 0.0);
    /* CPU seconds per second of each QEMU thread that used any */
    for (int i = 0; i < n1; i++) {
        unsigned long long before = 0;

        for (int j = 0; j < n0; j++) {
            if (!strcmp(t0[j].name, t1[i].name)) {
                before = t0[j].ticks;
            }
        }
        if (t1[i].ticks > before) {
            char name[sizeof(t1[i].name)];

            memcpy(name, t1[i].name, sizeof(name));
            for (char *p = name; *p; p++) {
                if (*p == ' ') {
                    *p = '_';
                }
            }
            printf(" cpu[%s]=%.3f", name,
                   (double)(t1[i].ticks - before) / hz / elapsed);
        }
    }
    printf("\n");
    if (!cfg.quiet) {
        fprintf(stderr, "vdp-bench: %s\n",
                qmp("{\"execute\": \"query-vhost-dp\"}\n"));
    }
    kill(qemu_pid, SIGTERM);
    waitpid(qemu_pid, NULL, 0);
    return errors ? 1 : 0;
}
