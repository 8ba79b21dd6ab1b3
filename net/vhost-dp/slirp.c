/*
 * vhost dataplane: the slirp driver (user-mode networking, libslirp)
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * -object vhost-dp-slirp,id=ID[,net=10.0.2.0/24][,host=10.0.2.2]
 *         [,dhcpstart=10.0.2.15][,dns=10.0.2.3][,restrict=off]
 *         [,hostfwd=tcp:127.0.0.1:2222-:22]...
 *         [,guestfwd=tcp:ADDR:PORT-cmd:CMD]...
 *         [,ipv4=on][,ipv6=on][,hostname=NAME]
 *
 * libslirp is single-threaded: the Slirp instance, its sockets and its
 * timers all live in the AioContext of the one queue pair it serves, and
 * every libslirp call is made there.  Frames the guest transmits go to
 * slirp_input(); frames libslirp sends are copied into a ring of slots
 * that rx_burst hands to the engine.  The sockets libslirp wants polled
 * are registered as fd handlers of the AioContext after each round of
 * slirp_pollfds_poll(), and its next deadline arms a timer there.
 */

#include "qemu/osdep.h"
#include <arpa/inet.h>
#include <poll.h>
#include <libslirp.h>
#include "qapi/error.h"
#include "qapi/qapi-types-vhost-dp.h"
#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "qemu/log.h"
#include "qemu/iov.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"
#include "block/aio-wait.h"
#include "qom/object_interfaces.h"
#include "net/vhost-dp.h"
#include "trace.h"

#define TYPE_VHOST_DP_SLIRP "vhost-dp-slirp"
OBJECT_DECLARE_SIMPLE_TYPE(VhostDpSlirp, VHOST_DP_SLIRP)

#define SL_SLOTS        256             /* a power of two */
#define SL_SLOT_SIZE    2048            /* libslirp's MTU is 1500 */
#define SL_MAX_FDS      1024

typedef struct SlSlot {
    struct iovec iov;
} SlSlot;

typedef struct SlTimer {
    QEMUTimer timer;
    struct SlQueue *q;
    SlirpTimerId id;
    void *cb_opaque;
} SlTimer;

typedef struct SlQueue {
    VhostDpDriverQueue dq;

    VhostDpSlirp *sl;
    AioContext *ctx;
    Slirp *slirp;
    Error *open_err;

    /* RX frames from libslirp: [cons, prod) held, [taken, prod) ready */
    uint8_t *mem;
    SlSlot slot[SL_SLOTS];
    uint32_t prod, taken, cons;
    uint64_t rx_dropped;

    /* TX: a linear copy of the frame for slirp_input() */
    uint8_t txbuf[65536 + 64];

    /* polling: the fds of the last slirp_pollfds_fill(), and registered */
    struct pollfd pfd[SL_MAX_FDS];
    int npfd;
    struct pollfd reg[SL_MAX_FDS];
    int nreg;
    QEMUTimer poll_timer;
    QEMUBH *poll_bh;
    bool in_poll;
} SlQueue;

struct VhostDpSlirp {
    VhostDpDriver parent_obj;

    char *net;
    char *host;
    char *dhcpstart;
    char *dns;
    char *hostname;
    strList *hostfwd;
    strList *guestfwd;
    bool restrict_;
    bool ipv4;
    bool ipv6;

    /* parsed by complete() */
    struct in_addr vnetwork, vnetmask, vhost, vdhcp, vdns;
    SlQueue *q;
};

/*
 * libslirp callbacks, all in the queue's AioContext
 */

static ssize_t sl_send_packet(const void *buf, size_t len,
                                    void *opaque)
{
    SlQueue *q = opaque;
    SlSlot *s;

    if (q->prod - q->cons == SL_SLOTS || len > SL_SLOT_SIZE) {
        /* TCP retransmits; libslirp documents dropping as fine */
        q->rx_dropped++;
        return len;
    }
    s = &q->slot[q->prod % SL_SLOTS];
    memcpy(s->iov.iov_base, buf, len);
    s->iov.iov_len = len;
    q->prod++;
    if (!q->in_poll) {
        vhost_dp_queue_wake(&q->dq);
    }
    return len;
}

static void sl_guest_error(const char *msg, void *opaque)
{
    SlQueue *q = opaque;

    qemu_log_mask(LOG_GUEST_ERROR, "vhost-dp-slirp %s: %s\n",
                  object_get_canonical_path_component(OBJECT(q->sl)), msg);
}

