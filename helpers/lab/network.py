"""The lab bridge and each machine's network namespace and veth pair.

The host keeps the bridge's gateway address; each machine gets a network namespace
(``/run/netns/kj-<lab>-<machine>``) holding ``eth0`` (the peer of a veth whose host
side joins the bridge) with its address and a default route via the gateway. The
host's forwarding stays off, so nothing a machine sends leaves the bridge.
"""

from __future__ import annotations

import json
import subprocess
from ipaddress import ip_network
from pathlib import Path

from helpers.errors import LabError
from helpers.lab.files import is_mountpoint
from helpers.lab.plan import LabPlan, MachinePlan

NETNS_DIR = Path("/run/netns")


def ip(*args: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``ip`` (optionally inside a netns); raise LabError naming the command on failure."""
    cmd = ["ip", *(["-n", netns] if netns else []), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise LabError(f"failed to run `{' '.join(cmd)}`: {proc.stderr.strip()}")
    return proc


def _json(*args: str, netns: str | None = None) -> list[dict]:
    proc = ip("-j", *args, netns=netns, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        return []
    return json.loads(proc.stdout)


def link(name: str, netns: str | None = None) -> dict | None:
    """The link called ``name`` (``ip -j addr`` form, with addresses), or None."""
    found = _json("addr", "show", "dev", name, netns=netns)
    return found[0] if found else None


def _addresses(info: dict) -> set[str]:
    return {
        f"{a['local']}/{a['prefixlen']}" for a in info.get("addr_info", []) if a["family"] == "inet"
    }


def check_subnet_free(plan: LabPlan) -> None:
    """Refuse a node subnet that overlaps any route of the host other than the lab's bridge.

    Raises:
        LabError: naming the route and its device (eth0, another lab's bridge, ...).
    """
    for route in _json("-4", "route", "show", "table", "all"):
        dst, dev = route.get("dst", ""), route.get("dev", "")
        if (
            dst in ("", "default")
            or dev == plan.bridge
            or route.get("type") in ("local", "broadcast")
        ):
            continue
        if ip_network(dst, strict=False).overlaps(plan.subnet):
            raise LabError(
                f"lab {plan.name}: node subnet {plan.subnet} overlaps the host's route {dst} on {dev}; "
                "pick another subnet in the inventory"
            )


def ensure_bridge(plan: LabPlan) -> list[str]:
    """Create or repair the lab bridge with only the gateway address; return what changed."""
    changes = []
    info = link(plan.bridge)
    if info is not None and info.get("link_type") != "ether":
        raise LabError(f"lab {plan.name}: {plan.bridge} exists and is not a bridge")
    if info is None:
        ip("link", "add", plan.bridge, "type", "bridge", "stp_state", "0")
        changes.append(f"created bridge {plan.bridge}")
        info = link(plan.bridge) or {}
    kind = _json("-d", "link", "show", "dev", plan.bridge)
    if kind and kind[0].get("linkinfo", {}).get("info_kind") != "bridge":
        raise LabError(f"lab {plan.name}: {plan.bridge} exists and is not a bridge (not ours?)")
    want = plan.gateway_cidr
    have = _addresses(info)
    for extra in have - {want}:
        ip("addr", "del", extra, "dev", plan.bridge)
        changes.append(f"removed {extra} from {plan.bridge}")
    if want not in have:
        ip("addr", "add", want, "dev", plan.bridge)
        changes.append(f"gateway {want} on {plan.bridge}")
    if "UP" not in info.get("flags", []):
        ip("link", "set", plan.bridge, "up")
        changes.append(f"{plan.bridge} up")
    return changes


def remove_bridge(plan: LabPlan) -> bool:
    """Delete the lab bridge; True if it existed."""
    if link(plan.bridge) is None:
        return False
    ip("link", "del", plan.bridge)
    return True


def netns_exists(name: str) -> bool:
    """Whether the named network namespace exists (its file is a live nsfs mount)."""
    return is_mountpoint(NETNS_DIR / name)


def ensure_machine_net(plan: LabPlan, m: MachinePlan) -> list[str]:
    """Create or repair the machine's netns, veth pair, address and default route."""
    changes = []
    if not netns_exists(m.netns):
        if (NETNS_DIR / m.netns).exists():  # a dead name left by a reboot with a persistent /run
            (NETNS_DIR / m.netns).unlink()
        ip("netns", "add", m.netns)
        changes.append(f"netns {m.netns}")
    inner = link("eth0", netns=m.netns)
    host = link(m.veth)
    if inner is None or host is None:
        if host is not None:
            ip("link", "del", m.veth)
        if inner is not None:
            ip("link", "del", "eth0", netns=m.netns)
        ip("link", "add", m.veth, "type", "veth", "peer", "name", "eth0", "netns", m.netns)
        changes.append(f"veth {m.veth} <-> {m.netns}:eth0")
        inner = link("eth0", netns=m.netns) or {}
        host = link(m.veth) or {}
    if host.get("master") != plan.bridge:
        ip("link", "set", m.veth, "master", plan.bridge)
        changes.append(f"{m.veth} on {plan.bridge}")
    if "UP" not in host.get("flags", []):
        ip("link", "set", m.veth, "up")
    lo = link("lo", netns=m.netns) or {}
    if "UP" not in lo.get("flags", []):
        ip("link", "set", "lo", "up", netns=m.netns)
    want = f"{m.address}/{plan.subnet.prefixlen}"
    if want not in _addresses(inner):
        ip("addr", "add", want, "dev", "eth0", netns=m.netns)
        changes.append(f"{want} on {m.name}:eth0")
    if "UP" not in inner.get("flags", []):
        ip("link", "set", "eth0", "up", netns=m.netns)
    routes = _json("route", "show", "default", netns=m.netns)
    if not any(r.get("gateway") == str(plan.gateway) for r in routes):
        ip("route", "replace", "default", "via", str(plan.gateway), "dev", "eth0", netns=m.netns)
        changes.append(f"default route via {plan.gateway} in {m.netns}")
    return changes


def remove_machine_net(m: MachinePlan) -> list[str]:
    """Delete the machine's netns (its veth pair goes with it) and any stray host side."""
    removed = []
    if netns_exists(m.netns):
        ip("netns", "del", m.netns)
        removed.append(f"netns {m.netns}")
    elif (NETNS_DIR / m.netns).exists():
        (NETNS_DIR / m.netns).unlink()
    if link(m.veth) is not None:
        # Deleting the netns frees its veth pair asynchronously: the host side may vanish
        # between the probe and the delete, which is the outcome we want.
        proc = ip("link", "del", m.veth, check=False)
        if proc.returncode == 0:
            removed.append(f"link {m.veth}")
        elif link(m.veth) is not None:
            raise LabError(f"failed to run `ip link del {m.veth}`: {proc.stderr.strip()}")
    return removed


def ip_forward() -> str:
    """The host namespace's ``net.ipv4.ip_forward`` (read only: the lab never changes it)."""
    return Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()


def set_machine_link(plan: LabPlan, name: str, up: bool) -> None:
    """Take machine ``name`` off the lab bridge (its host-side veth down: a pulled cable) or back on.

    Raises:
        LabError: no such machine in the plan.
    """
    machine = next((m for m in plan.machines if m.name == name), None)
    if machine is None:
        raise LabError(f"no machine {name!r} in lab {plan.name}")
    ip("link", "set", machine.veth, "up" if up else "down")
