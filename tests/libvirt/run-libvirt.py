#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The test guest on vhostdp under a real libvirtd (Debian 12's libvirt
# 9.0), from the domain XML of the docs' libvirt section
# (docs/system/vhost-dataplane.rst), with only its paths, kernel command
# line, serial port and hostfwd port changed:
#
#   - libvirtd and virtlogd started here, as root, in a mount namespace
#     of their own where /etc/libvirt, /run/libvirt, /var/lib/libvirt,
#     /var/log/libvirt and /var/cache/libvirt are directories of the
#     test, so nothing of the host's libvirt is read or changed;
#   - the guest checks of run-guest.py slirp (DHCP, ping, HTTP download
#     with its checksum, hostfwd, iperf3 both ways) on the documented
#     vhost-dp-slirp netdev;
#   - query-vhost-dp through virsh qemu-monitor-command, virsh
#     iothreadinfo and domstats --iothread with libvirtd still alive,
#     virsh iothreaddel of the IOThread the netdev uses refused;
#   - hotplug of a second vhostdp NIC as the docs describe it (virsh
#     iothreadadd, object-add, netdev_add, device_add), which the guest
#     brings up and leases an address on, then its unplug in reverse
#     order (device_del, DEVICE_DELETED, netdev_del, object-del, virsh
#     iothreaddel);
#   - virsh destroy and undefine; libvirtd and virtlogd stopped by PID.
#
# With --libvirt-build DIR, the libvirt of DIR (libvirt/ of this tree:
# Debian's 9.0 with the vhost-dp patches, built by `make libvirt`) runs
# the docs' other domain, written with <driver name='vhostdp'/>:
#   - the same guest checks, the hostfwd port from its <portForward>;
#   - the interface in virsh domiflist, virsh domifstat from the
#     dataplane's counters, its netdev on IOThread 1, and virsh
#     iothreaddel refused by libvirt itself;
#   - hotplug with virsh iothreadadd and attach-device (a second
#     type='user' NIC on IOThread 2, which the guest leases on), a TAP
#     through virsh attach-interface --driver vhostdp, then
#     detach-interface of both: each netdev and its driver object gone.
#
# Needs root; prints PASS/FAIL/SKIP lines like run-guest.py.

import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DOCS = os.path.join(REPO, "docs", "system", "vhost-dataplane.rst")
QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"
DOMAIN = "vdp-guest"
# the directories libvirtd (privileged) uses, each replaced by one of ours
LIBVIRT_DIRS = ("/etc/libvirt", "/run/libvirt", "/var/lib/libvirt",
                "/var/log/libvirt", "/var/cache/libvirt")

# no __pycache__ in the source tree
sys.dont_write_bytecode = True
_spec = importlib.util.spec_from_file_location(
    "run_guest", os.path.join(REPO, "tests", "guest", "run-guest.py"))
rg = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rg)


PATCHED_TITLE = "\nWith the vhost-dp patches for libvirt\n"


def docs_domain_xml(patched):
    """The domain XML of the docs' libvirt section: the first one, or
    the one for the patched libvirt."""
    text = open(DOCS).read()
    section = text[text.index("\nlibvirt\n-------\n"):]
    section = section[:section.index("\nPerformance\n-----------\n")]
    if patched:
        section = section[section.index(PATCHED_TITLE):]
    m = re.search(r"\n(  <domain .*?\n  </domain>)\n", section, re.S)
    if not m:
        raise RuntimeError(f"no <domain> block in the libvirt section of "
                           f"{DOCS}")
    return textwrap.dedent(m.group(1))


