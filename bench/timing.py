"""Timing the parts: lab up and down, the artifacts build, and a series of notebooks.

Also the throw-away cluster directory each lab's notebooks run against, and the load
average recorded next to the figures.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

from helpers import paths
from helpers.errors import BuildError, NotebookFailed


@contextlib.contextmanager
def _cluster_dir(directory: Path):
    """Point ``paths.cluster_dir`` (and the notebooks) at a throw-away directory."""
    saved = os.environ.get("KJ_CLUSTER_DIR")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.environ["KJ_CLUSTER_DIR"] = str(directory)
    try:
        yield directory
    finally:
        if saved is None:
            os.environ.pop("KJ_CLUSTER_DIR", None)
        else:
            os.environ["KJ_CLUSTER_DIR"] = saved


def _timed_up(plan: Any) -> tuple[float, dict]:
    from helpers import lab

    report = lab.up(plan)
    waited = report.timings.get("wait for lock", 0.0)
    built = any(c.startswith("built base image") for c in report.changes)
    return round(report.seconds - waited, 2), {
        "waited_for_lock_s": round(waited, 2), "changes": len(report.changes), "base_built": built}


def _timed_down(name: str) -> tuple[float, dict]:
    from helpers import lab

    report = lab.down(name)
    waited = report.timings.get("wait for lock", 0.0)
    return round(report.seconds - waited, 2), {"waited_for_lock_s": round(waited, 2),
                                               "changes": len(report.changes)}


def _build_artifacts(log_path: Path) -> float | None:
    """Run ``python -m helpers artifacts build`` (instant when the cache is warm); its wall time.

    Returns None when this checkout has no artifacts builder.

    Raises:
        BuildError: the build failed (its log is named).
    """
    import importlib.util
    import subprocess
    import sys

    if importlib.util.find_spec("helpers.mirror.cli") is None:
        return None
    started = time.monotonic()
    with log_path.open("w") as log:
        code = subprocess.call([sys.executable, "-m", "helpers", "artifacts", "build"],
                               cwd=paths.REPO, stdout=log, stderr=subprocess.STDOUT)
    if code != 0:
        raise BuildError(f"failed to build the release artifacts: exit {code} (log: {log_path})")
    return round(time.monotonic() - started, 2)


def _lab_is_up(name: str) -> bool:
    from helpers.lab.state import known_labs

    return name in known_labs()


def run_series(inventory: Path, out_dir: Path, names: list[str], notebooks_dir: Path | None = None) -> list[dict]:
    """Run the named notebooks in order, one runner call each; status and seconds of each.

    The list is fixed when the bench starts, so a notebook that lands in ``notebooks/``
    during the bench does not join one series and miss the other. A failure stops the
    series like the runner does: the failed notebook is marked ``failed`` with its error
    (and seconds), the ones after it ``not run``. Each notebook's executed copy goes to
    ``out_dir/<NN-name>/``.
    """
    from helpers.runbook import NOTEBOOKS_DIR, run_notebooks

    rows: list[dict] = []
    for name in names:
        if rows and rows[-1]["status"] != "ok":
            rows.append({"notebook": name, "status": "not run", "seconds": None})
            continue
        where = out_dir / name
        load = os.getloadavg()[0]
        try:
            (r,) = run_notebooks(inventory, only=name[:2], out_dir=where,
                                 notebooks_dir=notebooks_dir or NOTEBOOKS_DIR)
            rows.append({"notebook": r.notebook, "status": r.status, "seconds": r.seconds})
        except NotebookFailed as err:
            seconds = None
            with contextlib.suppress(OSError, ValueError, IndexError, KeyError):
                seconds = json.loads((where / "summary.json").read_text())[0]["seconds"]
            rows.append({"notebook": name, "status": "failed", "seconds": seconds, "error": err.error})
        rows[-1]["loadavg_1m"] = [round(load, 2), round(os.getloadavg()[0], 2)]  # before, after
    return rows


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]
