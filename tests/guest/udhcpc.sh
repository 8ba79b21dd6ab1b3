#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# udhcpc event script of the test guest: configure eth0 from the lease
case "$1" in
deconfig)
    ip addr flush dev "$interface"
    ;;
bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    for r in $router; do
        ip route add default via "$r" dev "$interface"
        echo "$r" > /tmp/router
        break
    done
    echo "$ip" > /tmp/ip
    ;;
esac
exit 0
