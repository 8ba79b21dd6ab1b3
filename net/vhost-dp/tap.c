/*
 * vhost dataplane: the TAP driver
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * -object vhost-dp-tap,id=ID,ifname=NAME[,queues=N][,vnet-hdr=on][,io=syscalls]
 * -object vhost-dp-tap,id=ID,fd=FD | fds.0=FD0,fds.1=FD1,...
 *
 * One TAP queue (file descriptor) per queue pair, opened when the object
 * is created.  Frames carry the TAP's virtio-net header, so checksum and
 * TCP segmentation offloads pass through whole; the offloads the kernel
 * may hand us follow the ones the guest accepts (TUNSETOFFLOAD).
 *
 * io=syscalls (the default) drains and fills whole bursts with readv and
 * writev loops on the non-blocking TAP fd, straight from and into guest
 * memory (a received frame longer than the buffers the engine offers
 * ends in a slot, which the engine copies).  io=uring moves whole bursts
 * with one io_uring_enter(): receive buffers stay posted as readv
 * requests, transmitted frames are written from guest memory by writev
 * requests that complete within the burst (frames in more than
 * TAP_TX_IOV pieces are copied into slots first), and the ring's fd
 * tells the engine about completions.
 * The TAP's per-frame kernel work dominates both; the loops measured
 * faster (make bench).
 */

#include "qemu/osdep.h"
#include <liburing.h>
#include <net/if.h>
#include "qapi/error.h"
#include "qapi/qapi-types-vhost-dp.h"
#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "qemu/iov.h"
#include "qemu/memalign.h"
#include "qemu/units.h"
#include "block/aio-wait.h"
#include "qom/object_interfaces.h"
#include "monitor/monitor.h"
#include "net/tap_int.h"
#include "net/vhost-dp.h"
#include "net/vhost-dp-vnet.h"
#include "trace.h"

#define TYPE_VHOST_DP_TAP "vhost-dp-tap"
OBJECT_DECLARE_SIMPLE_TYPE(VhostDpTap, VHOST_DP_TAP)

#define TAP_MAX_QUEUES  64
#define TAP_RX_SLOTS    128             /* a power of two */
#define TAP_TX_SLOTS    128
#define TAP_TX_IOV      64              /* io=uring: more pieces are copied */
#define TAP_FRAME_MAX   (64 * KiB + 64)
#define TAP_HDR_LEN     sizeof(struct virtio_net_hdr)

/* io_uring user_data: the slot index, and which side */
#define TAP_UD_TX       (1ULL << 32)

typedef struct TapSlot {
    struct iovec iov[2];                /* TAP header, frame */
    struct virtio_net_hdr hdr;
    uint32_t len;                       /* RX: frame bytes read */
    bool guest;                         /* TX: written from guest memory */
} TapSlot;

/* io=uring: a frame in guest memory, after the TAP header */
typedef struct iovec TapTxIov[TAP_TX_IOV + 1];

typedef struct TapQueue {
    VhostDpDriverQueue dq;

    VhostDpTap *tap;
    unsigned int index;
    int fd;
    bool uring;
    unsigned int hdr_len;               /* TAP_HDR_LEN, or 0: vnet-hdr=off */
    int init_err;
    struct io_uring ring;

    uint8_t *mem;
    TapSlot rx[TAP_RX_SLOTS];
    TapSlot tx[TAP_TX_SLOTS];

    /* RX: slots with a frame, in arrival order, from ready_first on */
    uint16_t ready[TAP_RX_SLOTS];
    uint32_t ready_first;
    uint32_t ready_count;
    uint32_t handed;                    /* of them, handed to the engine */

    /* TX: free slots (a stack); writes from guest memory in flight */
    uint16_t tx_free[TAP_TX_SLOTS];
    unsigned int tx_nfree;
    unsigned int tx_guest;
    TapTxIov *tx_guest_iov;             /* per TX slot */

    bool submit_pending;
    uint64_t errors;

    /* syscalls mode: header plus the frame's pieces */
    struct iovec tx_iov[IOV_MAX + 1];
    struct iovec rx_iov[IOV_MAX];
} TapQueue;

struct VhostDpTap {
    VhostDpDriver parent_obj;

    char *ifname;
    char *fd;
    strList *fds;
    uint32_t queues;
    bool vnet_hdr;
    VhostDpTapIo io;
    bool uso;                           /* the TAP takes USO frames */

