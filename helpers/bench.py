"""The benchmark: how long the series takes, and what the lab costs when the cluster idles.

On one lab inventory (the reference topology by default) it measures, in order:

0. ``artifacts build`` (a check when the cache is warm, as in ``make up``);
1. ``lab up`` from nothing (*cold*; the base image is reused when cached) and again on
   the running lab (*warm*: every part probed, nothing to change);
2. each notebook's wall time on the fresh lab, then on an idempotent re-run;
3. CPU and memory of the lab's machines with the cluster idle (deltas of the lab's own
   cgroups over ``--idle-seconds``);
4. ``lab down`` with the cluster on it, and again with nothing left (*warm*);
5. the parallel fan-out: two derived inventories with 1 and with 4 workers
   (``kube-node01..04``), each built as its own lab, 01..05 run on it, 05 timed.

Notebooks not written yet are reported as such and skipped, never faked. The bench
refuses a lab that is already up (it would destroy it) unless ``--replace`` is given,
and it takes down every lab it brought up. Each lab gets a throw-away cluster
directory, so the fresh build generates its PKI from scratch.

Results go to ``runs/bench-<UTC timestamp>/`` (``bench.json``, ``bench.png``, the
executed notebooks) and a table is printed. The figures come from a shared machine and
are noisy: the load average at start and end is recorded next to them.

Command:
    ``python -m helpers bench [--inventory FILE] [--out DIR] [--skip PART ...]``
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

import yaml

from helpers import paths
from helpers.errors import BuildError, ConfigError, JourneyError, NotebookFailed
from helpers.inventory import load_inventory
from helpers.tables import Table

PARTS = ("notebooks", "rerun", "idle", "lab", "workers")
"""What ``--skip`` accepts: fresh notebooks, re-run, idle sample, warm lab timings, 1-vs-4 workers."""

GOALS = {
    "fresh_build_s": 360.0,  # lab up (warm caches) + every notebook, fresh
    "rerun_s": 45.0,  # every notebook again on the built cluster
    "workers_ratio": 1.3,  # 05-workers with 4 workers / with 1
}
WORKERS_NOTEBOOK = "05-workers"
NOT_WRITTEN = "not written yet"
_IPV4 = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d.])")


# --- derived inventories -------------------------------------------------------------------


def _map_addresses(value: Any, old: IPv4Network, new: IPv4Network) -> Any:
    """Move every IPv4 address of ``old`` found in ``value`` (strings, lists, dicts) into ``new``."""
    if isinstance(value, dict):
        return {k: _map_addresses(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_addresses(v, old, new) for v in value]
    if not isinstance(value, str):
        return value

    def move(match: re.Match[str]) -> str:
        try:
            addr = IPv4Address(match.group(1))
        except ValueError:
            return match.group(0)
        if addr not in old:
            return match.group(0)
        return str(new.network_address + (int(addr) - int(old.network_address)))

    return _IPV4.sub(move, value)


def bridge_for(lab: str) -> str:
    """The bridge name of a derived lab: ``kjbr-`` plus the lab name without ``kube-`` (15 chars max)."""
    return ("kjbr-" + lab.removeprefix("kube-"))[:15]


def _worker_hosts(hosts: list[dict], count: int, subnet: IPv4Network) -> list[dict]:
    """The hosts with the workers replaced by ``kube-node01..NN``, addresses continuing the plan."""
    kept = [h for h in hosts if "worker" not in h.get("roles", [])]
    old_workers = [IPv4Address(h["address"]) for h in hosts if "worker" in h.get("roles", [])]
    used = {IPv4Address(h["address"]) for h in kept}
    if old_workers:
        first = min(old_workers)
    else:
        first = max(used) + 1 if used else subnet.network_address + 31
    added = []
    for i in range(count):
        addr = first + i
        if addr in used or addr not in subnet or addr in (subnet.broadcast_address,):
            raise ConfigError(f"worker kube-node{i + 1:02d}: address {addr} is taken or outside {subnet}")
        added.append({"name": f"kube-node{i + 1:02d}", "address": str(addr), "roles": ["worker"]})
    return kept + added


def derive_inventory(
    raw: dict,
    name: str,
    subnet: str | IPv4Network,
    workers: int | None = None,
    state_root: Path | None = None,
) -> dict:
    """A private copy of a lab inventory: its own lab, bridge, cluster, subnet and SSH files.

    Every address of the original node subnet (hosts, gateway, VIP, source URLs) moves to
    the same offset in ``subnet``; the lab and the cluster are called ``name``; the
    bridge is ``bridge_for(name)``; SSH files live under ``<state>/lab/<name>/``.

    Args:
        raw: the original inventory as parsed YAML (left unchanged).
        name: lab and cluster name of the copy.
        subnet: the copy's node subnet (same prefix length as the original's).
        workers: replace the workers by this many (``kube-node01..``); None keeps them.
        state_root: the state directory (default ``paths.state_dir()``).

    Returns:
        The derived inventory as a dictionary ready for ``yaml.safe_dump``.

    Raises:
        ConfigError: no ``lab`` section, prefix lengths differ, or a worker address is taken.
    """
    if "lab" not in raw:
        raise ConfigError("the bench builds labs: the inventory needs a 'lab' section")
    old = IPv4Network(raw["network"]["node_subnet"])
    new = IPv4Network(subnet)
    if old.prefixlen != new.prefixlen:
        raise ConfigError(f"subnet {new} must have the prefix length of {old} (/{old.prefixlen})")
    out = _map_addresses(raw, old, new)
    out["cluster"] = {**out["cluster"], "name": name}
    out["lab"] = {**out["lab"], "name": name, "bridge": bridge_for(name)}
    keys = (state_root or paths.state_dir()) / "lab" / name
    out["ssh"] = {
        **out["ssh"],
        "identity_file": str(keys / "id_ed25519"),
        "known_hosts": str(keys / "known_hosts"),
    }
    if workers is not None:
        out["hosts"] = _worker_hosts(out["hosts"], workers, new)
    return out


def write_inventory(data: dict, path: Path) -> Path:
    """Write a derived inventory as YAML (with a header saying where it came from)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Derived by `python -m helpers bench`; safe to delete.\n"
    path.write_text(header + yaml.safe_dump(data, sort_keys=False))
    return path


