"""08's demonstrations: each does something to volumes, watches what the cluster does, and cleans up.

- :func:`first_consumer`: a claim waits (``WaitForFirstConsumer``) until a pod uses it; then
  a volume appears on the node the pod was scheduled to, as a directory the node's shell
  sees; deleting the claim deletes the volume and the directory (reclaim ``Delete``);
- :func:`replace_pod`: the pod of ``kj-data`` is deleted and created again; the new pod lands
  on the node that holds the data (the volume's node affinity) and reads what the first
  pod wrote;
- :func:`restart_statefulset`: both replicas of ``kj-sts`` are deleted; each comes back with
  its own claim and reads its own identity.

Each returns a :class:`~helpers.verdict.Verdict`: a timeline or a table of what was seen,
and the problems (none: the behaviour held). Nothing is left behind, so a re-run of 08
repeats them and its reports still show no change.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from helpers.kube import api_client
from helpers.storage.volumes import (
    CLAIM,
    DEMO_NS,
    STS,
    WRITER,
    claim_document,
    namespace_document,
    pod_document,
    read_file,
    volume_of,
    wait_pod_ready,
)
from helpers.verdict import Verdict
from helpers.waiting import poll_until

SCRATCH = "kj-scratch"
SCRATCH_POD = "kj-scratch-user"


@dataclass
class Timeline:
    """Rows of (seconds since start, what happened, what was seen)."""

    started: float = field(default_factory=time.monotonic)
    rows: list[list[str]] = field(default_factory=list)

    def add(self, what: str, seen: str) -> None:
        """Record one row, timed now."""
        self.rows.append([f"{time.monotonic() - self.started:5.1f}", what, seen])


def _on_node(fleet, node: str, path: str) -> str:
    """``present`` or ``absent``: whether ``path`` is a directory on ``node``, asked over SSH."""
    seen: dict[str, str] = {}

    def probe(h):
        seen[h.name] = h.run(f"test -d '{path}' && echo present || echo absent").stdout.strip()

    fleet.step(f"look for {path}", probe, hosts=[node])
    return seen.get(node, "?")


def _events(core, name: str) -> list[tuple[str, str]]:
    found = core.list_namespaced_event(DEMO_NS, field_selector=f"involvedObject.name={name}").items
    return [(e.reason, e.message) for e in sorted(found, key=lambda e: e.last_timestamp or e.event_time or e.metadata.creation_timestamp)]


def first_consumer(fleet, pending_for: float = 3.0) -> Verdict:
    """A claim with no pod stays Pending; a pod binds it to a new volume on its node; deleting it removes the data."""
    from kubernetes import client  # noqa: PLC0415

    from helpers.kube_apply import apply_objects  # noqa: PLC0415
    from helpers.kube_wait import wait_deleted  # noqa: PLC0415

    inv = fleet.inventory
    api = api_client(inv)
    core = client.CoreV1Api(api)
    line, problems = Timeline(), []
    apply_objects(api, [namespace_document(), claim_document(SCRATCH)], "a claim nobody uses yet")
    line.add(f"claim {SCRATCH} created", "no pod uses it")
    time.sleep(pending_for)  # a bounded look: binding would have happened by now without WaitForFirstConsumer
    state = volume_of(inv, SCRATCH)
    why = [m for r, m in _events(core, SCRATCH) if r == "WaitForFirstConsumer"]
    line.add(f"after {pending_for:.0f} s", f"{state['phase']}, no volume; event: {why[-1] if why else 'none'}")
    if state["phase"] != "Pending" or state["pv"]:
        problems.append(f"{SCRATCH} should wait for a pod, but is {state['phase']} (volume {state['pv'] or 'none'})")
    try:
        apply_objects(api, [pod_document(SCRATCH_POD, SCRATCH, "/data/hello")], "a pod that uses it")
        pod = wait_pod_ready(inv, SCRATCH_POD)
        line.add(f"pod {SCRATCH_POD} Ready", f"scheduled to {pod.spec.node_name}")
        state = volume_of(inv, SCRATCH)
        line.add("the claim", f"{state['phase']} to {state['pv']} ({state['class']}, reclaim {state['reclaim']})")
        line.add("the volume's node affinity", f"kubernetes.io/hostname In [{state['node']}]")
        if state["phase"] != "Bound" or state["node"] != pod.spec.node_name:
            problems.append(f"{SCRATCH}: {state['phase']} on node {state['node'] or '?'}, but its pod runs on "
                            f"{pod.spec.node_name}")
        on_host = _on_node(fleet, state["node"], state["path"])
        line.add(f"on {state['node']} (SSH)", f"{state['path']}: {on_host}")
        if on_host != "present":
            problems.append(f"{state['path']} is {on_host} on {state['node']}, where the volume should live")
    finally:
        core.delete_namespaced_pod(SCRATCH_POD, DEMO_NS, grace_period_seconds=0)
        wait_deleted(core.list_namespaced_pod, SCRATCH_POD, kind="Pod", namespace=DEMO_NS, timeout=60)
        core.delete_namespaced_persistent_volume_claim(SCRATCH, DEMO_NS)
    line.add(f"pod and claim {SCRATCH} deleted", "the provisioner's helper pod removes the directory")
    if state.get("pv"):
        wait_deleted(core.list_persistent_volume, state["pv"], kind="PersistentVolume", timeout=120)
        line.add(f"volume {state['pv']}", "deleted (reclaim policy Delete)")
        after = poll_until(lambda: _on_node(fleet, state["node"], state["path"]), lambda s: s == "absent",
                           what=f"{state['path']} removed", where=state["node"], timeout=60, interval=1.0).value
        line.add(f"on {state['node']} (SSH)", f"{state['path']}: {after}")
    return Verdict(f"claim {SCRATCH}: waits for its pod, follows it, leaves nothing",
                   ["s", "what happened", "what was seen"], line.rows, problems)


def replace_pod(inv) -> Verdict:
    """Delete ``kj-writer`` and create it again: same node as the data, same data."""
    from kubernetes import client  # noqa: PLC0415

    from helpers.kube_apply import apply_objects  # noqa: PLC0415
    from helpers.kube_wait import wait_deleted  # noqa: PLC0415

    api = api_client(inv)
    core = client.CoreV1Api(api)
    volume = volume_of(inv, CLAIM)
    before = read_file(inv, WRITER, "/data/first-writer")
    node_before = core.read_namespaced_pod(WRITER, DEMO_NS).spec.node_name
    core.delete_namespaced_pod(WRITER, DEMO_NS, grace_period_seconds=0)
    wait_deleted(core.list_namespaced_pod, WRITER, kind="Pod", namespace=DEMO_NS, timeout=60)
    apply_objects(api, [pod_document(WRITER, CLAIM)], "the writer again")
    pod = wait_pod_ready(inv, WRITER)
    after = read_file(inv, WRITER, "/data/first-writer")
    rows = [["before", node_before, volume["node"], before], ["after", pod.spec.node_name, volume["node"], after]]
    problems = []
    if pod.spec.node_name != volume["node"]:
        problems.append(f"the new {WRITER} runs on {pod.spec.node_name}, but the volume is on {volume['node']}")
    if after != before:
        problems.append(f"the new {WRITER} reads {after!r}, the old one wrote {before!r}")
    return Verdict(f"pod {WRITER} deleted and created again (claim {CLAIM}, volume {volume['pv']})",
                   ["pod", "runs on", "volume on", "/data/first-writer"], rows, problems)


def restart_statefulset(inv, timeout: float = 180.0) -> Verdict:
    """Delete both replicas of ``kj-sts``; each comes back to its own claim and reads its own identity."""
    from kubernetes import client  # noqa: PLC0415

    from helpers.storage.volumes import ensure_statefulset  # noqa: PLC0415

    core = client.CoreV1Api(api_client(inv))
    pods = [f"{STS}-{i}" for i in range(2)]

    def look() -> dict[str, tuple[str, str, str]]:
        seen = {}
        for name in pods:
            volume = volume_of(inv, f"data-{name}")
            seen[name] = (volume["pv"], volume["node"], read_file(inv, name, "/data/identity"))
        return seen

    before = look()
    uids = {n: core.read_namespaced_pod(n, DEMO_NS).metadata.uid for n in pods}
    for name in pods:
        core.delete_namespaced_pod(name, DEMO_NS, grace_period_seconds=0)
    poll_until(lambda: {n: p.metadata.uid for n in pods for p in
                        core.list_namespaced_pod(DEMO_NS, field_selector=f"metadata.name={n}").items},
               lambda now: all(n in now and now[n] != uids[n] for n in pods), what="both replicas re-created",
               where=f"StatefulSet/{DEMO_NS}/{STS}", timeout=timeout, interval=0.5)
    ensure_statefulset(inv, timeout)
    after = look()
    rows, problems = [], []
    for name in pods:
        (pv0, _, id0), (pv1, node1, id1) = before[name], after[name]
        rows.append([name, f"data-{name}", pv1, node1, id0, id1])
        if pv1 != pv0 or not id1.startswith(f"{name} ") or id1 != id0:
            problems.append(f"{name}: volume {pv0} -> {pv1}, identity {id0!r} -> {id1!r}")
    return Verdict(f"StatefulSet {STS}: both replicas deleted and re-created",
                   ["pod", "claim", "volume", "node", "identity before", "identity after"], rows, problems)