    /* open TAP fds, one per queue pair, from complete() on */
    int nfds;
    int *tapfds;
    TapQueue *open[TAP_MAX_QUEUES];
    /* queues detached from the multiqueue TAP (TUNSETQUEUE) */
    bool detached[TAP_MAX_QUEUES];
};

/*
 * io=uring
 */

static void dptap_uring_post_rx(TapQueue *q, unsigned int slot)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);

    /* the ring has room for every slot, see dptap_open_queue() */
    assert(sqe);
    q->rx[slot].iov[1].iov_len = TAP_FRAME_MAX;
    io_uring_prep_readv(sqe, q->fd, q->rx[slot].iov, 2, 0);
    io_uring_sqe_set_data64(sqe, slot);
    q->submit_pending = true;
}

static void dptap_uring_submit(TapQueue *q)
{
    if (q->submit_pending) {
        int r = io_uring_submit(&q->ring);

        if (r < 0 && r != -EAGAIN && r != -EBUSY) {
            q->errors++;
        }
        q->submit_pending = false;
    }
}

/* Reap completions: free TX slots, queue received frames */
static void dptap_uring_reap(TapQueue *q)
{
    struct io_uring_cqe *cqe;
    unsigned int head, n = 0;

    io_uring_for_each_cqe(&q->ring, head, cqe) {
        uint64_t ud = io_uring_cqe_get_data64(cqe);
        unsigned int slot = ud & 0xffff;

        n++;
        if (ud & TAP_UD_TX) {
            if (cqe->res < 0) {
                q->dq.tx_drops++;
            }
            if (q->tx[slot].guest) {
                q->tx[slot].guest = false;
                q->tx_guest--;
            }
            q->tx_free[q->tx_nfree++] = slot;
            continue;
        }
        if (cqe->res <= (int)q->hdr_len) {
            /* an error or a runt: post the buffer again */
            q->errors += cqe->res < 0;
            dptap_uring_post_rx(q, slot);
            continue;
        }
        q->rx[slot].len = cqe->res - q->hdr_len;
        q->ready[(q->ready_first + q->ready_count) % TAP_RX_SLOTS] = slot;
        q->ready_count++;
    }
    io_uring_cq_advance(&q->ring, n);
}

/*
 * The writes from guest memory must be done before tx_burst returns (the
 * engine gives the buffers back then).  A TAP takes a write at once, so
 * their completions are normally there already; else wait.
 */
static void dptap_uring_wait_guest(TapQueue *q)
{
    dptap_uring_reap(q);
    while (q->tx_guest) {
        int r = io_uring_submit_and_wait(&q->ring, 1);

        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
            q->errors++;
        }
        dptap_uring_reap(q);
    }
}

static unsigned int dptap_uring_tx_burst(VhostDpDriverQueue *dq,
                                       const VhostDpPkt *pkts,
                                       unsigned int n)
{
    TapQueue *q = container_of(dq, TapQueue, dq);
    unsigned int i;

    dptap_uring_reap(q);
    for (i = 0; i < n && q->tx_nfree; i++) {
        const VhostDpPkt *p = &pkts[i];
        unsigned int slot = q->tx_free[--q->tx_nfree];
        TapSlot *s = &q->tx[slot];
        struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);

        assert(sqe);
        vhost_dp_vnet_from_offload(&s->hdr, &p->ol);
        if (p->iov_cnt <= TAP_TX_IOV) {
            /* straight from guest memory */
            struct iovec *v = q->tx_guest_iov[slot];

            v[0] = s->iov[0];
            memcpy(&v[1], p->iov, p->iov_cnt * sizeof(*v));
            io_uring_prep_writev(sqe, q->fd, v, p->iov_cnt + 1, 0);
            s->guest = true;
            q->tx_guest++;
            q->dq.tx_zero_copy++;
        } else {
            s->iov[1].iov_len = iov_to_buf(p->iov, p->iov_cnt, 0,
                                           s->iov[1].iov_base,
                                           TAP_FRAME_MAX);
            io_uring_prep_writev(sqe, q->fd, s->iov, 2, 0);
        }
        io_uring_sqe_set_data64(sqe, TAP_UD_TX | slot);
        q->submit_pending = true;
    }
    dptap_uring_submit(q);
    dptap_uring_wait_guest(q);
    return i;
}