static int64_t sl_clock_get_ns(void *opaque)
{
    return qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
}

static void sl_poll_schedule(SlQueue *q);

static void sl_timer_cb(void *opaque)
{
    SlTimer *t = opaque;

    slirp_handle_timer(t->q->slirp, t->id, t->cb_opaque);
    sl_poll_schedule(t->q);
}

static void *sl_timer_new_opaque(SlirpTimerId id, void *cb_opaque,
                                 void *opaque)
{
    SlQueue *q = opaque;
    SlTimer *t = g_new0(SlTimer, 1);

    t->q = q;
    t->id = id;
    t->cb_opaque = cb_opaque;
    aio_timer_init(q->ctx, &t->timer, QEMU_CLOCK_REALTIME, SCALE_MS,
                   sl_timer_cb, t);
    return t;
}

static void sl_timer_free(void *timer, void *opaque)
{
    SlTimer *t = timer;

    timer_del(&t->timer);
    g_free(t);
}

static void sl_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
    SlTimer *t = timer;

    timer_mod(&t->timer, expire_ms);
}

static void sl_register_poll_fd(int fd, void *opaque)
{
    /* sockets are found through slirp_pollfds_fill() */
}

static void sl_unregister_poll_fd(int fd, void *opaque)
{
    SlQueue *q = opaque;

    /* the socket is about to be closed: stop listening to it now */
    for (int i = 0; i < q->nreg; i++) {
        if (q->reg[i].fd == fd) {
            aio_set_fd_handler(q->ctx, fd, NULL, NULL, NULL, NULL, NULL);
            q->reg[i] = q->reg[--q->nreg];
            break;
        }
    }
}

static void sl_notify(void *opaque)
{
    sl_poll_schedule(opaque);
}

static const SlirpCb sl_callbacks = {
    .send_packet = sl_send_packet,
    .guest_error = sl_guest_error,
    .clock_get_ns = sl_clock_get_ns,
    .timer_free = sl_timer_free,
    .timer_mod = sl_timer_mod,
    .register_poll_fd = sl_register_poll_fd,
    .unregister_poll_fd = sl_unregister_poll_fd,
    .notify = sl_notify,
    .timer_new_opaque = sl_timer_new_opaque,
};

/*
 * Polling libslirp's sockets from the AioContext
 */

static int sl_add_poll(int fd, int events, void *opaque)
{
    SlQueue *q = opaque;
    struct pollfd *p;

    if (q->npfd == SL_MAX_FDS) {
        return -1;
    }
    p = &q->pfd[q->npfd];
    p->fd = fd;
    p->events = (events & SLIRP_POLL_IN ? POLLIN : 0) |
                (events & SLIRP_POLL_OUT ? POLLOUT : 0) |
                (events & SLIRP_POLL_PRI ? POLLPRI : 0);
    p->revents = 0;
    return q->npfd++;
}

static int sl_get_revents(int idx, void *opaque)
{
    SlQueue *q = opaque;
    short r;

    if (idx < 0 || idx >= q->npfd) {
        return 0;
    }
    r = q->pfd[idx].revents;
    return (r & POLLIN ? SLIRP_POLL_IN : 0) |
           (r & POLLOUT ? SLIRP_POLL_OUT : 0) |
           (r & POLLPRI ? SLIRP_POLL_PRI : 0) |
           (r & POLLERR ? SLIRP_POLL_ERR : 0) |
           (r & POLLHUP ? SLIRP_POLL_HUP : 0);
}

static void sl_fd_ready(void *opaque)
{
    sl_poll_schedule(opaque);
}

