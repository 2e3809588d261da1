"""What the resource metrics API says: CPU and memory per node and per pod, as ``kubectl top`` reads them.

The API (``metrics.k8s.io/v1beta1``, served by metrics-server through the API server's
aggregation layer) holds only the latest sample of each: CPU as the rate over the last
scrape window (``window``, 15 s here), memory as the working set. It keeps no history; a
plot over time is made by reading it repeatedly (:func:`sample`).
"""

from __future__ import annotations

from typing import Any

from helpers.kube import api_client
from helpers.verdict import Verdict

GROUP, VERSION = "metrics.k8s.io", "v1beta1"


def cpu_millicores(quantity: str) -> float:
    """'12345678n' / '250u' / '15m' / '2' -> millicores.

    >>> cpu_millicores("12345678n"), cpu_millicores("15m"), cpu_millicores("2")
    (12.345678, 15.0, 2000.0)
    """
    units = {"n": 1e-6, "u": 1e-3, "m": 1.0}
    if quantity and quantity[-1] in units:
        return float(quantity[:-1]) * units[quantity[-1]]
    return float(quantity) * 1000


def memory_mib(quantity: str) -> float:
    """'123456Ki' / '64Mi' / '1Gi' / '1048576' -> MiB."""
    units = {"Ki": 1 / 1024, "Mi": 1.0, "Gi": 1024.0, "k": 1000 / 1048576, "M": 1e6 / 1048576, "G": 1e9 / 1048576}
    for suffix in sorted(units, key=len, reverse=True):
        if quantity.endswith(suffix):
            return float(quantity[: -len(suffix)]) * units[suffix]
    return float(quantity) / 1048576


def node_usage(inv) -> dict[str, dict[str, Any]]:
    """Each node's latest sample: cpu (millicores), memory (MiB), timestamp, window."""
    from kubernetes import client  # noqa: PLC0415

    items = client.CustomObjectsApi(api_client(inv)).list_cluster_custom_object(GROUP, VERSION, "nodes")["items"]
    return {i["metadata"]["name"]: {"cpu": cpu_millicores(i["usage"]["cpu"]), "memory": memory_mib(i["usage"]["memory"]),
                                    "timestamp": i["timestamp"], "window": i["window"]} for i in items}


def pod_usage(inv, namespace: str, selector: str = "") -> dict[str, dict[str, float]]:
    """Each pod's latest sample in ``namespace`` (summed over its containers): cpu (millicores), memory (MiB)."""
    from kubernetes import client  # noqa: PLC0415

    items = client.CustomObjectsApi(api_client(inv)).list_namespaced_custom_object(
        GROUP, VERSION, namespace, "pods", label_selector=selector)["items"]
    return {i["metadata"]["name"]: {"cpu": sum(cpu_millicores(c["usage"]["cpu"]) for c in i["containers"]),
                                    "memory": sum(memory_mib(c["usage"]["memory"]) for c in i["containers"])}
            for i in items}


def verify_metrics(inv, namespace: str, within: float = 90.0) -> Verdict:
    """Every node and every running pod of ``namespace`` has a sample (within ``within`` s of metrics-server's start)."""
    from kubernetes import client  # noqa: PLC0415

    from helpers.waiting import settle  # noqa: PLC0415

    core = client.CoreV1Api(api_client(inv))
    nodes = sorted(n.metadata.name for n in core.list_node().items)
    pods = sorted(p.metadata.name for p in core.list_namespaced_pod(namespace).items if p.status.phase == "Running")

    def look():
        try:
            return node_usage(inv), pod_usage(inv, namespace), ""
        except Exception as err:  # noqa: BLE001 - an unavailable API is what the verdict reports
            return {}, {}, f"{type(err).__name__}: {str(err)[:200]}"

    seen_nodes, seen_pods, error = settle(look, lambda r: set(nodes) <= set(r[0]) and set(pods) <= set(r[1]),
                                          within=within, interval=3.0).value
    rows = [("node", n, f"{seen_nodes[n]['cpu']:.0f}m", f"{seen_nodes[n]['memory']:.0f}Mi") if n in seen_nodes
            else ("node", n, "-", "-") for n in nodes]
    rows += [("pod", p, f"{seen_pods[p]['cpu']:.1f}m", f"{seen_pods[p]['memory']:.1f}Mi") if p in seen_pods
             else ("pod", p, "-", "-") for p in pods]
    problems = [f"the metrics API has no sample for node {n}" for n in nodes if n not in seen_nodes]
    problems += [f"the metrics API has no sample for pod {namespace}/{p}" for p in pods if p not in seen_pods]
    if error:
        problems.insert(0, f"reading metrics.k8s.io failed: {error}")
    return Verdict(f"resource metrics of the nodes and of {namespace}", ["kind", "name", "cpu", "memory"], rows, problems)