class LibvirtGuest(rg.Guest):
    def __init__(self, demo, timeout, build=None):
        super().__init__("libvirt-patched" if build else "libvirt", demo,
                         timeout)
        # the patched libvirt's build directory, or None for Debian's
        self.build = build
        self.boot_time = 0
        self.accel = "tcg"      # the docs' domain type='qemu'
        self.made_dirs = []
        self.mounted = []
        self.daemons = []

    # --- a private libvirtd ---------------------------------------------

    def private_dirs(self):
        top = os.path.join(self.work, "root")
        for d in LIBVIRT_DIRS:
            mine = top + d
            os.makedirs(mine)
            if not os.path.isdir(d):
                os.makedirs(d)
                self.made_dirs.append(d)
            rg.sh(f"mount --bind {mine} {d}")
            self.mounted.append(d)
        # libvirtd resolves its built-in QEMU user before it reads
        # qemu.conf: give it one, in this namespace only (Debian's
        # libvirt-daemon-system package would add it for good)
        for db, entry in (("passwd", "libvirt-qemu:x:64055:64055::"
                                     "/var/lib/libvirt:/usr/sbin/nologin"),
                          ("group", "libvirt-qemu:x:64055:")):
            mine = os.path.join(top, db)
            with open(f"/etc/{db}") as src, open(mine, "w") as dst:
                text = src.read()
                dst.write(text)
                if not re.search(r"^libvirt-qemu:", text, re.M):
                    dst.write(entry + "\n")
            rg.sh(f"mount --bind {mine} /etc/{db}")
            self.mounted.append(f"/etc/{db}")
        with open("/etc/libvirt/qemu.conf", "w") as f:
            # QEMU as root, files left as they are: no libvirt-qemu user
            # and no security driver on a minimal Debian
            f.write('user = "root"\ngroup = "root"\n'
                    'dynamic_ownership = 0\nremember_owner = 0\n'
                    'security_driver = "none"\nnamespaces = [ ]\n')
        with open("/etc/libvirt/libvirtd.conf", "w") as f:
            f.write('log_outputs = "3:file:/var/log/libvirt/libvirtd.log"\n')

    def tool(self, name):
        if self.build:
            return os.path.join(self.build,
                                "tools" if name == "virsh" else "src", name)
        return shutil.which(name) or os.path.join("/usr/sbin", name)

    def start_daemons(self):
        for d in ("virtlogd", "libvirtd"):
            exe = self.tool(d)
            log = open(os.path.join(self.work, d + ".out"), "w")
            p = subprocess.Popen([exe], stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)
            self.daemons.append((d, p))
        end = time.time() + 30
        while self.virsh("list", check=False).returncode:
            if time.time() > end or self.daemons[-1][1].poll() is not None:
                raise RuntimeError("libvirtd did not come up: " +
                                   self.virsh("list", check=False).stdout)
            time.sleep(0.2)

    def stop_daemons(self):
        for name, p in reversed(self.daemons):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()

    def virsh(self, *args, check=True):
        r = subprocess.run([self.tool("virsh"), "-c", "qemu:///system"] +
                           list(args),
                           text=True, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=120)
        if check and r.returncode:
            raise RuntimeError(f"virsh {' '.join(args)}: {r.stdout.strip()}")
        return r

    def qmp(self, name, check=True, **args):
        cmd = {"execute": name}
        if args:
            cmd["arguments"] = args
        r = self.virsh("qemu-monitor-command", DOMAIN, json.dumps(cmd),
                       check=check)
        if r.returncode:
            return None, r.stdout.strip()
        return json.loads(r.stdout).get("return"), ""

    def libvirtd_alive(self, after):
        p = self.daemons[-1][1]
        ok = (p.poll() is None and
              self.virsh("list", check=False).returncode == 0)
        self.host(ok, f"libvirtd alive after {after}" if ok else
                      f"libvirtd died after {after} "
                      f"(exit {p.returncode})")
        return ok

    # --- the domain ---------------------------------------------------------

    def domain_xml(self, img):
        ET.register_namespace("qemu", QEMU_NS)
        dom = ET.fromstring(docs_domain_xml(bool(self.build)))
        os_ = dom.find("os")
        os_.find("kernel").text = os.path.join(img, "vmlinuz")
        os_.find("initrd").text = os.path.join(img, "initrd.gz")
        os_.find("cmdline").text = ("console=ttyS0 quiet panic=-1 " +
                                    self.cmdline)
        devices = dom.find("devices")
        devices.find("emulator").text = os.path.realpath(rg.QEMU)
        # the serial console into a file this test follows
        serial = devices.find("serial")
        serial.clear()
        serial.set("type", "file")
        ET.SubElement(serial, "source",
                      {"path": os.path.join(self.work, "serial.log")})
        ET.SubElement(serial, "target", {"port": "0"})
        n = 0
        # the patched libvirt's domain: the hostfwd is a <portForward>
        for rng in dom.iter("range"):
            rng.set("start", str(self.fwd_port))
            rng.set("to", "8080")
            n += 1
        for arg in dom.iter(f"{{{QEMU_NS}}}arg"):
            v, k = re.subn(r"hostfwd=[^,]*",
                           f"hostfwd=tcp:127.0.0.1:{self.fwd_port}-:8080",
                           arg.get("value"))
            arg.set("value", v)
            n += k
        if n != 1:
            raise RuntimeError(f"the docs' domain has {n} hostfwd options, "
                               "expected 1")
        path = os.path.join(self.work, "domain.xml")
        ET.ElementTree(dom).write(path)
        return path

    def run(self):
        if os.geteuid() != 0:
            raise rg.SkipTest("libvirtd's system instance needs root")
        for tool in ("libvirtd", "virtlogd", "virsh"):
            if not os.path.exists(self.tool(tool)):
                raise RuntimeError(f"{tool} is missing: run " +
                                   ("make libvirt" if self.build else
                                    "build-aux/deps.sh"))
        img = subprocess.run([os.path.join(REPO, "tests/guest/build-image.sh")],
                             check=True, text=True, stdout=subprocess.PIPE
                             ).stdout.strip().splitlines()[-1]
        self.setup_slirp()
        self.cmdline += " vdp.hotplug=60"
        self.private_dirs()
        self.start_daemons()
        xml = self.domain_xml(img)
        self.virsh("define", xml)
        self.cleanups.append(lambda: self.virsh("undefine", DOMAIN,
                                                check=False))
        self.t0 = time.time()
        self.virsh("start", DOMAIN)
        self.cleanups.append(lambda: self.virsh("destroy", DOMAIN,
                                                check=False))
        done = self.follow_serial()
        self.boot_time = time.time() - self.t0
        if not done:
            self.host(False, f"the guest did not finish within "
                             f"{self.timeout} s")
        if self.stats is None:
            self.host(False, "no statistics from query-vhost-dp")
        r = self.virsh("destroy", DOMAIN, check=False)
        self.host(r.returncode == 0, "virsh destroy: " +
                  r.stdout.strip().splitlines()[0])
        r = self.virsh("undefine", DOMAIN, check=False)
        left = self.virsh("list", "--all", "--name", check=False).stdout
        self.host(r.returncode == 0 and DOMAIN not in left.split(),
                  "virsh undefine: the domain is gone")
        self.libvirtd_alive("the run")

    def follow_serial(self):
        path = os.path.join(self.work, "serial.log")
        end = time.time() + self.timeout
        pos = 0
        partial = ""
        while time.time() < end:
            try:
                with open(path, errors="replace") as f:
                    f.seek(pos)
                    chunk = f.read()
                    pos = f.tell()
            except FileNotFoundError:
                chunk = ""
            if not chunk:
                if self.virsh("domstate", DOMAIN,
                              check=False).stdout.strip() != "running":
                    return False
                time.sleep(0.2)
                continue
            lines = (partial + chunk).split("\n")
            partial = lines.pop()
            for line in lines:
                if self.serial_line(line.rstrip("\r")):
                    return True
        return False

    def serial_line(self, line):
        self.serial.append(line)
        if line.startswith(("PASS: ", "FAIL: ")):
            self.results.append((line.startswith("PASS"), line[6:]))
        elif line.startswith("READY: hostfwd"):
            self.check_hostfwd()
        elif line.startswith("READY: hotplug"):
            self.check_libvirt()
            self.hotplug()
        elif line.startswith("READY: unplug"):
            self.unplug()
        elif line.startswith("READY: stats"):
            self.stats, _ = self.qmp("query-vhost-dp")
        return line.startswith("DONE: ")

    # --- libvirt's view, and hotplug --------------------------------------

    def check_libvirt(self):
        nd = "hostnet0" if self.build else "dpnet0"
        st, err = self.qmp("query-vhost-dp", check=False)
        q = [q for s in st or [] if s["id"] == nd for q in s["queues"]]
        ok = bool(q) and q[0]["iothread"] == "iothread1" and \
            q[0]["rx-packets"] > 0 and q[0]["tx-packets"] > 0
        self.host(ok, f"virsh qemu-monitor-command query-vhost-dp: {nd} " +
                  (f"on {q[0]['iothread']}, {q[0]['tx-packets']} frames "
                   f"out, {q[0]['rx-packets']} in" if q else
                   f"missing {err or st}"))

        r = self.virsh("iothreadinfo", DOMAIN, check=False)
        rows = [ln.split()[0] for ln in r.stdout.splitlines()[2:]
                if ln.strip()]
        self.host(r.returncode == 0 and rows == ["1"],
                  f"virsh iothreadinfo: IOThreads {rows}")
        if not self.libvirtd_alive("iothreadinfo"):
            return
        r = self.virsh("domstats", "--iothread", DOMAIN, check=False)
        self.host(r.returncode == 0 and "iothread.count=1" in r.stdout,
                  "virsh domstats --iothread: " +
                  ("iothread.count=1" if "iothread.count=1" in r.stdout
                   else r.stdout.strip()))
        if not self.libvirtd_alive("domstats --iothread"):
            return
        self.iothreaddel_refused(1)
        if self.build:
            self.check_interface()

    def iothreaddel_refused(self, n):
        r = self.virsh("iothreaddel", DOMAIN, str(n), "--live", check=False)
        io, _ = self.qmp("query-iothreads", check=False)
        still = any(t["id"] == f"iothread{n}" for t in io or [])
        # QEMU refuses it ("in use"), and the patched libvirt before it
        # ("being used by interface")
        refused = "in use" in r.stdout or (
            self.build and "being used by interface" in r.stdout)
        self.host(r.returncode != 0 and refused and still,
                  f"virsh iothreaddel {n} of the IOThread in use: " +
                  (r.stdout.strip().splitlines()[-1] if r.returncode
                   else "it succeeded") +
                  ("" if still else "; the IOThread is gone"))

    def hotplug(self):
        if self.build:
            return self.hotplug_patched()
        steps = [
            ("virsh iothreadadd 2", lambda: self.virsh(
                "iothreadadd", DOMAIN, "2", "--live")),
            ("object-add", lambda: self.qmp(
                "object-add", **{"qom-type": "vhost-dp-slirp",
                                 "id": "dpdrv1", "net": "10.0.3.0/24"})),
            ("netdev_add", lambda: self.qmp(
                "netdev_add", type="vhostdp", id="dpnet1", driver="dpdrv1",
                iothread="iothread2")),
            ("device_add", lambda: self.qmp(
                "device_add", driver="virtio-net-pci", id="dpnic1",
                netdev="dpnet1", addr="0xa")),
        ]
        for what, step in steps:
            try:
                step()
            except RuntimeError as e:
                self.host(False, f"hotplug: {what}: {e}")
                return
        self.host(True, "hotplug through libvirt: iothreadadd, object-add, "
                        "netdev_add, device_add")
        self.iothreaddel_refused(2)

    def unplug(self):
        if self.build:
            return self.unplug_patched()
        st, _ = self.qmp("query-vhost-dp", check=False)
        q = [q for s in st or [] if s["id"] == "dpnet1" for q in s["queues"]]
        self.host(bool(q) and q[0]["rx-packets"] > 0 and
                  q[0]["iothread"] == "iothread2",
                  "the hotplugged netdev dpnet1 carried the guest's "
                  "traffic: " + (f"{q[0]['rx-packets']} frames in on "
                                 f"{q[0]['iothread']}" if q else "missing"))
        try:
            self.qmp("device_del", id="dpnic1")
            # DEVICE_DELETED: the device leaves /machine/peripheral once
            # the guest has ejected it
            end = time.time() + 60
            while any(p["name"] == "dpnic1" for p in self.qmp(
                    "qom-list", path="/machine/peripheral")[0]):
                if time.time() > end:
                    raise RuntimeError("dpnic1 not deleted within 60 s")
                time.sleep(0.2)
            self.qmp("netdev_del", id="dpnet1")
            self.qmp("object-del", id="dpdrv1")
            self.virsh("iothreaddel", DOMAIN, "2", "--live")
        except RuntimeError as e:
            self.host(False, f"unplug: {e}")
            return
        r = self.virsh("iothreadinfo", DOMAIN, check=False)
        rows = [ln.split()[0] for ln in r.stdout.splitlines()[2:]
                if ln.strip()]
        self.host(rows == ["1"], "unplug: device_del, netdev_del, "
                                 "object-del, virsh iothreaddel 2; "
                                 f"IOThreads left {rows}")

    # --- the patched libvirt: the interface is libvirt's ----------------

    def iflist(self):
        """virsh domiflist as {MAC: (interface, type, model)}"""
        r = self.virsh("domiflist", DOMAIN, check=False)
        rows = {}
        for ln in r.stdout.splitlines()[2:]:
            f = ln.split()
            if len(f) == 5:
                rows[f[4]] = (f[0], f[1], f[3])
        return rows

    def alias_of(self, mac):
        dom = ET.fromstring(self.virsh("dumpxml", DOMAIN).stdout)
        for iface in dom.iter("interface"):
            if iface.find("mac").get("address") == mac:
                return iface.find("alias").get("name")
        return None

    def vhostdp_stats(self, netdev):
        """query-vhost-dp of one netdev: (sums, queues), or None"""
        st, _ = self.qmp("query-vhost-dp", check=False)
        for s in st or []:
            if s["id"] == netdev:
                sums = {k: sum(q[k] for q in s["queues"]) for k in
                        ("rx-packets", "tx-packets", "rx-bytes", "tx-bytes")}
                return sums, s
        return None, None

    def objects(self):
        objs, _ = self.qmp("qom-list", check=False, path="/objects")
        return {o["name"]: o["type"] for o in objs or []}

    def check_interface(self):
        mac = "52:54:00:56:00:01"
        rows = self.iflist()
        self.host(rows.get(mac, (0, 0, 0))[1:] == ("user", "virtio"),
                  f"virsh domiflist: {mac} " +
                  (" ".join(rows[mac]) if mac in rows else f"missing {rows}"))
        xml = self.virsh("dumpxml", DOMAIN).stdout
        self.host("<driver name='vhostdp' iothread='1'/>" in xml,
                  "virsh dumpxml: <driver name='vhostdp' iothread='1'/>")
        before, _ = self.vhostdp_stats("hostnet0")
        r = self.virsh("domifstat", DOMAIN, mac, check=False)
        after, _ = self.vhostdp_stats("hostnet0")
        got = {}
        for ln in r.stdout.splitlines():
            f = ln.split()
            if len(f) == 3:
                got[f[1]] = int(f[2])
        ok = r.returncode == 0 and before and after and all(
            before[k] <= got.get(k.replace("-packets", "_packets")
                                 .replace("-bytes", "_bytes"), -1) <= after[k]
            for k in before) and got.get("rx_packets", 0) > 0
        self.host(ok, "virsh domifstat from query-vhost-dp: " +
                  (f"rx {got.get('rx_packets')} frames "
                   f"{got.get('rx_bytes')} bytes, tx {got.get('tx_packets')} "
                   f"frames {got.get('tx_bytes')} bytes" if ok else
                   f"{r.stdout.strip()} against {before} .. {after}"))

    def hotplug_patched(self):
        nic = os.path.join(self.work, "nic1.xml")
        with open(nic, "w") as f:
            f.write("<interface type='user'>\n"
                    "  <mac address='52:54:00:56:00:02'/>\n"
                    "  <ip address='10.0.3.0' family='ipv4' prefix='24'/>\n"
                    "  <model type='virtio'/>\n"
                    "  <driver name='vhostdp' iothread='2'/>\n"
                    "</interface>\n")
        try:
            self.virsh("iothreadadd", DOMAIN, "2", "--live")
            self.virsh("attach-device", DOMAIN, nic, "--live")
        except RuntimeError as e:
            self.host(False, f"hotplug: {e}")
            return
        alias = self.alias_of("52:54:00:56:00:02")
        objs = self.objects()
        self.host(objs.get(f"vhostdp-{alias}") == "child<vhost-dp-slirp>",
                  "virsh iothreadadd 2, attach-device of a vhostdp "
                  f"type='user' NIC: {alias}, driver object "
                  f"vhostdp-{alias} {objs.get(f'vhostdp-{alias}')}")
        self.iothreaddel_refused(2)

    def tap_cycle(self):
        """virsh attach-interface of a TAP with --driver vhostdp, and its
        detach-interface"""
        tap = f"vdplv{os.getpid() % 100000}"
        mac = "52:54:00:56:00:03"
        rg.sh(f"ip tuntap add {tap} mode tap")
        self.cleanups.append(lambda: rg.sh(f"ip link del {tap}", check=False))
        rg.sh(f"ip link set {tap} up")
        r = self.virsh("attach-interface", DOMAIN, "ethernet", tap,
                       "--model", "virtio", "--mac", mac, "--driver",
                       "vhostdp", "--iothread", "2", "--live", check=False)
        alias = self.alias_of(mac) if r.returncode == 0 else None
        rows = self.iflist()
        _, st = self.vhostdp_stats(f"host{alias}")
        objs = self.objects()
        ok = (alias and rows.get(mac, (0,))[0] == tap and st and
              st["driver"] == f"vhostdp-{alias}" and
              st["queues"][0]["iothread"] == "iothread2" and
              objs.get(f"vhostdp-{alias}") == "child<vhost-dp-tap>")
        self.host(ok, f"virsh attach-interface ethernet {tap} --driver "
                      "vhostdp --iothread 2: " +
                  (f"{alias} in domiflist on {tap}, netdev host{alias} on "
                   "iothread2, driver object vhost-dp-tap" if ok else
                   f"{r.stdout.strip()}; rows {rows}; stats {st}"))
        if not alias:
            return
        r = self.virsh("domifstat", DOMAIN, tap, check=False)
        self.host(r.returncode == 0 and "rx_bytes" in r.stdout,
                  f"virsh domifstat {tap}: the TAP's counters" +
                  ("" if r.returncode == 0 else f": {r.stdout.strip()}"))
        self.detach("ethernet", mac, alias)

    def detach(self, type_, mac, alias):
        r = self.virsh("detach-interface", DOMAIN, type_, "--mac", mac,
                       "--live", check=False)
        end = time.time() + 60
        while mac in self.iflist() and time.time() < end:
            time.sleep(0.2)
        gone_if = mac not in self.iflist()
        gone_nd = self.vhostdp_stats(f"host{alias}")[1] is None
        gone_obj = f"vhostdp-{alias}" not in self.objects()
        self.host(r.returncode == 0 and gone_if and gone_nd and gone_obj,
                  f"virsh detach-interface {type_} --mac {mac}: " +
                  ("interface, netdev and driver object gone" if gone_if and
                   gone_nd and gone_obj else
                   f"{r.stdout.strip()}; interface gone {gone_if}, netdev "
                   f"gone {gone_nd}, driver object gone {gone_obj}"))

    def unplug_patched(self):
        mac = "52:54:00:56:00:02"
        alias = self.alias_of(mac)
        sums, st = self.vhostdp_stats(f"host{alias}")
        self.host(bool(st) and sums["rx-packets"] > 0 and
                  st["queues"][0]["iothread"] == "iothread2",
                  f"the hotplugged netdev host{alias} carried the guest's "
                  "traffic: " + (f"{sums['rx-packets']} frames in on "
                                 f"{st['queues'][0]['iothread']}" if st
                                 else "missing"))
        self.tap_cycle()
        self.detach("user", mac, alias)
        r = self.virsh("iothreaddel", DOMAIN, "2", "--live", check=False)
        r2 = self.virsh("iothreadinfo", DOMAIN, check=False)
        rows = [ln.split()[0] for ln in r2.stdout.splitlines()[2:]
                if ln.strip()]
        self.host(r.returncode == 0 and rows == ["1"],
                  "virsh iothreaddel 2 once no interface uses it: "
                  f"IOThreads left {rows}" +
                  ("" if r.returncode == 0 else f": {r.stdout.strip()}"))

    def report(self):
        failed = super().report()
        log = os.path.join(self.work, "root", "var", "log", "libvirt",
                           "qemu", DOMAIN + ".log")
        if failed and os.path.exists(log):
            print(f"\n--- libvirt: QEMU's log tail ({log}) ---")
            for line in open(log, errors="replace").read().splitlines()[-15:]:
                print("  " + line)
        return failed

    def cleanup(self):
        super().cleanup()
        self.stop_daemons()
        for d in reversed(self.mounted):
            rg.sh(f"umount -l {d}", check=False)
        for d in reversed(self.made_dirs):
            try:
                os.rmdir(d)
            except OSError:
                pass


def main():
    if os.geteuid() == 0 and not os.environ.get("VDP_LIBVIRT_NS"):
        # Our own mount namespace, for the private libvirt directories.
        # In a chroot whose root is not a mount point, unshare cannot
        # make / private: the mounts then keep their propagation, which
        # is private unless systemd (or "ip netns") shared them.
        os.environ["VDP_LIBVIRT_NS"] = "1"
        prop = "private"
        if subprocess.run(["unshare", "--mount", "--propagation", prop,
                           "true"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode:
            prop = "unchanged"
        os.execvp("unshare", ["unshare", "--mount", "--propagation", prop,
                              sys.executable] + sys.argv)
    build = None
    if "--libvirt-build" in sys.argv:
        build = os.path.abspath(sys.argv[sys.argv.index("--libvirt-build")
                                         + 1])
    return rg.run_guest(LibvirtGuest("--demo" in sys.argv, 240, build))


if __name__ == "__main__":
    sys.exit(main())
