#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The benchmark: vdp-bench (a guest-less virtio-net driver, see
# vdp-bench.c) against each backend, in one run on one machine:
#
#   tap         QEMU's userspace path, -netdev tap,vhost=off (the baseline)
#   dp-tap      -netdev vhostdp with vhost-dp-tap
#   vhost-user  -netdev vhost-user to DPDK's testpmd vhost PMD (--no-huge):
#               rxonly sinks what the guest sends, txonly is the source
#   tap-raw     no QEMU: tapio writes into or reads from the TAP on QEMU's
#               core, the most any backend on a TAP file descriptor
#               can move (the kernel's ceiling)
#   dp-lb       -netdev vhostdp with vhost-dp-loopback: mode=sink for TX,
#               mode=source for RX (the engine alone)
#   dp-dpdk     -netdev vhostdp with vhost-dp-dpdk on DPDK's null PMD
#               (drops what it is sent, generates frames of the size)
#   dp-xdp      -netdev vhostdp with vhost-dp-af-xdp (generic XDP) on a
#               veth pair whose other end is in a namespace made here
#   dp-afpkt    -netdev vhostdp with vhost-dp-dpdk on DPDK's af_packet
#               PMD, on the same kind of veth pair (AF_XDP's peer)
#
# TAP sinks and sources are real: the TAP's host side is up in a network
# namespace made here, where the kernel takes what the guest sends, and
# pktgen (AF_PACKET, sendmmsg batches) sends what the guest receives.
#
# The driver (the guest) runs on one core; QEMU and testpmd's forwarding
# core on the other.  pktgen shares the driver's core, which then works
# in rounds every ROUND_US (100) microseconds, like an interrupt-moderated
# driver, so that QEMU's core is QEMU's alone.
#
# Prints a table of medians over RUNS runs with the spread and the ratio
# to the baseline, writes build/bench/results.csv and results.png.
#
# Environment: RUNS (default 3), SECONDS_PER_RUN (3), CASES (a regular
# expression selecting cases by name).

import csv
import os
import re
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BUILD = os.path.join(REPO, "build")
OUT = os.path.join(BUILD, "bench")
BENCH = os.path.join(BUILD, "vdp-bench")
PKTGEN = os.path.join(BUILD, "pktgen")
TAPIO = os.path.join(BUILD, "tapio")
RUNS = int(os.environ.get("RUNS", "3"))
SECS = os.environ.get("SECONDS_PER_RUN", "3")
ROUND_US = os.environ.get("ROUND_US", "100")
# BASE_QEMU=path: every vhostdp case also runs on that binary (an earlier
# build, say), right after the same case on this one: "before"
# and "after" figures of an engine change from the same run
BASE_QEMU = os.environ.get("BASE_QEMU")
# the driver ("the guest") on one core, QEMU and testpmd's forwarding
# core on the other: each backend gets the same two cores
CPU_GUEST, CPU_QEMU = 0, (1 if os.cpu_count() > 1 else 0)
CPUS = f"{CPU_GUEST},{CPU_QEMU}"