static unsigned int dptap_uring_rx_burst(VhostDpDriverQueue *dq,
                                       VhostDpPkt *pkts, unsigned int n)
{
    TapQueue *q = container_of(dq, TapQueue, dq);
    unsigned int i;

    dptap_uring_reap(q);
    dptap_uring_submit(q);
    for (i = 0; i < n && q->handed < q->ready_count; i++, q->handed++) {
        unsigned int slot = q->ready[(q->ready_first + q->handed) %
                                     TAP_RX_SLOTS];
        TapSlot *s = &q->rx[slot];

        s->iov[1].iov_len = s->len;
        pkts[i] = (VhostDpPkt) {
            .iov = &s->iov[1],
            .iov_cnt = 1,
            .len = s->len,
            .priv = slot,
        };
        vhost_dp_vnet_to_offload(&s->hdr, &pkts[i].ol);
    }
    return i;
}

static void dptap_uring_rx_release(VhostDpDriverQueue *dq, VhostDpPkt *pkts,
                                 unsigned int n)
{
    TapQueue *q = container_of(dq, TapQueue, dq);

    for (unsigned int i = 0; i < n; i++) {
        dptap_uring_post_rx(q, pkts[i].priv);
    }
    assert(n <= q->handed);
    q->ready_first = (q->ready_first + n) % TAP_RX_SLOTS;
    q->ready_count -= n;
    q->handed -= n;
    dptap_uring_submit(q);
}

/* Frames read, or completions to reap: no system call needed to know */
static bool dptap_uring_rx_poll(VhostDpDriverQueue *dq)
{
    TapQueue *q = container_of(dq, TapQueue, dq);

    return q->handed < q->ready_count || io_uring_cq_ready(&q->ring);
}

static const VhostDpFastOps dptap_uring_ops = {
    .tx_burst = dptap_uring_tx_burst,
    .rx_burst = dptap_uring_rx_burst,
    .rx_release = dptap_uring_rx_release,
    .rx_poll = dptap_uring_rx_poll,
};

/*
 * io=syscalls
 */

static unsigned int dptap_sys_tx_burst(VhostDpDriverQueue *dq,
                                     const VhostDpPkt *pkts, unsigned int n)
{
    TapQueue *q = container_of(dq, TapQueue, dq);
    struct iovec *iov = q->tx_iov;
    struct virtio_net_hdr hdr;
    unsigned int i;

    for (i = 0; i < n; i++) {
        const VhostDpPkt *p = &pkts[i];
        ssize_t r;

        if (p->iov_cnt > IOV_MAX) {
            q->dq.tx_drops++;   /* more pieces than writev takes */
            continue;
        }
        vhost_dp_vnet_from_offload(&hdr, &p->ol);
        iov[0].iov_base = &hdr;
        iov[0].iov_len = q->hdr_len;
        memcpy(&iov[1], p->iov, p->iov_cnt * sizeof(iov[0]));
        r = writev(q->fd, iov, p->iov_cnt + 1);
        if (r < 0) {
            if (errno == EAGAIN) {
                break;          /* wait for the fd to be writable */
            }
            q->dq.tx_drops++;   /* the frame is dropped */
        } else {
            q->dq.tx_zero_copy++;
        }
    }
    return i;
}

/*
 * Read one frame: the TAP's header into the first slot, the frame into
 * the engine's (guest) buffers and, past them, into the slot.
 */
static bool dptap_sys_rx_read(VhostDpDriverQueue *dq, const struct iovec *iov,
                              unsigned int iov_cnt, VhostDpPkt *pkt)
{
    TapQueue *q = container_of(dq, TapQueue, dq);
    TapSlot *s = &q->rx[0];
    struct iovec *v = q->rx_iov;
    size_t room = 0, len;
    ssize_t r;

    iov_cnt = MIN(iov_cnt, ARRAY_SIZE(q->rx_iov) - 2);
    v[0] = s->iov[0];
    for (unsigned int i = 0; i < iov_cnt; i++) {
        v[1 + i] = iov[i];
        room += iov[i].iov_len;
    }
    v[1 + iov_cnt].iov_base = s->iov[1].iov_base;
    v[1 + iov_cnt].iov_len = TAP_FRAME_MAX;
    r = readv(q->fd, v, iov_cnt + 2);
    if (r <= (ssize_t)q->hdr_len) {
        if (r >= 0 || errno != EAGAIN) {
            q->errors++;        /* a runt cannot happen with a TAP */
        }
        return false;
    }
    len = r - q->hdr_len;
    s->iov[1].iov_len = len > room ? len - room : 0;
    *pkt = (VhostDpPkt) {
        .iov = &s->iov[1],
        .iov_cnt = len > room,
        .len = len,
    };
    vhost_dp_vnet_to_offload(&s->hdr, &pkt->ol);
    return true;
}

