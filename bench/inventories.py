"""Derived inventories: a private copy of a lab inventory with its own lab, bridge, subnet and workers.

The 1-vs-4-workers part of the bench builds two such copies beside the reference lab.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

import yaml

from helpers import paths
from helpers.errors import ConfigError

_IPV4 = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d.])")


def _map_addresses(value: Any, old: IPv4Network, new: IPv4Network) -> Any:
    """Move every IPv4 address of ``old`` found in ``value`` (strings, lists, dicts) into ``new``."""
    if isinstance(value, dict):
        return {k: _map_addresses(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_addresses(v, old, new) for v in value]
    if not isinstance(value, str):
        return value

    def move(match: re.Match[str]) -> str:
        try:
            addr = IPv4Address(match.group(1))
        except ValueError:
            return match.group(0)
        if addr not in old:
            return match.group(0)
        return str(new.network_address + (int(addr) - int(old.network_address)))

    return _IPV4.sub(move, value)


def bridge_for(lab: str) -> str:
    """The bridge name of a derived lab: ``kjbr-`` plus the lab name without ``kube-`` (15 chars max)."""
    return ("kjbr-" + lab.removeprefix("kube-"))[:15]


def _worker_hosts(hosts: list[dict], count: int, subnet: IPv4Network) -> list[dict]:
    """The hosts with the workers replaced by ``kube-node01..NN``, addresses continuing the plan."""
    kept = [h for h in hosts if "worker" not in h.get("roles", [])]
    old_workers = [IPv4Address(h["address"]) for h in hosts if "worker" in h.get("roles", [])]
    used = {IPv4Address(h["address"]) for h in kept}
    if old_workers:
        first = min(old_workers)
    else:
        first = max(used) + 1 if used else subnet.network_address + 31
    added = []
    for i in range(count):
        addr = first + i
        if addr in used or addr not in subnet or addr in (subnet.broadcast_address,):
            raise ConfigError(f"worker kube-node{i + 1:02d}: address {addr} is taken or outside {subnet}")
        added.append({"name": f"kube-node{i + 1:02d}", "address": str(addr), "roles": ["worker"]})
    return kept + added


def derive_inventory(
    raw: dict,
    name: str,
    subnet: str | IPv4Network,
    workers: int | None = None,
    state_root: Path | None = None,
) -> dict:
    """A private copy of a lab inventory: its own lab, bridge, cluster, subnet and SSH files.

    Every address of the original node subnet (hosts, gateway, VIP, source URLs) moves to
    the same offset in ``subnet``; the lab and the cluster are called ``name``; the
    bridge is ``bridge_for(name)``; SSH files live under ``<state>/lab/<name>/``.

    Args:
        raw: the original inventory as parsed YAML (left unchanged).
        name: lab and cluster name of the copy.
        subnet: the copy's node subnet (same prefix length as the original's).
        workers: replace the workers by this many (``kube-node01..``); None keeps them.
        state_root: the state directory (default ``paths.state_dir()``).

    Returns:
        The derived inventory as a dictionary ready for ``yaml.safe_dump``.

    Raises:
        ConfigError: no ``lab`` section, prefix lengths differ, or a worker address is taken.
    """
    if "lab" not in raw:
        raise ConfigError("the bench builds labs: the inventory needs a 'lab' section")
    old = IPv4Network(raw["network"]["node_subnet"])
    new = IPv4Network(subnet)
    if old.prefixlen != new.prefixlen:
        raise ConfigError(f"subnet {new} must have the prefix length of {old} (/{old.prefixlen})")
    out = _map_addresses(raw, old, new)
    out["cluster"] = {**out["cluster"], "name": name}
    out["lab"] = {**out["lab"], "name": name, "bridge": bridge_for(name)}
    keys = (state_root or paths.state_dir()) / "lab" / name
    out["ssh"] = {
        **out["ssh"],
        "identity_file": str(keys / "id_ed25519"),
        "known_hosts": str(keys / "known_hosts"),
    }
    if workers is not None:
        out["hosts"] = _worker_hosts(out["hosts"], workers, new)
    return out


def write_inventory(data: dict, path: Path) -> Path:
    """Write a derived inventory as YAML (with a header saying where it came from)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Derived by `python -m helpers bench`; safe to delete.\n"
    path.write_text(header + yaml.safe_dump(data, sort_keys=False))
    return path


def next_subnet(subnet: IPv4Network, step: int) -> IPv4Network:
    """The subnet ``step`` blocks of the same size after ``subnet``."""
    return IPv4Network((int(subnet.network_address) + step * subnet.num_addresses, subnet.prefixlen))
