/*
 * query-vhost-dp for programs without the vhostdp netdev
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