/* Make the AioContext listen to exactly what libslirp wants */
static void sl_sync_handlers(SlQueue *q)
{
    int i, j;

    for (i = 0; i < q->nreg; i++) {
        for (j = 0; j < q->npfd; j++) {
            if (q->pfd[j].fd == q->reg[i].fd) {
                break;
            }
        }
        if (j == q->npfd) {
            aio_set_fd_handler(q->ctx, q->reg[i].fd, NULL, NULL, NULL, NULL,
                               NULL);
            q->reg[i--] = q->reg[--q->nreg];
        }
    }
    for (j = 0; j < q->npfd; j++) {
        short ev = q->pfd[j].events;
        bool rd = ev & (POLLIN | POLLPRI), wr = ev & POLLOUT;

        for (i = 0; i < q->nreg; i++) {
            if (q->reg[i].fd == q->pfd[j].fd) {
                break;
            }
        }
        if (i < q->nreg && q->reg[i].events == ev) {
            continue;
        }
        if (i == q->nreg) {
            q->nreg++;
        }
        q->reg[i] = q->pfd[j];
        aio_set_fd_handler(q->ctx, q->pfd[j].fd, rd ? sl_fd_ready : NULL,
                           wr ? sl_fd_ready : NULL, NULL, NULL, q);
    }
}

/* One round: poll libslirp's sockets, let it work, listen again */
static void sl_poll(void *opaque)
{
    SlQueue *q = opaque;
    uint32_t timeout = UINT32_MAX;
    uint32_t prod = q->prod;
    int r;

    q->in_poll = true;
    q->npfd = 0;
    slirp_pollfds_fill(q->slirp, &timeout, sl_add_poll, q);
    r = q->npfd ? poll(q->pfd, q->npfd, 0) : 0;
    slirp_pollfds_poll(q->slirp, r < 0, sl_get_revents, q);

    q->npfd = 0;
    timeout = UINT32_MAX;
    slirp_pollfds_fill(q->slirp, &timeout, sl_add_poll, q);
    sl_sync_handlers(q);
    if (timeout != UINT32_MAX) {
        timer_mod(&q->poll_timer,
                  qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + timeout);
    } else {
        timer_del(&q->poll_timer);
    }
    q->in_poll = false;
    if (q->prod != prod) {
        vhost_dp_queue_wake(&q->dq);
    }
}

static void sl_poll_schedule(SlQueue *q)
{
    qemu_bh_schedule(q->poll_bh);
}

/*
 * Fast path
 */

static unsigned int sl_tx_burst(VhostDpDriverQueue *dq,
                                const VhostDpPkt *pkts, unsigned int n)
{
    SlQueue *q = container_of(dq, SlQueue, dq);

    for (unsigned int i = 0; i < n; i++) {
        size_t len = iov_to_buf(pkts[i].iov, pkts[i].iov_cnt, 0, q->txbuf,
                                sizeof(q->txbuf));

        slirp_input(q->slirp, q->txbuf, len);
    }
    /* libslirp may now want to write to its sockets */
    sl_poll_schedule(q);
    return n;
}

static unsigned int sl_rx_burst(VhostDpDriverQueue *dq, VhostDpPkt *pkts,
                                unsigned int n)
{
    SlQueue *q = container_of(dq, SlQueue, dq);
    unsigned int i;

    for (i = 0; i < n && q->taken != q->prod; i++, q->taken++) {
        SlSlot *s = &q->slot[q->taken % SL_SLOTS];

        pkts[i] = (VhostDpPkt) {
            .iov = &s->iov,
            .iov_cnt = 1,
            .len = s->iov.iov_len,
        };
    }
    return i;
}

static void sl_rx_release(VhostDpDriverQueue *dq, VhostDpPkt *pkts,
                          unsigned int n)
{
    SlQueue *q = container_of(dq, SlQueue, dq);

    q->cons += n;
}

static bool sl_rx_poll(VhostDpDriverQueue *dq)
{
    SlQueue *q = container_of(dq, SlQueue, dq);

    return q->taken != q->prod;
}

static const VhostDpFastOps sl_fast_ops = {
    .tx_burst = sl_tx_burst,
    .rx_burst = sl_rx_burst,
    .rx_release = sl_rx_release,
    .rx_poll = sl_rx_poll,
};

/*
 * Slow path
 */

static bool sl_parse_fwd_addr(const char *str, struct in_addr *addr,
                              int *port, Error **errp)
{
    g_autofree char *a = g_strdup(str);
    char *colon = strrchr(a, ':');
    unsigned long p;

    if (!colon) {
        error_setg(errp, "'%s': expected ADDR:PORT", str);
        return false;
    }
    *colon = 0;
    if (!a[0]) {
        addr->s_addr = INADDR_ANY;
    } else if (!inet_aton(a, addr)) {
        error_setg(errp, "'%s': bad IPv4 address", a);
        return false;
    }
    if (qemu_strtoul(colon + 1, NULL, 10, &p) || p > 65535) {
        error_setg(errp, "'%s': bad port", colon + 1);
        return false;
    }
    *port = p;
    return true;
}

