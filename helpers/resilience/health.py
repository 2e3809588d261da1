"""Is the cluster whole again? Checked, not slept for, before and after every drill.

:func:`health` asks everything a drill can break, each from where a client would see
it; :func:`wait_healthy` asks again until every check passes (or names the ones that
still fail when its time is up).
"""

from __future__ import annotations

import time

import requests

from helpers.resilience import observe
from helpers.verdict import Checklist, Verdict
from helpers.waiting import poll_until


def _ssh(fleet) -> dict[str, str]:
    out = {}
    for h in fleet.hosts():
        try:
            h.run("true", timeout=5)
            out[h.name] = "ok"
        except Exception as err:  # noqa: BLE001 - a machine still booting is a failed check
            h.close()
            out[h.name] = type(err).__name__
    return out


def _apiservers(inv) -> dict[str, str]:
    from helpers.resilience.probes import _admin  # noqa: PLC0415

    ca, cert, _vip = _admin(inv)
    out = {}
    for m in inv.hosts_with("master"):
        try:
            out[m.name] = str(requests.get(f"https://{m.address}:6443/readyz", verify=ca, cert=cert, timeout=3).status_code)
        except requests.RequestException as err:
            out[m.name] = type(err).__name__
    return out


def _workloads(inv) -> list[str]:
    """Deployments, StatefulSets and DaemonSets of every namespace that are not fully ready."""
    from kubernetes import client  # noqa: PLC0415

    from helpers.kube import api_client  # noqa: PLC0415

    apps = client.AppsV1Api(api_client(inv))
    short = []
    for d in apps.list_deployment_for_all_namespaces(_request_timeout=10).items:
        want, have = d.spec.replicas or 0, d.status.available_replicas or 0
        if have < want or (d.status.updated_replicas or 0) < want:
            short.append(f"Deployment {d.metadata.namespace}/{d.metadata.name} {have}/{want}")
    for s in apps.list_stateful_set_for_all_namespaces(_request_timeout=10).items:
        want, have = s.spec.replicas or 0, s.status.ready_replicas or 0
        if have < want:
            short.append(f"StatefulSet {s.metadata.namespace}/{s.metadata.name} {have}/{want}")
    for ds in apps.list_daemon_set_for_all_namespaces(_request_timeout=10).items:
        want, have = ds.status.desired_number_scheduled or 0, ds.status.number_ready or 0
        if have < want:
            short.append(f"DaemonSet {ds.metadata.namespace}/{ds.metadata.name} {have}/{want}")
    return short


def health(inv, fleet, app=None) -> Verdict:
    """Every HA part of the cluster, checked once: a row per check, a problem per failure."""
    c = Checklist(f"{inv.cluster.name}: every part back")
    ssh = _ssh(fleet)
    c.check("machines", "every host answers SSH", all(v == "ok" for v in ssh.values()),
            ", ".join(f"{k} {v}" for k, v in ssh.items() if v != "ok") or f"{len(ssh)} hosts")
    members = observe.etcd_members(inv)
    leader = observe.etcd_leader(members)
    down = [m.name for m in members if not m.up]
    c.check("etcd", "every member answers and all agree on one leader", not down and leader is not None,
            f"leader {leader}, term {max((m.term for m in members), default=0)}" if not down and leader
            else f"down: {', '.join(down) or '-'}; leaders seen: {sorted({m.leader for m in members if m.up})}")
    api = _apiservers(inv)
    c.check("API servers", "/readyz 200 on every master's own address", all(v == "200" for v in api.values()),
            ", ".join(f"{k} {v}" for k, v in api.items()))
    backends = observe.haproxy_backends(inv)
    bad = {lb: seen for lb, seen in backends.items()
           if "error" in seen or any(v != "UP" for v in seen.values()) or len(seen) != len(api)}
    c.check("HAProxy", "every load balancer sees every API server UP", not bad,
            "; ".join(f"{lb}: {seen}" for lb, seen in bad.items()) or f"{len(backends)} load balancers")
    vip = observe.vip_holder(fleet)
    holders = [k for k, v in vip.items() if v == "holds"]
    c.check("VIP", f"exactly one load balancer holds {inv.network.vip}", len(holders) == 1,
            ", ".join(f"{k} {v}" for k, v in vip.items()))
    try:
        held = observe.leases(inv)
        stale = {k: v for k, v in held.items() if not v["holder"] or v["renewed_ago"] is None
                 or v["renewed_ago"] > (v["duration"] or 15)}
        c.check("leases", "controller manager and scheduler leases held and renewed", not stale,
                ", ".join(f"{k} {v['holder']} ({v['renewed_ago']} s ago)" for k, v in held.items()))
        states = observe.nodes(inv)
        c.check("nodes", "every node Ready", all(v == "Ready" for v in states.values()),
                ", ".join(f"{k} {v}" for k, v in states.items() if v != "Ready") or f"{len(states)} Ready")
        short = _workloads(inv)
        c.check("workloads", "every Deployment, StatefulSet and DaemonSet fully ready", not short,
                "; ".join(short[:6]) or "all ready")
    except Exception as err:  # noqa: BLE001 - the API not answering is the failed check
        c.check("API", "answers through the VIP", False, f"{type(err).__name__}: {str(err)[:160]}")
    if app is not None:
        try:
            c.check("application", "answers", True, str(app())[:80])
        except Exception as err:  # noqa: BLE001
            c.check("application", "answers", False, f"{type(err).__name__}: {str(err)[:160]}")
    return c.verdict()


def wait_healthy(inv, fleet, app=None, timeout: float = 300.0, interval: float = 2.0) -> tuple[Verdict, float]:
    """Ask :func:`health` until it passes; return the verdict and the seconds it took.

    Raises:
        WaitTimeout: still unhealthy after ``timeout`` seconds (the failing checks in the message).
    """
    started = time.monotonic()
    seen = poll_until(lambda: health(inv, fleet, app), lambda v: v.ok, what="every part of the cluster back",
                      where=inv.cluster.name, timeout=timeout, interval=interval,
                      describe=lambda v: "; ".join(v.problems))
    return seen.value, time.monotonic() - started