def sh(cmd, check=True):
    return subprocess.run(cmd, shell=True, check=check, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def parse(line):
    r = {}
    for kv in line.split():
        k, _, v = kv.partition("=")
        try:
            r[k] = float(v)
        except ValueError:
            r[k] = v
    return r


class Case:
    seq = 0
    def __init__(self, backend, direction, size, tso=False, queues=1,
                 io="syscalls", qemu=None, poll=None, zc=False, nio=None,
                 packed=False):
        self.qemu = qemu or os.path.join(BUILD, "qemu-system-x86_64")
        # IOThreads: one per queue pair unless given (pairs go round-robin)
        self.nio = nio or queues
        self.io = io
        self.zc = zc              # dp-lb, dp-dpdk: zero-copy=on
        self.packed = packed      # packed virtqueues (modern interface)
        self.poll = poll          # the IOThreads' poll-max-ns, or default
        self.backend = backend
        self.dir = direction
        self.size = size
        self.tso = tso
        self.queues = queues
        label = "tso64k" if tso else str(size)
        self.name = f"{backend} {direction} {label}" + \
                    (f" {queues}q" if queues > 1 else "") + \
                    (f" {self.nio}io" if self.nio != queues else "") + \
                    (f" io={io}" if io != "syscalls" else "") + \
                    (f" poll-max-ns={poll}" if poll is not None else "") + \
                    (" zero-copy" if zc else "") + \
                    (" packed" if packed else "") + \
                    (" base" if qemu else "")

    def key(self):
        return (self.dir, self.size, self.tso, self.queues, self.packed)

    def run_once(self):
        pid = os.getpid()
        ns, ifn = f"vdpb{pid}", f"vdpb{pid}"
        Case.seq += 1
        args = [BENCH, "--quiet", "--cpus", CPUS, "--qemu", self.qemu,
                "--seconds", SECS, "--mode", self.dir,
                "--size", str(self.size), "--queues", str(self.queues)]
        if self.tso:
            args.append("--tso")
        if self.packed:
            args.append("--packed")
        cleanup = []
        poll = f",poll-max-ns={self.poll}" if self.poll is not None else ""
        iothreads = " ".join(f"--object iothread,id=io{i}{poll}"
                             for i in range(self.nio)).split()
        iolist = ",".join(f"iothreads.{i}=io{i % self.nio}"
                          for i in range(self.queues))
        try:
            if self.backend == "tap-raw":
                return self.run_raw(ns, ifn, cleanup)
            if self.backend in ("tap", "dp-tap"):
                sh(f"ip netns add {ns}")
                cleanup.append(f"ip netns del {ns}")
                if self.backend == "tap":
                    args += ["--netdev",
                             f"tap,id=bn0,ifname={ifn},script=no,"
                             f"downscript=no,vhost=off,queues={self.queues}"]
                else:
                    args += iothreads + [
                        "--object", f"vhost-dp-tap,id=d0,ifname={ifn},"
                                    f"queues={self.queues},io={self.io}",
                        "--netdev", f"vhostdp,id=bn0,driver=d0,"
                                    f"queues={self.queues},{iolist}"]
                args += ["--post-start",
                         f"ip link set {ifn} netns {ns} && "
                         f"ip netns exec {ns} sysctl -qw "
                         f"net.ipv6.conf.all.disable_ipv6=1 && "
                         f"ip netns exec {ns} ip link set {ifn} up"]
                if self.dir == "rx":
                    args += ["--round-sleep", ROUND_US, "--during",
                             f"exec taskset -c {CPU_GUEST} "
                             f"ip netns exec {ns} {PKTGEN} {ifn} "
                             f"{self.size} 1000{' tso' if self.tso else ''}"]
            elif self.backend in ("dp-xdp", "dp-afpkt"):
                peer = f"vdpbx{pid}"
                sh(f"ip netns add {ns}")
                cleanup.append(f"ip netns del {ns}")
                sh(f"ip link add {ifn} type veth peer name {peer} "
                   f"netns {ns} && sysctl -qw "
                   f"net.ipv6.conf.{ifn}.disable_ipv6=1 && "
                   f"ip link set {ifn} up && ip netns exec {ns} sh -c "
                   f"'sysctl -qw net.ipv6.conf.all.disable_ipv6=1 && "
                   f"ip link set {peer} up'")
                if self.backend == "dp-xdp":
                    drv = (f"vhost-dp-af-xdp,id=d0,ifname={ifn},mode=skb,"
                           f"queues={self.queues}")
                else:
                    drv = (f"vhost-dp-dpdk,id=d0,port=net_af_packet0,,"
                           f"iface={ifn},,qpairs={self.queues},"
                           f"queues={self.queues}")
                args += iothreads + [
                    "--object", drv,
                    "--netdev", f"vhostdp,id=bn0,driver=d0,"
                                f"queues={self.queues},{iolist}"]
                if self.dir == "rx":
                    args += ["--during",
                             f"exec taskset -c {CPU_QEMU} "
                             f"ip netns exec {ns} {PKTGEN} {peer} "
                             f"{self.size} 1000"]
            elif self.backend == "dp-dpdk":
                args += iothreads + [
                    "--object", f"vhost-dp-dpdk,id=d0,port=net_null0,,"
                                f"size={self.size},queues={self.queues}"
                                f"{',zero-copy=on' if self.zc else ''}",
                    "--netdev", f"vhostdp,id=bn0,driver=d0,"
                                f"queues={self.queues},{iolist}"]
            elif self.backend == "dp-lb":
                mode = {"tx": "sink", "rx": "source",
                        "both": "loopback"}[self.dir]
                args += iothreads + [
                    "--object", f"vhost-dp-loopback,id=d0,mode={mode},"
                                f"frame-size={min(self.size, 65535)}"
                                f"{',zero-copy=on' if self.zc else ''}",
                    "--netdev", f"vhostdp,id=bn0,driver=d0,"
                                f"queues={self.queues},{iolist}"]
            elif self.backend == "vhost-user":
                sock = os.path.join(OUT, f"vhost-{pid}-{Case.seq}.sock")
                fwd = "rxonly" if self.dir == "tx" else "txonly"
                tp = subprocess.Popen(
                    f"sleep 3600 | exec dpdk-testpmd --no-huge --no-pci "
                    f"-m 1024 -l {CPU_GUEST},{CPU_QEMU} "
                    f"--file-prefix vdpb{pid}-{Case.seq} "
                    f"--vdev 'net_vhost0,iface={sock},"
                    f"queues={self.queues}' -- --forward-mode={fwd} "
                    f"--txpkts={self.size} --nb-cores=1 "
                    f"--rxq={self.queues} --txq={self.queues} -a",
                    shell=True, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL, start_new_session=True)
                def stop_testpmd():
                    os.killpg(tp.pid, 15)
                    try:
                        tp.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        os.killpg(tp.pid, 9)
                        tp.wait()
                cleanup.append(stop_testpmd)
                for _ in range(100):
                    if os.path.exists(sock):
                        break
                    time.sleep(0.1)
                args += ["--qemu-extra",
                         f"-chardev socket,id=c0,path={sock}",
                         "--netdev", f"vhost-user,id=bn0,chardev=c0,"
                                     f"queues={self.queues}"]
            r = subprocess.run(args, text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=120)
            lines = [x for x in r.stdout.splitlines()
                     if x.startswith("mode=")]
            if r.returncode or not lines:
                raise RuntimeError(r.stderr.strip()[-500:])
            return parse(lines[-1])
        finally:
            for c in reversed(cleanup):
                try:
                    c() if callable(c) else sh(c, check=False)
                except Exception:
                    pass


    def run_raw(self, ns, ifn, cleanup):
        sh(f"ip netns add {ns}")
        cleanup.append(f"ip netns del {ns}")
        sh(f"ip -n {ns} tuntap add dev {ifn} mode tap vnet_hdr && "
           f"ip netns exec {ns} sysctl -qw "
           f"net.ipv6.conf.all.disable_ipv6=1 && "
           f"ip -n {ns} link set {ifn} up")
        cleanup.append(f"ip -n {ns} link del {ifn}")
        if self.dir == "rx":
            snd = subprocess.Popen(
                f"exec taskset -c {CPU_GUEST} ip netns exec {ns} {PKTGEN} "
                f"{ifn} {self.size} 1000{' tso' if self.tso else ''}",
                shell=True,
                stdout=subprocess.DEVNULL, start_new_session=True)
            def stop_sender():
                os.killpg(snd.pid, 15)
                snd.wait()
            cleanup.append(stop_sender)
        r = subprocess.run(f"exec taskset -c {CPU_QEMU} ip netns exec {ns} "
                           f"{TAPIO} {ifn} {self.dir} {self.size} {SECS}"
                           f"{' tso' if self.tso else ''}",
                           shell=True, text=True, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        lines = [x for x in r.stdout.splitlines() if x.startswith("mode=")]
        if r.returncode or not lines:
            raise RuntimeError(r.stderr.strip()[-500:])
        return parse(lines[-1])


def cases():
    out = []
    peers = ["tap", "dp-tap", "tap-raw", "vhost-user", "dp-lb"]
    for d in ("tx", "rx"):
        for size in (64, 512, 1500):
            for b in peers:
                out.append(Case(b, d, size))
        for b in ("tap", "dp-tap", "tap-raw", "dp-lb"):
            out.append(Case(b, d, 65535, tso=True))
    # loopback mode: every frame comes back, numbered frames checked
    out.append(Case("dp-lb", "both", 64))
    out.append(Case("dp-lb", "both", 65535, tso=True))
    # the same with the guest's transmit buffers held (one copy, not two)
    out.append(Case("dp-lb", "both", 64, zc=True))
    out.append(Case("dp-lb", "both", 65535, tso=True, zc=True))
    for d in ("tx", "rx"):
        out.append(Case("dp-tap", d, 64, io="uring"))
        out.append(Case("dp-tap", d, 65535, tso=True, io="uring"))
        for size in (64, 1500):
            out.append(Case("dp-dpdk", d, size))
            if d == "tx":
                # external mbufs over guest memory (384 bytes and more)
                out.append(Case("dp-dpdk", d, size, zc=True))
            out.append(Case("dp-xdp", d, size))
            out.append(Case("dp-afpkt", d, size))
    for b in ("tap", "dp-tap", "dp-lb"):
        out.append(Case(b, "tx", 64, queues=2))
    out.append(Case("dp-lb", "rx", 64, queues=2))
    # the scaling model's inputs (docs): 1, 2, 4 pairs on 1 or 2 IOThreads
    # (with "dp-tap tx 64" and "dp-tap tx 64 2q" above)
    for d in ("tx", "rx"):
        for q, nio in ((2, 1), (4, 1), (4, 2)) + (((2, 2),) if d == "rx"
                                                  else ()):
            out.append(Case("dp-tap", d, 64, queues=q, nio=nio))
    # packed virtqueues beside the split ones, each backend that has them
    for d in ("tx", "rx"):
        for b in ("tap", "dp-tap", "vhost-user", "dp-lb"):
            out.append(Case(b, d, 64, packed=True))
    out.append(Case("dp-lb", "both", 64, packed=True))
    # the same without the IOThreads' polling: kicks per frame
    for d in ("tx", "rx"):
        out.append(Case("dp-lb", d, 64, poll=0))
    sel = os.environ.get("CASES")
    if sel:
        out = [c for c in out if re.search(sel, c.name)]
    if BASE_QEMU:
        out = [x for c in out for x in
               ([c, Case(c.backend, c.dir, c.size, c.tso, c.queues, c.io,
                         BASE_QEMU, c.poll, c.zc, c.nio, c.packed)]
                if c.backend.startswith("dp-")
                else [c])]
    return out


def replot(path):
    """--plot CSV: draw the plot again from a results.csv"""
    with open(path) as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["mpps"] = float(r["mpps"])
        r["queues"] = int(r["queues"])
    plot(rows)


def sweep_stale_namespaces():
    """Delete the namespaces (and the devices in them) of bench runs that
    were killed before their clean-up: vdpb<pid> of a process that is
    gone"""
    r = sh("ip netns list", check=False)
    for line in r.stdout.splitlines():
        m = re.match(r"vdpb(\d+)\b", line)
        if m and not os.path.exists(f"/proc/{m.group(1)}"):
            sh(f"ip netns del vdpb{m.group(1)}", check=False)
            print(f"(removed the namespace of a killed run: vdpb{m.group(1)})")


def main():
    os.makedirs(OUT, exist_ok=True)
    if len(sys.argv) == 3 and sys.argv[1] == "--plot":
        replot(sys.argv[2])
        return
    sh(f"cc -O2 -Wall -o {BENCH} {REPO}/tests/bench/vdp-bench.c")
    sh(f"cc -O2 -Wall -o {PKTGEN} {REPO}/tests/bench/pktgen.c")
    sh(f"cc -O2 -Wall -o {TAPIO} {REPO}/tests/bench/tapio.c")
    if os.geteuid() != 0:
        sys.exit("vdp-bench: the TAP cases need root")
    sweep_stale_namespaces()
    results = []
    print(f"{'case':<28} {'Mpps':>8} {'Gb/s':>8} {'spread':>7} "
          f"{'x tap':>6} {'IOThread':>9} {'QEMU cpu':>9} {'Mpps/cpu-s':>11}"
          f" {'kicks/k':>8} {'main cpu':>9}")
    base = {}
    for c in cases():
        runs = []
        for _ in range(RUNS):
            try:
                runs.append(c.run_once())
            except Exception as e:
                print(f"{c.name:<28} failed: {e}")
                break
        if not runs:
            continue
        # in loopback mode ("both"), what came back, checked
        d = "rx" if c.dir == "both" else c.dir
        pps = [r[f"{d}_pps"] for r in runs]
        gbps = [r[f"{d}_gbps"] for r in runs]
        io = [sum(v for k, v in r.items() if k.startswith("cpu[IO_"))
              for r in runs]
        allcpu = [sum(v for k, v in r.items() if k.startswith("cpu["))
                  for r in runs]
        # notifications per 1,000 frames (both directions in loopback)
        kicks = [r.get("tx_kicks_per_k", 0) + r.get("rx_kicks_per_k", 0)
                 if c.dir == "both" else r.get(f"{d}_kicks_per_k", 0)
                 for r in runs]
        # QEMU's main thread (named after the program)
        main = [sum(v for k, v in r.items() if k.startswith("cpu[qemu-"))
                for r in runs]
        med = statistics.median(pps)
        spread = (max(pps) - min(pps)) / med * 100 if med else 0
        iocpu = statistics.median(io)
        qcpu = statistics.median(allcpu)
        if c.backend == "tap":
            base[c.key()] = med
        ratio = med / base[c.key()] if base.get(c.key()) else float("nan")
        eff = med / iocpu if iocpu else float("nan")
        qeff = med / qcpu / 1e6 if qcpu else float("nan")
        print(f"{c.name:<28} {med / 1e6:8.3f} {statistics.median(gbps):8.2f}"
              f" {spread:6.1f}% {ratio:6.2f} {iocpu:9.2f} {qcpu:9.2f}"
              f" {qeff:11.2f} {statistics.median(kicks):8.3f}"
              f" {statistics.median(main):9.3f}", flush=True)
        results.append(dict(case=c.name, backend=c.backend, dir=c.dir,
                            size="tso64k" if c.tso else c.size,
                            queues=c.queues, packed=c.packed,
                            mpps=med / 1e6,
                            gbps=statistics.median(gbps),
                            spread_pct=spread, ratio_to_tap=ratio,
                            iothread_cpu=iocpu, pps_per_io_cpu_s=eff,
                            qemu_cpu=qcpu, mpps_per_qemu_cpu_s=qeff,
                            kicks_per_k=statistics.median(kicks),
                            main_cpu=statistics.median(main),
                            runs=len(runs)))
    with open(os.path.join(OUT, "results.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(results[0].keys()))
        w.writeheader()
        w.writerows(results)
    plot(results)


def plot(results):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(python3-matplotlib is missing: no plot)")
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    backends = ["tap", "dp-tap", "tap-raw", "vhost-user", "dp-lb"]
    colors = {"tap": "#999999", "dp-tap": "#1f77b4", "tap-raw": "#c7c7c7",
              "vhost-user": "#ff7f0e", "dp-lb": "#2ca02c"}
    labels = {"tap": "tap,vhost=off", "dp-tap": "vhostdp + TAP",
              "tap-raw": "TAP ceiling (no QEMU)",
              "vhost-user": "vhost-user, testpmd",
              "dp-lb": "vhostdp, loopback sink/source"}
    for ax, d in zip(axes, ("tx", "rx")):
        sizes = ["64", "512", "1500"]
        shown = False
        for i, b in enumerate(backends):
            vals = []
            for s in sizes:
                v = [r["mpps"] for r in results if r["backend"] == b and
                     r["dir"] == d and str(r["size"]) == s and
                     r["queues"] == 1 and
                     str(r.get("packed", False)) == "False"]
                vals.append(v[0] if v else float("nan"))
                shown |= bool(v) and v[0] > 0
            ax.bar([x + i * 0.16 for x in range(len(sizes))], vals, 0.16,
                   label=labels[b], color=colors[b])
        ax.set_xticks([x + 0.32 for x in range(len(sizes))])
        ax.set_xticklabels([s + " B" for s in sizes])
        if shown:
            # (a CASES selection may leave a direction without bars)
            ax.set_ylabel("Mpps (log scale)")
            ax.set_yscale("log")
        ax.set_title("guest " + ("transmit" if d == "tx" else "receive") +
                     ", 1 queue pair")
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=len(backends),
               fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    path = os.path.join(OUT, "results.png")
    fig.savefig(path, dpi=90)
    print(f"(plot: {path})")


if __name__ == "__main__":
    main()
