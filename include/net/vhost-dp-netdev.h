/*
 * vhost dataplane: the vhostdp netdev, as hw/net/vhost_net.c sees it
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