static const VhostDpFastOps dptap_sys_ops = {
    .tx_burst = dptap_sys_tx_burst,
    .rx_read = dptap_sys_rx_read,
};

/*
 * Queues
 */

static void dptap_set_enabled(VhostDpDriver *drv, VhostDpDriverQueue *dq,
                            bool enabled)
{
    TapQueue *q = container_of(dq, TapQueue, dq);
    VhostDpTap *tap = q->tap;

    /*
     * A multiqueue TAP must not queue frames for a disabled queue pair.
     * The kernel refuses to attach an attached queue (or detach a
     * detached one), and virtio-net repeats itself: change only what
     * changes.  RSS steering counts the attached queues, as for QEMU's
     * own TAP.
     */
    if (tap->nfds <= 1 || tap->detached[q->index] == !enabled) {
        return;
    }
    if ((enabled ? tap_fd_enable(q->fd) : tap_fd_disable(q->fd)) < 0) {
        warn_report("vhost-dp-tap: could not %s TAP queue %u",
                    enabled ? "attach" : "detach", q->index);
        return;
    }
    tap->detached[q->index] = !enabled;
}

/*
 * Make the queue's io_uring in the IOThread that will use it.  (A ring
 * with deferred task work would batch completions better, but its fd
 * does not become readable for them, so the engine would not wake up.)
 */
static void dptap_uring_init_bh(void *opaque)
{
    TapQueue *q = opaque;
    /* room for every RX and TX slot at once: get_sqe never fails */
    unsigned int entries = TAP_RX_SLOTS + TAP_TX_SLOTS;
    int r;

    r = io_uring_queue_init(entries, &q->ring, 0);
    q->init_err = r;
    if (r < 0) {
        return;
    }
    for (unsigned int i = 0; i < TAP_RX_SLOTS; i++) {
        dptap_uring_post_rx(q, i);
    }
    dptap_uring_submit(q);
}

static VhostDpDriverQueue *dptap_open_queue(VhostDpDriver *drv,
                                          unsigned int index,
                                          AioContext *ctx, Error **errp)
{
    VhostDpTap *tap = VHOST_DP_TAP(drv);
    TapQueue *q;
    size_t slot_size = TAP_FRAME_MAX;

    assert(index < tap->nfds && !tap->open[index]);
    q = g_new0(TapQueue, 1);
    q->tap = tap;
    q->index = index;
    q->fd = tap->tapfds[index];
    q->uring = tap->io == VHOST_DP_TAP_IO_URING;
    /* without IFF_VNET_HDR the TAP reads and writes bare frames */
    q->hdr_len = tap->vnet_hdr ? TAP_HDR_LEN : 0;
    q->mem = qemu_memalign(4096, (TAP_RX_SLOTS + TAP_TX_SLOTS) * slot_size);
    q->tx_guest_iov = g_new(TapTxIov, TAP_TX_SLOTS);
    for (unsigned int i = 0; i < TAP_RX_SLOTS; i++) {
        q->rx[i].iov[0] = (struct iovec) { &q->rx[i].hdr, q->hdr_len };
        q->rx[i].iov[1].iov_base = q->mem + i * slot_size;
    }
    for (unsigned int i = 0; i < TAP_TX_SLOTS; i++) {
        q->tx[i].iov[0] = (struct iovec) { &q->tx[i].hdr, q->hdr_len };
        q->tx[i].iov[1].iov_base = q->mem + (TAP_RX_SLOTS + i) * slot_size;
        q->tx_free[q->tx_nfree++] = i;
    }

    if (q->uring) {
        /* the ring belongs to the IOThread: make it there */
        aio_wait_bh_oneshot(ctx, dptap_uring_init_bh, q);
        if (q->init_err < 0) {
            error_setg_errno(errp, -q->init_err, "vhost-dp-tap: io_uring "
                             "set-up failed (use io=syscalls)");
            qemu_vfree(q->mem);
            g_free(q->tx_guest_iov);
            g_free(q);
            return NULL;
        }
        q->dq.ops = &dptap_uring_ops;
        q->dq.fd = q->ring.ring_fd;
        q->dq.tx_wait_writable = false;
    } else {
        q->dq.ops = &dptap_sys_ops;
        q->dq.fd = q->fd;
        q->dq.tx_wait_writable = true;
    }
    tap->open[index] = q;
    trace_vhost_dp_tap_open_queue(tap, index, q->fd, q->uring);
    return &q->dq;
}

