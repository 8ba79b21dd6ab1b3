/*
 * vhost dataplane: the virtio-net header and the neutral offload metadata
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * For the ring engine (the guest's header) and for drivers whose I/O
 * facility speaks the same header (a TAP with IFF_VNET_HDR and
 * TUNSETVNETLE).  Both layouts are little endian.  Kept apart from
 * net/vhost-dp.h, which stays free of virtio headers.
 */

#ifndef NET_VHOST_DP_VNET_H
#define NET_VHOST_DP_VNET_H

#include "qemu/bswap.h"
#include "net/vhost-dp.h"
#include "standard-headers/linux/virtio_net.h"

static inline void vhost_dp_vnet_to_offload(const struct virtio_net_hdr *h,
                                            VhostDpOffload *ol)
{
    memset(ol, 0, sizeof(*ol));
    if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        ol->flags = VHOST_DP_OFFLOAD_NEEDS_CSUM;
        ol->csum_start = le16_to_cpu(h->csum_start);
        ol->csum_offset = le16_to_cpu(h->csum_offset);
    } else if (h->flags & VIRTIO_NET_HDR_F_DATA_VALID) {
        ol->flags = VHOST_DP_OFFLOAD_CSUM_VALID;
    }
    switch (h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
    case VIRTIO_NET_HDR_GSO_TCPV4:
        ol->gso_type = VHOST_DP_GSO_TCPV4;
        break;
    case VIRTIO_NET_HDR_GSO_TCPV6:
        ol->gso_type = VHOST_DP_GSO_TCPV6;
        break;
    case VIRTIO_NET_HDR_GSO_UDP:
        ol->gso_type = VHOST_DP_GSO_UDP;
        break;
    case VIRTIO_NET_HDR_GSO_UDP_L4:
        ol->gso_type = VHOST_DP_GSO_UDP_L4;
        break;
    default:
        return;
    }
    ol->gso_ecn = !!(h->gso_type & VIRTIO_NET_HDR_GSO_ECN);
    ol->hdr_len = le16_to_cpu(h->hdr_len);
    ol->gso_size = le16_to_cpu(h->gso_size);
}

static inline void vhost_dp_vnet_from_offload(struct virtio_net_hdr *h,
                                              const VhostDpOffload *ol)
{
    static const uint8_t gso[] = {
        [VHOST_DP_GSO_NONE] = VIRTIO_NET_HDR_GSO_NONE,
        [VHOST_DP_GSO_TCPV4] = VIRTIO_NET_HDR_GSO_TCPV4,
        [VHOST_DP_GSO_TCPV6] = VIRTIO_NET_HDR_GSO_TCPV6,
        [VHOST_DP_GSO_UDP] = VIRTIO_NET_HDR_GSO_UDP,
        [VHOST_DP_GSO_UDP_L4] = VIRTIO_NET_HDR_GSO_UDP_L4,
    };

    memset(h, 0, sizeof(*h));
    if (ol->flags & VHOST_DP_OFFLOAD_NEEDS_CSUM) {
        h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        h->csum_start = cpu_to_le16(ol->csum_start);
        h->csum_offset = cpu_to_le16(ol->csum_offset);
    } else if (ol->flags & VHOST_DP_OFFLOAD_CSUM_VALID) {
        h->flags = VIRTIO_NET_HDR_F_DATA_VALID;
    }
    if (ol->gso_type != VHOST_DP_GSO_NONE && ol->gso_type < ARRAY_SIZE(gso)) {
        h->gso_type = gso[ol->gso_type] |
                      (ol->gso_ecn ? VIRTIO_NET_HDR_GSO_ECN : 0);
        h->hdr_len = cpu_to_le16(ol->hdr_len);
        h->gso_size = cpu_to_le16(ol->gso_size);
    }
}

#endif /* NET_VHOST_DP_VNET_H */
