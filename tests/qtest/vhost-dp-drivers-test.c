/*
 * QTest testcases for the vhost dataplane's drivers on real devices
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The libqos virtio-net device on -netdev vhostdp with vhost-dp-tap on a
 * TAP, vhost-dp-dpdk on DPDK's ring and tap PMDs and vhost-dp-af-xdp on
 * a veth pair in a namespace the test makes; the test reaches the host
 * side with a packet socket.  Tests that need root or a library the
 * build lacks skip.
 */

#include "qemu/osdep.h"
#include <net/if.h>
#include <linux/if_packet.h>
#include <linux/if_ether.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <poll.h>
#include <sched.h>
#include "libqtest-single.h"
#include "qemu/iov.h"
#include "qemu/cutils.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "hw/virtio/virtio-net.h"
#include "standard-headers/linux/virtio_ring.h"
#include "libqos/qgraph.h"
#include "libqos/virtio.h"
#include "libqos/virtio-net.h"
#include "libqos/pci.h"
#include "vhost-dp-common.h"

/*
 * TAP: the netdev uses a vhost-dp-tap driver on a TAP device the test
 * names; the test reaches the TAP's host side with a packet socket.
 */
/*
 * What a test needs to reach the host side of its driver, made by the
 * test's before-hook and freed by the framework after the test.
 */
typedef struct DpHost {
    const char *arg;            /* the test's registration argument */
    bool ok;                    /* the driver can run here */
    char ifname[IFNAMSIZ];      /* the TAP, or the veth end, to reach */
    char netns[32];             /* the namespace it is in, or empty */
} DpHost;

static void dp_host_free(void *opaque)
{
    DpHost *h = opaque;

    if (h->netns[0]) {
        g_autofree char *cmd = g_strdup_printf("ip netns del %s 2>/dev/null",
                                               h->netns);

        g_assert(system(cmd) >= 0);
    }
    g_free(h);
}

static DpHost *dp_host_new(void *arg)
{
    DpHost *h = g_new0(DpHost, 1);

    h->arg = arg;
    g_test_queue_destroy(dp_host_free, h);
    return h;
}

static void *dp_before_tap(GString *cmd_line, void *arg)
{
    DpHost *h = dp_host_new(arg);
    const char *io = arg;

    snprintf(h->ifname, sizeof(h->ifname), "vdpt%d", getpid());
    h->ok = geteuid() == 0 && access("/dev/net/tun", R_OK | W_OK) == 0;
    if (!h->ok) {
        /* the test skips; keep a netdev the device can use */
        g_string_append(cmd_line, DP_NETDEV_SKIPPED);
        return h;
    }
    if (!strcmp(io, "mq")) {
        g_string_append_printf(cmd_line, " -object iothread,id=dpio0"
                               " -object vhost-dp-tap,id=dpdrv0,ifname=%s,"
                               "queues=2 -netdev vhostdp,id=hs0,"
                               "driver=dpdrv0,queues=2,iothread=dpio0 ",
                               h->ifname);
        return h;
    }
    if (!strcmp(io, "no-vnet-hdr")) {
        g_string_append_printf(cmd_line, " -object iothread,id=dpio0"
                               " -object vhost-dp-tap,id=dpdrv0,ifname=%s,"
                               "vnet-hdr=off -netdev vhostdp,id=hs0,"
                               "driver=dpdrv0,iothread=dpio0 ",
                               h->ifname);
        return h;
    }
    g_string_append_printf(cmd_line, " -object iothread,id=dpio0"
                           " -object vhost-dp-tap,id=dpdrv0,ifname=%s,io=%s"
                           " -netdev vhostdp,id=hs0,driver=dpdrv0,"
                           "iothread=dpio0 ", h->ifname, io);
    return h;
}

/* Bring the TAP up (without IPv6 chatter); a packet socket bound to it */
static int dp_tap_host_socket(const DpHost *h, bool vnet_hdr)
{
    g_autofree char *sysctl = g_strdup_printf(
        "/proc/sys/net/ipv6/conf/%s/disable_ipv6", h->ifname);
    struct ifreq ifr = { 0 };
    struct sockaddr_ll sll = { 0 };
    int one = 1, s, ctl, self = -1;
    FILE *f;

    if (h->netns[0]) {
        g_autofree char *path = g_strdup_printf("/run/netns/%s", h->netns);
        int ns = open(path, O_RDONLY);

        /* the socket stays in the namespace it was made in */
        self = open("/proc/self/ns/net", O_RDONLY);
        g_assert(ns >= 0 && self >= 0);
        g_assert(setns(ns, CLONE_NEWNET) == 0);
        close(ns);
    }
    f = fopen(sysctl, "w");
    if (f) {
        fputs("1\n", f);
        fclose(f);
    }
    ctl = socket(AF_INET, SOCK_DGRAM, 0);
    g_assert(ctl >= 0);
    pstrcpy(ifr.ifr_name, sizeof(ifr.ifr_name), h->ifname);
    g_assert(ioctl(ctl, SIOCGIFFLAGS, &ifr) == 0);
    ifr.ifr_flags |= IFF_UP;
    g_assert(ioctl(ctl, SIOCSIFFLAGS, &ifr) == 0);
    close(ctl);

    s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    g_assert(s >= 0);
    if (vnet_hdr) {
        g_assert(setsockopt(s, SOL_PACKET, PACKET_VNET_HDR, &one,
                            sizeof(one)) == 0);
    }
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = if_nametoindex(h->ifname);
    g_assert(sll.sll_ifindex);
    g_assert(bind(s, (struct sockaddr *)&sll, sizeof(sll)) == 0);
    if (self >= 0) {
        g_assert(setns(self, CLONE_NEWNET) == 0);
        close(self);
    }
    return s;
}

/*
 * AF_XDP: a veth pair made by the test; QEMU's end stays here, the other
 * is in a network namespace of the test, where the packet socket is.
 */
static void *dp_before_xdp(GString *cmd_line, void *arg)
{
    DpHost *h = dp_host_new(arg);
    g_autofree char *cmd = NULL;

#ifdef CONFIG_VHOST_DP_AF_XDP
    h->ok = geteuid() == 0;
#endif
    snprintf(h->netns, sizeof(h->netns), "vdpx%d", getpid());
    snprintf(h->ifname, sizeof(h->ifname), "vdpxb%d", getpid());
    /*
     * A run that aborted never freed its DpHost: remove the namespaces
     * (and with them the veth pairs) of test processes that are gone.
     */
    cmd = g_strdup("for ns in $(ip netns list | sed -n "
                   "'s/^\\(vdpx[0-9]*\\)\\( .*\\)*$/\\1/p'); do "
                   "[ -d /proc/${ns#vdpx} ] || ip netns del $ns; done");
    if (h->ok && system(cmd) != 0) {
        h->ok = false;
    }
    g_free(cmd);
    cmd = g_strdup_printf("ip netns add %s && ip link add vdpxa%d type veth "
                          "peer name %s netns %s && "
                          "echo 1 > /proc/sys/net/ipv6/conf/vdpxa%d/"
                          "disable_ipv6 && ip link set vdpxa%d up",
                          h->netns, getpid(), h->ifname, h->netns, getpid(),
                          getpid());
    if (h->ok && system(cmd) != 0) {
        h->ok = false;
    }
    if (h->ok) {
        g_string_append_printf(cmd_line, " -object iothread,id=dpio0"
                               " -object vhost-dp-af-xdp,id=dpdrv0,"
                               "ifname=vdpxa%d,mode=skb"
                               " -netdev vhostdp,id=hs0,driver=dpdrv0,"
                               "iothread=dpio0 -name vdp-xdp-%s ", getpid(),
                               arg ? (const char *)arg : "veth");
    } else {
        g_string_append(cmd_line, DP_NETDEV_SKIPPED);
    }
    return h;
}

/* The TAP's host side for a test, or -1 when the test is skipped */
static int dp_tap_test_socket(const DpHost *h)
{
    if (!h->ok) {
        g_test_skip("TAP needs root and /dev/net/tun");
        return -1;
    }
    return dp_tap_host_socket(h, false);
}

/* Receive on the packet socket the frame whose bytes at @off match @key */
static ssize_t dp_tap_recv(int s, uint8_t *buf, size_t size, size_t off,
                           const void *key, size_t keylen)
{
    gint64 end = g_get_monotonic_time() + DP_TIMEOUT_US;

    while (g_get_monotonic_time() < end) {
        struct pollfd pfd = { .fd = s, .events = POLLIN };
        ssize_t n;

        if (poll(&pfd, 1, 100) <= 0) {
            continue;
        }
        n = recv(s, buf, size, 0);
        if (n >= (ssize_t)(off + keylen) && !memcmp(buf + off, key, keylen)) {
            return n;
        }
    }
    return -1;
}

/*
 * DPDK: the netdev uses a vhost-dp-dpdk driver on a port of DPDK's ring
 * PMD (what a queue sends comes back on it) or tap PMD (a kernel TAP the
 * test reaches with a packet socket, as above).
 */
