"""What 11's cells call around the drills: the safety catch, the records, the tables."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.errors import ConfigError
from helpers.resilience import observe
from helpers.resilience.drills import DRILLS
from helpers.resilience.runner import Drill
from helpers.tables import Table


@dataclass(frozen=True)
class Armed:
    """Whether the drills may run, and why (or why not)."""

    ok: bool
    why: str

    def __bool__(self) -> bool:
        return self.ok


def select(drills: str) -> list[str]:
    """The drills named in ``drills`` (comma-separated, or ``all``), in the notebook's order.

    Raises:
        ConfigError: a name that is no drill (the known ones are listed).
    """
    text = str(drills).strip()
    if text in ("all", ""):
        return list(DRILLS)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in DRILLS]
    if unknown:
        raise ConfigError(f"drills: no drill {', '.join(map(repr, unknown))} (known: {', '.join(DRILLS)}, or all)")
    return [n for n in DRILLS if n in names]


def armed(inv, confirm: str) -> Armed:
    """The safety catch: the drills run only when ``confirm`` names this cluster and the cluster found is it.

    The inventory must describe the cluster that answers: the nodes the API lists and the
    etcd members that answer on the inventory's addresses carry the inventory's names.
    """
    name = inv.cluster.name
    if confirm != name:
        return Armed(False, f"not armed: these drills stop machines of cluster {name!r}; run with "
                            f"confirm={name!r} (KJ_CONFIRM_CLUSTER={name}) to run them"
                            + (f" (confirm was {confirm!r})" if confirm else ""))
    nodes = set(observe.nodes(inv))
    want_nodes = {h.name for h in inv.hosts if "worker" in h.roles or "master" in h.roles}
    members = observe.etcd_members(inv)
    problems = []
    if not nodes <= want_nodes or not nodes:
        problems.append(f"the API at {inv.network.vip} lists nodes {sorted(nodes)}, the inventory has "
                        f"{sorted(want_nodes)}")
    down = [m.name for m in members if not m.up]
    if down:
        problems.append(f"etcd members {', '.join(down)} do not answer on their inventory addresses")
    elif {m.leader for m in members} - {m.name for m in members}:
        problems.append(f"etcd's leader {members[0].leader!r} is not a member the inventory names")
    if problems:
        return Armed(False, "refusing: the inventory does not match the cluster it finds: " + "; ".join(problems))
    return Armed(True, f"armed: cluster {name} ({len(nodes)} nodes, {len(members)} etcd members) matches "
                       f"{Path(inv.path).name}")


def records_dir(inv) -> Path:
    """Where 11 keeps its records: ``cluster_dir/resilience``."""
    return Path(inv.cluster_dir) / "resilience"


def drill(ctx, name: str) -> Drill:
    """Run one drill and keep its record (``cluster_dir/resilience/<name>.json``)."""
    d = DRILLS[name](ctx)
    path = records_dir(ctx.inv) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    d.facts["measured_at"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    path.write_text(json.dumps(d.to_dict()) + "\n")
    save_probes(ctx.inv, ctx.probes)  # after every drill, so that a failed one leaves its evidence
    return d


def load_drill(inv, name: str) -> Drill:
    """A drill's record, as :func:`drill` kept it."""
    return Drill.from_dict(json.loads((records_dir(inv) / f"{name}.json").read_text()))


def save_probes(inv, probes) -> Path:
    """Every probe of this run so far, with its time: ``cluster_dir/resilience/probes-<UTC start>-<run>.json``."""
    return probes.save(records_dir(inv) / f"probes-{probes.started_at}-{probes.run_id}.json")


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value)
    return str(value)


def drill_facts(d: Drill) -> Table:
    """What the drill did and saw, one row per fact, and its timeline of marks."""
    rows = [["lost", d.victim], ["how", d.facts.get("how", "")]]
    rows += [[t and f"{t - d.t_fail:+.1f} s" or "", label] for t, label in sorted(d.marks)]
    rows += [[k.replace("_", " "), _fmt(v)] for k, v in d.facts.items()
             if k not in ("how", "members_after", "measured_at", "window_closed_at")]
    if "members_after" in d.facts:
        rows.append(["etcd after", _fmt([f"{m['name']} term {m['term']} index {m['index']}"
                                         for m in d.facts["members_after"]])])
    return Table(["", ""], rows, f"drill {d.name}: {d.title}")


def state_table(inv, fleet) -> Table:
    """The HA state in one table: etcd's members, HAProxy's view, the VIP, the leases."""
    rows = [[f"etcd {m.name}", f"leader {m.leader}, term {m.term}, index {m.index}" if m.up else m.error]
            for m in observe.etcd_members(inv)]
    rows += [[f"HAProxy on {lb}", _fmt(seen)] for lb, seen in observe.haproxy_backends(inv).items()]
    rows += [[f"VIP on {lb}", said] for lb, said in observe.vip_holder(fleet).items()]
    rows += [[f"lease {k}", f"{v['holder']} (renewed {v['renewed_ago']} s ago, {v['transitions']} transitions)"]
             for k, v in observe.leases(inv).items()]
    return Table(["part", "state"], rows, f"{inv.cluster.name}: who holds what")


def remove_namespace(inv) -> str:
    """Delete the namespace of the probes and the survivor Deployment; wait until it is gone."""
    from kubernetes import client  # noqa: PLC0415
    from kubernetes.client.rest import ApiException  # noqa: PLC0415

    from helpers.kube import api_client  # noqa: PLC0415
    from helpers.kube_wait import wait_deleted  # noqa: PLC0415
    from helpers.resilience.probes import NAMESPACE  # noqa: PLC0415

    core = client.CoreV1Api(api_client(inv))
    try:
        core.delete_namespace(NAMESPACE)
    except ApiException as err:
        if err.status == 404:
            return f"namespace {NAMESPACE}: already gone"
        raise
    wait_deleted(core.list_namespace, NAMESPACE, kind="Namespace", timeout=120)
    return f"namespace {NAMESPACE}: deleted"
