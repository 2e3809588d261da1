"""The load balancers' host steps: HAProxy and keepalived installed, configured and running.

Each config is validated on the host (``haproxy -c``, ``keepalived -t``) before it
replaces the live one; a service restarts only when its config changed, never on both
load balancers at once.
"""

from __future__ import annotations

import threading
from typing import Any

from helpers.facts import STATS_PORT
from helpers.loadbalancer.checks import _holders_text, wait_for_holder
from helpers.loadbalancer.config import (
    HAPROXY_CFG,
    KEEPALIVED_CFG,
    NONLOCAL_BIND_FILE,
    frontend_address,
    haproxy_config,
    keepalived_config,
    router_id,
)
from helpers.loadbalancer.credentials import load_credentials
from helpers.topology import API_PORT
from helpers.waiting import WaitTimeout


def _validate(h: Any, command: str, content: str, what: str) -> None:
    """Check a config on the host before it replaces the live one; raise naming the host on error."""
    from helpers.errors import CommandFailed

    tmp = h.run("mktemp /tmp/kj-config.XXXXXX").stdout.strip()
    try:
        h.run(f"cat > {tmp}", input=content)
        out = h.run(command.format(path=tmp), check=False)
        if not out.ok:
            raise CommandFailed(h.name, f"validate {what}", command.format(path=tmp), out.exit_code,
                                out.stdout + out.stderr)
    finally:
        h.run(f"rm -f {tmp}", check=False)


def ensure_haproxy(fleet: Any) -> Any:
    """Step: HAProxy installed, configured (validated with ``haproxy -c`` first) and running on every lb."""
    from helpers.ensure import ensure_file, ensure_packages, ensure_sysctl, ensure_unit_current
    from helpers.remote import Change

    inv = fleet.inventory
    creds, _ = load_credentials(inv)
    one_at_a_time = threading.Lock()  # never both load balancers restarting at once

    def run(h: Any) -> Any:
        changes = [ensure_packages(h, ["haproxy"])]
        if inv.network.vip is not None:  # bind the VIP even on the host that does not hold it
            changes.append(ensure_sysctl(h, {"net.ipv4.ip_nonlocal_bind": "1"}, persist_file=NONLOCAL_BIND_FILE))
        content = haproxy_config(inv, h.host, creds)
        current = h.read_file(HAPROXY_CFG)
        if current is None or current.decode(errors="replace") != content:
            _validate(h, "haproxy -c -q -f {path}", content, "haproxy.cfg")
        config = ensure_file(h, HAPROXY_CFG, content, mode=0o640, owner="root", group="haproxy")
        changes.append(config)
        changes.append(ensure_unit_current(h, "haproxy", [HAPROXY_CFG], lock=one_at_a_time))
        merged = Change.merge(*changes)
        return merged if merged.changed else Change(False, f"{frontend_address(inv, h.host)}:{API_PORT} -> "
                                                    f"{len(inv.hosts_with('master'))} masters, stats on "
                                                    f"{h.host.address}:{STATS_PORT}")

    return fleet.step("HAProxy in front of the API servers", run, hosts="lb", skip="not a load balancer")


def ensure_keepalived(fleet: Any) -> Any:
    """Step: keepalived installed, configured (validated with ``keepalived -t`` first) and running on every lb."""
    from helpers.ensure import ensure_file, ensure_packages, ensure_unit_current
    from helpers.errors import HostError
    from helpers.remote import Change

    inv = fleet.inventory
    creds, _ = load_credentials(inv)
    one_at_a_time = threading.Lock()  # a restart moves the VIP: never both at once
    if inv.network.vip is None:
        raise HostError("operator", "configure keepalived", "the inventory sets no network.vip to hold")

    def run(h: Any) -> Any:
        changes = [ensure_packages(h, ["keepalived"])]
        interface = h.run(f"ip -o -4 addr show to {h.host.address} | awk '{{print $2; exit}}'").stdout.strip()
        if not interface:
            raise HostError(h.name, "find the interface of its address", f"no interface holds {h.host.address}")
        content = keepalived_config(inv, h.host, creds, interface)
        current = h.read_file(KEEPALIVED_CFG)
        if current is None or current.decode(errors="replace") != content:
            _validate(h, "keepalived -t -f {path}", content, "keepalived.conf")
        config = ensure_file(h, KEEPALIVED_CFG, content, mode=0o600)
        changes.append(config)
        changes.append(ensure_unit_current(h, "keepalived", [KEEPALIVED_CFG], lock=one_at_a_time))
        merged = Change.merge(*changes)
        if merged.changed:
            return merged
        index = [x.name for x in inv.hosts_with("lb")].index(h.name)
        return Change(False, f"VRRP id {router_id(inv)} on {interface}, priority {150 - 10 * index}")

    report = fleet.step("keepalived holding the VIP", run, hosts="lb", skip="not a load balancer")
    if report.changed:  # let the election settle: the primary preempts within a few seconds
        primary = inv.hosts_with("lb")[0].name
        election = 20.0
        holders = wait_for_holder(fleet, primary, timeout=election)
        if not (holders.get(primary) and sum(holders.values()) == 1):
            raise WaitTimeout(f"VIP {inv.network.vip}", f"{primary} alone holding the VIP", election,
                              _holders_text(holders))
    return report
