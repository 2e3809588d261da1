"""Idle cost from the lab's cgroups: CPU used and memory held by each machine while the cluster idles."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path


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