static void *dp_before_dpdk(GString *cmd_line, void *arg)
{
    DpHost *h = dp_host_new(arg);
    const char *port = arg;

#ifdef CONFIG_VHOST_DP_DPDK
    h->ok = strcmp(port, "tap") || (geteuid() == 0 &&
            access("/dev/net/tun", R_OK | W_OK) == 0);
#endif
    if (!h->ok) {
        g_string_append(cmd_line, DP_NETDEV_SKIPPED);
        return h;
    }
    if (!strcmp(port, "tap")) {
        snprintf(h->ifname, sizeof(h->ifname), "vdpd%d", getpid());
        g_string_append_printf(cmd_line, " -object iothread,id=dpio0"
                               " -object vhost-dp-dpdk,id=dpdrv0,"
                               "port=net_tap0,,iface=%s"
                               " -netdev vhostdp,id=hs0,driver=dpdrv0,"
                               "iothread=dpio0 ", h->ifname);
        return h;
    }
    g_string_append_printf(cmd_line, " -object iothread,id=dpio0"
                           " -object vhost-dp-dpdk,id=dpdrv0,port=%s"
                           " -netdev vhostdp,id=hs0,driver=dpdrv0,"
                           "iothread=dpio0 ", port);
    return h;
}

static void test_tap(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;
    const char *arg = ((DpHost *)data)->arg;
    /* vhost-dp-tap writes from guest memory, the others copy */
    bool zc = arg && (!strcmp(arg, "uring") || !strcmp(arg, "syscalls") ||
                      !strcmp(arg, "no-vnet-hdr"));
    uint64_t zc0;
    QVirtQueue *rx = dp_rx(net, 0), *tx = dp_tx(net, 0);
    struct virtio_net_hdr_mrg_rxbuf hdr = { 0 };
    uint8_t frame[1200], got[2048];
    /* room for the frames the host kernel sends on a new link (IPv6) */
    enum { RXBUFS = 16 };
    uint64_t txbuf, rxbuf[RXBUFS];
    uint32_t head, rxhead[RXBUFS], len;
    uint32_t seq;
    ssize_t n;
    int s;

    s = dp_tap_test_socket(data);
    if (s < 0) {
        return;
    }

    /* guest to host: the packet socket sees the frame */
    zc0 = dp_stat(qts, 0, "tx-zero-copy");
    txbuf = guest_alloc(alloc, DP_HDR_LEN + sizeof(frame));
    for (seq = 1; seq <= 3; seq++) {
        dp_fill_frame(frame, sizeof(frame), seq);
        qtest_memwrite(qts, txbuf, &hdr, DP_HDR_LEN);
        qtest_memwrite(qts, txbuf + DP_HDR_LEN, frame, sizeof(frame));
        head = qvirtqueue_add(qts, tx, txbuf, DP_HDR_LEN + sizeof(frame),
                              false, false);
        qvirtqueue_kick(qts, net->vdev, tx, head);
        g_assert(dp_wait_used(qts, tx, &head, NULL, DP_TIMEOUT_US));
        n = dp_tap_recv(s, got, sizeof(got), 14, &seq, sizeof(seq));
        g_assert_cmpint(n, ==, sizeof(frame));
        g_assert(memcmp(got, frame, sizeof(frame)) == 0);
    }
    g_assert_cmpuint(dp_stat(qts, 0, "tx-zero-copy") - zc0, ==, zc ? 3 : 0);

    /* host to guest: what the packet socket sends arrives intact */
    for (int i = 0; i < RXBUFS; i++) {
        rxbuf[i] = guest_alloc(alloc, DP_BUF_LEN);
        rxhead[i] = qvirtqueue_add(qts, rx, rxbuf[i], DP_BUF_LEN, true,
                                   false);
        qvirtqueue_kick(qts, net->vdev, rx, rxhead[i]);
    }
    seq = 77;
    dp_fill_frame(frame, sizeof(frame), seq);
    memcpy(frame, "\x52\x54\x00\x12\x34\x56", 6);
    g_assert_cmpint(send(s, frame, sizeof(frame), 0), ==, sizeof(frame));
    for (int i = 0; ; i++) {
        /* skip whatever else the host kernel sent */
        g_assert(i < RXBUFS);
        g_assert(dp_wait_used(qts, rx, &head, &len, DP_TIMEOUT_US));
        qtest_memread(qts, rxbuf[i], got, MIN(len, sizeof(got)));
        if (len == DP_HDR_LEN + sizeof(frame) &&
            !memcmp(got + DP_HDR_LEN + 14, &seq, sizeof(seq))) {
            break;
        }
    }
    g_assert(memcmp(got + DP_HDR_LEN, frame, sizeof(frame)) == 0);
    close(s);
}

/*
 * io=syscalls reads each frame straight into the guest's buffers, taking
 * as many as the last frame needed: a longer frame continues, copied,
 * in further buffers, a shorter one leaves the spare buffers for the next
 * frames.  Every frame arrives intact in the fewest buffers, the buffers
 * are used in the order the guest posted them, and rx-direct counts the
 * frames read whole.
 */
static void test_tap_rx_direct(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;
    QVirtQueue *rx = dp_rx(net, 0);
    /* frame sizes, and whether they fit the buffers the last one took */
    static const struct {
        uint32_t len;
        bool direct;
    } f[] = {
        { 100, true }, { 1200, false }, { 1200, true }, { 100, true },
        { 60, true }, { 1514, false }, { 700, true }, { 1514, false },
    };
    enum { NBUF = 64, BUF = 256 };
    uint64_t buf[NBUF] = { 0 }, direct0, pkts0;
    uint32_t posted[NBUF], next = 0, ndirect = 0;
    uint8_t frame[1514], got[1600];
    int s;

    s = dp_tap_test_socket(data);
    if (s < 0) {
        return;
    }
    g_assert(qvirtio_get_features(net->vdev) &
             (1ull << VIRTIO_NET_F_MRG_RXBUF));
    for (int i = 0; i < NBUF; i++) {
        uint64_t addr = guest_alloc(alloc, BUF);

        posted[i] = qvirtqueue_add(qts, rx, addr, BUF, true, false);
        g_assert_cmpuint(posted[i], <, NBUF);
        buf[posted[i]] = addr;
        qvirtqueue_kick(qts, net->vdev, rx, posted[i]);
    }
    direct0 = dp_stat(qts, 0, "rx-direct");
    pkts0 = dp_stat(qts, 0, "rx-packets");

    for (uint32_t k = 0; k < ARRAY_SIZE(f); k++) {
        uint32_t seq = 500 + k, want = (f[k].len + DP_HDR_LEN + BUF - 1) / BUF;
        uint32_t off = 0, head, len;
        struct virtio_net_hdr_mrg_rxbuf hdr;

        dp_fill_frame(frame, f[k].len, seq);
        g_assert_cmpint(send(s, frame, f[k].len, 0), ==, f[k].len);
        ndirect += f[k].direct;
        for (uint32_t b = 0; b < want; b++) {
            g_assert(dp_wait_used(qts, rx, &head, &len, DP_TIMEOUT_US));
            /* the buffers in the order they were posted, none skipped */
            g_assert_cmpuint(head, ==, posted[next]);
            next++;
            g_assert_cmpuint(len, <=, BUF);
            qtest_memread(qts, buf[head], got + off, len);
            off += len;
        }
        memcpy(&hdr, got, sizeof(hdr));
        g_assert_cmpuint(le16_to_cpu(hdr.num_buffers), ==, want);
        g_assert_cmpuint(off, ==, DP_HDR_LEN + f[k].len);
        g_assert(memcmp(got + DP_HDR_LEN, frame, f[k].len) == 0);
    }
    g_assert_false(qvirtqueue_get_buf(qts, rx, NULL, NULL));
    g_assert_cmpuint(dp_stat(qts, 0, "rx-packets") - pkts0, ==,
                     ARRAY_SIZE(f));
    g_assert_cmpuint(dp_stat(qts, 0, "rx-direct") - direct0, ==, ndirect);
    close(s);
}

/*
 * QEMU's own announcement (announce-self, as after migration) leaves
 * through the driver: a RARP frame from the NIC's MAC reaches the TAP.
 */
static void test_tap_announce(void *obj, void *data, QGuestAllocator *alloc)
{
    QTestState *qts = global_qtest;
    /* source MAC and ethertype (RARP) */
    static const uint8_t key[] = "\x52\x54\x00\x12\x34\x56\x80\x35";
    uint8_t got[2048];
    ssize_t n;
    int s;

    s = dp_tap_test_socket(data);
    if (s < 0) {
        return;
    }
    qtest_qmp_assert_success(qts, "{'execute': 'announce-self', "
                             "'arguments': {'initial': 50, 'max': 550, "
                             "'rounds': 2, 'step': 50}}");
    n = dp_tap_recv(s, got, sizeof(got), 6, key, sizeof(key) - 1);
    g_assert_cmpint(n, >=, 42);
    /* broadcast, and a reverse request for that same MAC */
    g_assert(memcmp(got, "\xff\xff\xff\xff\xff\xff", 6) == 0);
    g_assert(memcmp(got + 32, key, 6) == 0);
    close(s);
}

/* The sequence numbers of the test frames that arrive within a while */
static GArray *dp_rx_seqs(QTestState *qts, QVirtioNet *net,
                          QGuestAllocator *alloc, unsigned int posted)
{
    QVirtQueue *rx = dp_rx(net, 0);
    GArray *seqs = g_array_new(false, false, sizeof(uint32_t));
    uint8_t got[DP_HDR_LEN + 18];
    uint32_t head, len, seq;

    while (dp_wait_used(qts, rx, &head, &len, DP_QUIET_US * 3)) {
        uint64_t buf = qtest_readq(qts, rx->desc + head * 16);

        g_assert_cmpuint(posted--, >, 0);
        qtest_memread(qts, buf, got, sizeof(got));
        if (got[DP_HDR_LEN + 12] == 0x88 && got[DP_HDR_LEN + 13] == 0xb5) {
            memcpy(&seq, got + DP_HDR_LEN + 14, sizeof(seq));
            g_array_append_val(seqs, seq);
        }
    }
    return seqs;
}

