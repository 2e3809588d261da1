"""09's drills, each probed from the operator's machine while it runs (:class:`helpers.prober.Prober`).

- :func:`lose_frontend`: one frontend pod is deleted; the Service keeps answering from the
  others while the Deployment replaces it.
- :func:`scale_frontend`: 3 → 5 → 2 → 3 replicas; every step keeps answering, and the pods
  that answer are the ones that exist.
- :func:`restart_leader`: the Redis leader's pod is deleted; its StatefulSet brings it
  back on the same claim (08's volume, on the same node), every entry is still there, the
  followers re-attach, and writes work again. Reads go on from the followers meanwhile.

Each returns a :class:`~helpers.verdict.Verdict` (problems name what a visitor would have
seen fail) and the prober, whose samples and marks the notebook plots. :func:`drill` runs
one by name when due and keeps its record (:func:`helpers.records.run_or_recall`): a fresh
build measures, a re-run shows the measurement (``drills="always"`` measures again).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from helpers.guestbook.checks import GuestbookError, call, read_entries
from helpers.guestbook.objects import FOLLOWER, FRONTEND, LEADER, NAMESPACE, REPLICAS
from helpers.guestbook.redis import replication
from helpers.kube import api_client
from helpers.prober import Prober, Sample, from_json, to_json
from helpers.verdict import Verdict

#: probes per second, and the share that must be answered while a frontend pod goes away
RATE = 10
MIN_ANSWERED = 0.99


def _reader(address):
    def probe() -> str:
        return read_entries(address, timeout=2.0)["served_by"]
    return probe


def _frontend_pods(core, ready: bool = False) -> list[str]:
    """The frontend pods not being deleted (only the Ready ones, with ``ready``)."""
    from helpers.kube_wait import pod_ready  # noqa: PLC0415

    pods = core.list_namespaced_pod(NAMESPACE, label_selector=f"app=guestbook,role={FRONTEND}").items
    return sorted(p.metadata.name for p in pods if not p.metadata.deletion_timestamp and (not ready or pod_ready(p)))


def _judge(prober: Prober, what: str, problems: list[str], since: float = 0.0) -> dict:
    summary = prober.summary(since)
    if summary["ratio"] < MIN_ANSWERED:
        problems.append(f"while {what}, {summary['answered']} of {summary['probes']} reads were answered "
                        f"({summary['ratio']:.1%} < {MIN_ANSWERED:.0%}); failures: {summary['failures']}")
    return summary


def lose_frontend(inv, address, timeout: float = 120.0) -> tuple[Verdict, Prober]:
    """Delete one frontend pod while reading at :data:`RATE` per second; judge the answers and the replacement."""
    from kubernetes import client  # noqa: PLC0415

    from helpers.kube_wait import wait_rolled_out  # noqa: PLC0415
    from helpers.waiting import poll_until  # noqa: PLC0415

    api = api_client(inv)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    before = _frontend_pods(core)
    victim = before[0]
    problems: list[str] = []
    with Prober(_reader(address), interval=1 / RATE, limit=timeout + 30) as prober:
        time.sleep(2)
        lost_at = prober.now()
        prober.marks = [(lost_at, f"{victim} deleted")]
        core.delete_namespaced_pod(victim, NAMESPACE)
        # the Deployment's status lags the deletion: wait for three Ready pods without the victim
        waited = poll_until(lambda: _frontend_pods(core, ready=True), lambda pods: len(pods) == REPLICAS[FRONTEND] and victim not in pods,
                            what=f"{REPLICAS[FRONTEND]} Ready frontends without {victim}",
                            where=f"Deployment/{NAMESPACE}/{FRONTEND}", timeout=timeout, interval=0.5,
                            describe=lambda pods: f"Ready: {', '.join(pods) or 'none'}").seconds
        prober.marks.append((prober.now(), "replacement Ready"))
        wait_rolled_out(apps, NAMESPACE, FRONTEND, timeout=timeout)
        time.sleep(6)  # past the victim's SHUTDOWN_DELAY: it must not answer any more
    after = _frontend_pods(core)
    summary = _judge(prober, f"{victim} went away", problems)
    late = {s.detail for s in prober.samples if s.ok and s.t > lost_at + 6}
    if victim in late:
        problems.append(f"{victim} still answered more than 6 s after it was deleted (its endpoint should be gone)")
    if len(after) != REPLICAS[FRONTEND] or victim in after:
        problems.append(f"after the loss the frontend pods are {after}; want {REPLICAS[FRONTEND]} new set without {victim}")
    rows = [("deleted", victim, f"at {lost_at:.1f} s"), ("replaced", ", ".join(sorted(set(after) - set(before))),
                                                        f"Ready {waited:.1f} s later"),
            ("reads", f"{summary['answered']} of {summary['probes']} answered", f"longest gap {summary['longest_outage']} s")]
    return Verdict(f"losing frontend pod {victim}", ["what", "who", "when"], rows, problems), prober


def scale_frontend(inv, address, steps: tuple[int, ...] = (5, 2, REPLICAS[FRONTEND]),
                   timeout: float = 120.0) -> tuple[Verdict, Prober]:
    """Scale the frontend through ``steps`` while reading; each step must keep answering."""
    from kubernetes import client  # noqa: PLC0415

    from helpers.kube_wait import wait_rolled_out  # noqa: PLC0415

    api = api_client(inv)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    problems: list[str] = []
    rows = []
    with Prober(_reader(address), interval=1 / RATE, limit=len(steps) * (timeout + 20)) as prober:
        for replicas in steps:
            prober.marks.append((prober.now(), f"-> {replicas}"))
            apps.patch_namespaced_deployment_scale(FRONTEND, NAMESPACE, {"spec": {"replicas": replicas}})
            waited = wait_rolled_out(apps, NAMESPACE, FRONTEND, timeout=timeout)
            time.sleep(4)  # let the new endpoints reach every node's kube-proxy and answer
            pods = _frontend_pods(core)
            settled = prober.now() - 3
            answering = {s.detail for s in prober.samples if s.ok and s.t >= settled}
            rows.append((replicas, f"{waited:.1f} s", len(pods), ", ".join(sorted(answering))))
            if len(pods) != replicas:
                problems.append(f"scaled to {replicas}, {len(pods)} frontend pods exist: {pods}")
            if not answering <= set(pods):
                problems.append(f"scaled to {replicas}, pods that no longer exist still answered: "
                                f"{sorted(answering - set(pods))}")
    _judge(prober, f"scaling {' -> '.join(str(s) for s in steps)}", problems)
    verdict = Verdict("scaling the frontend", ["replicas", "rolled out", "pods", "answered in the last 3 s"], rows, problems)
    return verdict, prober


def restart_leader(inv, address, timeout: float = 180.0) -> tuple[Verdict, Prober]:
    """Delete the leader's pod; the entries survive on its volume, writes resume, followers re-attach."""
    from kubernetes import client  # noqa: PLC0415

    from helpers.guestbook.install import wait_replicated  # noqa: PLC0415
    from helpers.kube_wait import pod_ready, wait_statefulset_ready  # noqa: PLC0415
    from helpers.waiting import WaitTimeout, poll_until  # noqa: PLC0415

    api = api_client(inv)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    problems: list[str] = []
    pod = f"{LEADER}-0"
    before = read_entries(address)["entries"]
    old = core.read_namespaced_pod(pod, NAMESPACE)
    node_before = old.spec.node_name

    def replaced_and_ready(p) -> bool:
        return p is not None and p.metadata.uid != old.metadata.uid and pod_ready(p)

    def read_pod():
        found = core.list_namespaced_pod(NAMESPACE, field_selector=f"metadata.name={pod}").items
        return found[0] if found else None

    with Prober(_reader(address), interval=1 / RATE, limit=timeout + 30) as prober:
        time.sleep(2)
        prober.marks = [(prober.now(), f"{pod} deleted")]
        core.delete_namespaced_pod(pod, NAMESPACE)
        # the StatefulSet's status still says Ready for a moment: wait for the new pod itself
        waited = poll_until(read_pod, replaced_and_ready, what=f"a new {pod} Ready", where=f"Pod/{NAMESPACE}/{pod}",
                            timeout=timeout, interval=0.5,
                            describe=lambda p: "absent" if p is None else f"{p.status.phase} uid {p.metadata.uid}").seconds
        wait_statefulset_ready(apps, NAMESPACE, LEADER, timeout=timeout)
        prober.marks.append((prober.now(), "Ready again"))

        def write_once():
            try:
                return call(address, "POST", "/api/entries", {"entry": "written after the leader came back"})
            except GuestbookError as err:
                return 0, str(err)
        wrote = poll_until(write_once, lambda r: r[0] == 201, what="a write accepted", where=f"http://{address}",
                           timeout=60, interval=1.0, describe=lambda r: f"{r[0]} {str(r[1])[:120]}")
        time.sleep(1)
    node_after = core.read_namespaced_pod(pod, NAMESPACE).spec.node_name
    after = read_entries(address)["entries"]
    missing = [e for e in before if e not in after]
    _judge(prober, f"{pod} restarted (reads are served by the followers)", problems)
    if missing:
        problems.append(f"{len(missing)} entr(ies) written before the restart are gone, e.g. {missing[:2]}")
    if node_after != node_before:
        problems.append(f"{pod} came back on {node_after}, not on {node_before} where its volume is")
    try:
        relinked = f"{wait_replicated(inv, timeout=60):.1f} s after the write"
    except WaitTimeout as err:
        relinked = "no"
        problems.append(f"after the restart the followers did not all replicate again: {err}")
    linked = [replication(inv, f"{FOLLOWER}-{n}").get("master_link_status", "?") for n in range(REPLICAS[FOLLOWER])]
    rows = [("leader back", f"{pod} on {node_after}", f"{waited:.1f} s"),
            ("entries kept", f"{len(before) - len(missing)} of {len(before)}", ""),
            ("first write accepted", f"{wrote.value[0]}", f"{wrote.seconds:.1f} s after it was Ready"),
            ("followers' links", ", ".join(linked), relinked)]
    return Verdict(f"restarting {pod}", ["what", "saw", "after"], rows, problems), prober


