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
#
# Prints "PASS: <mode>: ..." / "FAIL: <mode>: ..." lines, a summary, and
# exits non-zero on any failure, with the tail of the serial log.

import argparse
import hashlib
import http.server
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BUILD = os.path.join(REPO, "build")
TAP_NET = "192.168.77"


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
    def __init__(self, mode, demo, timeout):
        self.mode = mode
        self.demo = demo
        self.timeout = timeout
        self.work = os.path.join(BUILD, "guest-run", mode)
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
        self.ifname = f"vdg{pid % 100000}{'q' if self.mode == 'qemu-tap' else ''}"
        sh(f"ip netns add {self.ns}")
        self.cleanups.append(lambda: sh(f"ip netns del {self.ns}",
                                        check=False))
        if self.mode == "tap":
            self.netdev = [
                "-object", "iothread,id=io0",
                "-object", f"vhost-dp-tap,id=drv0,ifname={self.ifname}",
                "-netdev", "vhostdp,id=vd0,driver=drv0,iothread=io0",
            ]
        else:
            self.netdev = [
                "-netdev", f"tap,id=vd0,ifname={self.ifname},script=no,"
                           "downscript=no,vhost=off",
            ]
        self.cmdline = (f"vdp.ping={TAP_NET}.1 vdp.iperf={TAP_NET}.1 "
                        f"vdp.iperfport=5201 vdp.waitpeer=4")

    def tap_host_side(self):
        """Move the TAP QEMU made into our namespace and serve it there."""
        # nsenter, not "ip netns exec": that needs / to be a mount point
        ns = f"nsenter --net=/run/netns/{self.ns}"
        sh(f"ip link set {self.ifname} netns {self.ns}")
        sh(f"{ns} ip link set lo up")
        sh(f"{ns} ip addr add {TAP_NET}.1/24 dev {self.ifname}")
        sh(f"{ns} ip link set {self.ifname} up")
        conf = os.path.join(self.work, "udhcpd.conf")
        with open(conf, "w") as f:
            f.write(f"start {TAP_NET}.10\nend {TAP_NET}.20\n"
                    f"interface {self.ifname}\n"
                    f"lease_file {self.work}/leases\n"
                    f"option subnet 255.255.255.0\n"
                    f"option router {TAP_NET}.1\n")
        open(os.path.join(self.work, "leases"), "w").close()
        busybox = os.path.join(BUILD, "guest", "busybox")
        for cmd in ([busybox, "udhcpd", "-f", conf],
                    ["iperf3", "-s", "-B", f"{TAP_NET}.1", "-p", "5201"]):
            p = subprocess.Popen(["nsenter", f"--net=/run/netns/{self.ns}"] +
                                 cmd,
                                 stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            self.cleanups.append(p.kill)

    # --- the run ----------------------------------------------------------

    def run(self):
        img = subprocess.run([os.path.join(REPO, "tests/guest/build-image.sh")],
                             check=True, text=True, stdout=subprocess.PIPE
                             ).stdout.strip().splitlines()[-1]
        if self.mode == "slirp":
            self.setup_slirp()
        else:
            self.setup_tap()
        qmp_path = os.path.join(self.work, "qmp.sock")
        # KVM where it works (VDP_ACCEL=kvm); TCG by default
        accel = os.environ.get("VDP_ACCEL", "tcg")
        self.accel = accel
        args = [os.path.join(BUILD, "qemu-system-x86_64"),
                "-M", "pc", "-accel", accel, "-m", "256", "-nodefaults",
                "-display", "none", "-no-reboot", "-serial", "stdio",
                "-qmp", f"unix:{qmp_path},server=on,wait=off",
                "-kernel", os.path.join(img, "vmlinuz"),
                "-initrd", os.path.join(img, "initrd.gz"),
                "-append", "console=ttyS0 quiet panic=-1 " + self.cmdline,
                "-device", "virtio-net-pci,netdev=vd0,romfile="] + self.netdev
        if self.mode != "slirp":
            args.append("-S")
        with open(os.path.join(self.work, "cmdline"), "w") as f:
            f.write(" ".join(args) + "\n")
        self.t0 = time.time()
        self.qemu = subprocess.Popen(args, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True,
                                     bufsize=1)
        self.cleanups.append(self.qemu.kill)
        try:
            qmp = Qmp(qmp_path)
        except OSError:
            self.qemu.kill()
            out = self.qemu.stdout.read()
            raise RuntimeError("QEMU did not start: " + out.strip()[-2000:])
        if self.mode != "slirp":
            self.tap_host_side()
            qmp.cmd("cont")

        timer = threading.Timer(self.timeout, self.qemu.kill)
        timer.start()
        self.cleanups.append(timer.cancel)
        done = False
        log = open(os.path.join(self.work, "serial.log"), "w")
        for line in self.qemu.stdout:
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
            elif line.startswith("READY: stats"):
                if self.mode != "slirp" and self.guest_ip:
                    self.ping_guest()
                if self.mode != "qemu-tap":
                    self.stats = qmp.cmd("query-vhost-dp")
            elif line.startswith("DONE: "):
                done = True
                try:
                    qmp.cmd("quit")
                except (EOFError, OSError):
                    pass
                break
        self.boot_time = time.time() - self.t0
        try:
            self.qemu.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.qemu.kill()
        if not done:
            self.host(False, f"the guest did not finish within "
                             f"{self.timeout} s (exit {self.qemu.returncode})")
        if self.mode != "qemu-tap" and self.stats is None:
            self.host(False, "no statistics from query-vhost-dp")

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
            print(f"{'PASS' if ok else 'FAIL'}: {self.mode}: {text}")
            failed += not ok
        if not self.results and not failed:
            print(f"FAIL: {self.mode}: the guest reported nothing")
            failed += 1
        if (self.demo or failed) and self.boot_time:
            print(f"\n{self.mode}: guest run of {self.boot_time:.1f} s "
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
            print(f"\n--- {self.mode}: serial log tail "
                  f"({self.work}/serial.log) ---")
            for line in self.serial[-30:]:
                print("  " + line)
        return failed


class SkipTest(Exception):
    pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["slirp", "tap", "qemu-tap"])
    ap.add_argument("--demo", action="store_true")
    ap.add_argument("--timeout", type=int, default=180)
    a = ap.parse_args()
    g = Guest(a.mode, a.demo, a.timeout)
    try:
        g.run()
    except SkipTest as e:
        print(f"SKIP: {a.mode}: {e}")
        g.cleanup()
        return 0
    except Exception as e:
        import traceback
        traceback.print_exc()
        g.host(False, f"{type(e).__name__}: {e}")
        g.boot_time = 0
    finally:
        g.cleanup()
    return 1 if g.report() else 0


if __name__ == "__main__":
    sys.exit(main())