def next_subnet(subnet: IPv4Network, step: int) -> IPv4Network:
    """The subnet ``step`` blocks of the same size after ``subnet``."""
    return IPv4Network((int(subnet.network_address) + step * subnet.num_addresses, subnet.prefixlen))


# --- idle cost from the lab's cgroups ------------------------------------------------------


@dataclass
class CgroupSample:
    """One reading of a set of cgroups: CPU nanoseconds used so far and memory now."""

    cpu_ns: int = 0
    memory_bytes: int = 0
    rss_bytes: int = 0
    cache_bytes: int = 0


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _stat(path: Path) -> dict[str, int]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    pairs = (line.split() for line in lines)
    return {p[0]: int(p[1]) for p in pairs if len(p) == 2 and p[1].isdigit()}


def read_cgroups(dirs: list[Path]) -> CgroupSample:
    """Read one machine's cgroup directories (v1 cpuacct/memory, or v2 cpu.stat/memory.current).

    Each quantity is taken from the first directory that has it, so a directory of every
    hierarchy can be passed and nothing is counted twice.
    """
    sample = CgroupSample()
    cpu = mem = False
    for d in dirs:
        if not cpu and (v := _read_int(d / "cpuacct.usage")) is not None:
            sample.cpu_ns, cpu = v, True
        elif not cpu and "usage_usec" in (st := _stat(d / "cpu.stat")):
            sample.cpu_ns, cpu = st["usage_usec"] * 1000, True
        if not mem and (v := _read_int(d / "memory.usage_in_bytes")) is not None:
            st = _stat(d / "memory.stat")
            sample.memory_bytes, mem = v, True
            sample.rss_bytes = st.get("total_rss", st.get("rss", 0))
            sample.cache_bytes = st.get("total_cache", st.get("cache", 0))
        elif not mem and (v := _read_int(d / "memory.current")) is not None:
            st = _stat(d / "memory.stat")
            sample.memory_bytes, mem = v, True
            sample.rss_bytes = st.get("anon", 0)
            sample.cache_bytes = st.get("file", 0)
    return sample