/*
 * hostfwd=[tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport
 * With @q NULL, only check the rule.
 */
static bool sl_add_hostfwd(VhostDpSlirp *sl, SlQueue *q, const char *rule,
                           Error **errp)
{
    g_autofree char *r = g_strdup(rule);
    char *p = r, *dash;
    struct in_addr haddr, gaddr = sl->vdhcp;
    int hport, gport, udp = 0;

    if (g_str_has_prefix(p, "tcp:")) {
        p += 4;
    } else if (g_str_has_prefix(p, "udp:")) {
        p += 4;
        udp = 1;
    } else if (p[0] == ':') {
        p++;
    }
    dash = strchr(p, '-');
    if (!dash) {
        error_setg(errp, "hostfwd '%s': expected "
                   "[tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport",
                   rule);
        return false;
    }
    *dash = 0;
    if (!sl_parse_fwd_addr(p, &haddr, &hport, errp) ||
        !sl_parse_fwd_addr(dash + 1, &gaddr, &gport, errp)) {
        error_prepend(errp, "hostfwd '%s': ", rule);
        return false;
    }
    if (gaddr.s_addr == INADDR_ANY) {
        gaddr = sl->vdhcp;
    }
    if (!q) {
        return true;
    }
    if (slirp_add_hostfwd(q->slirp, udp, haddr, hport, gaddr, gport) < 0) {
        error_setg_errno(errp, errno, "hostfwd '%s': could not set up "
                         "the forwarding", rule);
        return false;
    }
    return true;
}

/* guestfwd=tcp:[guestaddr]:guestport-cmd:COMMAND; @q NULL: only check */
static bool sl_add_guestfwd(VhostDpSlirp *sl, SlQueue *q, const char *rule,
                            Error **errp)
{
    g_autofree char *r = g_strdup(rule);
    char *p = r, *dash;
    struct in_addr gaddr;
    int gport;

    if (g_str_has_prefix(p, "tcp:")) {
        p += 4;
    } else if (p[0] == ':') {
        p++;
    }
    dash = strchr(p, '-');
    if (!dash || !g_str_has_prefix(dash + 1, "cmd:")) {
        error_setg(errp, "guestfwd '%s': expected "
                   "tcp:[guestaddr]:guestport-cmd:COMMAND (chardevs are "
                   "not supported by vhost-dp-slirp)", rule);
        return false;
    }
    *dash = 0;
    if (!sl_parse_fwd_addr(p, &gaddr, &gport, errp)) {
        error_prepend(errp, "guestfwd '%s': ", rule);
        return false;
    }
    if (gaddr.s_addr == INADDR_ANY) {
        gaddr.s_addr = (sl->vnetwork.s_addr & sl->vnetmask.s_addr) |
                       htonl(0x64);
    }
    if (!q) {
        return true;
    }
    if (slirp_add_exec(q->slirp, dash + 5, &gaddr, gport) < 0) {
        error_setg(errp, "guestfwd '%s': conflicting or invalid rule", rule);
        return false;
    }
    return true;
}

static void sl_open_bh(void *opaque)
{
    SlQueue *q = opaque;
    VhostDpSlirp *sl = q->sl;
    SlirpConfig cfg = {
        .version = 4,
        .restricted = sl->restrict_,
        .in_enabled = sl->ipv4,
        .vnetwork = sl->vnetwork,
        .vnetmask = sl->vnetmask,
        .vhost = sl->vhost,
        .in6_enabled = sl->ipv6,
        .vprefix_len = 64,
        .vhostname = sl->hostname,
        .vdhcp_start = sl->vdhcp,
        .vnameserver = sl->vdns,
        .if_mtu = 1500,
        .if_mru = 1500,
    };
    Error *err = NULL;

    inet_pton(AF_INET6, "fec0::", &cfg.vprefix_addr6);
    inet_pton(AF_INET6, "fec0::2", &cfg.vhost6);
    inet_pton(AF_INET6, "fec0::3", &cfg.vnameserver6);

    q->slirp = slirp_new(&cfg, &sl_callbacks, q);
    if (!q->slirp) {
        error_setg(&q->open_err, "vhost-dp-slirp: libslirp set-up failed");
        return;
    }
    for (strList *l = sl->hostfwd; l && !err; l = l->next) {
        sl_add_hostfwd(sl, q, l->value, &err);
    }
    for (strList *l = sl->guestfwd; l && !err; l = l->next) {
        sl_add_guestfwd(sl, q, l->value, &err);
    }
    if (err) {
        error_propagate(&q->open_err, err);
        return;
    }
    sl_poll(q);
}

