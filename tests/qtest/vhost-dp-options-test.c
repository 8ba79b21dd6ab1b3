/*
 * QTest testcases for the vhost dataplane's options and objects
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * -netdev vhostdp and the vhost-dp-* driver objects on a machine without
 * devices: option errors, QMP life cycle, objects in use.
 */

#include "qemu/osdep.h"
#include <net/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include "libqtest.h"
#include "qemu/cutils.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"

/*
 * Option checking and object life cycle, without a guest
 */

static void dp_expect_error(QTestState *qts, const char *want,
                            const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static void dp_expect_error(QTestState *qts, const char *want,
                            const char *fmt, ...)
{
    va_list ap;
    QDict *rsp, *err;
    const char *desc;

    va_start(ap, fmt);
    rsp = qtest_vqmp(qts, fmt, ap);
    va_end(ap);
    g_assert(rsp);
    err = qdict_get_qdict(rsp, "error");
    g_assert(err);
    desc = qdict_get_str(err, "desc");
    if (!strstr(desc, want)) {
        g_error("expected an error with '%s', got '%s'", want, desc);
    }
    qobject_unref(rsp);
}

#ifdef CONFIG_VHOST_DP_DPDK
/* DPDK errors, each QEMU running on; the EAL is per process */
static void test_dpdk_options(void)
{
    QTestState *qts = qtest_init("-M none");

    dp_expect_error(qts, "'port' is required",
                    "{'execute': 'object-add', 'arguments': {'qom-type': "
                    "'vhost-dp-dpdk', 'id': 'd9', 'port': ''}}");
    dp_expect_error(qts, "cannot probe port 'net_bogus0'",
                    "{'execute': 'object-add', 'arguments': {'qom-type': "
                    "'vhost-dp-dpdk', 'id': 'd9', 'port': 'net_bogus0'}}");
    dp_expect_error(qts, "queues=64 but port 'net_ring7' has",
                    "{'execute': 'object-add', 'arguments': {'qom-type': "
                    "'vhost-dp-dpdk', 'id': 'd9', 'port': 'net_ring7', "
                    "'queues': 64}}");
    dp_expect_error(qts, "cannot be initialised again with '--no-huge'",
                    "{'execute': 'object-add', 'arguments': {'qom-type': "
                    "'vhost-dp-dpdk', 'id': 'd9', 'port': 'net_null3', "
                    "'eal-args': '--no-huge'}}");
    qtest_qmp_assert_success(qts, "{'execute': 'object-add', 'arguments': "
                             "{'qom-type': 'vhost-dp-dpdk', 'id': 'd0', "
                             "'port': 'net_null0'}}");
    qtest_qmp_assert_success(qts, "{'execute': 'object-del', 'arguments': "
                             "{'id': 'd0'}}");
    qtest_quit(qts);

    /* the EAL prints its usage on stdout, which is the test's TAP output */
    qts = qtest_init("-M none >/dev/null");
    dp_expect_error(qts, "DPDK EAL initialisation with eal-args '--bogus'",
                    "{'execute': 'object-add', 'arguments': {'qom-type': "
                    "'vhost-dp-dpdk', 'id': 'd9', 'port': 'net_null0', "
                    "'eal-args': '--bogus'}}");
    dp_expect_error(qts, "failed to initialise earlier",
                    "{'execute': 'object-add', 'arguments': {'qom-type': "
                    "'vhost-dp-dpdk', 'id': 'd9', 'port': 'net_null0'}}");
    qtest_quit(qts);
}
#endif

static void test_options(void)
{
    QTestState *qts = qtest_init("-M none -object iothread,id=io0 "
                                 "-object vhost-dp-loopback,id=lb0 "
                                 "-object iothread,id=io1");

    dp_expect_error(qts, "'nope' not found",
                    "{'execute': 'netdev_add', 'arguments': {'type': "
                    "'vhostdp', 'id': 'n0', 'driver': 'nope'}}");
    dp_expect_error(qts, "not a vhost-dp driver",
                    "{'execute': 'netdev_add', 'arguments': {'type': "
                    "'vhostdp', 'id': 'n0', 'driver': 'io0'}}");
    dp_expect_error(qts, "IOThread 'io9' not found",
                    "{'execute': 'netdev_add', 'arguments': {'type': "
                    "'vhostdp', 'id': 'n0', 'driver': 'lb0', "
                    "'iothread': 'io9'}}");
    dp_expect_error(qts, "IOThread 'io9' not found",
                    "{'execute': 'netdev_add', 'arguments': {'type': "
                    "'vhostdp', 'id': 'n0', 'driver': 'lb0', 'queues': 3, "
                    "'iothreads': ['io0', 'io1', 'io9']}}");
    dp_expect_error(qts, "exclusive",
                    "{'execute': 'netdev_add', 'arguments': {'type': "
                    "'vhostdp', 'id': 'n0', 'driver': 'lb0', "
                    "'iothread': 'io0', 'iothreads': ['io1']}}");
    dp_expect_error(qts, "queues=0 is out of range",
                    "{'execute': 'netdev_add', 'arguments': {'type': "
                    "'vhostdp', 'id': 'n0', 'driver': 'lb0', 'queues': 0}}");
    dp_expect_error(qts, "queues=1000 is out of range",
                    "{'execute': 'netdev_add', 'arguments': {'type': "
                    "'vhostdp', 'id': 'n0', 'driver': 'lb0', "
                    "'queues': 1000}}");
    dp_expect_error(qts, "'driver' is missing",
                    "{'execute': 'netdev_add', 'arguments': {'type': "
                    "'vhostdp', 'id': 'n0'}}");
    dp_expect_error(qts, "'nope' is not a vhostdp netdev",
                    "{'execute': 'query-vhost-dp', 'arguments': "
                    "{'id': 'nope'}}");
    dp_expect_error(qts, "'nope' is not a vhostdp netdev",
                    "{'execute': 'vhost-dp-set-rate', 'arguments': "
                    "{'id': 'nope', 'tx-rate': 1000000}}");
    dp_expect_error(qts, "tx-rate",
                    "{'execute': 'netdev_add', 'arguments': {'type': "
                    "'vhostdp', 'id': 'n0', 'driver': 'lb0', "
                    "'tx-rate': 'fast'}}");
    dp_expect_error(qts, "host, dhcpstart and dns must be inside net",
                    "{'execute': 'object-add', 'arguments': {'qom-type': "
                    "'vhost-dp-slirp', 'id': 'sl9', 'net': '10.9.0.0/16', "
                    "'host': '10.8.0.2'}}");
    dp_expect_error(qts, "prefix length must be 1 to 30",
                    "{'execute': 'object-add', 'arguments': {'qom-type': "
                    "'vhost-dp-slirp', 'id': 'sl9', 'net': '10.9.0.0/31'}}");
    dp_expect_error(qts, "hostfwd 'tcp:1.2.3.4:99999-:22'",
                    "{'execute': 'object-add', 'arguments': {'qom-type': "
                    "'vhost-dp-slirp', 'id': 'sl8', "
                    "'hostfwd': ['tcp:1.2.3.4:99999-:22']}}");
    qtest_qmp_assert_success(qts, "{'execute': 'object-add', 'arguments': "
                             "{'qom-type': 'vhost-dp-slirp', 'id': 'sl0', "
                             "'net': '10.9.0.0/24', 'hostfwd': "
                             "['tcp:127.0.0.1:0-:22']}}");
    dp_expect_error(qts, "serves 1 to 1 queue pairs",
                    "{'execute': 'netdev_add', 'arguments': {'type': "
                    "'vhostdp', 'id': 'n0', 'driver': 'sl0', 'queues': 2}}");
    qtest_qmp_assert_success(qts, "{'execute': 'netdev_add', 'arguments': "
                             "{'type': 'vhostdp', 'id': 'ns0', "
                             "'driver': 'sl0', 'iothread': 'io1'}}");
    qtest_qmp_assert_success(qts, "{'execute': 'netdev_del', 'arguments': "
                             "{'id': 'ns0'}}");
    qtest_qmp_assert_success(qts, "{'execute': 'object-del', 'arguments': "
                             "{'id': 'sl0'}}");
#ifdef CONFIG_VHOST_DP_AF_XDP
    dp_expect_error(qts, "no interface 'nope0'",
                    "{'execute': 'object-add', 'arguments': {'qom-type': "
                    "'vhost-dp-af-xdp', 'id': 'x9', 'ifname': 'nope0'}}");
    dp_expect_error(qts, "sock-fds needs inhibit=on",
                    "{'execute': 'object-add', 'arguments': {'qom-type': "
                    "'vhost-dp-af-xdp', 'id': 'x9', 'ifname': 'lo', "
                    "'sock-fds': ['3']}}");
#endif
    dp_expect_error(qts, "exactly one of ifname, fd and fds",
                    "{'execute': 'object-add', 'arguments': {'qom-type': "
                    "'vhost-dp-tap', 'id': 'tp9'}}");
    dp_expect_error(qts, "frame-size must be between 60 and 65535",
                    "{'execute': 'object-add', 'arguments': {'qom-type': "
                    "'vhost-dp-loopback', 'id': 'lb9', 'frame-size': 10}}");

    /* twice: a deleted netdev leaves nothing behind */
    for (int i = 0; i < 2; i++) {
        qtest_qmp_assert_success(qts, "{'execute': 'netdev_add', "
                                 "'arguments': {'type': 'vhostdp', "
                                 "'id': 'n0', 'driver': 'lb0', 'queues': 4, "
                                 "'iothreads': ['io0', 'io1']}}");
        dp_expect_error(qts, "already in use by netdev 'n0'",
                        "{'execute': 'netdev_add', 'arguments': {'type': "
                        "'vhostdp', 'id': 'n1', 'driver': 'lb0'}}");
        dp_expect_error(qts, "is in use, can not be deleted",
                        "{'execute': 'object-del', 'arguments': "
                        "{'id': 'lb0'}}");
        dp_expect_error(qts, "cannot change property value",
                        "{'execute': 'qom-set', 'arguments': {'path': "
                        "'/objects/lb0', 'property': 'mode', "
                        "'value': 'sink'}}");
        qtest_qmp_assert_success(qts, "{'execute': 'vhost-dp-set-rate', "
                                 "'arguments': {'id': 'n0', 'tx-rate': "
                                 "100000000, 'rx-burst': 65536}}");
        qtest_qmp_assert_success(qts, "{'execute': 'netdev_del', "
                                 "'arguments': {'id': 'n0'}}");
    }
    qtest_qmp_assert_success(qts, "{'execute': 'object-del', 'arguments': "
                             "{'id': 'lb0'}}");

    /* an IOThread a netdev uses cannot be deleted; once unused, it can */
    qtest_qmp_assert_success(qts, "{'execute': 'object-add', 'arguments': "
                             "{'qom-type': 'iothread', 'id': 'io2'}}");
    qtest_qmp_assert_success(qts, "{'execute': 'object-add', 'arguments': "
                             "{'qom-type': 'vhost-dp-loopback', "
                             "'id': 'lb1'}}");
    qtest_qmp_assert_success(qts, "{'execute': 'netdev_add', 'arguments': "
                             "{'type': 'vhostdp', 'id': 'n2', "
                             "'driver': 'lb1', 'iothread': 'io2'}}");
    dp_expect_error(qts, "object 'io2' is in use, can not be deleted",
                    "{'execute': 'object-del', 'arguments': "
                    "{'id': 'io2'}}");
    qtest_qmp_assert_success(qts, "{'execute': 'netdev_del', 'arguments': "
                             "{'id': 'n2'}}");
    qtest_qmp_assert_success(qts, "{'execute': 'object-del', 'arguments': "
                             "{'id': 'io2'}}");
    qtest_quit(qts);
}

/* A TAP of the test's, opened with or without a vnet header */
static int dp_open_tap(const char *ifname, bool vnet_hdr)
{
    struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
    int fd = open("/dev/net/tun", O_RDWR);

    g_assert(fd >= 0);
    if (vnet_hdr) {
        ifr.ifr_flags |= IFF_VNET_HDR;
    }
    pstrcpy(ifr.ifr_name, sizeof(ifr.ifr_name), ifname);
    g_assert(ioctl(fd, TUNSETIFF, &ifr) == 0);
    return fd;
}

/*
 * TAP file descriptors passed in with getfd, as libvirt passes them:
 * vhost-dp-tap takes one opened with IFF_VNET_HDR (vnet-hdr is on by
 * default), and refuses one without it unless vnet-hdr=off.
 */
static void test_tap_fds(void)
{
    char ifname[IFNAMSIZ];
    QTestState *qts;
    int fd;

    if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK)) {
        g_test_skip("TAP needs root and /dev/net/tun");
        return;
    }
    snprintf(ifname, sizeof(ifname), "vdpf%d", getpid());
    qts = qtest_init("-M none");

    fd = dp_open_tap(ifname, true);
    qtest_qmp_fds_assert_success(qts, &fd, 1, "{'execute': 'getfd', "
                                 "'arguments': {'fdname': 'tap0'}}");
    qtest_qmp_assert_success(qts, "{'execute': 'object-add', 'arguments': "
                             "{'qom-type': 'vhost-dp-tap', 'id': 't0', "
                             "'fds': ['tap0']}}");
    qtest_qmp_assert_success(qts, "{'execute': 'object-del', 'arguments': "
                             "{'id': 't0'}}");
    close(fd);

    /* the TAP went with its last fd; this is a new one */
    fd = dp_open_tap(ifname, false);
    qtest_qmp_fds_assert_success(qts, &fd, 1, "{'execute': 'getfd', "
                                 "'arguments': {'fdname': 'tap1'}}");
    dp_expect_error(qts, "has no vnet header (IFF_VNET_HDR)",
                    "{'execute': 'object-add', 'arguments': "
                    "{'qom-type': 'vhost-dp-tap', 'id': 't1', "
                    "'fd': 'tap1'}}");
    qtest_qmp_fds_assert_success(qts, &fd, 1, "{'execute': 'getfd', "
                                 "'arguments': {'fdname': 'tap2'}}");
    qtest_qmp_assert_success(qts, "{'execute': 'object-add', 'arguments': "
                             "{'qom-type': 'vhost-dp-tap', 'id': 't2', "
                             "'fd': 'tap2', 'vnet-hdr': false}}");
    qtest_qmp_assert_success(qts, "{'execute': 'object-del', 'arguments': "
                             "{'id': 't2'}}");
    close(fd);
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/vhost-dp/options", test_options);
    qtest_add_func("/vhost-dp/tap/fds", test_tap_fds);
#ifdef CONFIG_VHOST_DP_DPDK
    qtest_add_func("/vhost-dp/dpdk/options", test_dpdk_options);
#endif
    return g_test_run();
}
