#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# udhcpc event script of the test guest: configure the interface from
# the lease (the default route only through the first one, eth0)
case "$1" in
deconfig)
    ip addr flush dev "$interface"
    ;;
bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    for r in $router; do
        if [ "$interface" = eth0 ]; then
            ip route add default via "$r" dev "$interface"
            echo "$r" > /tmp/router
        fi
        echo "$r" > "/tmp/router.$interface"
        break
    done
    [ "$interface" = eth0 ] && echo "$ip" > /tmp/ip
    echo "$ip" > "/tmp/ip.$interface"
    ;;
esac
exit 0
