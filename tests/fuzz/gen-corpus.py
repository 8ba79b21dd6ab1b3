#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Write the seed corpus of the ring fuzzer (tests/fuzz/corpus/): guests
# in the input format of tests/fuzz/vhost-dp-ring-fuzz.c (setup() and
# the OP_* operations), one file per scenario, named after it.
#
# Usage: gen-corpus.py [DIR]   (default: the corpus/ beside this script)

import itertools
import os
import struct
import sys

(OP_DESC, OP_CHAIN, OP_INDIRECT, OP_AVAIL, OP_FLAGS, OP_RAW, OP_RING, OP_TX,
 OP_RX, OP_NOTIFY, OP_RUN, OP_LOG, OP_PTMAP, OP_PTUNMAP, OP_INVAL,
 OP_RESTART, OP_TRANSLATE) = range(17)

RX, TX = 0, 1
F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4


def u8(v):
    return struct.pack("<B", v & 0xff)


def u16(v):
    return struct.pack("<H", v & 0xffff)


def u32(v):
    return struct.pack("<I", v & 0xffffffff)


def u64(v):
    return struct.pack("<Q", v & 0xffffffffffffffff)


def vring(log2=4, region=0, off=0, mode=0, iova_base=0, last_avail=0,
          setup=True, parts=None, raw=None):
    b = u8(log2 | (0 if setup else 0x80)) + u8(mode | region << 2)
    b += u8(iova_base) + u16(off) + u16(last_avail)
    if mode == 2:
        for r, o in parts:
            b += u8(r) + u16(o)
    elif mode == 3:
        for a in raw:
            b += u64(a)
    return b


def cfg_byte(event_idx=False, log=False, iommu=False, passthrough=False,
             mrg=False, hdr12=False, iov_max=None, scatter=False):
    return (event_idx | log << 1 | iommu << 2 | passthrough << 3 |
            mrg << 4 | hdr12 << 5 | (iov_max is not None) << 6 |
            scatter << 7)


def header(regions=((16, 0),), mode=0, reverse=False, share=False, base=1,
           rx=None, tx=None, packed=False, **cfg):
    """regions: (pages, odd) each; odd 0 or 1-8 (the size is cut short);
    packed: packed vrings (their last_avail is the vring base, see
    vring_config())"""
    lay = (len(regions) - 1) + 3 * mode + 9 * reverse + 18 * share + \
        216 * packed
    b = u8(lay) + u8(base)
    for pages, odd in regions:
        b += u8((pages - 1) | (((odd - 1) << 4 | 0x80) if odd else 0))
    c = cfg_byte(**cfg)
    b += u8(c)
    if cfg.get("iov_max") is not None:
        b += u8(cfg["iov_max"] - 1)
    b += rx if rx is not None else vring(4, 0, 0x0000, iova_base=1)
    b += tx if tx is not None else vring(4, 0, 0x2000, iova_base=2)
    return b


def desc(q, i, addr_r, addr_off, length, flags, nxt, raw_addr=None):
    x = q | (2 if raw_addr is not None else 0) | (4 if length > 0xffff else 0)
    b = u8(OP_DESC) + u8(x) + u16(i)
    b += u64(raw_addr) if raw_addr is not None else u8(addr_r) + u16(addr_off)
    b += u32(length) if length > 0xffff else u16(length)
    return b + u8(flags) + u16(nxt)


def chain(q, head, k, r, off, seg, publish=True, badflag=False):
    x = q | (0 if publish else 2) | (4 if badflag else 0)
    return (u8(OP_CHAIN) + u8(x) + u16(head) + u8(k - 1) + u8(r) + u16(off) +
            u16(seg))


def indirect(q, head, k, tr, toff, r, off, seg, publish=True, loop=False,
             misalign=False, badlen=False, next_flag=False):
    x = (q | (0 if publish else 2) | (8 if k == 1024 else 0) |
         (16 if loop else 0) | (32 if misalign else 0) |
         (64 if badlen else 0) | (128 if next_flag else 0))
    b = u8(OP_INDIRECT) + u8(x) + u16(head)
    if k != 1024:
        b += u8(k - 1)
    return b + u8(tr) + u8(r) + u16(toff) + u16(off) + u16(seg)


def avail(q, mode, a, b=0):
    return u8(OP_AVAIL) + u8(q | mode << 1) + u16(a) + u16(b)


def flags(q, avail_flags, used_event):
    return u8(OP_FLAGS) + u8(q) + u16(avail_flags) + u16(used_event)