static void sl_close_bh(void *opaque)
{
    SlQueue *q = opaque;

    timer_del(&q->poll_timer);
    qemu_bh_cancel(q->poll_bh);
    for (int i = 0; i < q->nreg; i++) {
        aio_set_fd_handler(q->ctx, q->reg[i].fd, NULL, NULL, NULL, NULL,
                           NULL);
    }
    q->nreg = 0;
    if (q->slirp) {
        slirp_cleanup(q->slirp);
        q->slirp = NULL;
    }
}

static void sl_close_queue(VhostDpDriver *drv, VhostDpDriverQueue *dq)
{
    VhostDpSlirp *sl = VHOST_DP_SLIRP(drv);
    SlQueue *q = container_of(dq, SlQueue, dq);

    aio_wait_bh_oneshot(q->ctx, sl_close_bh, q);
    qemu_bh_delete(q->poll_bh);
    sl->q = NULL;
    g_free(q->mem);
    g_free(q);
}

static VhostDpDriverQueue *sl_open_queue(VhostDpDriver *drv,
                                         unsigned int index, AioContext *ctx,
                                         Error **errp)
{
    VhostDpSlirp *sl = VHOST_DP_SLIRP(drv);
    SlQueue *q;

    assert(index == 0 && !sl->q);
    q = g_new0(SlQueue, 1);
    q->dq.ops = &sl_fast_ops;
    q->dq.fd = -1;
    q->sl = sl;
    q->ctx = ctx;
    q->mem = g_malloc(SL_SLOTS * SL_SLOT_SIZE);
    for (unsigned int i = 0; i < SL_SLOTS; i++) {
        q->slot[i].iov.iov_base = q->mem + i * SL_SLOT_SIZE;
    }
    aio_timer_init(ctx, &q->poll_timer, QEMU_CLOCK_REALTIME, SCALE_MS,
                   sl_poll, q);
    q->poll_bh = aio_bh_new(ctx, sl_poll, q);
    sl->q = q;

    aio_wait_bh_oneshot(ctx, sl_open_bh, q);
    if (q->open_err) {
        error_propagate(errp, q->open_err);
        q->open_err = NULL;
        sl_close_queue(drv, &q->dq);
        return NULL;
    }
    trace_vhost_dp_slirp_open_queue(sl, inet_ntoa(sl->vdhcp));
    return &q->dq;
}

static void sl_get_caps(VhostDpDriver *drv, VhostDpDriverCaps *caps)
{
    /* libslirp is one stack: one queue pair; it takes complete frames */
    caps->max_queues = 1;
    caps->tx_offloads = 0;
    caps->rx_offloads = 0;
}

static bool sl_parse_addr(const char *str, const char *what,
                          struct in_addr *addr, Error **errp)
{
    if (!inet_aton(str, addr)) {
        error_setg(errp, "vhost-dp-slirp: %s '%s' is not an IPv4 address",
                   what, str);
        return false;
    }
    return true;
}