/* Send a test frame to @dst from the TAP's host side */
static void dp_tap_send(int s, const char *dst, uint32_t seq)
{
    uint8_t frame[100];

    dp_fill_frame(frame, sizeof(frame), seq);
    memcpy(frame, dst, 6);
    g_assert_cmpint(send(s, frame, sizeof(frame), 0), ==, sizeof(frame));
}

/*
 * The receive filter the guest sets through the control queue applies to
 * what the driver receives: without promiscuous mode, a frame for another
 * MAC is dropped until the guest puts that MAC in its table.
 */
static void test_tap_rx_filter(void *obj, void *data, QGuestAllocator *alloc)
{
    static const char own[] = "\x52\x54\x00\x12\x34\x56";
    static const char other[] = "\x02\x00\x00\x00\x00\x77";
    static const char bcast[] = "\xff\xff\xff\xff\xff\xff";
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;
    QVirtQueue *rx = dp_rx(net, 0);
    uint8_t off = 0, on = 1;
    uint8_t table[4 + 6 + 4];
    uint32_t n;
    GArray *seqs;
    int s;

    s = dp_tap_test_socket(data);
    if (s < 0) {
        return;
    }
    g_assert(qvirtio_get_features(net->vdev) & (1ull << VIRTIO_NET_F_CTRL_RX));
    for (int i = 0; i < 16; i++) {
        uint32_t head = qvirtqueue_add(qts, rx, guest_alloc(alloc, DP_BUF_LEN),
                                       DP_BUF_LEN, true, false);

        qvirtqueue_kick(qts, net->vdev, rx, head);
    }

    /* promiscuous (the default): all three arrive */
    dp_tap_send(s, own, 1);
    dp_tap_send(s, other, 2);
    dp_tap_send(s, bcast, 3);
    seqs = dp_rx_seqs(qts, net, alloc, 16);
    g_assert_cmpuint(seqs->len, ==, 3);
    g_array_free(seqs, true);

    /* not promiscuous: the other MAC is filtered out */
    dp_ctrl(qts, net, alloc, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC,
            &off, 1);
    dp_tap_send(s, own, 4);
    dp_tap_send(s, other, 5);
    dp_tap_send(s, bcast, 6);
    seqs = dp_rx_seqs(qts, net, alloc, 13);
    g_assert_cmpuint(seqs->len, ==, 2);
    g_assert_cmpuint(g_array_index(seqs, uint32_t, 0), ==, 4);
    g_assert_cmpuint(g_array_index(seqs, uint32_t, 1), ==, 6);
    g_array_free(seqs, true);

    /* ... until it is in the MAC table */
    n = cpu_to_le32(1);
    memcpy(table, &n, 4);
    memcpy(table + 4, other, 6);
    memset(table + 10, 0, 4);
    dp_ctrl(qts, net, alloc, VIRTIO_NET_CTRL_MAC,
            VIRTIO_NET_CTRL_MAC_TABLE_SET, table, sizeof(table));
    dp_tap_send(s, other, 7);
    seqs = dp_rx_seqs(qts, net, alloc, 11);
    g_assert_cmpuint(seqs->len, ==, 1);
    g_assert_cmpuint(g_array_index(seqs, uint32_t, 0), ==, 7);
    g_array_free(seqs, true);

    /* as it was, for the tests that share this QEMU */
    memset(table, 0, sizeof(table) - 4);
    dp_ctrl(qts, net, alloc, VIRTIO_NET_CTRL_MAC,
            VIRTIO_NET_CTRL_MAC_TABLE_SET, table, 8);
    dp_ctrl(qts, net, alloc, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC,
            &on, 1);
    close(s);
}