def raw(r, off, data):
    return u8(OP_RAW) + u8(r) + u8(len(data) - 1) + u16(off) + bytes(data)


def ring(q, part, off, val):
    return u8(OP_RING) + u8(q | part << 1) + u16(off) + u16(val)


def tx(max_=64, sent=255):
    return u8(OP_TX) + u8(max_ - 1) + u8(sent)


def rx(*lens):
    b = u8(OP_RX) + u8(len(lens) - 1)
    for n in lens:
        b += u16(n)
    return b


def notify(q, on, mode=0, raw_=0):
    return u8(OP_NOTIFY) + u8(q | (2 if on else 0) | mode << 2) + u16(raw_)


def run():
    return u8(OP_RUN)


def log():
    return u8(OP_LOG)


def ptmap(iova, r, off, order=0, perm=3):
    return u8(OP_PTMAP) + u8(order | (perm - 1) << 3) + u64(iova) + u8(r) + \
        u16(off)


def ptunmap(which, wide=False):
    return u8(OP_PTUNMAP) + u8(which | (0x80 if wide else 0))


def inval(first, length):
    return u8(OP_INVAL) + u64(first) + u32(length)


def restart(rx_, tx_, no_call_fd=False, packed=False, **cfg):
    """cfg_byte()'s bit 16 (mrg) means no call fd here, bit 32 packed"""
    return u8(OP_RESTART) + u8(cfg_byte(**cfg) | (16 if no_call_fd else 0) |
                               (32 if packed else 0)) + rx_ + tx_


def translate(r, off, length, write=False, max_=32, raw_addr=None):
    x = int(write) | (2 if raw_addr is not None else 0)
    b = u8(OP_TRANSLATE) + u8(x) + u8(r) + u8(max_ - 1)
    b += u64(raw_addr) if raw_addr is not None else u16(off)
    return b + u16(length)


# Buffers live in region 0 from 0x8000 on (mapped by the auto layout
# with a vIOMMU too); the rings at 0x0000 (RX) and 0x2000 (TX).
BUF = 0x8000


def traffic(n=4, seg=256, k=2):
    """TX chains, RX buffers, bursts both ways, notifications"""
    b = b""
    for i in range(n):
        b += chain(TX, i * k, k, 0, BUF + i * 0x800, seg)
        b += chain(RX, i * k, k, 0, BUF + 0x4000 + i * 0x800, seg)
    b += tx(64) + rx(100, 60, 1500) + notify(TX, True) + notify(RX, False)
    return b