@dataclass
class Drilled:
    """A drill's outcome, measured now or recalled: the verdict, the probes and the moments marked on them."""

    verdict: Verdict
    samples: list[Sample]
    marks: list[tuple[float, str]]
    measured_now: bool
    why: str
    measured_at: str


DRILLS = {"lose-frontend": lose_frontend, "scale-frontend": scale_frontend, "restart-leader": restart_leader}


def drill(inv, name: str, when: str = "auto") -> Drilled:
    """Run drill ``name`` (a key of :data:`DRILLS`) when due, else recall its record (``cluster_dir/guestbook``)."""
    from helpers.guestbook.objects import address  # noqa: PLC0415
    from helpers.records import run_or_recall  # noqa: PLC0415

    if name not in DRILLS:
        raise ValueError(f"no drill {name!r}; the drills are {', '.join(DRILLS)}")

    def run():
        verdict, prober = DRILLS[name](inv, address(inv))
        return ({"verdict": verdict.to_dict(), "samples": to_json(prober.samples),
                 "marks": [[round(t, 3), label] for t, label in prober.marks]}, verdict.ok)

    record, now, why = run_or_recall(inv.cluster_dir / "guestbook" / f"{name}.json", when, run)
    return Drilled(Verdict.from_dict(record["verdict"]), from_json(record["samples"]),
                   [(float(t), str(label)) for t, label in record["marks"]], now, why, record["measured_at"])
