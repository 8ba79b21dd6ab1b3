/*
 * The vhost-dp QMP commands for programs without the vhostdp netdev
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-vhost-dp.h"

VhostDpInfoList *qmp_query_vhost_dp(const char *id, Error **errp)
{
    error_setg(errp, "this program has no vhostdp netdev");
    return NULL;
}

void qmp_vhost_dp_set_rate(const char *id, bool has_tx_rate,
                           uint64_t tx_rate, bool has_tx_burst,
                           uint64_t tx_burst, bool has_rx_rate,
                           uint64_t rx_rate, bool has_rx_burst,
                           uint64_t rx_burst, Error **errp)
{
    error_setg(errp, "this program has no vhostdp netdev");
}
