"""11's pictures and tables, drawn from the probes: a timeline per drill, one table for all."""

from __future__ import annotations

from typing import Any

from helpers.resilience.probes import KINDS
from helpers.resilience.runner import Drill
from helpers.tables import Table

LABELS = {"reads": "reads (GET through the VIP)", "writes": "writes (POST through the VIP)",
          "app": "application requests"}


def plot_drill(d: Drill) -> Any:
    """Probes as dots (answered green, failed red) on a row per kind; the failure to the restore shaded."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    lo, hi = d.window
    fig, ax = plt.subplots(figsize=(10, 2.9))
    kinds = [k for k in KINDS if d.samples.get(k)]
    labelled = False
    for row, kind in enumerate(kinds):
        ok = [s.t - d.t_fail for s in d.samples[kind] if s.ok]
        bad = [s.t - d.t_fail for s in d.samples[kind] if not s.ok]
        ax.scatter(ok, [row] * len(ok), s=5, color="tab:green", label="answered" if row == 0 else None)
        ax.scatter(bad, [row] * len(bad), s=14, color="tab:red", marker="x",
                   label="failed" if bad and not labelled else None)
        labelled = labelled or bool(bad)
    end = (d.t_restore if d.t_restore is not None else hi) - d.t_fail
    ax.axvspan(0, end, color="tab:red", alpha=0.08, label="failure until restored")
    for i, (t, label) in enumerate(sorted(d.marks)):
        x = t - d.t_fail
        ax.axvline(x, color="grey", linestyle="--", linewidth=0.7)
        ax.annotate(label, (x, len(kinds) - 0.35 + 0.3 * (i % 3)), fontsize=7, xytext=(2, 0),
                    textcoords="offset points")
    ax.set_yticks(range(len(kinds)), [LABELS[k] for k in kinds], fontsize=8)
    ax.set_ylim(-0.6, len(kinds) + 0.7)
    ax.set_xlim(lo - d.t_fail - 1, hi - d.t_fail + 1)
    ax.set_xlabel("seconds after the failure (the window: 10 s before it to 110 s after)")
    rates = ", ".join(f"{k} {d.summary[k]['ratio']:.1%}" for k in kinds if k in d.summary)
    ax.set_title(f"{d.title} ({d.victim}): answered {rates}", fontsize=9)
    ax.legend(loc="lower right", fontsize=7, ncol=3)
    fig.tight_layout()
    return fig


def _rate(d: Drill, kind: str) -> str:
    s = d.summary.get(kind)
    if not s:
        return "-"
    return f"{s['ratio']:.1%} ({s['answered']}/{s['probes']}), longest outage {s['longest_outage']} s"


def drills_table(drills: list[Drill]) -> Table:
    """One row per drill: answered share of each kind, longest outage, recovery, writes lost, verdict."""
    rows = []
    for d in drills:
        recovered = f"{d.t_recovered - d.t_fail:.1f} s" if d.t_recovered is not None else "not seen"
        rows.append([d.name, d.victim, _rate(d, "reads"), _rate(d, "writes"), _rate(d, "app"), recovered,
                     f"{d.healthy_after:.0f} s", len(d.writes.get("lost", [])) if d.writes else "-",
                     "pass" if d.verdict and d.verdict.ok else "FAIL"])
    return Table(["drill", "lost", "reads", "writes", "application", "recovered after", "whole again after window",
                  "writes lost", "goals"], rows, "the drills, as the operator's machine saw them")
