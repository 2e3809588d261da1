"""The worker drill's own Deployment: pods that leave a lost node after 10 s, not 5 minutes.

Every pod gets two tolerations by default (the DefaultTolerationSeconds admission plugin):
``node.kubernetes.io/not-ready`` and ``node.kubernetes.io/unreachable``, ``NoExecute``, for
300 s. When a node stops reporting, the node controller taints it ``unreachable`` once
the node monitor grace period has passed (50 s), and a pod is evicted when its toleration
runs out. This Deployment tolerates both for :data:`TOLERATION` seconds only, so its pods
are replaced on the other worker about a minute after the machine is lost.
"""

from __future__ import annotations

from typing import Any

from helpers.resilience.probes import NAMESPACE

NAME = "survivor"
REPLICAS = 4
TOLERATION = 10
PORT = 8080


def deployment(image: str, workers: list[str]) -> dict[str, Any]:
    """The Deployment: agnhost ``netexec`` on the ``workers``, spread over them, short NoExecute tolerations."""
    labels = {"app": NAME}
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": sorted(workers)}]}]}}}
    tolerations = [{"key": f"node.kubernetes.io/{t}", "operator": "Exists", "effect": "NoExecute",
                    "tolerationSeconds": TOLERATION} for t in ("not-ready", "unreachable")]
    container = {
        "name": "netexec", "image": image, "args": ["netexec", f"--http-port={PORT}"],
        "ports": [{"containerPort": PORT}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": PORT}, "periodSeconds": 2},
        "resources": {"requests": {"cpu": "5m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True, "runAsUser": 65532,
                            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
    }
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels},
        "spec": {"replicas": REPLICAS, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {
                     "tolerations": tolerations, "terminationGracePeriodSeconds": 5, "affinity": affinity,
                     "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                                    "whenUnsatisfiable": "ScheduleAnyway",
                                                    "labelSelector": {"matchLabels": labels}}],
                     "containers": [container]}}},
    }


def workers(inv) -> list[str]:
    """The inventory's workers (the Deployment runs there, where the worker drill strikes)."""
    return [h.name for h in inv.hosts_with("worker")]


def ensure_workload(inv) -> Any:
    """Apply the Deployment (server-side), wait for it to roll out, and see that it is spread; return the report."""
    from kubernetes import client  # noqa: PLC0415

    from helpers.kube import api_client  # noqa: PLC0415
    from helpers.kube_apply import apply_objects  # noqa: PLC0415
    from helpers.kube_wait import wait_rolled_out  # noqa: PLC0415
    from helpers.releases import bundle_image  # noqa: PLC0415

    api = api_client(inv)
    report = apply_objects(api, [deployment(bundle_image("agnhost"), workers(inv))], f"Deployment {NAMESPACE}/{NAME}")
    apps = client.AppsV1Api(api)
    wait_rolled_out(apps, NAMESPACE, NAME)
    respread(inv)
    return report


def respread(inv) -> bool:
    """Restart the Deployment's pods when a worker has none; return whether it did.

    After a worker drill they all run on the others; the scheduler's spreading places the new
    ones evenly.
    """
    import datetime as dt  # noqa: PLC0415

    from kubernetes import client  # noqa: PLC0415

    from helpers.kube import api_client  # noqa: PLC0415
    from helpers.kube_wait import wait_rolled_out  # noqa: PLC0415

    if all(placement(inv).get(w) for w in workers(inv)):
        return False
    apps = client.AppsV1Api(api_client(inv))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    apps.patch_namespaced_deployment(NAME, NAMESPACE, {"spec": {"template": {"metadata": {"annotations": {
        "kj-resilience/respread": stamp}}}}})
    wait_rolled_out(apps, NAMESPACE, NAME)
    return True


def placement(inv) -> dict[str, list[str]]:
    """Node -> the Ready, not-terminating pods of the Deployment on it."""
    from kubernetes import client  # noqa: PLC0415

    from helpers.kube import api_client  # noqa: PLC0415
    from helpers.kube_wait import pod_ready  # noqa: PLC0415

    pods = client.CoreV1Api(api_client(inv)).list_namespaced_pod(NAMESPACE, label_selector=f"app={NAME}",
                                                                 _request_timeout=5).items
    out: dict[str, list[str]] = {}
    for p in pods:
        if p.metadata.deletion_timestamp is None and pod_ready(p):
            out.setdefault(p.spec.node_name, []).append(p.metadata.name)
    return out
