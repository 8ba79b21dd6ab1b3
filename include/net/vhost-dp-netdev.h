/*
 * vhost dataplane: what the vhostdp netdev gives vhost_net: its feature
 * bits and the vhost_net of a queue pair
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef NET_VHOST_DP_NETDEV_H
#define NET_VHOST_DP_NETDEV_H

struct vhost_net;

/* The features vhost_net negotiates with a vhostdp peer */
extern const int vhost_dp_feature_bits[];

/* The vhost_net of a vhostdp queue pair's NetClientState */
struct vhost_net *vhost_dp_get_vhost_net(NetClientState *nc);

#endif /* NET_VHOST_DP_NETDEV_H */
