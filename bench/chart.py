"""The chart: fresh vs re-run per notebook, and 05-workers with 1 vs 4 workers (``bench.png``)."""

from __future__ import annotations

from pathlib import Path

from bench.results import GOALS, NOT_WRITTEN, WORKERS_NOTEBOOK


def write_chart(results: dict, path: Path) -> Path:
    """Bar chart: fresh vs re-run per notebook, and 05-workers with 1 vs 4 workers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["notebooks"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [3, 1]})
    names = [r["notebook"] for r in rows]
    xs = range(len(rows))

    def secs(r: dict, key: str) -> float:
        run = r[key]
        return run["seconds"] if run and run.get("status") == "ok" and run.get("seconds") else 0.0

    width = 0.38
    for offset, key, label, colour in ((-width / 2, "fresh", "fresh build", "#1565c0"),
                                        (width / 2, "rerun", "idempotent re-run", "#90caf9")):
        values = [secs(r, key) for r in rows]
        if key == "fresh":
            lab = results.get("lab") or {}
            extra = (lab.get("artifacts_s") or 0.0) + (lab.get("up_cold_s") or 0.0)
            text = f"{label}: {sum(values):.0f} s + {extra:.0f} s artifacts and lab up (goal < {GOALS['fresh_build_s']:.0f} s)"
        else:
            text = f"{label}: {sum(values):.0f} s (goal < {GOALS['rerun_s']:.0f} s)"
        bars = left.bar([x + offset for x in xs], values, width, color=colour, label=text)
        left.bar_label(bars, labels=[f"{v:.0f}" if v else "" for v in values], fontsize=8)
    top = max([secs(r, k) for r in rows for k in ("fresh", "rerun")] + [1.0])
    for x, r in zip(xs, rows, strict=True):
        if r["status"] == NOT_WRITTEN:
            left.text(x, top * 0.05, NOT_WRITTEN, rotation=90, ha="center", va="bottom",
                      fontsize=9, color="#757575")
        elif r["fresh"] and r["fresh"].get("status") != "ok":
            state = r["fresh"].get("status", "")
            left.text(x, top * 0.05, state, rotation=90, ha="center", va="bottom", fontsize=9,
                      color="#c62828" if state == "failed" else "#757575")
    left.set_xticks(list(xs), [n.replace("-", "-\n", 1) for n in names], fontsize=9)
    left.set_ylabel("wall time (s)")
    left.set_ylim(0, top * 1.4)
    left.set_title(f"notebooks on lab {results['lab_name']}")
    left.legend(loc="upper right")

    workers = results.get("workers") or {}
    right.set_title(f"{WORKERS_NOTEBOOK}: parallel fan-out")
    if workers.get("ratio") is not None:
        vals = [workers["runs"][str(n)]["seconds"] for n in (1, 4)]
        bars = right.bar(["1 worker", "4 workers"], vals, color=["#2e7d32", "#66bb6a"])
        right.bar_label(bars, fmt="%.0f", fontsize=9)
        right.axhline(vals[0] * GOALS["workers_ratio"], ls="--", color="#c62828", lw=1,
                      label=f"goal: < {GOALS['workers_ratio']}x of 1 worker")
        right.set_ylabel("wall time (s)")
        right.legend(loc="lower right", fontsize=8)
    else:
        right.set_xticks([])
        right.set_yticks([])
        right.text(0.5, 0.5, "skipped:\n" + _wrap(workers.get("reason", "-"), 28), ha="center",
                   va="center", transform=right.transAxes, fontsize=9, color="#757575")
    load = results.get("host", {})
    fig.suptitle(f"kubernetes-journey bench {results.get('started', '')}  (shared host, "
                 f"load {load.get('loadavg_start', ['?'])[0]} -> {load.get('loadavg_end', ['?'])[0]}; noisy)",
                 fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)) or "-"
