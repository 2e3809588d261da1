"""09's pictures, drawn from what was measured: which pod answered each probe, and when the cluster changed."""

from __future__ import annotations

from typing import Any

from helpers.prober import Sample, summarize


def plot_probes(samples: list[Sample], title: str, marks: list[tuple[float, str]] = ()) -> Any:
    """Each probe as a dot in the row of the pod that answered it (failures in red, on their own row)."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    pods = sorted({s.detail for s in samples if s.ok})
    rows = {pod: i for i, pod in enumerate(pods)}
    failed_row = len(pods)
    fig, ax = plt.subplots(figsize=(9, 0.45 * (len(pods) + 1) + 1.6))
    ok = [s for s in samples if s.ok]
    bad = [s for s in samples if not s.ok]
    ax.scatter([s.t for s in ok], [rows[s.detail] for s in ok], s=6, color="tab:green", label="answered")
    if bad:
        ax.scatter([s.t for s in bad], [failed_row] * len(bad), s=10, color="tab:red", marker="x", label="failed")
    for i, (t, label) in enumerate(marks):
        ax.axvline(t, color="grey", linestyle="--", linewidth=0.8)
        # alternate heights, so that marks close in time do not print over each other
        ax.annotate(label, (t, len(pods) + 0.45 - 0.4 * (i % 2)), fontsize=8, xytext=(3, 0), textcoords="offset points")
    ax.set_yticks(list(range(len(pods))) + ([failed_row] if bad else []), pods + (["failed"] if bad else []), fontsize=8)
    ax.set_ylim(-0.7, len(pods) + 0.9)
    ax.set_xlabel("seconds")
    summary = summarize(samples)
    ax.set_title(f"{title}: {summary['answered']} of {summary['probes']} probes answered", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig
