"""The cluster's HA state, read from the operator's machine without SSH where it can be.

A drill takes machines away, so nothing here may depend on one of them:

- :func:`etcd_members`: each member's Raft view (leader, term, index) through etcd's own
  JSON gateway (``POST /v3/maintenance/status``) over TLS with the health-check client
  certificate, member by member: a stopped member is a row that says so;
- :func:`haproxy_backends`: each load balancer's view of the API servers (its stats page);
- :func:`vip_holder`: which load balancer holds the VIP, over SSH to each that answers;
- :func:`leases`: who holds the controller manager's and scheduler's leader leases;
- :func:`nodes`: each node's Ready condition.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import requests

ETCD_PORT = 2379
LEASES = ("kube-controller-manager", "kube-scheduler")


@dataclass(frozen=True)
class Member:
    """One etcd member as it answered (or did not)."""

    name: str
    address: str
    up: bool
    leader: str = ""      # the leader's name, as this member sees it
    term: int = 0
    index: int = 0
    revision: int = 0
    error: str = ""


def _etcd_tls(inv) -> tuple[str, tuple[str, str]]:
    from pathlib import Path  # noqa: PLC0415

    d = Path(inv.cluster_dir) / "pki" / "etcd"
    return str(d / "ca.crt"), (str(d / "healthcheck-client.crt"), str(d / "healthcheck-client.key"))


def _etcd_post(inv, host, path: str, timeout: float) -> dict[str, Any]:
    ca, cert = _etcd_tls(inv)
    r = requests.post(f"https://{host.address}:{ETCD_PORT}{path}", json={}, verify=ca, cert=cert, timeout=timeout)
    r.raise_for_status()
    return r.json()


def etcd_members(inv, timeout: float = 2.0) -> list[Member]:
    """Every etcd member's status, each asked on its own address (in inventory order)."""
    hosts = inv.hosts_with("etcd")
    names: dict[str, str] = {}
    rows = []
    raw: dict[str, dict] = {}
    for h in hosts:
        try:
            raw[h.name] = _etcd_post(inv, h, "/v3/maintenance/status", timeout)
            if not names:
                listed = _etcd_post(inv, h, "/v3/cluster/member/list", timeout).get("members", [])
                names = {m["ID"]: m.get("name", m["ID"]) for m in listed}
        except (requests.RequestException, ValueError, KeyError) as err:
            raw[h.name] = {"error": f"{type(err).__name__}: {err}"[:160]}
    for h in hosts:
        st = raw[h.name]
        if "error" in st:
            rows.append(Member(h.name, str(h.address), False, error=st["error"]))
            continue
        leader = st.get("leader", "0")
        rows.append(Member(h.name, str(h.address), True, leader=names.get(leader, "none" if leader in ("0", 0) else leader),
                           term=int(st.get("raftTerm", 0)), index=int(st.get("raftIndex", 0)),
                           revision=int(st.get("header", {}).get("revision", 0))))
    return rows


def etcd_leader(members: list[Member]) -> str | None:
    """The leader every answering member agrees on, or None (no quorum, or an election under way)."""
    seen = {m.leader for m in members if m.up}
    if len(seen) == 1:
        (leader,) = seen
        return leader if leader and leader != "none" else None
    return None


def haproxy_backends(inv) -> dict[str, dict[str, str]]:
    """Load balancer -> {master: HAProxy's status (UP, DOWN, ...)}; an unreachable page is ``{"error": why}``."""
    from helpers.loadbalancer.checks import check_stats  # noqa: PLC0415

    seen: dict[str, dict[str, str]] = {}
    for lb in inv.hosts_with("lb"):
        try:
            status, rows = check_stats(inv, lb, timeout=2.0)
        except requests.RequestException as err:
            seen[lb.name] = {"error": f"{type(err).__name__}"}
            continue
        if status != 200:
            seen[lb.name] = {"error": f"stats page said {status}"}
            continue
        seen[lb.name] = {r["svname"]: r["status"].split()[0] for r in rows
                         if r.get("pxname") == "kube-apiserver" and r.get("svname") not in ("FRONTEND", "BACKEND")}
    return seen


def vip_holder(fleet, names: list[str] | None = None) -> dict[str, str]:
    """Load balancer (all, or ``names``) -> ``holds`` / ``backup`` / why it could not be asked."""
    inv = fleet.inventory
    out = {}
    for h in fleet.hosts(names if names is not None else "lb"):
        try:
            held = h.run(f"ip -o -4 addr show to {inv.network.vip}/32", check=False, timeout=5).stdout.strip()
            out[h.name] = "holds" if held else "backup"
        except Exception as err:  # noqa: BLE001 - an unreachable machine is an answer here
            h.close()
            out[h.name] = f"unreachable ({type(err).__name__})"
    return out


def leases(inv) -> dict[str, dict[str, Any]]:
    """Lease name -> holder (``host_uuid``), renewed (seconds ago), transitions, duration."""
    from kubernetes import client  # noqa: PLC0415

    from helpers.kube import api_client  # noqa: PLC0415

    api = client.CoordinationV1Api(api_client(inv))
    now = dt.datetime.now(dt.UTC)
    out = {}
    for name in LEASES:
        spec = api.read_namespaced_lease(name, "kube-system", _request_timeout=5).spec
        renewed = spec.renew_time
        out[name] = {"holder": (spec.holder_identity or "").split("_")[0],
                     "renewed_ago": round((now - renewed).total_seconds(), 1) if renewed else None,
                     "transitions": spec.lease_transitions or 0, "duration": spec.lease_duration_seconds}
    return out


def nodes(inv) -> dict[str, str]:
    """Node -> ``Ready`` or ``NotReady: why`` (``Unknown`` when its kubelet stopped posting)."""
    from kubernetes import client  # noqa: PLC0415

    from helpers.kube import api_client  # noqa: PLC0415

    out = {}
    for n in client.CoreV1Api(api_client(inv)).list_node(_request_timeout=5).items:
        cond = next((c for c in n.status.conditions or [] if c.type == "Ready"), None)
        out[n.metadata.name] = "Ready" if cond and cond.status == "True" else \
            f"NotReady: {cond.status if cond else '?'} {cond.reason if cond else ''}".strip()
    return out
