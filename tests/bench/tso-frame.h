/*
 * The TCP segmentation offload frames vdp-bench --tso and tapio tso send
 * towards the host: IPv4 and TCP from 10.0.0.1 to 10.0.0.2, port 4096 to
 * 4096, cut into 1448-byte segments.
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef BENCH_TSO_FRAME_H
#define BENCH_TSO_FRAME_H

#include <stdint.h>
#include <string.h>

/* After the Ethernet addresses of frame @f, @len bytes long in all */
static inline void tso_frame_headers(uint8_t *f, unsigned int len)
{
    uint8_t *ip = f + 14, *tcp = ip + 20;

    memset(f + 12, 0, 54 - 12);
    f[12] = 0x08;                           /* IPv4 */
    ip[0] = 0x45;
    ip[2] = (len - 14) >> 8;
    ip[3] = (len - 14) & 0xff;
    ip[8] = 64;
    ip[9] = 6;                              /* TCP */
    memcpy(ip + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
    tcp[0] = 0x10;
    tcp[2] = 0x10;
    tcp[12] = 5 << 4;
    tcp[13] = 0x10;                         /* ACK */
}

/* The virtio-net header (its first 10 bytes) that asks for TSO */
static inline void tso_vnet_hdr(uint8_t *h)
{
    memset(h, 0, 10);
    h[0] = 1;                               /* NEEDS_CSUM */
    h[1] = 1;                               /* GSO_TCPV4 */
    h[2] = 54;                              /* hdr_len */
    h[4] = 1448 & 0xff;                     /* gso_size */
    h[5] = 1448 >> 8;
    h[6] = 34;                              /* csum_start */
    h[8] = 16;                              /* csum_offset */
}

#endif
