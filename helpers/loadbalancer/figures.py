"""The failover drills as the notebook shows them: a table of the moves and a timeline figure."""

from __future__ import annotations

from typing import Any

from helpers.loadbalancer.failover import Failover


def failover_table(drills: list[Failover]) -> Any:
    """Return one row per drill: what stopped, where the VIP went, how long each move took."""
    from helpers.tables import Table

    def secs(v: float | None) -> str:
        return f"{v:.2f} s" if v is not None else "did not happen"

    return Table(["stopped", "on", "VIP moved to", "failover", "failback (after restart)"],
                 [[d.service, d.primary, d.secondary or "-", secs(d.failover_seconds), secs(d.failback_seconds)]
                  for d in drills], title="VIP failover, seen from the operator's machine")


def plot_failover(drills: list[Failover], lbs: list[str]) -> Any:
    """Return a matplotlib Figure: per drill, which lb held the VIP over time and when TCP worked."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 2.6 * len(drills)), dpi=100)
    axes = fig.subplots(len(drills), 1, squeeze=False)[:, 0]
    lanes = {name: i for i, name in enumerate(lbs)}
    for ax, d in zip(axes, drills, strict=True):
        for name, lane in lanes.items():
            xs = [t for t, holder, _ in d.samples if name in holder.split(",")]
            ax.scatter(xs, [lane] * len(xs), s=14, marker="s", color="#5b8def", label="holds VIP" if lane == 0 else None)
        bad = [t for t, _, ok in d.samples if not ok]
        ax.scatter(bad, [-1] * len(bad), s=14, marker="x", color="#c62828", label="TCP to VIP:6443 fails")
        good = [t for t, _, ok in d.samples if ok]
        ax.scatter(good, [-1] * len(good), s=10, marker="o", color="#2e7d32", label="TCP to VIP:6443 works")
        ax.axvline(0, color="#555555", ls="--", lw=1)
        ax.axvline(d.restart_at, color="#555555", ls=":", lw=1)
        ax.text(0, len(lanes) - 0.4, f" stop {d.service}", fontsize=8)
        ax.text(d.restart_at, len(lanes) - 0.75, f" start {d.service}", fontsize=8)
        ax.set_yticks([-1, *lanes.values()], ["operator TCP", *lanes.keys()])
        ax.set_ylim(-1.6, len(lanes) - 0.1)
        ax.set_xlabel("seconds since the stop command")
        fo = f"{d.failover_seconds:.2f} s" if d.failover_seconds is not None else "none"
        ax.set_title(f"stop {d.service} on {d.primary}: failover {fo}", fontsize=10, loc="left")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    return fig
