"""Where the volumes are, read from the live API: one column per node, its volumes, their claims and pods.

A node-local volume exists on one node only; the picture makes that visible. Each box is a
PersistentVolume of the ``local-path`` class, placed under the node its node affinity
names, labelled with its claim and the pods that mount the claim — which, by that same
affinity, run on that node.
"""

from __future__ import annotations

from typing import Any

from helpers.storage.install import CLASS
from helpers.storage.volumes import affinity_node


def live_volumes(inv) -> dict[str, list[tuple[str, str, list[str]]]]:
    """Node -> [(PV, namespace/claim, [pods using the claim])] for every ``local-path`` PV."""
    from kubernetes import client  # noqa: PLC0415

    from helpers.kube import api_client  # noqa: PLC0415

    core = client.CoreV1Api(api_client(inv))
    users: dict[tuple[str, str], list[str]] = {}
    for pod in core.list_pod_for_all_namespaces().items:
        for vol in pod.spec.volumes or []:
            if vol.persistent_volume_claim:
                users.setdefault((pod.metadata.namespace, vol.persistent_volume_claim.claim_name), []).append(
                    f"{pod.metadata.name} @ {pod.spec.node_name or '?'}")
    out: dict[str, list[tuple[str, str, list[str]]]] = {n.metadata.name: [] for n in core.list_node().items}
    for pv in core.list_persistent_volume().items:
        if pv.spec.storage_class_name != CLASS:
            continue
        ref = pv.spec.claim_ref
        claim = (ref.namespace, ref.name) if ref else ("", "")
        out.setdefault(affinity_node(pv) or "?", []).append(
            (pv.metadata.name, "/".join(claim), sorted(users.get(claim, []))))
    return {node: sorted(vols, key=lambda v: v[1]) for node, vols in sorted(out.items())}


def plot_volumes(inv, volumes: dict[str, list[tuple[str, str, list[str]]]] | None = None) -> Any:
    """Draw :func:`live_volumes` (or the mapping given); returns the matplotlib figure."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    volumes = volumes if volumes is not None else live_volumes(inv)
    nodes = list(volumes)
    rows = max([len(v) for v in volumes.values()] + [1])
    fig, ax = plt.subplots(figsize=(max(8.0, 3.2 * len(nodes)), 1.1 * rows + 1.4))
    ax.set_xlim(0, len(nodes))
    ax.set_ylim(-rows - 0.2, 0.8)
    ax.axis("off")
    for i, node in enumerate(nodes):
        ax.text(i + 0.5, 0.35, node, ha="center", fontweight="bold")
        ax.plot([i + 0.05, i + 0.95], [0.1, 0.1], color="#888888")
        if not volumes[node]:
            ax.text(i + 0.5, -0.5, "no local-path volume", ha="center", color="#999999", fontsize=9)
        for j, (pv, claim, pods) in enumerate(volumes[node]):
            text = f"claim {claim}\n{pv[:22]}…\n" + ("\n".join(pods) if pods else "(no pod)")
            ax.text(i + 0.5, -j - 0.5, text, ha="center", va="center", fontsize=8, family="monospace",
                    bbox={"boxstyle": "round", "fc": "#e8f0fb" if pods else "#f3f3f3", "ec": "#5b8def"})
    ax.set_title(f"{CLASS} volumes by the node that holds them (each claim's pods run there too)")
    fig.tight_layout()
    return fig