static void dptap_close_queue(VhostDpDriver *drv, VhostDpDriverQueue *dq)
{
    VhostDpTap *tap = VHOST_DP_TAP(drv);
    TapQueue *q = container_of(dq, TapQueue, dq);

    if (q->uring) {
        /* cancels the posted reads; nothing else uses q->mem then */
        io_uring_queue_exit(&q->ring);
    }
    tap->open[q->index] = NULL;
    qemu_vfree(q->mem);
    g_free(q->tx_guest_iov);
    g_free(q);
}

static void dptap_get_caps(VhostDpDriver *drv, VhostDpDriverCaps *caps)
{
    VhostDpTap *tap = VHOST_DP_TAP(drv);
    uint32_t ol = VHOST_DP_CAP_CSUM | VHOST_DP_CAP_TSO4 | VHOST_DP_CAP_TSO6 |
                  VHOST_DP_CAP_ECN;

    if (tap->uso) {
        ol |= VHOST_DP_CAP_USO4 | VHOST_DP_CAP_USO6;
    }
    caps->max_queues = tap->nfds;
    caps->tx_offloads = tap->vnet_hdr ? ol : 0;
    caps->rx_offloads = tap->vnet_hdr ? ol : 0;
    caps->steering = true;
}

/* The TAP's steering program: one for the device, set through any queue */
static bool dptap_set_steering_ebpf(VhostDpDriver *drv, int prog_fd)
{
    VhostDpTap *tap = VHOST_DP_TAP(drv);

    return tap->nfds && tap_fd_set_steering_ebpf(tap->tapfds[0],
                                                 prog_fd) == 0;
}

static void dptap_set_rx_offloads(VhostDpDriver *drv, uint32_t rx)
{
    VhostDpTap *tap = VHOST_DP_TAP(drv);
    NetOffloads ol = {
        .csum = rx & VHOST_DP_CAP_CSUM,
        .tso4 = rx & VHOST_DP_CAP_TSO4,
        .tso6 = rx & VHOST_DP_CAP_TSO6,
        .ecn = rx & VHOST_DP_CAP_ECN,
        .uso4 = rx & VHOST_DP_CAP_USO4,
        .uso6 = rx & VHOST_DP_CAP_USO6,
    };

    if (!tap->vnet_hdr) {
        return;
    }
    for (int i = 0; i < tap->nfds; i++) {
        tap_fd_set_offload(tap->tapfds[i], &ol);
    }
}

/* Take a descriptor passed by the management layer (a number or name) */
static int dptap_get_fd(const char *str, Error **errp)
{
    int fd = monitor_fd_param(monitor_cur(), str, errp);

    if (fd < 0) {
        return -1;
    }
    if (!g_unix_set_fd_nonblocking(fd, true, NULL)) {
        error_setg_errno(errp, errno, "vhost-dp-tap: cannot use fd %s", str);
        close(fd);
        return -1;
    }
    return fd;
}

