"""A HorizontalPodAutoscaler on a Deployment, driven by bounded load from the operator's machine.

The HPA controller (in kube-controller-manager) reads the pods' CPU from the resource
metrics API every 15 s and sets ``replicas`` to ``ceil(current × usage / target)``, where
usage is CPU used over CPU *requested*: a Deployment without requests cannot be scaled on
CPU. :func:`autoscale_drill` creates the HPA, sends requests from a few threads (bounded in
time and in count) until the HPA has scaled up, stops, waits for the scale-down, then
deletes the HPA and puts the replicas back, so a re-run finds what it found the first
time. Every few seconds it records the HPA's view (current and desired replicas, the CPU
utilisation it computed) and the requests answered, for :func:`plot_autoscale`.
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from helpers.kube import api_client
from helpers.verdict import Verdict

HPA = "kj-autoscale"


@dataclass
class Timeline:
    """What the drill saw: a record every ``interval`` seconds, and the moments the load started and stopped."""

    records: list[dict[str, Any]] = field(default_factory=list)
    load_started: float = 0.0
    load_stopped: float = 0.0
    requests: int = 0
    failed: int = 0


def hpa_document(namespace: str, deployment: str, minimum: int, maximum: int, target: int) -> dict[str, Any]:
    """autoscaling/v2: CPU ``target`` % of requests, scale up at once, scale down after 20 s of less."""
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": HPA, "namespace": namespace,
                         "labels": {"app.kubernetes.io/managed-by": "kubernetes-journey"}},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
                     "minReplicas": minimum, "maxReplicas": maximum,
                     "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                         "type": "Utilization", "averageUtilization": target}}}],
                     "behavior": {"scaleUp": {"stabilizationWindowSeconds": 0},
                                  "scaleDown": {"stabilizationWindowSeconds": 20,
                                                "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}}}}


def _hpa_view(autoscaling, namespace: str) -> dict[str, Any]:
    hpa = autoscaling.read_namespaced_horizontal_pod_autoscaler(HPA, namespace)
    st = hpa.status
    utilisation = None
    for metric in st.current_metrics or []:
        if metric.resource and metric.resource.name == "cpu" and metric.resource.current:
            utilisation = metric.resource.current.average_utilization
    able = {c.type: c.status for c in st.conditions or []}
    return {"current": st.current_replicas or 0, "desired": st.desired_replicas or 0, "cpu": utilisation,
            "scaling_active": able.get("ScalingActive")}


def _usage(inv, namespace: str) -> dict[str, Any]:
    """The nodes' and the namespace's pods' latest samples (empty where the metrics API had none)."""
    from helpers.metrics.usage import node_usage, pod_usage  # noqa: PLC0415

    out: dict[str, Any] = {"nodes": {}, "pods": {}}
    try:
        out["nodes"] = {n: {"cpu": round(u["cpu"], 1), "memory": round(u["memory"], 1)} for n, u in node_usage(inv).items()}
        out["pods"] = {p: {"cpu": round(u["cpu"], 1), "memory": round(u["memory"], 1)}
                       for p, u in pod_usage(inv, namespace).items()}
    except Exception:  # noqa: BLE001, S110 - a missed sample is a gap in the plot, not a failure
        pass
    return out


def _load(address, path: str, stop: threading.Event, timeline: Timeline, lock: threading.Lock,
          max_requests: int) -> None:
    conn = None
    while not stop.is_set():
        with lock:
            if timeline.requests >= max_requests:
                return
            timeline.requests += 1
        try:
            conn = conn or http.client.HTTPConnection(str(address), 80, timeout=3)
            conn.request("GET", path, headers={"User-Agent": "kubernetes-journey/09-load"})
            resp = conn.getresponse()
            resp.read()
            ok = resp.status == 200
        except (OSError, http.client.HTTPException):
            ok, conn = False, None
        if not ok:
            with lock:
                timeline.failed += 1


