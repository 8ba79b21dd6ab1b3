/*
 * tapio: the TAP device's own ceiling, for the benchmark.  Writes 64-byte
 * frames into a TAP (one writev() each, as every userspace backend must)
 * or reads what arrives (poll() and readv() until EAGAIN), with nothing
 * else in the way: no QEMU, no rings.  What it reaches is the most any
 * backend built on a TAP file descriptor can move on this core.
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * usage: tapio IFNAME tx|rx SIZE SECONDS [tso]
 * Attaches to the existing TAP IFNAME (made with vnet_hdr) and prints a
 * line in vdp-bench's format.  With "tso", transmitted frames are TCP
 * segmentation offload frames of SIZE bytes as vdp-bench --tso sends
 * them; received frames may be as long (the sender's TSO frames).
 *
 * Frames are written from, and read into, as many buffers in turn as
 * vdp-bench's virtqueues hold (256 transmitting, 1024 receiving), so
 * that the kernel's copy meets the same cache footprint a backend copying
 * out of or into a guest's ring does: with 64 KiB frames, a single buffer
 * that stays in this core's cache is written 25% faster than a ring of
 * 256.
 */

#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "tso-frame.h"

#define HDR_LEN 12
#define TX_BUFS 256
#define RX_BUFS 1024
#define WARMUP 0.5

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_seconds(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
    static uint8_t hdr[HDR_LEN], frame[65536];
    struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
    struct iovec iov[2] = { { hdr, HDR_LEN }, { frame, 0 } };
    unsigned int nbufs, k = 0;
    size_t bsz;
    uint8_t *bufs;
    struct pollfd pfd = { .events = POLLIN };
    unsigned long long n = 0, bytes = 0;
    double secs, start, end, cpu0, elapsed;
    unsigned int size;
    int fd, hs = HDR_LEN, tx, tso;

    if ((argc != 5 && (argc != 6 || strcmp(argv[5], "tso"))) ||
        (strcmp(argv[2], "tx") && strcmp(argv[2], "rx"))) {
        fprintf(stderr, "usage: tapio IFNAME tx|rx SIZE SECONDS [tso]\n");
        return 2;
    }
    tx = !strcmp(argv[2], "tx");
    tso = argc == 6;
    size = atoi(argv[3]);
    secs = atof(argv[4]);
    if (size < (tso ? 200 : 60) || size > sizeof(frame)) {
        fprintf(stderr, "tapio: bad size %u\n", size);
        return 2;
    }
    fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK);
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", argv[1]);
    if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) ||
        ioctl(fd, TUNSETVNETHDRSZ, &hs)) {
        perror(argv[1]);
        return 1;
    }
    /* as vdp-bench's frames: to another MAC, an experimental ethertype */
    memcpy(frame, "\x02\x00\x00\x00\x00\x09\x52\x54\x00\x12\x34\x56\x88\xb5",
           14);
    if (tso) {
        tso_frame_headers(frame, size);
        tso_vnet_hdr(hdr);
    }
    iov[1].iov_len = tx ? size : sizeof(frame);
    nbufs = tx ? TX_BUFS : RX_BUFS;
    bsz = iov[1].iov_len;
    bufs = malloc(nbufs * bsz);
    if (!bufs) {
        perror("tapio");
        return 1;
    }
    for (unsigned int i = 0; i < nbufs; i++) {
        memcpy(bufs + i * bsz, frame, bsz);
    }
    pfd.fd = fd;

    start = now();
    end = start + WARMUP + secs;
    cpu0 = -1;
    while (now() < end) {
        if (cpu0 < 0 && now() >= start + WARMUP) {
            /* the measurement starts */
            cpu0 = cpu_seconds();
            n = bytes = 0;
            start = now();
        }
        for (int i = 0; i < 64; i++) {
            ssize_t r;

            iov[1].iov_base = bufs + (k++ % nbufs) * bsz;
            r = tx ? writev(fd, iov, 2) : readv(fd, iov, 2);

            if (r > HDR_LEN) {
                n++;
                bytes += r - HDR_LEN;
            } else if (!tx) {
                poll(&pfd, 1, 100);
                break;
            }
        }
    }
    elapsed = now() - start;
    printf("mode=%s size=%u tso=%d queues=1 seconds=%.2f %s_pps=%.0f "
           "%s_gbps=%.3f cpu[tapio]=%.3f\n", argv[2], size, tso, elapsed,
           argv[2], n / elapsed, argv[2], bytes * 8 / elapsed / 1e9,
           (cpu_seconds() - cpu0) / elapsed);
    return 0;
}
