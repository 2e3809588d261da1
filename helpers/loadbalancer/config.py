"""The load balancers' configuration: file paths on the hosts, the VRRP router id, and rendering.

Pure functions of the inventory and the credentials (no hosts): :func:`haproxy_config`
and :func:`keepalived_config` render the files the steps in
:mod:`~helpers.loadbalancer.install` write.
"""

from __future__ import annotations

import zlib
from typing import Any

from helpers.facts import STATS_PORT
from helpers.loadbalancer.credentials import LBCredentials
from helpers.topology import API_PORT, api_fqdn

HAPROXY_CFG = "/etc/haproxy/haproxy.cfg"
KEEPALIVED_CFG = "/etc/keepalived/keepalived.conf"
NONLOCAL_BIND_FILE = "/etc/sysctl.d/90-haproxy-nonlocal-bind.conf"
VRRP_INSTANCE = "kube_api"


def router_id(inv: Any) -> int:
    """Return the VRRP virtual router id (1-255), derived from the cluster name.

    Every VRRP group on one L2 segment needs its own id; deriving it from the cluster
    name keeps two clusters on one network apart without another inventory field.
    """
    return zlib.crc32(inv.cluster.name.encode()) % 255 + 1


def frontend_address(inv: Any, host: Any) -> str:
    """Where HAProxy's API frontend binds: the VIP (non-local bind), or the host's address without one."""
    return str(inv.network.vip) if inv.network.vip is not None else str(host.address)


def haproxy_config(inv: Any, host: Any, creds: LBCredentials) -> str:
    """Render ``haproxy.cfg`` for load balancer ``host``."""
    from helpers.ensure import render_template

    return render_template("loadbalancer/haproxy.cfg.j2", {
        "frontend_address": frontend_address(inv, host),
        "api_port": API_PORT,
        "api_name": api_fqdn(inv),
        "masters": [{"name": m.name, "address": str(m.address)} for m in inv.hosts_with("master")],
        "stats_address": str(host.address),
        "stats_port": STATS_PORT,
        "stats_user": creds.stats_user,
        "stats_password": creds.stats_password,
    })


def keepalived_config(inv: Any, host: Any, creds: LBCredentials, interface: str) -> str:
    """Render ``keepalived.conf`` for load balancer ``host`` on network ``interface``.

    Priorities follow inventory order: the first load balancer gets 150, the next 140, ....
    All start as BACKUP; the election (highest priority wins) and preemption (keepalived's
    default) put the VIP on the first whenever it is healthy.
    """
    from helpers.ensure import render_template

    lbs = inv.hosts_with("lb")
    index = [h.name for h in lbs].index(host.name)
    return render_template("loadbalancer/keepalived.conf.j2", {
        "name": host.name,
        "instance": VRRP_INSTANCE,
        "state": "BACKUP",
        "interface": interface,
        "router_id": router_id(inv),
        "priority": 150 - 10 * index,
        "address": str(host.address),
        "peers": [str(h.address) for h in lbs if h.name != host.name],
        "auth_pass": creds.vrrp_auth_pass,
        "vip": str(inv.network.vip),
        "prefix": inv.network.node_subnet.prefixlen,
    })


