"""One bench run: the lab up and down, the notebooks fresh and re-run, idle cost, 1 vs 4 workers.

:class:`Bench` measures every part not skipped, always takes down the labs it brought
up, and writes ``bench.json`` and ``bench.png`` to its results directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from datetime import UTC, datetime
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import yaml

from bench.chart import write_chart
from bench.idle import measure_idle
from bench.inventories import derive_inventory, next_subnet, write_inventory
from bench.results import (
    GOALS,
    NOT_WRITTEN,
    WORKERS_NOTEBOOK,
    evaluate_goals,
    notebook_rows,
    write_json,
)
from bench.timing import (
    _build_artifacts,
    _cluster_dir,
    _lab_is_up,
    _loadavg,
    _timed_down,
    _timed_up,
    run_series,
)
from helpers import paths
from helpers.errors import ConfigError, JourneyError
from helpers.inventory import load_inventory


class Bench:
    """One bench run; ``run()`` returns the results dictionary (also written to ``out``)."""

    def __init__(self, inventory: Path, out: Path, skip: set[str], idle_seconds: float,
                 replace: bool, keep: bool, worker_labs: list[str], worker_subnets: list[str],
                 work_dir: Path | None = None):
        from helpers.runbook import NOTEBOOKS_DIR, PLANNED, discover

        self.inventory = inventory.expanduser().resolve()
        self.inv = load_inventory(self.inventory)
        if self.inv.lab is None:
            raise ConfigError(f"{self.inventory}: the bench builds labs; this inventory has no 'lab' section")
        self.out = out
        self.skip = skip
        self.idle_seconds = idle_seconds
        self.replace = replace
        self.keep = keep
        self.worker_labs = worker_labs
        self.worker_subnets = worker_subnets
        self.work_dir = work_dir or out / "inventories"
        self.present = [p.stem for p in discover(NOTEBOOKS_DIR)]
        self.planned = PLANNED
        self.scratch = paths.state_dir() / "bench" / out.name  # throw-away cluster dirs (PKI)

    def _fresh_lab(self, inventory: Path, name: str) -> Any:
        from helpers.lab import down, load_plan

        if _lab_is_up(name):
            if not self.replace:
                raise ConfigError(f"lab {name} is up: the bench builds it fresh and would destroy it; "
                                  f"take it down first or pass --replace")
            print(f"==> lab {name} is up: taking it down first (--replace)", flush=True)
            down(name)
        return load_plan(inventory)

    def run(self) -> dict:
        """Measure everything not skipped; always take down the labs it brought up."""
        from helpers.lab import status

        results: dict[str, Any] = {
            "schema": 1,
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "inventory": str(self.inventory),
            "lab_name": self.inv.lab.name,
            "host": {"cpus": os.cpu_count(), "loadavg_start": _loadavg(),
                     "note": "shared machine: other labs and builds run beside the bench; figures are noisy"},
            "skipped_parts": sorted(self.skip),
            "goal_limits": GOALS,
        }
        self.out.mkdir(parents=True, exist_ok=True)
        plan = self._fresh_lab(self.inventory, self.inv.lab.name)
        lab: dict[str, Any] = {}
        fresh: list[dict] = []
        rerun: list[dict] = []
        results["lab"] = lab
        ok = False
        try:
            print("==> artifacts build (a warm cache makes it a check)", flush=True)
            lab["artifacts_s"] = _build_artifacts(self.out / "artifacts.log")
            print(f"==> lab {plan.name}: up (cold)", flush=True)
            lab["up_cold_s"], lab["up_cold"] = _timed_up(plan)
            if "lab" not in self.skip:
                print(f"==> lab {plan.name}: up (warm)", flush=True)
                lab["up_warm_s"], lab["up_warm"] = _timed_up(plan)
            with _cluster_dir(self.scratch / self.inv.cluster.name):
                if "notebooks" not in self.skip and self.present:
                    print("==> notebooks: fresh build", flush=True)
                    fresh = run_series(self.inventory, self.out / "fresh", self.present)
                ok = bool(fresh) and all(r["status"] == "ok" for r in fresh)
                if "rerun" not in self.skip and ok:
                    print("==> notebooks: idempotent re-run", flush=True)
                    rerun = run_series(self.inventory, self.out / "rerun", self.present)
            results["notebooks"] = notebook_rows(self.planned, self.present, fresh, rerun)
            if "idle" in self.skip:
                results["idle"] = {"reason": "--skip idle"}
            elif not ok:
                results["idle"] = {"reason": "no complete fresh build to idle on"}
            else:
                rows = status(plan).as_dicts()
                results["idle"] = {"state": {r["machine"]: r["SSH ok"] for r in rows}}
                print(f"==> idle cost: sampling the lab's cgroups for {self.idle_seconds:.0f} s", flush=True)
                results["idle"].update(measure_idle(plan.name, [m.name for m in plan.machines],
                                                    self.idle_seconds))
        except JourneyError as err:
            results["error"] = str(err)
            print(f"error: {err}", flush=True)
        finally:
            if not self.keep:
                print(f"==> lab {plan.name}: down", flush=True)
                lab["down_s"], lab["down"] = _timed_down(plan.name)
                if "lab" not in self.skip:
                    lab["down_warm_s"], lab["down_warm"] = _timed_down(plan.name)
                shutil.rmtree(self.scratch / self.inv.cluster.name, ignore_errors=True)
        results.setdefault("notebooks", notebook_rows(self.planned, self.present, fresh, rerun))
        results["workers"] = self._workers() if "error" not in results else {"reason": "the bench failed"}
        self._finish(results)
        return results

    def _workers(self) -> dict:
        if "workers" in self.skip:
            return {"reason": "--skip workers"}
        if WORKERS_NOTEBOOK not in self.present:
            return {"reason": f"{WORKERS_NOTEBOOK} is not in notebooks/ ({NOT_WRITTEN})"}
        raw = yaml.safe_load(self.inventory.read_text())
        base = IPv4Network(raw["network"]["node_subnet"])
        upto = [n for n in self.present if n[:2] <= WORKERS_NOTEBOOK[:2]]
        runs: dict[str, dict] = {}
        for count, name, subnet in zip((1, 4), self.worker_labs, self.worker_subnets, strict=True):
            derived = derive_inventory(raw, name, subnet or next_subnet(base, 1 if count == 1 else 2),
                                       workers=count)
            path = write_inventory(derived, self.work_dir / f"{name}.yaml")
            plan = self._fresh_lab(path, name)
            entry: dict[str, Any] = {"inventory": str(path), "lab": name}
            runs[str(count)] = entry
            try:
                print(f"==> workers x{count}: lab {name} up, notebooks {upto[0]}..{upto[-1]}", flush=True)
                entry["up_s"], _ = _timed_up(plan)
                with _cluster_dir(self.scratch / name):
                    series = run_series(path, self.out / f"workers-{count}", upto)
                entry["series"] = series
                last = series[-1]
                entry["status"] = last["status"]
                entry["seconds"] = last["seconds"] if last["status"] == "ok" else None
            except JourneyError as err:
                entry["status"], entry["seconds"], entry["error"] = "failed", None, str(err)
            finally:
                if not self.keep:
                    entry["down_s"], _ = _timed_down(name)
                    shutil.rmtree(self.scratch / name, ignore_errors=True)
        one, four = runs["1"].get("seconds"), runs["4"].get("seconds")
        if not (one and four):
            return {"runs": runs, "reason": "a workers run failed (see runs)"}
        return {"runs": runs, "ratio": round(four / one, 3)}

    def _finish(self, results: dict) -> None:
        results["host"]["loadavg_end"] = _loadavg()
        results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
        results["goals"] = evaluate_goals(results)
        with contextlib.suppress(OSError):
            self.scratch.rmdir()
            self.scratch.parent.rmdir()
        write_json(results, self.out / "bench.json")
        write_chart(results, self.out / "bench.png")
