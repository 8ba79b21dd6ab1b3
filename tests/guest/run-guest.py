#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Boot the test guest (tests/guest/build-image.sh) on a network backend and
# check it from both sides.
#
#   run-guest.py slirp      -netdev vhostdp with -object vhost-dp-slirp:
#                           DHCP, ping, an HTTP download from the host with
#                           its checksum, a host-to-guest connection through
#                           hostfwd, iperf3 through slirp
#   run-guest.py tap        -netdev vhostdp with -object vhost-dp-tap (root):
#                           the TAP's host side in a network namespace made
#                           here, with a DHCP server; ping both ways, iperf3
#                           both ways
#   run-guest.py qemu-tap   the same over QEMU's own -netdev tap,vhost=off
#   run-guest.py iommu      the slirp checks on a q35 machine with an Intel
#                           vIOMMU that the guest uses (intel_iommu=on,
#                           strict): every address the device is given
#                           is an IOVA the dataplane translates
#   run-guest.py iommu-ats  the same with ATS: the device IOTLB's
#                           invalidations reach the dataplane instead
#   run-guest.py migrate    vhostdp + vhost-dp-tap (root), live migration:
#                           the guest downloads a file while it moves to a
#                           second QEMU whose TAP is on the same bridge in
#                           the namespace; the file's checksum tells that
#                           no page the dataplane wrote was lost, and the
#                           guest stays reachable on the destination
#   run-guest.py rss        vhostdp + vhost-dp-tap with 4 queue pairs and
#                           virtio-net's RSS (rss=on, root): the guest sets
#                           its indirection table with ethtool -X, the host
#                           sends datagrams of many flows into the TAP, and
#                           the guest's per-queue counters show them where
#                           the table says (all on queue 2, then spread);
#                           with hash reporting (hash=on), which the guest
#                           checks it negotiated
#
# --packed: each with packed virtqueues (virtio-net-pci,packed=on), which
# the guest checks it negotiated; the lines then say "<mode>-packed".
#
# Prints "PASS: <mode>: ..." / "FAIL: <mode>: ..." lines, a summary, and
# exits non-zero on any failure, with the tail of the serial log.

import argparse
import hashlib
import http.server
import json
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BUILD = os.path.join(REPO, "build")
# The QEMU to run (VDP_QEMU: the dev base's, say), and what to prefix
# the result lines with (VDP_LABEL)
QEMU = os.environ.get("VDP_QEMU") or os.path.join(BUILD, "qemu-system-x86_64")
LABEL = os.environ.get("VDP_LABEL", "")
TAP_NET = "192.168.77"
# the RSS run: queue pairs, and flows the host sends per table
RSS_QUEUES = 4
RSS_FLOWS = 400


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Qmp:
    def __init__(self, path, timeout=10):
        end = time.time() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(path)
                break
            except OSError:
                if time.time() > end:
                    raise
                time.sleep(0.05)
        self.f = self.sock.makefile("rw")
        self.f.readline()
        self.cmd("qmp_capabilities")

    def cmd(self, name, **args):
        self.f.write(json.dumps({"execute": name, "arguments": args}) + "\n")
        self.f.flush()
        while True:
            line = self.f.readline()
            if not line:
                raise EOFError("QMP closed")
            msg = json.loads(line)
            if "return" in msg:
                return msg["return"]
            if "error" in msg:
                raise RuntimeError(msg["error"]["desc"])


def sh(cmd, check=True, **kw):
    r = subprocess.run(cmd, shell=True, text=True, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, **kw)
    if check and r.returncode:
        raise RuntimeError(f"{cmd}: exit {r.returncode}: {r.stdout.strip()}")
    return r


