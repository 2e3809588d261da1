"""The results: the goals, one row per notebook, the verdicts, and the JSON file."""

from __future__ import annotations

import json
from pathlib import Path

GOALS = {
    "fresh_build_s": 360.0,  # lab up (warm caches) + every notebook, fresh
    "rerun_s": 45.0,  # every notebook again on the built cluster
    "workers_ratio": 1.3,  # 05-workers with 4 workers / with 1
}
WORKERS_NOTEBOOK = "05-workers"
NOT_WRITTEN = "not written yet"


def notebook_rows(planned: tuple[str, ...], present: list[str], fresh: list[dict], rerun: list[dict]) -> list[dict]:
    """One row per planned (or present) notebook: fresh and re-run status and seconds."""
    by_fresh = {r["notebook"]: r for r in fresh}
    by_rerun = {r["notebook"]: r for r in rerun}
    rows = []
    for name in list(dict.fromkeys([*planned, *present])):
        if name not in present:
            rows.append({"notebook": name, "status": NOT_WRITTEN, "fresh": None, "rerun": None})
            continue
        rows.append({
            "notebook": name,
            "status": "present",
            "fresh": by_fresh.get(name, {"status": "not run", "seconds": None}),
            "rerun": by_rerun.get(name, {"status": "not run", "seconds": None}),
        })
    return rows


def _total(rows: list[dict], key: str) -> tuple[float | None, bool]:
    """Sum of ``key`` seconds over present notebooks, and whether every one of them ran ok."""
    present = [r for r in rows if r["status"] == "present"]
    runs = [r[key] for r in present if r[key]]
    complete = bool(present) and all(r["status"] == "ok" for r in runs) and len(runs) == len(present)
    if not complete:
        return None, False
    return round(sum(r["seconds"] for r in runs), 2), True


def evaluate_goals(results: dict) -> list[dict]:
    """Judge the figures against the goals; ``verdict`` is pass, fail or n/a (with why)."""
    rows = results.get("notebooks", [])
    missing = [r["notebook"] for r in rows if r["status"] == NOT_WRITTEN]
    partial = f"partial: {', '.join(missing)} not written yet" if missing else ""
    goals = []

    def goal(name: str, value: float | None, limit: float, unit: str, note: str) -> None:
        verdict = "n/a" if value is None else ("pass" if value < limit else "fail")
        goals.append({"goal": name, "value": value, "limit": limit, "unit": unit,
                      "verdict": verdict, "note": note})

    fresh, ok = _total(rows, "fresh")
    lab = results.get("lab") or {}
    up = lab.get("up_cold_s")
    value = round(fresh + up + (lab.get("artifacts_s") or 0.0), 1) if ok and up is not None else None
    goal("fresh build (artifacts + lab up + notebooks, warm caches)", value, GOALS["fresh_build_s"], "s",
         partial if value is not None else "fresh build incomplete or skipped")
    rerun, ok = _total(rows, "rerun")
    goal("full re-run (idempotent)", rerun if ok else None, GOALS["rerun_s"], "s",
         partial if ok else "re-run incomplete or skipped")
    workers = results.get("workers") or {}
    goal("05-workers: 4 workers / 1 worker", workers.get("ratio"), GOALS["workers_ratio"], "x",
         workers.get("reason", ""))
    return goals


def write_json(results: dict, path: Path) -> Path:
    """Write the results as indented JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return path
