"""The pictures of 06, drawn from live (or recorded) data: scaling, a rolling update, load balancing, placement.

Each function returns a matplotlib figure; the notebook shows it (``plt.show()``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def _pyplot():
    import matplotlib.pyplot as plt  # noqa: PLC0415 - only where a picture is drawn

    return plt


def scaling_figure(scaling: Mapping[str, Mapping[str, int]], workers: Sequence[str], note: str = "") -> Any:
    """Bars: replicas per worker after each scaling step (``{"4": {node: n}, "6": ..., "4 again": ...}``)."""
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.2))
    width = 0.8 / max(1, len(workers))
    for i, node in enumerate(workers):
        xs = [x + i * width for x in range(len(scaling))]
        counts = [per_node.get(node, 0) for per_node in scaling.values()]
        ax.bar(xs, counts, width=width, label=node)
        for x, c in zip(xs, counts, strict=True):
            ax.text(x, c + 0.05, str(c), ha="center", fontsize=8)
    ax.set_xticks([x + width * (len(workers) - 1) / 2 for x in range(len(scaling))],
                  [f"replicas={k}" for k in scaling])
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(ylabel="pods on the node",
           title="hostnames replicas per worker while scaling " + " → ".join(k.split()[0] for k in scaling) + note)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def rollout_figure(timeline: Sequence[tuple[float, Mapping[str, int]]], before: Iterable[str], note: str = "") -> Any:
    """Steps: Ready pods of each ReplicaSet over the seconds of a rolling update (old and new marked)."""
    plt = _pyplot()
    old = set(before)
    fig, ax = plt.subplots(figsize=(8, 3))
    for rs in sorted({name for _, ready in timeline for name in ready}):
        label = f"{rs} ({'old' if rs in old else 'new'})"
        ax.step([t for t, _ in timeline], [ready.get(rs, 0) for _, ready in timeline], where="post", label=label)
    seconds = timeline[-1][0] if timeline else 0.0
    ax.set(xlabel="seconds since the update", ylabel="Ready pods",
           title=f"Rolling update: Ready pods per ReplicaSet (maxSurge 1, maxUnavailable 0), {seconds:.0f} s{note}")
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def responses_figure(answers: Counter, replicas: Sequence[str], target: str) -> Any:
    """Bars: responses per pod for requests to ``target``; anything that is not a replica in red."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3))
    names = list(replicas) + sorted(set(answers) - set(replicas))
    ax.bar(range(len(names)), [answers.get(n, 0) for n in names],
           color=["#1565c0" if n in replicas else "#c62828" for n in names])
    ax.set_xticks(range(len(names)), [n.rsplit("-", 1)[-1] if n in replicas else n for n in names])
    ax.axhline(sum(answers.values()) / max(1, len(replicas)), color="#999", ls="--", lw=1, label="even share")
    ax.set(xlabel="pod (name suffix)", ylabel="responses",
           title=f"{sum(answers.values())} requests to {target}: responses per pod")
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def placement_figure(pods: Sequence[Any], workers: Sequence[str], namespace: str) -> Any:
    """Stacked bars: the namespace's pods per node, by app label (or pod name)."""
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    plt = _pyplot()
    by_app: dict[str, Counter] = {}
    for p in pods:
        app = (p.metadata.labels or {}).get("app", p.metadata.name)
        by_app.setdefault(app, Counter())[p.spec.node_name] += 1
    nodes = sorted({p.spec.node_name for p in pods} | set(workers))
    fig, ax = plt.subplots(figsize=(8, 3.2))
    bottom = [0] * len(nodes)
    for app, counts in sorted(by_app.items()):
        values = [counts.get(n, 0) for n in nodes]
        ax.bar(nodes, values, bottom=bottom, label=app)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(ylabel="pods", title=f"Pods per node in namespace {namespace} ({len(pods)} pods)")
    ax.legend(fontsize=8, frameon=False, bbox_to_anchor=(1.01, 1), loc="upper left")
    fig.tight_layout()
    return fig
