"""09's pictures of the metrics: the autoscaler's view, and CPU and memory per node and per pod, under load.

Both are drawn from what :func:`helpers.metrics.autoscale.autoscale_drill` recorded every
few seconds (the HPA's status, the metrics API's latest samples, the requests sent).
"""

from __future__ import annotations

from typing import Any

from helpers.metrics.autoscale import Timeline


def _pyplot():
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def request_rate(timeline: Timeline) -> list[float]:
    """Requests per second between consecutive records (0 for the first)."""
    rates = [0.0]
    for a, b in zip(timeline.records, timeline.records[1:], strict=False):
        dt = b["t"] - a["t"]
        rates.append((b["requests"] - a["requests"]) / dt if dt > 0 else 0.0)
    return rates


def plot_autoscale(timeline: Timeline, minimum: int, maximum: int, target: int) -> Any:
    """Replicas (current, desired) against the load sent, and the CPU utilisation the HPA computed."""
    plt = _pyplot()
    t = [r["t"] for r in timeline.records]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    for ax in (top, bottom):
        ax.axvspan(timeline.load_started, timeline.load_stopped, color="tab:orange", alpha=0.15, label="load")
    top.step(t, [r["current"] for r in timeline.records], where="post", label="current replicas")
    top.step(t, [r["desired"] for r in timeline.records], where="post", linestyle="--", label="desired replicas")
    top.set_ylim(0, maximum + 1)
    top.axhline(minimum, color="grey", linewidth=0.5)
    top.set_ylabel("replicas")
    rate = top.twinx()
    rate.plot(t, request_rate(timeline), color="tab:purple", alpha=0.6, linewidth=1, label="requests/s (right)")
    rate.set_ylabel("requests/s")
    handles = top.get_legend_handles_labels()[0] + rate.get_legend_handles_labels()[0]
    top.legend(handles=handles, loc="upper right", fontsize=8)
    bottom.plot(t, [r["cpu"] if r["cpu"] is not None else float("nan") for r in timeline.records], marker=".",
                label="CPU used / requested (HPA)")
    bottom.axhline(target, color="tab:red", linestyle=":", label=f"target {target}%")
    bottom.set_ylabel("CPU %")
    bottom.set_xlabel("seconds")
    bottom.legend(loc="upper right", fontsize=8)
    top.set_title("the HorizontalPodAutoscaler: replicas against the load from the operator's machine")
    fig.tight_layout()
    return fig


def plot_usage(timeline: Timeline) -> Any:
    """CPU (millicores) and memory (MiB) of each node and each pod of the namespace, the load shaded."""
    plt = _pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(11, 6.5), sharex=True)
    for row, kind in enumerate(("nodes", "pods")):
        names = sorted({n for r in timeline.records for n in r.get(kind, {})})
        for col, (metric, unit) in enumerate((("cpu", "CPU (millicores)"), ("memory", "memory (MiB)"))):
            ax = axes[row][col]
            ax.axvspan(timeline.load_started, timeline.load_stopped, color="tab:orange", alpha=0.15)
            for name in names:
                points = [(r["t"], r[kind][name][metric]) for r in timeline.records if name in r.get(kind, {})]
                ax.plot([p[0] for p in points], [p[1] for p in points], marker=".", markersize=3, linewidth=1,
                        label=name)
            ax.set_title(f"{unit} per {kind[:-1]}", fontsize=10)
            if row == 1:
                ax.set_xlabel("seconds")
        axes[row][1].legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=7)
    fig.suptitle("what the metrics API said during the load (the shaded span)", fontsize=11)
    fig.tight_layout()
    return fig
