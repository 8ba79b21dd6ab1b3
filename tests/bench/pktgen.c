/*
 * pktgen: send Ethernet frames as fast as possible on an interface, in
 * batches (sendmmsg on an AF_PACKET socket, bypassing the qdisc), for the
 * benchmark's receive direction through a TAP device.
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * usage: pktgen IFNAME SIZE SECONDS [TSO]
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    static uint8_t frame[65536 + 64];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    struct sockaddr_ll sll = { .sll_family = AF_PACKET };
    unsigned int size;
    double secs, end;
    unsigned long long sent = 0;
    int s, one = 1, tso, hdr = 0;

    if (argc < 4) {
        fprintf(stderr, "usage: pktgen IFNAME SIZE SECONDS [tso]\n");
        return 2;
    }
    size = atoi(argv[2]);
    secs = atof(argv[3]);
    tso = argc > 4;
    s = socket(AF_PACKET, SOCK_RAW, 0);
    if (s < 0) {
        perror("socket");
        return 1;
    }
    setsockopt(s, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
    if (tso) {
        struct virtio_net_hdr *vh = (struct virtio_net_hdr *)frame;

        if (setsockopt(s, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one))) {
            perror("PACKET_VNET_HDR");
            return 1;
        }
        hdr = sizeof(*vh);
        vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        vh->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
        vh->hdr_len = 54;
        vh->gso_size = 1448;
        vh->csum_start = 34;
        vh->csum_offset = 16;
    }
    sll.sll_ifindex = if_nametoindex(argv[1]);
    sll.sll_protocol = htons(ETH_P_ALL);
    if (!sll.sll_ifindex || bind(s, (struct sockaddr *)&sll, sizeof(sll))) {
        perror(argv[1]);
        return 1;
    }
    /* to the guest's MAC; TSO frames are IPv4/TCP, others experimental */
    memcpy(frame + hdr, "\x52\x54\x00\x12\x34\x56\x02\x00\x00\x00\x00\x09",
           12);
    if (tso) {
        uint8_t *ip = frame + hdr + 14, *tcp = ip + 20;

        frame[hdr + 12] = 0x08;
        ip[0] = 0x45;
        ip[2] = (size - 14) >> 8;
        ip[3] = (size - 14) & 0xff;
        ip[8] = 64;
        ip[9] = 6;
        memcpy(ip + 12, "\x0a\x00\x00\x02\x0a\x00\x00\x01", 8);
        tcp[1] = 0x10;
        tcp[3] = 0x10;
        tcp[12] = 5 << 4;
        tcp[13] = 0x10;
    } else {
        frame[hdr + 12] = 0x88;
        frame[hdr + 13] = 0xb5;
    }
    for (int i = 0; i < BATCH; i++) {
        iov[i].iov_base = frame;
        iov[i].iov_len = hdr + size;
        memset(&msgs[i], 0, sizeof(msgs[i]));
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    end = now() + secs;
    while (now() < end) {
        int n = sendmmsg(s, msgs, BATCH, 0);

        if (n > 0) {
            sent += n;
        }
    }
    printf("sent=%llu\n", sent);
    return 0;
}