class Guest:
    def __init__(self, mode, demo, timeout, packed=False):
        self.mode = mode
        self.packed = packed
        self.name = mode + ("-packed" if packed else "")
        # the guest on vhost-dp-slirp; otherwise on a TAP in a namespace
        self.slirp = mode in ("slirp", "iommu", "iommu-ats")
        self.demo = demo
        self.timeout = timeout
        self.work = os.path.join(BUILD, "guest-run", self.name)
        shutil.rmtree(self.work, ignore_errors=True)
        os.makedirs(self.work)
        self.serial = []
        self.results = []
        self.host_results = []
        self.stats = None
        self.cleanups = []
        self.guest_ip = None

    def host(self, ok, text):
        self.host_results.append((ok, text))

    # --- backends -------------------------------------------------------

    def setup_slirp(self):
        blob = secrets.token_bytes(4 << 20)
        self.sha = hashlib.sha256(blob).hexdigest()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(blob)))
                self.end_headers()
                self.wfile.write(blob)

            def log_message(self, *args):
                pass

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        self.cleanups.append(httpd.shutdown)
        self.fwd_port = free_port()
        self.token = secrets.token_hex(8)
        iperf_port = free_port()
        iperf = subprocess.Popen(["iperf3", "-s", "-B", "127.0.0.1", "-p",
                                  str(iperf_port)], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        self.cleanups.append(iperf.kill)
        self.netdev = [
            "-object", "iothread,id=io0",
            "-object", "vhost-dp-slirp,id=drv0,"
                       f"hostfwd=tcp:127.0.0.1:{self.fwd_port}-:8080",
            "-netdev", "vhostdp,id=vd0,driver=drv0,iothread=io0",
        ]
        self.cmdline = (f"vdp.http=10.0.2.2:{httpd.server_port}/blob "
                        f"vdp.sha={self.sha} vdp.fwd=8080 "
                        f"vdp.token={self.token} vdp.iperf=10.0.2.2 "
                        f"vdp.iperfport={iperf_port}")

    def setup_tap(self):
        if os.geteuid() != 0 or not os.access("/dev/net/tun", os.W_OK):
            raise SkipTest("TAP needs root and /dev/net/tun")
        pid = os.getpid()
        self.ns = f"vdp-{self.mode}-{pid}"
        suffix = {"tap": "", "migrate": "m", "rss": "r"}.get(self.mode, "q")
        self.ifname = f"vdg{pid % 100000}{suffix}"
        sh(f"ip netns add {self.ns}")
        self.cleanups.append(lambda: sh(f"ip netns del {self.ns}",
                                        check=False))
        if self.mode in ("tap", "migrate"):
            self.netdev = self.dp_tap_netdev(self.ifname)
        elif self.mode == "rss":
            self.netdev = self.dp_tap_netdev(self.ifname, RSS_QUEUES)
        else:
            self.netdev = [
                "-netdev", f"tap,id=vd0,ifname={self.ifname},script=no,"
                           "downscript=no,vhost=off",
            ]
        self.cmdline = (f"vdp.ping={TAP_NET}.1 vdp.iperf={TAP_NET}.1 "
                        f"vdp.iperfport=5201 vdp.waitpeer=4")
        if self.mode == "rss":
            # iperf3 too: TCP both ways with the hash report's headers
            self.cmdline += (f" vdp.rss={RSS_QUEUES} "
                             f"vdp.rssflows={RSS_FLOWS}")
        if self.mode == "migrate":
            self.ifname_dst = self.ifname + "d"
            self.blob_size = 96 << 20
            blob = os.path.join(self.work, "www", "blob")
            os.makedirs(os.path.dirname(blob))
            h = hashlib.sha256()
            with open(blob, "wb") as f:
                for _ in range(self.blob_size >> 20):
                    chunk = secrets.token_bytes(1 << 20)
                    h.update(chunk)
                    f.write(chunk)
            self.cmdline = (f"vdp.ping={TAP_NET}.1 "
                            f"vdp.migrate={TAP_NET}.1:8000/blob "
                            f"vdp.msha={h.hexdigest()} vdp.waitpeer=4")

    @staticmethod
    def dp_tap_netdev(ifname, queues=1):
        return ["-object", "iothread,id=io0",
                "-object", f"vhost-dp-tap,id=drv0,ifname={ifname},"
                           f"queues={queues}",
                "-netdev", f"vhostdp,id=vd0,driver=drv0,iothread=io0,"
                           f"queues={queues}"]

    def tap_host_side(self):
        """Move the TAP QEMU made into our namespace and serve it there."""
        # nsenter, not "ip netns exec": that needs / to be a mount point
        ns = f"nsenter --net=/run/netns/{self.ns}"
        sh(f"{ns} ip link set lo up")
        if self.mode == "migrate":
            # both QEMUs' TAPs on one bridge, as on two hosts of a LAN
            link = "vdpbr0"
            sh(f"{ns} ip link add {link} type bridge")
            for tap in (self.ifname, self.ifname_dst):
                sh(f"ip link set {tap} netns {self.ns}")
                sh(f"{ns} ip link set {tap} master {link} up")
        else:
            link = self.ifname
            sh(f"ip link set {self.ifname} netns {self.ns}")
        sh(f"{ns} ip addr add {TAP_NET}.1/24 dev {link}")
        sh(f"{ns} ip link set {link} up")
        conf = os.path.join(self.work, "udhcpd.conf")
        with open(conf, "w") as f:
            f.write(f"start {TAP_NET}.10\nend {TAP_NET}.20\n"
                    f"interface {link}\n"
                    f"lease_file {self.work}/leases\n"
                    f"option subnet 255.255.255.0\n"
                    f"option router {TAP_NET}.1\n")
        open(os.path.join(self.work, "leases"), "w").close()
        busybox = os.path.join(BUILD, "guest", "busybox")
        cmds = [[busybox, "udhcpd", "-f", conf],
                ["iperf3", "-s", "-B", f"{TAP_NET}.1", "-p", "5201"]]
        if self.mode == "migrate":
            cmds.append(["/usr/bin/python3", "-m", "http.server", "-b",
                         f"{TAP_NET}.1", "-d",
                         os.path.join(self.work, "www"), "8000"])
        for cmd in cmds:
            p = subprocess.Popen(["nsenter", f"--net=/run/netns/{self.ns}"] +
                                 cmd,
                                 stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            self.cleanups.append(p.kill)

    # --- the run ----------------------------------------------------------

    def qemu_args(self, img, qmp_path, netdev):
        machine, nic, append = ["-M", "pc"], "", ""
        if self.mode.startswith("iommu"):
            ats = self.mode == "iommu-ats"
            machine = ["-M", "q35", "-device", "intel-iommu,intremap=off" +
                       (",device-iotlb=on" if ats else "")]
            nic = ",iommu_platform=on,disable-legacy=on" + \
                  (",ats=on" if ats else "")
            append = " intel_iommu=on iommu.strict=1 vdp.iommu=1"
        if self.packed:
            nic += ",packed=on"
            append += " vdp.packed=1"
        if self.mode == "rss":
            # with the hash of each frame in its header (20-byte headers)
            nic += f",mq=on,rss=on,hash=on,vectors={2 * RSS_QUEUES + 2}"
            append += " vdp.hash=1"
            # as many vCPUs as queue pairs: Linux 6.1's driver sends the
            # queue pair count it had at probe (one per vCPU) with every
            # RSS table, after ethtool -L too, and virtio-net obeys it
            machine += ["-smp", str(RSS_QUEUES)]
        # KVM where it works (VDP_ACCEL=kvm); TCG by default
        return [QEMU] + machine + [
                "-accel", self.accel, "-m", "256", "-nodefaults",
                "-display", "none", "-no-reboot", "-serial", "stdio",
                "-qmp", f"unix:{qmp_path},server=on,wait=off",
                "-kernel", os.path.join(img, "vmlinuz"),
                "-initrd", os.path.join(img, "initrd.gz"),
                "-append", "console=ttyS0 quiet panic=-1 " + self.cmdline +
                append,
                "-device", f"virtio-net-pci,netdev=vd0,romfile={nic}"
                ] + netdev

    def start_qemu(self, args, qmp_path, name):
        with open(os.path.join(self.work, name + ".cmdline"), "w") as f:
            f.write(" ".join(args) + "\n")
        p = subprocess.Popen(args, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.cleanups.append(p.kill)
        try:
            return p, Qmp(qmp_path)
        except OSError:
            p.kill()
            out = p.stdout.read()
            raise RuntimeError(f"QEMU ({name}) did not start: " +
                               out.strip()[-2000:])

    def run(self):
        img = subprocess.run([os.path.join(REPO, "tests/guest/build-image.sh")],
                             check=True, text=True, stdout=subprocess.PIPE
                             ).stdout.strip().splitlines()[-1]
        if self.slirp:
            self.setup_slirp()
        else:
            self.setup_tap()
        self.accel = os.environ.get("VDP_ACCEL", "tcg")
        qmp_path = os.path.join(self.work, "qmp.sock")
        args = self.qemu_args(img, qmp_path, self.netdev)
        if not self.slirp:
            args.append("-S")
        self.t0 = time.time()
        self.qemu, qmp = self.start_qemu(args, qmp_path, "qemu")
        qemus = [self.qemu]
        if self.mode == "migrate":
            dqmp_path = os.path.join(self.work, "qmp-dst.sock")
            mig = os.path.join(self.work, "migration.sock")
            dst, dqmp = self.start_qemu(
                self.qemu_args(img, dqmp_path,
                               self.dp_tap_netdev(self.ifname_dst)) +
                ["-incoming", f"unix:{mig}"], dqmp_path, "qemu-dst")
            qemus.append(dst)
        if not self.slirp:
            self.tap_host_side()
            qmp.cmd("cont")

        timer = threading.Timer(self.timeout,
                                lambda: [q.kill() for q in qemus])
        timer.start()
        self.cleanups.append(timer.cancel)
        log = open(os.path.join(self.work, "serial.log"), "w")
        if self.mode == "migrate":
            if self.read_serial(self.qemu, qmp, log, "READY: migrate"):
                self.migrate(qmp, mig)
            self.qemu, qmp = dst, dqmp
        done = self.read_serial(self.qemu, qmp, log, "DONE: ")
        self.boot_time = time.time() - self.t0
        for q in qemus:
            try:
                q.wait(timeout=10)
            except subprocess.TimeoutExpired:
                q.kill()
        if not done:
            self.host(False, f"the guest did not finish within "
                             f"{self.timeout} s (exit {self.qemu.returncode})")
        if self.mode != "qemu-tap" and self.stats is None:
            self.host(False, "no statistics from query-vhost-dp")
        if self.mode == "migrate" and done:
            # the download's result came from the destination, so it was
            # still running when the guest moved; and it flowed there
            rx = sum(q["rx-bytes"] for st in self.stats or []
                     for q in st["queues"])
            ok = any(t.startswith("download across migration")
                     for _, t in self.results) and rx > (8 << 20)
            self.host(ok, f"the download went on on the destination: "
                          f"{rx >> 20} MiB received there")

    def read_serial(self, qemu, qmp, log, until):
        """Follow the serial console up to a line starting with @until."""
        for line in qemu.stdout:
            line = line.rstrip("\r\n")
            log.write(line + "\n")
            log.flush()
            self.serial.append(line)
            if line.startswith(("PASS: ", "FAIL: ")):
                self.results.append((line.startswith("PASS"), line[6:]))
                if line.startswith("PASS: dhcp lease"):
                    self.guest_ip = line.split()[3]
            elif line.startswith("READY: hostfwd"):
                self.check_hostfwd()
            elif line.startswith("READY: rss"):
                self.send_flows()
            elif line.startswith("READY: stats"):
                if not self.slirp and self.guest_ip:
                    self.ping_guest()
                if self.mode != "qemu-tap":
                    self.stats = qmp.cmd("query-vhost-dp")
            if line.startswith(until):
                if until == "DONE: ":
                    try:
                        qmp.cmd("quit")
                    except (EOFError, OSError):
                        pass
                return True
        return False

    def migrate(self, qmp, path):
        """Live-migrate the guest to the QEMU waiting on @path."""
        time.sleep(0.5)     # let the guest's download get going
        qmp.cmd("migrate", uri=f"unix:{path}")
        end = time.time() + 120
        while True:
            st = qmp.cmd("query-migrate")
            status = st.get("status")
            if status in ("completed", "failed", "cancelled"):
                break
            if time.time() > end:
                status = "not done after 120 s"
                break
            time.sleep(0.05)
        ram = st.get("ram", {})
        self.host(status == "completed",
                  f"live migration {status}: {st.get('total-time', '?')} ms, "
                  f"downtime {st.get('downtime', '?')} ms, "
                  f"{ram.get('transferred', 0) >> 20} MiB sent, "
                  f"{ram.get('dirty-sync-count', '?')} dirty syncs")
        try:
            qmp.cmd("quit")
        except (EOFError, OSError):
            pass

    def check_hostfwd(self):
        # the guest may not listen yet: slirp then resets the connection
        end = time.time() + 30
        err = None
        while time.time() < end:
            try:
                with socket.create_connection(("127.0.0.1", self.fwd_port),
                                              timeout=20) as s:
                    s.sendall(self.token.encode())
                    s.shutdown(socket.SHUT_WR)
                    reply = b""
                    while True:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        reply += chunk
                if not reply:
                    raise ConnectionResetError("empty reply")
                ok = reply.decode().strip() == self.token + "-reply"
                self.host(ok, f"hostfwd 127.0.0.1:{self.fwd_port} -> "
                              f"guest:8080 "
                              f"{'answered' if ok else 'bad reply %r' % reply}")
                return
            except OSError as e:
                err = e
                time.sleep(0.2)
        self.host(False, f"hostfwd connection: {err}")

    def send_flows(self):
        """RSS_FLOWS UDP datagrams to the guest from the TAP's side, each
        from a source port of its own: one flow each"""
        script = ("import socket\n"
                  f"for i in range({RSS_FLOWS}):\n"
                  "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                  f"    s.bind(('{TAP_NET}.1', 20000 + i))\n"
                  f"    s.sendto(b'x' * 64, ('{self.guest_ip}', 9))\n"
                  "    s.close()\n")
        r = sh(f"nsenter --net=/run/netns/{self.ns} /usr/bin/python3 -c "
               f"{shlex.quote(script)}", check=False)
        if r.returncode:
            self.host(False, f"sending the RSS flows: {r.stdout.strip()}")

    def ping_guest(self):
        busybox = os.path.join(BUILD, "guest", "busybox")
        r = sh(f"nsenter --net=/run/netns/{self.ns} {busybox} ping -c 5 "
               f"-i 0.2 -W 3 {self.guest_ip}", check=False)
        last = r.stdout.strip().splitlines()[-1] if r.stdout else ""
        self.host(r.returncode == 0, f"host pings guest {self.guest_ip}: "
                                     f"{last}")

    def cleanup(self):
        for c in reversed(self.cleanups):
            try:
                c()
            except Exception:
                pass

    def report(self):
        failed = 0
        for ok, text in self.results + self.host_results:
            print(f"{'PASS' if ok else 'FAIL'}: {LABEL}{self.name}: {text}")
            failed += not ok
        if not self.results and not failed:
            print(f"FAIL: {LABEL}{self.name}: the guest reported nothing")
            failed += 1
        if (self.demo or failed) and self.boot_time:
            print(f"\n{self.name}: guest run of {self.boot_time:.1f} s "
                  f"({getattr(self, 'accel', '?')})")
            for st in self.stats or []:
                for q in st["queues"]:
                    print(f"  netdev {st['id']} queue {q['queue']} "
                          f"({q['iothread']}): "
                          f"tx {q['tx-packets']} pkts {q['tx-bytes']} B, "
                          f"rx {q['rx-packets']} pkts {q['rx-bytes']} B, "
                          f"drops {q['tx-drops']}/{q['rx-drops']}, "
                          f"kicks {q['kicks']}, irqs {q['interrupts']}, "
                          f"ring errors {q['ring-errors']}")
        if failed and self.serial:
            print(f"\n--- {self.name}: serial log tail "
                  f"({self.work}/serial.log) ---")
            for line in self.serial[-30:]:
                print("  " + line)
        return failed


class SkipTest(Exception):
    pass


def run_guest(g):
    """Run @g, clean up after it and print its results; the exit status"""
    try:
        g.run()
    except SkipTest as e:
        print(f"SKIP: {LABEL}{g.name}: {e}")
        return 0
    except Exception as e:
        import traceback
        traceback.print_exc()
        g.host(False, f"{type(e).__name__}: {e}")
        g.boot_time = 0
    finally:
        g.cleanup()
    return 1 if g.report() else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["slirp", "iommu", "iommu-ats", "tap",
                                     "qemu-tap", "migrate", "rss"])
    ap.add_argument("--demo", action="store_true")
    ap.add_argument("--packed", action="store_true")
    ap.add_argument("--timeout", type=int, default=180)
    a = ap.parse_args()
    return run_guest(Guest(a.mode, a.demo, a.timeout, a.packed))


if __name__ == "__main__":
    sys.exit(main())