def scenarios():
    s = {}
    modes = {
        "gpa": {},
        "viommu": {"iommu": True},
        "passthrough": {"iommu": True, "passthrough": True},
    }
    for (mname, m), ev, lg in itertools.product(modes.items(), (0, 1),
                                                 (0, 1)):
        name = "traffic-%s%s%s" % (mname, "-evidx" if ev else "",
                                   "-log" if lg else "")
        regions = ((16, 0), (4, 0))
        s[name] = header(regions, event_idx=bool(ev), log=bool(lg),
                         mrg=True, hdr12=True, **m) + traffic() + \
            log() + traffic(2, 512, 3) + run() + tx() + rx(2000)

    # indirect tables: in place, misaligned (copied), 1024 entries, loops
    s["indirect"] = header(((16, 0), (4, 0))) + \
        indirect(TX, 0, 4, 0, 0x6000, 0, BUF, 128) + \
        indirect(RX, 0, 8, 0, 0x6400, 0, BUF + 0x4000, 64) + \
        tx() + rx(300)
    s["indirect-viommu-misaligned"] = header(((16, 0),), iommu=True,
                                             log=True) + \
        indirect(TX, 1, 16, 0, 0x6ff8, 0, BUF, 32, misalign=True) + \
        indirect(RX, 1, 3, 0, 0x5000, 0, BUF, 512) + tx() + rx(1000)
    s["indirect-1024"] = header(((16, 0),)) + \
        indirect(TX, 2, 1024, 0, 0x4000, 0, BUF, 1) + tx()
    s["indirect-1024-loop"] = header(
        ((16, 0),), rx=vring(1, 0, 0x0000), tx=vring(1, 0, 0x2000)) + \
        indirect(TX, 0, 1024, 0, 0x8000, 0, 0xc000, 1, loop=True) + tx()
    s["indirect-bad"] = header(((16, 0),)) + \
        indirect(TX, 0, 4, 0, 0x6000, 0, BUF, 64, badlen=True) + tx() + \
        indirect(RX, 0, 4, 0, 0x6000, 0, BUF, 64, next_flag=True) + rx(10)

    # mergeable RX buffers, and RX without them
    s["rx-mergeable"] = header(((16, 0),), mrg=True, hdr12=True,
                               event_idx=True) + \
        b"".join(chain(RX, i, 1, 0, BUF + i * 0x400, 0x400)
                 for i in range(12)) + rx(3000, 5000, 100, 9000)
    s["rx-one-buffer-drop"] = header(((16, 0),)) + \
        b"".join(chain(RX, i, 1, 0, BUF + i * 0x100, 0x100)
                 for i in range(4)) + rx(2000, 50) + rx(50)
    s["rx-starved"] = header(((16, 0),), event_idx=True) + rx(64) + \
        chain(RX, 0, 1, 0, BUF, 2048) + rx(64, 64)
    s["rx-empty-buffer"] = header(((16, 0),)) + \
        chain(RX, 0, 1, 0, BUF, 0) + rx(64)

    # TX back-pressure and the budget
    s["tx-backpressure"] = header(((16, 0),), event_idx=True) + \
        b"".join(chain(TX, i, 1, 0, BUF + i * 0x100, 0x80)
                 for i in range(10)) + tx(64, 3) + tx(64, 0) + tx(64)
    s["tx-drop-short"] = header(((16, 0),)) + \
        chain(TX, 0, 1, 0, BUF, 4) + chain(TX, 1, 1, 0, BUF, 100) + \
        tx(64, 0) + tx()
    s["tx-full-iov"] = header(((16, 0),), iov_max=4) + \
        chain(TX, 0, 3, 0, BUF, 64) + chain(TX, 3, 3, 0, BUF, 64) + \
        tx() + chain(TX, 6, 6, 0, BUF, 64) + tx() + \
        chain(RX, 0, 6, 0, BUF, 64) + rx(200)

    # hostile rings
    s["avail-jump"] = header(((16, 0),)) + avail(TX, 2, 100) + tx()
    s["avail-head-too-big"] = header(((16, 0),)) + avail(TX, 0, 16) + \
        tx() + avail(RX, 0, 999) + rx(10)
    s["chain-loop"] = header(((16, 0),)) + \
        desc(TX, 0, 0, BUF, 64, F_NEXT, 1) + \
        desc(TX, 1, 0, BUF, 64, F_NEXT, 0) + avail(TX, 0, 0) + tx()
    s["chain-next-out"] = header(((16, 0),)) + \
        desc(RX, 0, 0, BUF, 64, F_NEXT | F_WRITE, 40) + avail(RX, 0, 0) + \
        rx(10)
    s["chain-wrong-direction"] = header(((16, 0),)) + \
        chain(TX, 0, 2, 0, BUF, 64, badflag=True) + tx() + \
        chain(RX, 0, 2, 0, BUF, 64, badflag=True) + rx(10)
    s["desc-outside-ram"] = header(((16, 0),)) + \
        desc(TX, 0, 0, 0, 64, 0, 0, raw_addr=0x7fff0000) + \
        avail(TX, 0, 0) + tx() + \
        desc(RX, 0, 0, 0, 0xffffffff, F_WRITE, 0,
             raw_addr=0xffffffffffffff00) + avail(RX, 0, 0) + rx(10)
    s["ring-wrap"] = header(((16, 0),), event_idx=True,
                            rx=vring(3, 0, 0x0000, last_avail=0xfffe),
                            tx=vring(3, 0, 0x2000, last_avail=0xfffd)) + \
        avail(TX, 2, 0xfffd) + avail(RX, 2, 0xfffe) + \
        b"".join(chain(TX, i, 1, 0, BUF, 64) for i in range(6)) + \
        b"".join(chain(RX, i, 1, 0, BUF + 0x1000, 2048)
                 for i in range(6)) + tx() + rx(100, 100, 100) + \
        flags(TX, 1, 0xffff) + tx()
    s["ring-wrap-log"] = header(((16, 0),), log=True,
                                rx=vring(2, 0, 0x0000, last_avail=0xfffe),
                                tx=vring(2, 0, 0x2000, last_avail=0xfffd)) + \
        ring(TX, 2, 2, 0xfffd) + ring(RX, 2, 2, 0xfffe) + \
        avail(TX, 2, 0xfffd) + avail(RX, 2, 0xfffe) + \
        b"".join(chain(TX, i, 1, 0, BUF, 64) for i in range(3)) + \
        b"".join(chain(RX, i, 1, 0, BUF + 0x1000, 2048)
                 for i in range(3)) + tx() + rx(100, 100, 100) + \
        restart(vring(2, 0, 0x0000, last_avail=0xffff),
                vring(2, 0, 0x2000, last_avail=0), log=True,
                no_call_fd=True) + \
        b"".join(chain(TX, i, 1, 0, BUF, 64) for i in range(4)) + tx()
    s["used-ring-scribbled"] = header(((16, 0),), log=True) + \
        ring(TX, 2, 0, 0xffff) + ring(RX, 2, 2, 7) + traffic(2) + \
        raw(0, 0x2000, [0xff] * 16)
    s["overlapping-parts"] = header(
        ((16, 0),), rx=vring(3, 0, mode=2, parts=[(0, 0), (0, 0), (0, 0)]),
        tx=vring(3, 0, mode=2, parts=[(0, 64), (0, 66), (0, 64)])) + \
        traffic(2, 64, 1)
    s["misaligned-ring"] = header(
        ((16, 0),), rx=vring(3, 0, mode=2, parts=[(0, 8), (0, 0x400),
                                                  (0, 0x800)])) + rx(10)
    s["ring-past-region"] = header(((2, 3),), rx=vring(8, 0, 0x1f00)) + \
        rx(10)

    # memory tables: 3 regions, adjacent (buffers straddle), gaps, shared
    # RAM blocks, the table in reverse, regions above 4 GiB
    for mode, rev, share in ((0, False, False), (0, True, True),
                             (1, False, True), (2, True, False)):
        name = "regions-mode%d%s%s" % (mode, "-rev" if rev else "",
                                       "-shared" if share else "")
        s[name] = header(((8, 0), (2, 0), (4, 2)), mode=mode, reverse=rev,
                         share=share, log=True,
                         rx=vring(4, 0, 0), tx=vring(4, 2, 0)) + \
            chain(TX, 0, 2, 0, 0x7f00, 0x200) + \
            chain(RX, 0, 2, 1, 0x1f00, 0x300) + \
            indirect(TX, 4, 8, 0, 0x7fc0, 1, 0, 0x100) + \
            tx() + rx(1000) + translate(0, 0x7f00, 0x2000, max_=3) + \
            translate(1, 0x1000, 0x3000, write=True)

    # the vIOMMU: scattered ring pages, unmaps, invalidations, remaps
    s["viommu-scatter"] = header(((16, 0),), iommu=True, scatter=True,
                                 log=True,
                                 rx=vring(8, 0, 0x0f00, iova_base=1),
                                 tx=vring(8, 0, 0x3f00, mode=1,
                                          iova_base=2)) + traffic(3)
    s["viommu-unmap-ring"] = header(((16, 0),), iommu=True) + traffic(1) + \
        ptunmap(0) + tx() + traffic(1) + ptunmap(18, wide=True) + run() + \
        rx(10)
    s["viommu-unmap-buffer"] = header(((16, 0),), iommu=True) + \
        chain(TX, 0, 1, 0, BUF, 64) + ptunmap(8) + tx() + inval(0, 0x10000) \
        + run()
    s["viommu-remap-same"] = header(((16, 0),), iommu=True) + \
        inval(0x100000, 0x1000) + inval(0x7fff2000, 0) + traffic(1) + \
        run() + traffic(1)
    s["viommu-readonly-used"] = header(((1, 0), (16, 0)), iommu=True,
                                       rx=vring(2, 1, 0, iova_base=6),
                                       tx=vring(2, 1, 0x100,
                                                iova_base=6)) + \
        ptmap(0x40000000, 0, 0, perm=1) + ptmap(0x40001000, 0, 0, perm=2) + \
        ptmap(0x50000000, 0, 0, order=4) + \
        translate(0, 0, 64, raw_addr=0x40000000) + \
        translate(0, 0, 64, write=True, raw_addr=0x40000000) + \
        translate(0, 0, 8192, raw_addr=0x40000800)
    s["viommu-iova-top"] = header(((16, 0),), iommu=True,
                                  rx=vring(4, 0, 0x0ff0, iova_base=5),
                                  tx=vring(4, 0, 0x2000, iova_base=4)) + \
        traffic(1) + inval(0xffffffffffffe000, 0x1fff) + run() + rx(10)
    s["viommu-blocks"] = header(((16, 0), (16, 0)), iommu=True, mrg=True,
                                hdr12=True) + \
        ptmap(0x200000, 1, 0, order=4) + \
        desc(RX, 0, 0, 0, 0x3000, F_WRITE, 0, raw_addr=0x200800) + \
        avail(RX, 0, 0) + rx(9000) + ptunmap(32) + run()

    # restarts: another layout, logging, event index, the vIOMMU on/off
    s["restart"] = header(((16, 0), (8, 0))) + traffic(2) + \
        restart(vring(5, 1, 0), vring(6, 0, 0x3000), event_idx=True,
                log=True) + traffic(2) + \
        restart(vring(4, 0, 0, iova_base=1), vring(4, 0, 0x2000,
                                                   iova_base=2),
                iommu=True) + traffic(1) + \
        restart(vring(4, 0, 0, setup=False), vring(4, 0, 0x2000)) + \
        traffic(1)
    s["notify"] = header(((16, 0),), event_idx=True) + \
        notify(TX, True, 1) + notify(RX, True, 2, 0x1234) + \
        notify(TX, False) + flags(RX, 1, 0) + traffic(1) + \
        restart(vring(4, 0, 0), vring(4, 0, 0x2000)) + \
        notify(TX, True, 2, 7) + notify(RX, False) + flags(TX, 1, 0) + \
        traffic(1)
    # packed vrings: a fresh ring's base is slot 0 with the wrap counter 1
    fresh = 0x8000
    prx = vring(4, 0, 0x0000, iova_base=1, last_avail=fresh)
    ptx = vring(4, 0, 0x2000, iova_base=2, last_avail=fresh)
    for (mname, m), ev, lg in itertools.product(
            (("gpa", {}), ("viommu", {"iommu": True})), (0, 1), (0, 1)):
        name = "packed-traffic-%s%s%s" % (mname, "-evidx" if ev else "",
                                          "-log" if lg else "")
        # five rounds of 8 descriptors each way: the 16-slot rings wrap
        s[name] = header(((16, 0), (4, 0)), packed=True, rx=prx, tx=ptx,
                         event_idx=bool(ev), log=bool(lg), mrg=True,
                         hdr12=True, **m) + \
            b"".join(traffic() for _ in range(5)) + \
            notify(TX, True, 1) + notify(RX, True, 1)
    s["packed-indirect"] = header(((16, 0),), packed=True, rx=prx,
                                  tx=ptx) + \
        indirect(TX, 0, 4, 0, 0x6000, 0, BUF, 128) + \
        indirect(RX, 1, 8, 0, 0x6400, 0, BUF + 0x4000, 64) + \
        tx() + rx(300) + \
        indirect(TX, 2, 4, 0, 0x6000, 0, BUF, 128, loop=True) + tx() + \
        indirect(RX, 3, 4, 0, 0x6400, 0, BUF, 64, next_flag=True) + rx(10)
    s["packed-hostile"] = header(((16, 0),), packed=True, rx=prx, tx=ptx,
                                 event_idx=True) + \
        chain(TX, 0, 3, 0, BUF, 64, publish=False) + tx() + \
        avail(TX, 0, 0) + tx() + avail(RX, 1, 20) + \
        chain(RX, 1, 2, 0, BUF, 64) + rx(10) + \
        b"".join(desc(TX, i, 0, BUF, 64, F_NEXT | 0x80, i)
                 for i in range(16)) + tx()
    s["packed-base"] = header(
        ((16, 0),), packed=True,
        rx=vring(3, 0, 0x0000, last_avail=0x8007),
        tx=vring(3, 0, 0x2000, last_avail=0x0006)) + traffic(2) + \
        restart(vring(3, 0, 0x0000, last_avail=0x4000),
                vring(3, 0, 0x2000, last_avail=0x0005), packed=True) + \
        traffic(2)
    s["packed-renegotiate"] = header(((16, 0),)) + traffic(2) + \
        restart(prx, ptx, packed=True, event_idx=True) + traffic(2) + \
        restart(vring(4, 0, 0), vring(4, 0, 0x2000)) + traffic(1)
    s["big-ring"] = header(((16, 0),), rx=vring(10, 0, 0),
                           tx=vring(10, 0, 0x8000)) + \
        b"".join(chain(TX, i * 40, 40, 0, 0x6000, 16) for i in range(4)) + \
        tx()
    return s


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else \
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    os.makedirs(out, exist_ok=True)
    for name, data in sorted(scenarios().items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print("%d seeds in %s" % (len(scenarios()), out))


if __name__ == "__main__":
    main()