/* A TSO frame reaches the TAP whole, with its offload header */
static void test_tap_offload(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;
    QVirtQueue *tx = dp_tx(net, 0);
    const size_t payload = 4000, flen = 14 + 20 + 20 + payload;
    g_autofree uint8_t *frame = g_malloc0(flen);
    g_autofree uint8_t *got = g_malloc(flen + 64);
    struct virtio_net_hdr_mrg_rxbuf hdr = {
        .hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
        .hdr.gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
        .hdr.hdr_len = cpu_to_le16(54),
        .hdr.gso_size = cpu_to_le16(1448),
        .hdr.csum_start = cpu_to_le16(34),
        .hdr.csum_offset = cpu_to_le16(16),
    };
    struct virtio_net_hdr *vh = (struct virtio_net_hdr *)got;
    uint8_t *ip = frame + 14, *tcp = ip + 20;
    uint64_t txbuf;
    uint32_t head;
    uint16_t port = htons(4242);
    ssize_t n;
    int s;

    if (!((DpHost *)data)->ok) {
        g_test_skip("TAP needs root and /dev/net/tun");
        return;
    }
    g_assert(qvirtio_get_features(net->vdev) &
             (1ull << VIRTIO_NET_F_HOST_TSO4));
    s = dp_tap_host_socket(data, true);

    memcpy(frame, "\x52\x54\x00\xaa\xbb\xcc\x52\x54\x00\x12\x34\x56", 12);
    frame[12] = 0x08;
    ip[0] = 0x45;
    stw_be_p(ip + 2, flen - 14);
    ip[8] = 64;
    ip[9] = 6;                          /* TCP */
    memcpy(ip + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
    memcpy(tcp, &port, 2);
    memcpy(tcp + 2, &port, 2);
    tcp[12] = 5 << 4;
    tcp[13] = 0x18;                     /* PSH ACK */
    for (size_t i = 0; i < payload; i++) {
        tcp[20 + i] = i * 13;
    }

    txbuf = guest_alloc(alloc, DP_HDR_LEN + flen);
    qtest_memwrite(qts, txbuf, &hdr, DP_HDR_LEN);
    qtest_memwrite(qts, txbuf + DP_HDR_LEN, frame, flen);
    head = qvirtqueue_add(qts, tx, txbuf, DP_HDR_LEN + flen, false, false);
    qvirtqueue_kick(qts, net->vdev, tx, head);
    g_assert(dp_wait_used(qts, tx, &head, NULL, DP_TIMEOUT_US));

    /* the frame as one GSO packet, its header as the guest wrote it */
    n = dp_tap_recv(s, got, flen + 64, sizeof(*vh) + 14 + 20, &port,
                    sizeof(port));
    g_assert_cmpint(n, ==, sizeof(*vh) + flen);
    g_assert_cmpuint(vh->gso_type & ~VIRTIO_NET_HDR_GSO_ECN, ==,
                     VIRTIO_NET_HDR_GSO_TCPV4);
    g_assert_cmpuint(vh->gso_size, ==, 1448);
    g_assert(vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM);
    g_assert(memcmp(got + sizeof(*vh) + 54, frame + 54, payload) == 0);
    close(s);
}

/* The 16-bit one's complement sum of @len bytes, folded, not inverted */
static uint16_t dp_csum(const uint8_t *p, size_t len, uint32_t sum)
{
    for (size_t i = 0; i + 1 < len; i += 2) {
        sum += p[i] << 8 | p[i + 1];
    }
    if (len & 1) {
        sum += p[len - 1] << 8;
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return sum;
}

#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20                 /* Linux 6.2 */
#define TUN_F_USO6 0x40
#endif

/* Does this kernel's TAP take UDP segmentation offload? */
static bool dp_kernel_has_uso(void)
{
    struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
    int fd = open("/dev/net/tun", O_RDWR);
    bool ok;

    g_assert(fd >= 0);
    g_assert(ioctl(fd, TUNSETIFF, &ifr) == 0);
    ok = ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_USO4 | TUN_F_USO6) == 0;
    close(fd);
    return ok;
}

/*
 * USO: the guest sends one UDP datagram of 4 times the segment size,
 * larger than the TAP's MTU, for the device to segment (GSO_UDP_L4).  It
 * reaches the TAP's host side as one GSO packet, and the kernel, which
 * delivers it to a UDP socket on the TAP's address, segments it into 4
 * datagrams of the segment size with the right bytes.
 */
static void test_tap_uso(void *obj, void *data, QGuestAllocator *alloc)
{
    DpHost *h = data;
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;
    QVirtQueue *tx = dp_tx(net, 0);
    enum { SEG = 1200, NSEG = 4, PAYLOAD = SEG * NSEG };
    const size_t flen = 14 + 20 + 8 + PAYLOAD;
    g_autofree uint8_t *frame = g_malloc0(flen);
    g_autofree uint8_t *got = g_malloc(flen + 64);
    struct virtio_net_hdr_mrg_rxbuf hdr = {
        .hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
        .hdr.gso_type = VIRTIO_NET_HDR_GSO_UDP_L4,
        .hdr.hdr_len = cpu_to_le16(42),
        .hdr.gso_size = cpu_to_le16(SEG),
        .hdr.csum_start = cpu_to_le16(34),
        .hdr.csum_offset = cpu_to_le16(6),
    };
    struct virtio_net_hdr *vh = (struct virtio_net_hdr *)got;
    uint8_t *ip = frame + 14, *udp = ip + 20, pseudo[12];
    struct sockaddr_in sin = { .sin_family = AF_INET };
    struct ifreq ifr = { 0 };
    struct timeval tv = { .tv_sec = 5 };
    uint16_t port = 4000 + getpid() % 20000;
    g_autofree char *cmd = NULL;
    uint64_t txbuf;
    uint32_t head;
    ssize_t n;
    int s, us, ctl;

    if (!h->ok) {
        g_test_skip("TAP needs root and /dev/net/tun");
        return;
    }
    if (!dp_kernel_has_uso()) {
        g_test_skip("the kernel's TAP has no USO (Linux 6.2 and later)");
        return;
    }
    g_assert(qvirtio_get_features(net->vdev) &
             (1ull << VIRTIO_NET_F_HOST_USO));
    s = dp_tap_host_socket(h, true);
    /* the TAP's side: 10.253.X.1/24, a UDP socket there */
    cmd = g_strdup_printf("ip addr add 10.253.%d.1/24 dev %s",
                          getpid() % 250, h->ifname);
    g_assert(system(cmd) == 0);
    us = socket(AF_INET, SOCK_DGRAM, 0);
    g_assert(us >= 0);
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(0x0afd0001 | (getpid() % 250) << 8);
    g_assert(bind(us, (struct sockaddr *)&sin, sizeof(sin)) == 0);
    g_assert(setsockopt(us, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0);
    ctl = socket(AF_INET, SOCK_DGRAM, 0);
    pstrcpy(ifr.ifr_name, sizeof(ifr.ifr_name), h->ifname);
    g_assert(ioctl(ctl, SIOCGIFHWADDR, &ifr) == 0);
    close(ctl);

    /* to the TAP's MAC and address, from 10.253.X.2 */
    memcpy(frame, ifr.ifr_hwaddr.sa_data, 6);
    memcpy(frame + 6, "\x52\x54\x00\x12\x34\x56", 6);
    frame[12] = 0x08;
    ip[0] = 0x45;
    stw_be_p(ip + 2, flen - 14);
    ip[8] = 64;
    ip[9] = 17;                         /* UDP */
    stl_be_p(ip + 12, ntohl(sin.sin_addr.s_addr) + 1);
    memcpy(ip + 16, &sin.sin_addr.s_addr, 4);
    stw_be_p(ip + 10, ~dp_csum(ip, 20, 0));
    stw_be_p(udp, port);
    stw_be_p(udp + 2, port);
    stw_be_p(udp + 4, 8 + PAYLOAD);
    for (size_t i = 0; i < PAYLOAD; i++) {
        udp[8 + i] = i * 7 + i / SEG;
    }
    /* a partial checksum: the pseudo header's sum, for the device */
    memcpy(pseudo, ip + 12, 8);
    pseudo[8] = 0;
    pseudo[9] = 17;
    stw_be_p(pseudo + 10, 8 + PAYLOAD);
    stw_be_p(udp + 6, dp_csum(pseudo, sizeof(pseudo), 0));

    txbuf = guest_alloc(alloc, DP_HDR_LEN + flen);
    qtest_memwrite(qts, txbuf, &hdr, DP_HDR_LEN);
    qtest_memwrite(qts, txbuf + DP_HDR_LEN, frame, flen);
    head = qvirtqueue_add(qts, tx, txbuf, DP_HDR_LEN + flen, false, false);
    qvirtqueue_kick(qts, net->vdev, tx, head);
    g_assert(dp_wait_used(qts, tx, &head, NULL, DP_TIMEOUT_US));

    /* one GSO packet on the TAP's host side */
    n = dp_tap_recv(s, got, flen + 64, sizeof(*vh) + 14 + 20, &udp[0], 4);
    g_assert_cmpint(n, ==, sizeof(*vh) + flen);
    g_assert_cmpuint(vh->gso_type, ==, VIRTIO_NET_HDR_GSO_UDP_L4);
    g_assert_cmpuint(vh->gso_size, ==, SEG);
    /* segmented by the kernel: NSEG datagrams of SEG bytes, in order */
    for (int k = 0; k < NSEG; k++) {
        n = recv(us, got, flen, 0);
        g_assert_cmpint(n, ==, SEG);
        g_assert(memcmp(got, udp + 8 + k * SEG, SEG) == 0);
    }
    close(us);
    close(s);
    guest_free(alloc, txbuf);
}

/* Frames through a DPDK ring port come back intact, small and large */
static void test_dpdk_ring(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;

    if (!((DpHost *)data)->ok) {
        g_test_skip("built without the DPDK driver");
        return;
    }
    dp_loopback(qts, net, alloc, 0, 32, 64);
    dp_loopback(qts, net, alloc, 0, 8, 1514);
    g_assert_cmpuint(dp_stat(qts, 0, "ring-errors"), ==, 0);
}

/*
 * Back-pressure counts each drop once: with no receive buffers the ring
 * port fills and takes no more, and the engine offers the same bursts
 * again and again.  Every tenth frame is too long for an mbuf: it is
 * dropped, and counted, only once it is taken.  Then receive buffers
 * drain the ring and every frame is accounted for.
 */
static void test_dpdk_ring_drops(void *obj, void *data,
                                 QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;
    QVirtQueue *tx = dp_tx(net, 0), *rx = dp_rx(net, 0);
    enum { BATCH = 128, LEN = 64, BIG = 3000, EVERY = 10 };
    uint64_t small, big, drops0, rx0, rxbuf;
    unsigned int sent = 0, sent_big = 0, stalled = 0;
    uint32_t head, len;
    gint64 end;

    if (!((DpHost *)data)->ok) {
        g_test_skip("built without the DPDK driver");
        return;
    }
    small = guest_alloc(alloc, DP_HDR_LEN + LEN);
    big = guest_alloc(alloc, DP_HDR_LEN + BIG);
    drops0 = dp_stat(qts, 0, "tx-drops");
    rx0 = dp_stat(qts, 0, "rx-packets");
    /* batches until the ring port pushes back (1024 frames and more) */
    while (!stalled) {
        uint16_t used = dp_used_idx(qts, tx);
        uint16_t idx = qtest_readw(qts, tx->avail + 2), now;

        g_assert_cmpuint(sent, <, 4096);
        dp_reset_pool(tx);
        for (int i = 0; i < BATCH; i++) {
            bool b = (sent + i) % EVERY == EVERY - 1;

            head = b ? dp_tx_add(qts, tx, big, BIG, sent + i) :
                       dp_tx_add(qts, tx, small, LEN, sent + i);
            qtest_writew(qts, tx->avail + 4 + 2 * ((idx + i) % tx->size),
                         head);
        }
        qtest_writew(qts, tx->avail + 2, idx + BATCH);
        net->vdev->bus->virtqueue_kick(net->vdev, tx);
        /* done, or no progress for 200 ms */
        do {
            now = dp_used_idx(qts, tx);
            g_usleep(200 * 1000);
        } while (dp_used_idx(qts, tx) != now &&
                 (uint16_t)(now - used) != BATCH);
        now = dp_used_idx(qts, tx);
        stalled = BATCH - (uint16_t)(now - used);
        for (unsigned int i = 0; i < BATCH; i++) {
            sent_big += (sent + i) % EVERY == EVERY - 1;
        }
        sent += BATCH;
    }
    g_test_message("%u frames, %u too long; the port took all but %u",
                   sent, sent_big, stalled);
    /* let the engine offer the stalled bursts again a while */
    g_usleep(300 * 1000);
    {
        unsigned int taken = sent - stalled, big_taken = 0;

        for (unsigned int i = 0; i < taken; i++) {
            big_taken += i % EVERY == EVERY - 1;
        }
        g_assert_cmpuint(dp_stat(qts, 0, "tx-drops") - drops0, ==,
                         big_taken);
    }
    /* drain: receive buffers until every frame has gone through */
    rxbuf = guest_alloc(alloc, DP_BUF_LEN);
    end = g_get_monotonic_time() + DP_TIMEOUT_US;
    while (dp_stat(qts, 0, "rx-packets") - rx0 < sent - sent_big) {
        g_assert(g_get_monotonic_time() < end);
        dp_reset_pool(rx);
        for (int i = 0; i < 64; i++) {
            head = qvirtqueue_add(qts, rx, rxbuf, DP_BUF_LEN, true, false);
            qvirtqueue_kick(qts, net->vdev, rx, head);
        }
        for (int i = 0; i < 64; i++) {
            if (!dp_wait_used(qts, rx, &head, &len, 2 * G_USEC_PER_SEC)) {
                break;
            }
        }
        while (qvirtqueue_get_buf(qts, rx, &head, &len)) {
            continue;
        }
    }
    end = g_get_monotonic_time() + DP_TIMEOUT_US;
    while (qtest_readw(qts, tx->avail + 2) != dp_used_idx(qts, tx)) {
        g_assert(g_get_monotonic_time() < end);
        g_usleep(1000);
    }
    g_assert_cmpuint(dp_stat(qts, 0, "rx-packets") - rx0, ==,
                     sent - sent_big);
    g_assert_cmpuint(dp_stat(qts, 0, "tx-drops") - drops0, ==, sent_big);
    guest_free(alloc, rxbuf);
    guest_free(alloc, small);
    guest_free(alloc, big);
}

/*
 * A copied frame behind one the ring holds completes after it, in order:
 * with no receive buffers the ring keeps a long frame, and the guest
 * gets none of the three transmit buffers back before it has them all.
 */
static void dp_ring_zc_order(QTestState *qts, QVirtioNet *net,
                             QGuestAllocator *alloc)
{
    QVirtQueue *rx = dp_rx(net, 0), *tx = dp_tx(net, 0);
    static const size_t len[3] = { 500, 64, 64 };
    uint64_t txbuf[3], rxbuf[3], tx0 = dp_stat(qts, 0, "tx-packets");
    uint32_t rxhead[3], lens[3], head;
    uint16_t used0 = dp_used_idx(qts, tx);
    gint64 end = g_get_monotonic_time() + DP_TIMEOUT_US;

    for (int i = 0; i < 3; i++) {
        txbuf[i] = guest_alloc(alloc, DP_HDR_LEN + len[i]);
        head = dp_tx_add(qts, tx, txbuf[i], len[i], 700 + i);
        qvirtqueue_kick(qts, net->vdev, tx, head);
    }
    while (dp_stat(qts, 0, "tx-packets") - tx0 < 3) {
        g_assert(g_get_monotonic_time() < end);
        g_usleep(1000);
    }
    g_usleep(20 * 1000);
    g_assert_cmpuint(dp_used_idx(qts, tx), ==, used0);
    for (int i = 0; i < 3; i++) {
        lens[i] = DP_BUF_LEN;
        rxbuf[i] = guest_alloc(alloc, DP_BUF_LEN);
        rxhead[i] = qvirtqueue_add(qts, rx, rxbuf[i], DP_BUF_LEN, true,
                                   false);
        qvirtqueue_kick(qts, net->vdev, rx, rxhead[i]);
    }
    for (int i = 0; i < 3; i++) {
        dp_expect_rx(qts, rx, rxhead[i], &rxbuf[i], &lens[i], len[i],
                     700 + i);
        g_assert(dp_wait_used(qts, tx, &head, NULL, DP_TIMEOUT_US));
    }
    g_assert_cmpuint(dp_used_idx(qts, tx), ==, (uint16_t)(used0 + 3));
    for (int i = 0; i < 3; i++) {
        guest_free(alloc, txbuf[i]);
        guest_free(alloc, rxbuf[i]);
    }
}

/*
 * zero-copy=on on a ring port: the frames go out in external mbufs over
 * the guest's buffers (frames of 384 bytes and more: shorter ones are
 * copied) and come back through the ring intact; the guest gets its
 * transmit buffers back once the ring's consumer (the same queue's
 * receive side) frees them, and a stop or a reset copies out what the
 * ring still holds
 */
static void test_dpdk_ring_zc(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;
    uint64_t zc0;

    if (!((DpHost *)data)->ok) {
        g_test_skip("built without the DPDK driver");
        return;
    }
    zc0 = dp_stat(qts, 0, "tx-zero-copy");
    dp_loopback(qts, net, alloc, 0, 32, 64);
    dp_loopback(qts, net, alloc, 0, 8, 1514);
    g_assert_cmpuint(dp_stat(qts, 0, "tx-zero-copy") - zc0, ==, 8);
    dp_ring_zc_order(qts, net, alloc);
    dp_zc_hold(net, alloc, "stop");
    dp_zc_hold(net, alloc, "reset");
    g_assert_cmpuint(dp_stat(qts, 0, "ring-errors"), ==, 0);
}

/* Frames cross a veth pair through AF_XDP both ways, byte for byte */
static void test_af_xdp(void *obj, void *data, QGuestAllocator *alloc)
{
    if (!((DpHost *)data)->ok) {
        g_test_skip("needs the AF_XDP driver, root and veth");
        return;
    }
    test_tap(obj, data, alloc);
}

/*
 * Frames the packet socket @s saw arrive since the last call (reading
 * PACKET_STATISTICS resets it); no sysfs, which a chroot may not show
 * for the test's namespace.
 */
static uint64_t dp_sock_seen(int s)
{
    struct tpacket_stats st;
    socklen_t len = sizeof(st);

    g_assert(getsockopt(s, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0);
    return st.tp_packets;
}

/*
 * AF_XDP transmit accounts for every frame it completes: a burst of 200
 * chains with one kick, and each completed chain reaches the veth peer
 * (its packet socket sees it) or is counted in tx-drops.  In skb mode
 * the kernel sends at most a few dozen frames a sendto(), so what stays
 * on the TX ring must still be sent.  Five frames are larger than a UMEM
 * frame: the driver drops them, and says so.
 */
static void test_af_xdp_burst(void *obj, void *data, QGuestAllocator *alloc)
{
    DpHost *h = data;
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;
    QVirtQueue *tx = dp_tx(net, 0);
    enum { N = 200, LEN = 60, BIG = 5000, NBIG = 5 };
    uint64_t txbuf, bigbuf, drops0, sent = 0, drops = 0;
    uint16_t idx, used;
    gint64 end;
    int s;

    if (!h->ok) {
        g_test_skip("needs the AF_XDP driver, root and veth");
        return;
    }
    s = dp_tap_host_socket(h, false);   /* on the veth peer */
    txbuf = guest_alloc(alloc, DP_HDR_LEN + LEN);
    bigbuf = guest_alloc(alloc, DP_HDR_LEN + BIG);
    dp_sock_seen(s);
    drops0 = dp_stat(qts, 0, "tx-drops");
    used = dp_used_idx(qts, tx);
    idx = qtest_readw(qts, tx->avail + 2);
    dp_reset_pool(tx);
    for (int i = 0; i < N; i++) {
        bool big = i % (N / NBIG) == N / NBIG - 1;
        uint32_t head = big ? dp_tx_add(qts, tx, bigbuf, BIG, i) :
                              dp_tx_add(qts, tx, txbuf, LEN, i);

        qtest_writew(qts, tx->avail + 4 + 2 * ((idx + i) % tx->size), head);
    }
    qtest_writew(qts, tx->avail + 2, idx + N);
    net->vdev->bus->virtqueue_kick(net->vdev, tx);

    end = g_get_monotonic_time() + DP_TIMEOUT_US;
    while ((uint16_t)(dp_used_idx(qts, tx) - used) != N) {
        g_assert(g_get_monotonic_time() < end);
        g_usleep(1000);
    }
    /* completed: now each must be on the wire or counted as dropped */
    end = g_get_monotonic_time() + 3 * G_USEC_PER_SEC;
    do {
        g_usleep(10 * 1000);
        sent += dp_sock_seen(s);
        drops = dp_stat(qts, 0, "tx-drops") - drops0;
    } while (sent + drops < N && g_get_monotonic_time() < end);
    g_test_message("%u frames completed: %" PRIu64 " sent, %" PRIu64
                   " counted as dropped", N, sent, drops);
    g_assert_cmpuint(sent, ==, N - NBIG);
    g_assert_cmpuint(drops, ==, NBIG);
    close(s);
    guest_free(alloc, txbuf);
    guest_free(alloc, bigbuf);
}

static void test_dpdk_tap(void *obj, void *data, QGuestAllocator *alloc)
{
    if (!((DpHost *)data)->ok) {
        g_test_skip("needs the DPDK driver, root and /dev/net/tun");
        return;
    }
    test_tap(obj, data, alloc);
}

/*
 * Hot add and remove a second driver, netdev and device while the first
 * device has traffic in flight on queue pair 0; every frame of it comes
 * back intact.
 */
/*
 * A multiqueue TAP with one queue pair enabled: every flow from the host
 * reaches queue pair 0 (the TAP queue of the disabled pair is detached);
 * with both enabled, traffic still flows.
 */
/*
 * An IPv4/UDP frame of @len bytes to the device's MAC, from 10.0.0.2 to
 * 10.0.0.1; the caller sets the ports (offsets 34 and 36)
 */
static void dp_udp_frame(uint8_t *frame, size_t len)
{
    memset(frame, 0, len);
    memcpy(frame, "\x52\x54\x00\x12\x34\x56\x02\x00\x00\x00\x00\x07", 12);
    frame[12] = 0x08;
    frame[14] = 0x45;
    stw_be_p(frame + 16, len - 14);
    frame[22] = 64;
    frame[23] = 17;
    memcpy(frame + 26, "\x0a\x00\x00\x02\x0a\x00\x00\x01", 8);
    stw_be_p(frame + 38, len - 34);
}

static void test_tap_mq(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;
    enum { N = 24, LEN = 200 };
    uint64_t rxbuf[2][2 * N];
    uint32_t head, len;
    uint8_t frame[LEN];
    unsigned int got = 0;
    int s;

    if (!((DpHost *)data)->ok) {
        g_test_skip("TAP needs root and /dev/net/tun");
        return;
    }
    g_assert_cmpint(net->n_queues, ==, 5);
    /* pair 0 gets buffers for both phases */
    for (int p = 0; p < 2; p++) {
        for (int i = 0; i < (p ? N : 2 * N); i++) {
            rxbuf[p][i] = guest_alloc(alloc, DP_BUF_LEN);
            head = qvirtqueue_add(qts, dp_rx(net, p), rxbuf[p][i],
                                  DP_BUF_LEN, true, false);
            qvirtqueue_kick(qts, net->vdev, dp_rx(net, p), head);
        }
    }
    s = dp_tap_host_socket(data, false);

    /* IPv4/UDP frames of N flows, so that the TAP would spread them */
    dp_udp_frame(frame, LEN);
    stw_be_p(frame + 36, 9);
    for (int i = 0; i < N; i++) {
        stw_be_p(frame + 34, 1000 + i * 7919);
        g_assert_cmpint(send(s, frame, LEN, 0), ==, LEN);
    }
    /* all of them on queue pair 0 */
    while (got < N && dp_wait_used(qts, dp_rx(net, 0), &head, &len,
                                   3 * 1000 * 1000)) {
        got += len == DP_HDR_LEN + LEN;
    }
    g_assert_cmpuint(got, ==, N);
    g_assert_cmpuint(dp_used_idx(qts, dp_rx(net, 1)), ==, 0);

    /* both pairs on: the frames still all arrive, on either */
    dp_set_queue_pairs(qts, net, alloc, 2);
    for (int i = 0; i < N / 2; i++) {
        stw_be_p(frame + 34, 3000 + i * 7919);
        g_assert_cmpint(send(s, frame, LEN, 0), ==, LEN);
    }
    got = 0;
    for (gint64 end = g_get_monotonic_time() + DP_TIMEOUT_US;
         got < N / 2 && g_get_monotonic_time() < end;) {
        bool any = false;

        for (int p = 0; p < 2; p++) {
            if (qvirtqueue_get_buf(qts, dp_rx(net, p), &head, &len)) {
                got += len == DP_HDR_LEN + LEN;
                any = true;
            }
        }
        if (!any) {
            g_usleep(500);
        }
    }
    g_assert_cmpuint(got, ==, N / 2);
    close(s);
}
/*
 * RSS: the Toeplitz hash of the virtio spec (Microsoft's RSS), checked
 * against the known answers of Microsoft's verification suite before the
 * test relies on it
 */
static const uint8_t dp_rss_key[40] = {
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2,
    0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
    0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4,
    0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
    0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

static uint32_t dp_toeplitz(const uint8_t *in, size_t len)
{
    uint32_t hash = 0, window = ldl_be_p(dp_rss_key);

    for (size_t i = 0; i < len; i++) {
        for (int b = 7; b >= 0; b--) {
            if (in[i] & (1 << b)) {
                hash ^= window;
            }
            window = window << 1 | ((dp_rss_key[i + 4] >> b) & 1);
        }
    }
    return hash;
}

/* the hash of an IPv4 TCP or UDP flow: addresses, then ports */
static uint32_t dp_flow_hash(uint32_t src, uint32_t dst, uint16_t sport,
                             uint16_t dport)
{
    uint8_t in[12];

    stl_be_p(in, src);
    stl_be_p(in + 4, dst);
    stw_be_p(in + 8, sport);
    stw_be_p(in + 10, dport);
    return dp_toeplitz(in, sizeof(in));
}

static void dp_toeplitz_known_answers(void)
{
    static const struct {
        uint32_t src, dst;
        uint16_t sport, dport;
        uint32_t ipv4, tcp;
    } v[] = {
        { 0x420995bb, 0xa18e6450, 2794, 1766, 0x323e8fc2, 0x51ccc178 },
        { 0xc75c6f02, 0x41458c53, 14230, 4739, 0xd718262a, 0xc626b0ea },
        { 0x1813c65f, 0x0c16cfb8, 12898, 38024, 0xd2d0a5de, 0x5c2b394a },
        { 0x261bcd1e, 0xd18ea306, 48228, 2217, 0x82989176, 0xafc7327f },
        { 0x9927a3bf, 0xcabc7f02, 44251, 1303, 0x5d1809c5, 0x10e828a2 },
    };

    for (int i = 0; i < ARRAY_SIZE(v); i++) {
        uint8_t in[8];

        stl_be_p(in, v[i].src);
        stl_be_p(in + 4, v[i].dst);
        g_assert_cmphex(dp_toeplitz(in, 8), ==, v[i].ipv4);
        g_assert_cmphex(dp_flow_hash(v[i].src, v[i].dst, v[i].sport,
                                     v[i].dport), ==, v[i].tcp);
    }
}

/* The receive header with the hash (VIRTIO_NET_F_HASH_REPORT) */
#define DP_HASH_HDR_LEN sizeof(struct virtio_net_hdr_v1_hash)

/* The RSS table of the tests: 128 entries alternating 2 by 2 */
#define DP_RSS_TABLE 128

/* A flow's queue pair in that table */
static int dp_rss_pair(uint32_t hash)
{
    return (hash % DP_RSS_TABLE >> 1) & 1;
}

/*
 * VIRTIO_NET_CTRL_MQ_RSS_CONFIG: UDPv4 flows hashed with their ports,
 * 2 queue pairs in use, the table above
 */
static void dp_rss_config(QTestState *qts, QVirtioNet *net,
                          QGuestAllocator *alloc)
{
    uint8_t cfg[4 + 2 + 2 + 2 * DP_RSS_TABLE + 2 + 1 + sizeof(dp_rss_key)];
    uint8_t *p = cfg;

    stl_le_p(p, VIRTIO_NET_RSS_HASH_TYPE_IPv4 |
                VIRTIO_NET_RSS_HASH_TYPE_UDPv4);
    stw_le_p(p + 4, DP_RSS_TABLE - 1);
    stw_le_p(p + 6, 0);
    p += 8;
    for (int i = 0; i < DP_RSS_TABLE; i++, p += 2) {
        stw_le_p(p, (i >> 1) & 1);
    }
    stw_le_p(p, 2);
    p[2] = sizeof(dp_rss_key);
    memcpy(p + 3, dp_rss_key, sizeof(dp_rss_key));
    dp_ctrl(qts, net, alloc, VIRTIO_NET_CTRL_MQ,
            VIRTIO_NET_CTRL_MQ_RSS_CONFIG, cfg, sizeof(cfg));
}

/*
 * Check that RSS (and, with @hash, hash reporting) was negotiated on 2
 * queue pairs, set the configuration and post @n receive buffers of
 * @size bytes on each pair
 */
static void dp_rss_start(QTestState *qts, QVirtioNet *net,
                         QGuestAllocator *alloc, bool hash, int n,
                         size_t size)
{
    uint32_t head;

    g_assert(qvirtio_get_features(net->vdev) & (1ull << VIRTIO_NET_F_RSS));
    g_assert_cmpint(!!(qvirtio_get_features(net->vdev) &
                       (1ull << VIRTIO_NET_F_HASH_REPORT)), ==, hash);
    g_assert_cmpint(net->n_queues, ==, 5);
    dp_rss_config(qts, net, alloc);
    for (int q = 0; q < 2; q++) {
        for (int i = 0; i < n; i++) {
            uint64_t b = guest_alloc(alloc, size);

            head = qvirtqueue_add(qts, dp_rx(net, q), b, size, true, false);
            qvirtqueue_kick(qts, net->vdev, dp_rx(net, q), head);
        }
    }
}

/*
 * Collect the frames of the UDP flows from 10.0.0.2 to 10.0.0.1 (@len
 * bytes after a header of @hl, the last byte the queue pair the table
 * gives) from both queue pairs' receive rings: each must be on its pair,
 * @want[] of them, with its Toeplitz hash in the header if @hash.
 */
static void dp_rss_collect(QTestState *qts, QVirtioNet *net, size_t hl,
                           size_t len, bool hash, const unsigned int *want)
{
    unsigned int got[2] = { 0 };
    uint8_t buf[DP_BUF_LEN];
    uint32_t head, used_len;

    for (gint64 end = g_get_monotonic_time() + DP_TIMEOUT_US;
         got[0] + got[1] < want[0] + want[1] &&
         g_get_monotonic_time() < end;) {
        bool any = false;

        for (int q = 0; q < 2; q++) {
            uint64_t addr;

            if (!qvirtqueue_get_buf(qts, dp_rx(net, q), &head, &used_len)) {
                continue;
            }
            any = true;
            g_assert_cmpuint(used_len, ==, hl + len);
            addr = qtest_readq(qts, dp_rx(net, q)->desc + 16ull * head);
            qtest_memread(qts, addr, buf, used_len);
            if (buf[hl + len - 1] != q) {
                g_error("flow with source port %u on queue pair %d, its "
                        "table entry says %d", lduw_be_p(buf + hl + 34), q,
                        buf[hl + len - 1]);
            }
            if (hash) {
                struct virtio_net_hdr_v1_hash *h = (void *)buf;

                g_assert_cmphex(le32_to_cpu(h->hash_value), ==,
                                dp_flow_hash(0x0a000002, 0x0a000001,
                                             lduw_be_p(buf + hl + 34),
                                             lduw_be_p(buf + hl + 36)));
                g_assert_cmpuint(le16_to_cpu(h->hash_report), ==,
                                 VIRTIO_NET_HASH_REPORT_UDPv4);
            }
            got[q]++;
        }
        if (!any) {
            g_usleep(500);
        }
    }
    g_assert_cmpuint(got[0], ==, want[0]);
    g_assert_cmpuint(got[1], ==, want[1]);
}

/*
 * RSS through the TAP: the guest sets a key, hash types and an
 * indirection table with VIRTIO_NET_CTRL_MQ_RSS_CONFIG; the netdev loads
 * QEMU's steering eBPF program with them, the driver attaches it to the
 * TAP, and the kernel puts each frame the TAP receives on the queue pair
 * the table picks for its flow's Toeplitz hash.  The engine carries each
 * queue to its pair.  With @hash (hash=on), each frame also carries that
 * hash in its header, which the engine computes.
 */
static void dp_tap_rss(QVirtioNet *net, void *data, QGuestAllocator *alloc,
                       bool hash)
{
    QTestState *qts = global_qtest;
    enum { N = 32, LEN = 200 };
    const size_t hl = hash ? DP_HASH_HDR_LEN : DP_HDR_LEN;
    unsigned int want[2] = { 0 };
    uint8_t frame[LEN];
    int s;

    dp_toeplitz_known_answers();
    if (!((DpHost *)data)->ok) {
        g_test_skip("TAP needs root and /dev/net/tun");
        return;
    }
    /* the netdev takes the configuration, and the driver can steer */
    dp_rss_start(qts, net, alloc, hash, N, DP_BUF_LEN);
    s = dp_tap_host_socket(data, false);

    /* N flows: UDP from the TAP's side, each frame tagged with its flow */
    dp_udp_frame(frame, LEN);
    for (int i = 0; i < N; i++) {
        uint16_t sport = 1000 + i * 7919, dport = 4789;

        stw_be_p(frame + 34, sport);
        stw_be_p(frame + 36, dport);
        /* the flow's queue pair, which the receiver checks */
        frame[LEN - 1] = dp_rss_pair(dp_flow_hash(0x0a000002, 0x0a000001,
                                                  sport, dport));
        want[frame[LEN - 1]]++;
        g_assert_cmpint(send(s, frame, LEN, 0), ==, LEN);
    }
    /* both queue pairs get flows, or the test proves nothing */
    g_assert_cmpuint(want[0], >, 0);
    g_assert_cmpuint(want[1], >, 0);
    dp_rss_collect(qts, net, hl, LEN, hash, want);
    close(s);
}

static void test_tap_rss(void *obj, void *data, QGuestAllocator *alloc)
{
    dp_tap_rss(obj, data, alloc, false);
}

static void test_tap_rss_hash(void *obj, void *data, QGuestAllocator *alloc)
{
    dp_tap_rss(obj, data, alloc, true);
}

/*
 * Software RSS, on the loopback driver, whose device does not steer: the
 * guest's table alternates between the two queue pairs; the flows it
 * transmits on either pair come back through that pair's driver queue,
 * whose engine hands each frame to the IOThread of the pair the table
 * picks for its hash (rx-steered counts them), with the hash in its
 * header when @data says "hash".
 */
static void test_loopback_rss(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;
    enum { N = 32, LEN = 150, BUF = 256 };
    const bool hash = data && !strcmp(data, "hash");
    const size_t hl = hash ? DP_HASH_HDR_LEN : DP_HDR_LEN;
    unsigned int want[2] = { 0 }, cross[2] = { 0 };
    uint8_t frame[BUF];
    uint32_t head;

    dp_toeplitz_known_answers();
    dp_rss_start(qts, net, alloc, hash, N, BUF);
    /* N flows, sent alternately on the two pairs, tagged with theirs */
    for (int i = 0; i < N; i++) {
        uint16_t sport = 1000 + i * 7919, dport = 4789;
        uint8_t *f = frame + hl;
        int q = dp_rss_pair(dp_flow_hash(0x0a000002, 0x0a000001, sport,
                                         dport));
        int from = i & 1;
        uint64_t b = guest_alloc(alloc, hl + LEN);

        memset(frame, 0, hl);
        dp_udp_frame(f, LEN);
        stw_be_p(f + 34, sport);
        stw_be_p(f + 36, dport);
        f[LEN - 1] = q;
        want[q]++;
        cross[from] += q != from;
        qtest_memwrite(qts, b, frame, hl + LEN);
        head = qvirtqueue_add(qts, dp_tx(net, from), b, hl + LEN, false,
                              false);
        qvirtqueue_kick(qts, net->vdev, dp_tx(net, from), head);
    }
    /* frames cross in both directions, or the test proves nothing */
    g_assert_cmpuint(cross[0], >, 0);
    g_assert_cmpuint(cross[1], >, 0);
    dp_rss_collect(qts, net, hl, LEN, hash, want);
    /* the engines moved them, not the driver */
    g_assert_cmpuint(dp_stat(qts, 0, "rx-steered"), ==, cross[0]);
    g_assert_cmpuint(dp_stat(qts, 1, "rx-steered"), ==, cross[1]);
}

/* Three queue pairs on three IOThreads, on the loopback driver */
static void *dp_before_rss3(GString *cmd_line, void *arg)
{
    g_string_append(cmd_line,
                    " -object iothread,id=dpio0 -object iothread,id=dpio1"
                    " -object iothread,id=dpio2"
                    " -object vhost-dp-loopback,id=dpdrv0"
                    " -netdev vhostdp,id=hs0,driver=dpdrv0,queues=3,"
                    "iothreads.0=dpio0,iothreads.1=dpio1,iothreads.2=dpio2 ");
    return arg;
}

/*
 * Software RSS with two producers: the table sends every flow to queue
 * pair 0, and pairs 1 and 2 transmit at the same time, so two IOThreads
 * fill pair 0's inbox together while pair 0 delivers from it.  Round
 * after round, every frame arrives once and intact, and rx-steered
 * counts each pair's.
 */
static void test_loopback_rss_mp(void *obj, void *data,
                                 QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;
    enum { ROUNDS = 12, B = 60, LEN = 100, TABLE = 8 };
    uint8_t cfg[4 + 2 + 2 + 2 * TABLE + 2 + 1 + sizeof(dp_rss_key)];
    uint64_t txbuf[3][B], rxbuf[3 * B];
    uint8_t frame[DP_HDR_LEN + LEN], got[DP_HDR_LEN + LEN];
    g_autofree bool *seen = g_new0(bool, ROUNDS * 3 * B);
    QVirtQueue *rx = dp_rx(net, 0);
    uint32_t head, len;

    g_assert(qvirtio_get_features(net->vdev) & (1ull << VIRTIO_NET_F_RSS));
    g_assert_cmpint(net->n_queues, ==, 7);
    memset(cfg, 0, sizeof(cfg));
    stl_le_p(cfg, VIRTIO_NET_RSS_HASH_TYPE_IPv4 |
                  VIRTIO_NET_RSS_HASH_TYPE_UDPv4);
    stw_le_p(cfg + 4, TABLE - 1);
    stw_le_p(cfg + 8 + 2 * TABLE, 3);           /* table all 0; 3 pairs */
    cfg[8 + 2 * TABLE + 2] = sizeof(dp_rss_key);
    memcpy(cfg + 8 + 2 * TABLE + 3, dp_rss_key, sizeof(dp_rss_key));
    dp_ctrl(qts, net, alloc, VIRTIO_NET_CTRL_MQ,
            VIRTIO_NET_CTRL_MQ_RSS_CONFIG, cfg, sizeof(cfg));

    for (int q = 0; q < 3; q++) {
        for (int i = 0; i < B; i++) {
            txbuf[q][i] = guest_alloc(alloc, sizeof(frame));
        }
    }
    for (int i = 0; i < 3 * B; i++) {
        rxbuf[i] = guest_alloc(alloc, sizeof(got));
    }
    for (int r = 0; r < ROUNDS; r++) {
        dp_reset_pool(rx);
        for (int i = 0; i < 3 * B; i++) {
            head = qvirtqueue_add(qts, rx, rxbuf[i], sizeof(got), true,
                                  false);
            qvirtqueue_kick(qts, net->vdev, rx, head);
        }
        /* all three pairs' frames made available, then kicked at once */
        for (int q = 0; q < 3; q++) {
            QVirtQueue *tx = dp_tx(net, q);
            uint16_t idx = qtest_readw(qts, tx->avail + 2);

            dp_reset_pool(tx);
            for (int i = 0; i < B; i++) {
                uint32_t id = (r * 3 + q) * B + i;

                memset(frame, 0, DP_HDR_LEN);
                dp_udp_frame(frame + DP_HDR_LEN, LEN);
                stw_be_p(frame + DP_HDR_LEN + 34, 1000 + id);
                stl_be_p(frame + DP_HDR_LEN + LEN - 4, id);
                qtest_memwrite(qts, txbuf[q][i], frame, sizeof(frame));
                head = qvirtqueue_add(qts, tx, txbuf[q][i], sizeof(frame),
                                      false, false);
                qtest_writew(qts, tx->avail + 4 + 2 * ((idx + i) % tx->size),
                             head);
            }
            qtest_writew(qts, tx->avail + 2, idx + B);
        }
        for (int q = 2; q >= 0; q--) {
            net->vdev->bus->virtqueue_kick(net->vdev, dp_tx(net, q));
        }
        for (int i = 0; i < 3 * B; i++) {
            uint32_t id;

            g_assert(dp_wait_used(qts, rx, &head, &len, DP_TIMEOUT_US));
            g_assert_cmpuint(len, ==, sizeof(got));
            qtest_memread(qts, rxbuf[head], got, len);
            id = ldl_be_p(got + DP_HDR_LEN + LEN - 4);
            g_assert_cmpuint(id, <, ROUNDS * 3 * B);
            g_assert_false(seen[id]);
            seen[id] = true;
            g_assert_cmpuint(lduw_be_p(got + DP_HDR_LEN + 34), ==,
                             (1000 + id) & 0xffff);
        }
        for (int q = 0; q < 3; q++) {
            for (int i = 0; i < B; i++) {
                g_assert(dp_wait_used(qts, dp_tx(net, q), &head, NULL,
                                      DP_TIMEOUT_US));
            }
        }
    }
    g_assert_false(qvirtqueue_get_buf(qts, dp_rx(net, 1), NULL, NULL));
    g_assert_false(qvirtqueue_get_buf(qts, dp_rx(net, 2), NULL, NULL));
    g_assert_cmpuint(dp_stat(qts, 0, "rx-steered"), ==, 0);
    g_assert_cmpuint(dp_stat(qts, 1, "rx-steered"), ==, ROUNDS * B);
    g_assert_cmpuint(dp_stat(qts, 2, "rx-steered"), ==, ROUNDS * B);
    g_assert_cmpuint(dp_stat(qts, 0, "rx-drops"), ==, 0);
}

/*
 * Hash reporting without RSS (VIRTIO_NET_CTRL_MQ_HASH_CONFIG), on the
 * loopback driver: what the guest transmits comes back with the hash the
 * engine computed, of the first of the guest's hash types each frame
 * has: UDP and TCP flows with their ports, other IPv4 frames with their
 * addresses, and none for a frame that is not IP.
 */
static void test_loopback_hash(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QTestState *qts = global_qtest;
    enum { N = 16, LEN = 120, hl = DP_HASH_HDR_LEN };
    const uint32_t src = 0x0a000002, dst = 0x0a000001;
    uint8_t cfg[4 + 8 + 1 + sizeof(dp_rss_key)];
    uint8_t frame[hl + LEN], buf[hl + LEN];
    uint64_t rxbuf[N], txbuf[N];
    uint32_t want_hash[N], head, len;
    uint16_t want_report[N];

    dp_toeplitz_known_answers();
    g_assert(qvirtio_get_features(net->vdev) &
             (1ull << VIRTIO_NET_F_HASH_REPORT));

    memset(cfg, 0, sizeof(cfg));
    stl_le_p(cfg, VIRTIO_NET_RSS_HASH_TYPE_IPv4 |
                  VIRTIO_NET_RSS_HASH_TYPE_TCPv4 |
                  VIRTIO_NET_RSS_HASH_TYPE_UDPv4);
    cfg[12] = sizeof(dp_rss_key);
    memcpy(cfg + 13, dp_rss_key, sizeof(dp_rss_key));
    dp_ctrl(qts, net, alloc, VIRTIO_NET_CTRL_MQ,
            VIRTIO_NET_CTRL_MQ_HASH_CONFIG, cfg, sizeof(cfg));

    for (int i = 0; i < N; i++) {
        rxbuf[i] = guest_alloc(alloc, sizeof(buf));
        head = qvirtqueue_add(qts, dp_rx(net, 0), rxbuf[i], sizeof(buf),
                              true, false);
        qvirtqueue_kick(qts, net->vdev, dp_rx(net, 0), head);
    }
    for (int i = 0; i < N; i++) {
        uint16_t sport = 1000 + i * 7919, dport = 4789;
        uint8_t *f = frame + hl;

        memset(frame, 0, hl);
        dp_udp_frame(f, LEN);
        stw_be_p(f + 34, sport);
        stw_be_p(f + 36, dport);
        f[LEN - 1] = i;
        want_hash[i] = dp_flow_hash(src, dst, sport, dport);
        want_report[i] = VIRTIO_NET_HASH_REPORT_UDPv4;
        if (i % 4 == 1) {
            f[23] = 6;                          /* TCP */
            want_report[i] = VIRTIO_NET_HASH_REPORT_TCPv4;
        } else if (i % 4 == 2) {
            uint8_t in[8];

            f[23] = 1;                          /* ICMP: addresses only */
            stl_be_p(in, src);
            stl_be_p(in + 4, dst);
            want_hash[i] = dp_toeplitz(in, sizeof(in));
            want_report[i] = VIRTIO_NET_HASH_REPORT_IPv4;
        } else if (i % 4 == 3) {
            stw_be_p(f + 12, 0x0806);           /* ARP: no hash */
            want_hash[i] = 0;
            want_report[i] = VIRTIO_NET_HASH_REPORT_NONE;
        }
        txbuf[i] = guest_alloc(alloc, sizeof(frame));
        qtest_memwrite(qts, txbuf[i], frame, sizeof(frame));
        head = qvirtqueue_add(qts, dp_tx(net, 0), txbuf[i], sizeof(frame),
                              false, false);
        qvirtqueue_kick(qts, net->vdev, dp_tx(net, 0), head);
    }
    for (int i = 0; i < N; i++) {
        struct virtio_net_hdr_v1_hash *h = (void *)buf;
        int k;

        g_assert(dp_wait_used(qts, dp_rx(net, 0), &head, &len,
                              DP_TIMEOUT_US));
        g_assert_cmpuint(len, ==, hl + LEN);
        k = i;                                  /* in order */
        qtest_memread(qts, rxbuf[k], buf, len);
        g_assert_cmpuint(buf[hl + LEN - 1], ==, k);
        g_assert_cmphex(le32_to_cpu(h->hash_value), ==, want_hash[k]);
        g_assert_cmpuint(le16_to_cpu(h->hash_report), ==, want_report[k]);
    }
}

static void register_vhost_dp_drivers_test(void)
{
    QOSGraphTestOptions opts = {
        .before = dp_before_tap,
    };

    opts.arg = (gpointer)"uring";
    qos_add_test("vhost-dp/tap/uring", "virtio-net", test_tap, &opts);
    qos_add_test("vhost-dp/tap/uring-offload", "virtio-net",
                 test_tap_offload, &opts);
    opts.arg = (gpointer)"syscalls";
    qos_add_test("vhost-dp/tap/syscalls", "virtio-net", test_tap, &opts);
    qos_add_test("vhost-dp/tap/syscalls-offload", "virtio-net",
                 test_tap_offload, &opts);
    opts.arg = (gpointer)"no-vnet-hdr";
    qos_add_test("vhost-dp/tap/no-vnet-hdr", "virtio-net", test_tap, &opts);
    opts.arg = (gpointer)"syscalls";
    qos_add_test("vhost-dp/tap/announce", "virtio-net", test_tap_announce,
                 &opts);
    qos_add_test("vhost-dp/tap/rx-filter", "virtio-net", test_tap_rx_filter,
                 &opts);
    qos_add_test("vhost-dp/tap/rx-direct", "virtio-net", test_tap_rx_direct,
                 &opts);
    qos_add_test("vhost-dp/tap/uso", "virtio-net", test_tap_uso, &opts);
    opts.arg = (gpointer)"mq";
    opts.edge.extra_device_opts = "mq=on";
    qos_add_test("vhost-dp/tap/multiqueue", "virtio-net", test_tap_mq,
                 &opts);
    opts.edge.extra_device_opts = "mq=on,rss=on";
    qos_add_test("vhost-dp/tap/rss", "virtio-net", test_tap_rss, &opts);
    opts.edge.extra_device_opts = "mq=on,rss=on,hash=on";
    qos_add_test("vhost-dp/tap/rss-hash", "virtio-net", test_tap_rss_hash,
                 &opts);
    opts.before = dp_before;
    opts.arg = NULL;
    opts.edge.extra_device_opts = "hash=on";
    qos_add_test("vhost-dp/hash/loopback", "virtio-net", test_loopback_hash,
                 &opts);
    opts.edge.extra_device_opts = "mq=on,rss=on";
    qos_add_test("vhost-dp/rss/loopback", "virtio-net", test_loopback_rss,
                 &opts);
    opts.arg = (gpointer)"hash";
    opts.edge.extra_device_opts = "mq=on,rss=on,hash=on";
    qos_add_test("vhost-dp/rss/loopback-hash", "virtio-net",
                 test_loopback_rss, &opts);
    opts.before = dp_before_rss3;
    opts.arg = NULL;
    opts.edge.extra_device_opts = "mq=on,rss=on,vectors=8";
    qos_add_test("vhost-dp/rss/two-producers", "virtio-net",
                 test_loopback_rss_mp, &opts);
    opts.before = dp_before_dpdk;
    opts.edge.extra_device_opts = NULL;
    opts.arg = (gpointer)"net_ring0";
    qos_add_test("vhost-dp/dpdk/ring", "virtio-net", test_dpdk_ring, &opts);
    opts.arg = (gpointer)"net_ring2";
    qos_add_test("vhost-dp/dpdk/ring-drops", "virtio-net",
                 test_dpdk_ring_drops, &opts);
    opts.arg = (gpointer)"net_ring1,zero-copy=on";
    qos_add_test("vhost-dp/dpdk/ring-zero-copy", "virtio-net",
                 test_dpdk_ring_zc, &opts);
    opts.arg = (gpointer)"tap";
    qos_add_test("vhost-dp/dpdk/tap", "virtio-net", test_dpdk_tap, &opts);
    opts.before = dp_before_xdp;
    opts.arg = NULL;
    qos_add_test("vhost-dp/af-xdp/veth", "virtio-net", test_af_xdp, &opts);
    opts.arg = (gpointer)"burst";
    qos_add_test("vhost-dp/af-xdp/burst", "virtio-net", test_af_xdp_burst,
                 &opts);
}

libqos_init(register_vhost_dp_drivers_test);
