"""The printed summary: notebooks, lab and idle cost, parallel fan-out, goals."""

from __future__ import annotations

from bench.results import NOT_WRITTEN
from helpers.tables import Table


def _fmt(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}"


def _cell(run: dict | None) -> str:
    if run is None:
        return NOT_WRITTEN
    if run.get("status") == "ok":
        return _fmt(run["seconds"])
    if run.get("seconds") is not None:
        return f"{run['status']} ({run['seconds']:.1f})"
    return run.get("status", "-")


def tables(results: dict) -> list[Table]:
    """The printed summary: notebooks, lab and idle cost, goals."""
    out = [Table(["notebook", "fresh s", "re-run s"],
                 [[r["notebook"], _cell(r["fresh"]), _cell(r["rerun"])] for r in results["notebooks"]],
                 title=f"notebooks on lab {results['lab_name']}")]
    lab = results.get("lab") or {}
    idle = results.get("idle") or {}
    lab_rows = [[k.removesuffix("_s").replace("_", " "), _fmt(v)] for k, v in lab.items() if k.endswith("_s")]
    if idle.get("cpu_cores") is not None:
        lab_rows.append([f"idle CPU over {idle['seconds']:.0f} s",
                         f"{idle['cpu_cores']:.2f} cores ({idle['cpu_percent_of_host']:.0f}% of host)"])
        lab_rows.append(["idle memory", f"{idle['memory_mib']:.0f} MiB "
                         f"(rss {idle['rss_mib']:.0f}, cache {idle['cache_mib']:.0f})"])
    elif idle.get("reason"):
        lab_rows.append(["idle", f"skipped: {idle['reason']}"])
    out.append(Table(["lab", "value"], lab_rows, title="lab (seconds unless stated)"))
    workers = results.get("workers") or {}
    if workers.get("ratio") is not None:
        w_rows = [[f"{n} worker(s)", _fmt(workers["runs"][str(n)].get("seconds"))] for n in (1, 4)]
        w_rows.append(["ratio 4/1", f"{workers['ratio']:.2f}"])
    else:
        w_rows = [["skipped", workers.get("reason", "-")]]
    out.append(Table(["05-workers", "s"], w_rows, title="parallel fan-out"))
    out.append(Table(["goal", "value", "limit", "verdict", "note"],
                     [[g["goal"], "-" if g["value"] is None else f"{g['value']}{g['unit']}",
                       f"< {g['limit']}{g['unit']}", g["verdict"], g["note"]]
                      for g in results.get("goals", [])], title="goals"))
    return out