static bool dptap_complete(VhostDpDriver *drv, Error **errp)
{
    VhostDpTap *tap = VHOST_DP_TAP(drv);
    int nsrc = !!tap->ifname + !!tap->fd + !!tap->fds;
    int vnet_hdr = tap->vnet_hdr;
    int n;

    if (nsrc != 1) {
        error_setg(errp, "vhost-dp-tap: give exactly one of ifname, fd and "
                   "fds");
        return false;
    }
    if (tap->fds) {
        n = 0;
        for (strList *l = tap->fds; l; l = l->next) {
            n++;
        }
        if (tap->queues && tap->queues != n) {
            error_setg(errp, "vhost-dp-tap: queues=%u but %d fds",
                       tap->queues, n);
            return false;
        }
    } else {
        n = tap->fd ? 1 : (tap->queues ? tap->queues : 1);
        if (tap->fd && tap->queues > 1) {
            error_setg(errp, "vhost-dp-tap: fd gives one queue; use fds for "
                       "queues=%u", tap->queues);
            return false;
        }
    }
    if (n < 1 || n > TAP_MAX_QUEUES) {
        error_setg(errp, "vhost-dp-tap: queues must be 1 to %d",
                   TAP_MAX_QUEUES);
        return false;
    }

    tap->tapfds = g_new(int, n);
    for (tap->nfds = 0; tap->nfds < n; tap->nfds++) {
        int fd;

        if (tap->ifname) {
            char ifname[IFNAMSIZ];

            pstrcpy(ifname, sizeof(ifname), tap->ifname);
            fd = tap_open(ifname, sizeof(ifname), &vnet_hdr, tap->vnet_hdr,
                          n > 1, errp);
            if (fd >= 0 && !g_unix_set_fd_nonblocking(fd, true, NULL)) {
                close(fd);
                fd = -1;
                error_setg_errno(errp, errno, "vhost-dp-tap: %s",
                                 tap->ifname);
            }
        } else {
            strList *l = tap->fds;

            for (int k = 0; l && k < tap->nfds; k++) {
                l = l->next;
            }
            fd = dptap_get_fd(tap->fd ? tap->fd : l->value, errp);
            /* it returns the IFF_VNET_HDR bit, not 1 */
            if (fd >= 0 && tap->vnet_hdr &&
                tap_probe_vnet_hdr(fd, NULL) <= 0) {
                error_setg(errp, "vhost-dp-tap: fd %s has no vnet header "
                           "(IFF_VNET_HDR); use vnet-hdr=off",
                           tap->fd ? tap->fd : l->value);
                close(fd);
                fd = -1;
            }
        }
        if (fd < 0) {
            goto fail;
        }
        tap->tapfds[tap->nfds] = fd;
        if (tap->vnet_hdr) {
            tap_fd_set_vnet_hdr_len(fd, TAP_HDR_LEN);
            /* the header is little endian, as vhost-dp-vnet.h converts it */
            tap_fd_set_vnet_le(fd, 1);
            /* Linux 6.2 and later: UDP segmentation both ways */
            if (tap->nfds == 0) {
                tap->uso = tap_probe_has_uso(fd);
            }
            /* nothing but plain frames until the guest accepts offloads */
            tap_fd_set_offload(fd, &(NetOffloads) {});
        }
    }
    return true;

fail:
    while (tap->nfds > 0) {
        close(tap->tapfds[--tap->nfds]);
    }
    g_clear_pointer(&tap->tapfds, g_free);
    return false;
}

static void dptap_finalize(Object *obj)
{
    VhostDpTap *tap = VHOST_DP_TAP(obj);

    for (int i = 0; i < tap->nfds; i++) {
        close(tap->tapfds[i]);
    }
    g_free(tap->tapfds);
}

static const VhostDpProp dptap_props[] = {
    VHOST_DP_PROP_STR("ifname", VhostDpTap, ifname,
        "TAP interface to create or attach to"),
    VHOST_DP_PROP_STR("fd", VhostDpTap, fd,
        "An open TAP file descriptor (number or name), for one queue"),
    VHOST_DP_PROP_STRLIST("fds", VhostDpTap, fds,
        "Open TAP file descriptors (numbers or names), one per queue"),
    VHOST_DP_PROP_UINT32("queues", VhostDpTap, queues,
        "Number of TAP queues to open with ifname (IFF_MULTI_QUEUE)"),
    VHOST_DP_PROP_BOOL("vnet-hdr", VhostDpTap, vnet_hdr,
        "Use the TAP's virtio-net header, for checksum and TSO offloads"),
    VHOST_DP_PROP_ENUM("io", VhostDpTap, io, VhostDpTapIo,
        "How frames are moved: uring (batched io_uring) or syscalls"),
};

static void dptap_instance_init(Object *obj)
{
    VhostDpTap *tap = VHOST_DP_TAP(obj);

    tap->vnet_hdr = true;
    /* measured faster than io_uring for TAP, see vhost-dataplane.rst */
    tap->io = VHOST_DP_TAP_IO_SYSCALLS;
}

static void dptap_class_init(ObjectClass *oc, const void *data)
{
    VhostDpDriverClass *dc = VHOST_DP_DRIVER_CLASS(oc);

    dc->complete = dptap_complete;
    dc->get_caps = dptap_get_caps;
    dc->open_queue = dptap_open_queue;
    dc->close_queue = dptap_close_queue;
    dc->set_rx_offloads = dptap_set_rx_offloads;
    dc->set_enabled = dptap_set_enabled;
    dc->set_steering_ebpf = dptap_set_steering_ebpf;

    vhost_dp_driver_class_add_props(oc, dptap_props, ARRAY_SIZE(dptap_props));
}

static const TypeInfo dptap_info = {
    .name = TYPE_VHOST_DP_TAP,
    .parent = TYPE_VHOST_DP_DRIVER,
    .instance_size = sizeof(VhostDpTap),
    .instance_init = dptap_instance_init,
    .instance_finalize = dptap_finalize,
    .class_init = dptap_class_init,
};

static void dptap_register_types(void)
{
    type_register_static(&dptap_info);
}

type_init(dptap_register_types);