static bool sl_complete(VhostDpDriver *drv, Error **errp)
{
    VhostDpSlirp *sl = VHOST_DP_SLIRP(drv);
    uint32_t net, mask, host;

    if (!sl->ipv4 && !sl->ipv6) {
        error_setg(errp, "vhost-dp-slirp: ipv4 and ipv6 cannot both be off");
        return false;
    }
    inet_aton("10.0.2.0", &sl->vnetwork);
    inet_aton("255.255.255.0", &sl->vnetmask);
    if (sl->net) {
        g_autofree char *n = g_strdup(sl->net);
        char *slash = strchr(n, '/');
        unsigned long bits = 24;

        if (slash) {
            *slash = 0;
            if (qemu_strtoul(slash + 1, NULL, 10, &bits) || bits < 1 ||
                bits > 30) {
                error_setg(errp, "vhost-dp-slirp: net '%s': the prefix "
                           "length must be 1 to 30", sl->net);
                return false;
            }
        }
        if (!sl_parse_addr(n, "net", &sl->vnetwork, errp)) {
            return false;
        }
        sl->vnetmask.s_addr = htonl(~0u << (32 - bits));
        sl->vnetwork.s_addr &= sl->vnetmask.s_addr;
    }
    net = ntohl(sl->vnetwork.s_addr);
    mask = ntohl(sl->vnetmask.s_addr);
    sl->vhost.s_addr = htonl(net | 2);
    sl->vdhcp.s_addr = htonl(net | 15);
    sl->vdns.s_addr = htonl(net | 3);
    if ((sl->host && !sl_parse_addr(sl->host, "host", &sl->vhost, errp)) ||
        (sl->dhcpstart &&
         !sl_parse_addr(sl->dhcpstart, "dhcpstart", &sl->vdhcp, errp)) ||
        (sl->dns && !sl_parse_addr(sl->dns, "dns", &sl->vdns, errp))) {
        return false;
    }
    host = ntohl(sl->vhost.s_addr);
    if ((host & mask) != net || (ntohl(sl->vdhcp.s_addr) & mask) != net ||
        (ntohl(sl->vdns.s_addr) & mask) != net) {
        error_setg(errp, "vhost-dp-slirp: host, dhcpstart and dns must be "
                   "inside net");
        return false;
    }
    for (strList *l = sl->hostfwd; l; l = l->next) {
        if (!sl_add_hostfwd(sl, NULL, l->value, errp)) {
            return false;
        }
    }
    for (strList *l = sl->guestfwd; l; l = l->next) {
        if (!sl_add_guestfwd(sl, NULL, l->value, errp)) {
            return false;
        }
    }
    return true;
}

static const VhostDpProp sl_props[] = {
    VHOST_DP_PROP_STR("net", VhostDpSlirp, net,
        "Guest network, ADDR[/BITS] (default 10.0.2.0/24)"),
    VHOST_DP_PROP_STR("host", VhostDpSlirp, host,
        "The host's address on the guest network (default x.x.x.2)"),
    VHOST_DP_PROP_STR("dhcpstart", VhostDpSlirp, dhcpstart,
        "First address the DHCP server hands out (default x.x.x.15)"),
    VHOST_DP_PROP_STR("dns", VhostDpSlirp, dns,
        "The DNS server's address on the guest network (default x.x.x.3)"),
    VHOST_DP_PROP_STR("hostname", VhostDpSlirp, hostname,
        "Host name the DHCP server gives the guest"),
    VHOST_DP_PROP_BOOL("restrict", VhostDpSlirp, restrict_,
        "Isolate the guest from the host and the outside"),
    VHOST_DP_PROP_BOOL("ipv4", VhostDpSlirp, ipv4, "Enable IPv4"),
    VHOST_DP_PROP_BOOL("ipv6", VhostDpSlirp, ipv6, "Enable IPv6"),
    VHOST_DP_PROP_STRLIST("hostfwd", VhostDpSlirp, hostfwd,
        "Host to guest forwardings, "
        "[tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport"),
    VHOST_DP_PROP_STRLIST("guestfwd", VhostDpSlirp, guestfwd,
        "Guest to host forwardings, tcp:[guestaddr]:guestport-cmd:COMMAND"),
};

static void sl_instance_init(Object *obj)
{
    VhostDpSlirp *sl = VHOST_DP_SLIRP(obj);

    sl->ipv4 = true;
    sl->ipv6 = true;
}

static void sl_class_init(ObjectClass *oc, const void *data)
{
    VhostDpDriverClass *dc = VHOST_DP_DRIVER_CLASS(oc);

    dc->complete = sl_complete;
    dc->get_caps = sl_get_caps;
    dc->open_queue = sl_open_queue;
    dc->close_queue = sl_close_queue;

    vhost_dp_driver_class_add_props(oc, sl_props, ARRAY_SIZE(sl_props));
}

static const TypeInfo sl_info = {
    .name = TYPE_VHOST_DP_SLIRP,
    .parent = TYPE_VHOST_DP_DRIVER,
    .instance_size = sizeof(VhostDpSlirp),
    .instance_init = sl_instance_init,
    .class_init = sl_class_init,
};

static void sl_register_types(void)
{
    type_register_static(&sl_info);
}

type_init(sl_register_types);