def autoscale_drill(inv, namespace: str, deployment: str, address, *, path: str = "/api/entries", minimum: int = 3,
                    maximum: int = 6, target: int = 50, threads: int = 2, load_for: float = 150.0,
                    max_requests: int = 200_000, settle_for: float = 180.0,
                    interval: float = 3.0) -> tuple[Verdict, Timeline]:
    """Scale ``deployment`` up under load and down after it; judge that both happened, then clean up."""
    from kubernetes import client  # noqa: PLC0415

    from helpers.kube_apply import apply_objects  # noqa: PLC0415
    from helpers.kube_wait import wait_deleted, wait_rolled_out  # noqa: PLC0415
    from helpers.waiting import WaitTimeout  # noqa: PLC0415

    api = api_client(inv)
    autoscaling, apps = client.AutoscalingV2Api(api), client.AppsV1Api(api)
    problems: list[str] = []
    timeline = Timeline()
    apply_objects(api, [hpa_document(namespace, deployment, minimum, maximum, target)], "an autoscaler")
    start = time.monotonic()

    def record(phase: str) -> dict[str, Any]:
        view = {"t": time.monotonic() - start, "phase": phase, "requests": timeline.requests,
                **_hpa_view(autoscaling, namespace), **_usage(inv, namespace)}
        timeline.records.append(view)
        return view

    try:
        # the HPA acts only once it has read metrics for every pod: wait for its first utilisation
        # (not recorded: before its first reconcile its status says 0 replicas)
        deadline = time.monotonic() + 90
        while _hpa_view(autoscaling, namespace)["cpu"] is None:
            if time.monotonic() > deadline:
                raise WaitTimeout(f"HorizontalPodAutoscaler/{namespace}/{HPA}", "a CPU utilisation", 90,
                                  f"conditions: {_hpa_view(autoscaling, namespace)}")
            time.sleep(interval)
        start = time.monotonic()
        record("idle")
        stop, lock = threading.Event(), threading.Lock()
        workers = [threading.Thread(target=_load, args=(address, path, stop, timeline, lock, max_requests), daemon=True)
                   for _ in range(threads)]
        timeline.load_started = time.monotonic() - start
        for w in workers:
            w.start()
        peak = minimum
        try:
            deadline = time.monotonic() + load_for
            while time.monotonic() < deadline and any(w.is_alive() for w in workers):
                peak = max(peak, record("load")["current"])
                if peak >= min(maximum, minimum + 2):
                    break
                time.sleep(interval)
        finally:
            stop.set()
            for w in workers:
                w.join(timeout=10)
            timeline.load_stopped = time.monotonic() - start
        if peak <= minimum:
            problems.append(f"under {timeline.requests} requests in {timeline.load_stopped - timeline.load_started:.0f} s "
                            f"the HPA kept {deployment} at {peak} replicas (last CPU "
                            f"{timeline.records[-1]['cpu']}% of requests, target {target}%)")
        deadline = time.monotonic() + settle_for
        while time.monotonic() < deadline:
            view = record("after")
            if view["current"] == minimum and view["desired"] == minimum:
                break
            time.sleep(interval)
        else:
            problems.append(f"{settle_for:.0f} s after the load stopped {deployment} has {timeline.records[-1]['current']} "
                            f"replicas; want {minimum}")
    finally:
        autoscaling.delete_namespaced_horizontal_pod_autoscaler(HPA, namespace)
        wait_deleted(autoscaling.list_namespaced_horizontal_pod_autoscaler, HPA, kind="HorizontalPodAutoscaler",
                     namespace=namespace, timeout=60)
        apps.patch_namespaced_deployment_scale(deployment, namespace, {"spec": {"replicas": minimum}})
        wait_rolled_out(apps, namespace, deployment, timeout=120)
    if timeline.failed:
        problems.append(f"{timeline.failed} of {timeline.requests} load requests failed")
    up = next((r["t"] for r in timeline.records if r["phase"] == "load" and r["current"] > minimum), None)
    down = next((r["t"] for r in timeline.records if r["phase"] == "after" and r["current"] == minimum), None)
    peak_cpu = max((r["cpu"] or 0 for r in timeline.records), default=0)
    rows = [("load", f"{threads} threads, {timeline.requests} requests, {timeline.failed} failed",
             f"{timeline.load_started:.0f}-{timeline.load_stopped:.0f} s"),
            ("highest CPU the HPA saw", f"{peak_cpu}% of requests (target {target}%)", ""),
            ("scaled up", f"to {max(r['current'] for r in timeline.records)} replicas",
             f"{up - timeline.load_started:.0f} s after the load began" if up is not None else "never"),
            ("scaled down", f"to {minimum}", f"{down - timeline.load_stopped:.0f} s after it stopped" if down else "never")]
    return Verdict(f"autoscaling {namespace}/{deployment} on CPU", ["what", "saw", "when"], rows, problems), timeline


def autoscale(inv, namespace: str, deployment: str, address, when: str = "auto",
              **kwargs) -> tuple[Verdict, Timeline, bool, str]:
    """:func:`autoscale_drill` when due, else its record (``cluster_dir/metrics/autoscale.json``).

    Returns:
        ``(verdict, timeline, measured_now, why)``.
    """
    from dataclasses import asdict  # noqa: PLC0415

    from helpers.records import run_or_recall  # noqa: PLC0415

    def run():
        verdict, timeline = autoscale_drill(inv, namespace, deployment, address, **kwargs)
        return {"verdict": verdict.to_dict(), "timeline": asdict(timeline)}, verdict.ok

    record, now, why = run_or_recall(inv.cluster_dir / "metrics" / "autoscale.json", when, run)
    return Verdict.from_dict(record["verdict"]), Timeline(**record["timeline"]), now, why