def idle_cost(before: dict[str, CgroupSample], after: dict[str, CgroupSample], seconds: float) -> dict:
    """Summarise two readings per machine: CPU in cores (and % of the host) and memory at the end."""
    machines = {}
    for name, end in after.items():
        start = before.get(name, CgroupSample())
        machines[name] = {
            "cpu_cores": round((end.cpu_ns - start.cpu_ns) / 1e9 / seconds, 4),
            "memory_mib": round(end.memory_bytes / 2**20, 1),
            "rss_mib": round(end.rss_bytes / 2**20, 1),
            "cache_mib": round(end.cache_bytes / 2**20, 1),
        }
    cores = sum(m["cpu_cores"] for m in machines.values())
    return {
        "seconds": round(seconds, 1),
        "cpu_cores": round(cores, 3),
        "cpu_percent_of_host": round(100 * cores / (os.cpu_count() or 1), 1),
        "memory_mib": round(sum(m["memory_mib"] for m in machines.values()), 1),
        "rss_mib": round(sum(m["rss_mib"] for m in machines.values()), 1),
        "cache_mib": round(sum(m["cache_mib"] for m in machines.values()), 1),
        "machines": machines,
    }


def measure_idle(lab: str, machines: list[str], seconds: float) -> dict:
    """Sample the lab's machines' cgroups, wait ``seconds``, sample again; see ``idle_cost``."""
    from helpers.lab import cgroups

    def sample() -> dict[str, CgroupSample]:
        return {m: read_cgroups(cgroups.machine_dirs(lab, m)) for m in machines}

    before, started = sample(), time.monotonic()
    time.sleep(seconds)
    after = sample()
    return idle_cost(before, after, time.monotonic() - started)


# --- results: goals, table, JSON, chart -----------------------------------------------------


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


def write_json(results: dict, path: Path) -> Path:
    """Write the results as indented JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return path


# --- running it -----------------------------------------------------------------------------


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


def _default_out() -> Path:
    from helpers.runbook import RUNS_DIR

    return RUNS_DIR / ("bench-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))


def _pair(text: str | None, what: str) -> list[str]:
    if text is None:
        return ["", ""]
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2 or not all(parts):
        raise ConfigError(f"{what} takes two values separated by a comma (1 worker, 4 workers): {text!r}")
    return parts


def _bench_command(args: Any) -> int:
    inv = load_inventory(args.inventory)
    if inv.lab is None:
        raise ConfigError(f"{args.inventory}: the bench builds labs; this inventory has no 'lab' section")
    labs = _pair(args.worker_labs, "--worker-labs")
    if not labs[0]:
        labs = [f"{inv.lab.name}-w1", f"{inv.lab.name}-w4"]
    out = Path(args.out).resolve() if args.out else _default_out()
    bench = Bench(Path(args.inventory), out, set(args.skip or ()), args.idle_seconds, args.replace,
                  args.keep, labs, _pair(args.worker_subnets, "--worker-subnets"),
                  Path(args.work_dir) if args.work_dir else None)
    results = bench.run()
    print()
    for table in tables(results):
        print(table)
        print()
    host = results["host"]
    print(f"load average {host['loadavg_start'][0]} at start, {host['loadavg_end'][0]} at end "
          f"on {host['cpus']} CPUs (shared machine: noisy figures)")
    print(f"results: {out / 'bench.json'}\nchart:   {out / 'bench.png'}")
    if "error" in results:
        print(f"error: {results['error']}")
        return 1
    return 0


def add_cli(sub: Any) -> None:
    """Register ``bench``."""
    p = sub.add_parser("bench", help="time the notebooks (fresh, re-run, 1 vs 4 workers) and the lab")
    p.add_argument("--inventory", default=str(paths.default_inventory()), help="lab inventory YAML")
    p.add_argument("--out", metavar="DIR", help="results directory (default runs/bench-<UTC time>)")
    p.add_argument("--skip", nargs="+", choices=PARTS, default=[], metavar="PART",
                   help=f"parts to leave out: {', '.join(PARTS)}")
    p.add_argument("--idle-seconds", type=float, default=30.0, help="idle sampling window (default 30)")
    p.add_argument("--replace", action="store_true",
                   help="take the inventory's lab down first when it is up (it is destroyed)")
    p.add_argument("--keep", action="store_true", help="leave the labs up afterwards")
    p.add_argument("--worker-labs", metavar="NAME1,NAME4",
                   help="lab names of the 1- and 4-worker copies (default <lab>-w1,<lab>-w4)")
    p.add_argument("--worker-subnets", metavar="CIDR1,CIDR4",
                   help="their node subnets (default: the two blocks after the inventory's)")
    p.add_argument("--work-dir", metavar="DIR", help="where derived inventories go (default <out>/inventories)")
    p.set_defaults(func=_bench_command)
