"""Gathered facts and preflight verdicts as tables, one row per host or per check."""

from __future__ import annotations

from typing import Any

from helpers.facts.model import Check, HostFacts
from helpers.tables import Table


def facts_table(facts: dict[str, HostFacts], inv: Any = None) -> Table:
    """Return the facts as a table, one row per host."""
    rows = []
    for name, f in facts.items():
        roles = ", ".join(inv.host(name).roles) if inv is not None else ""
        rows.append([
            name, roles, f.os_name, f.kernel, f.cpus, f"{f.memory_mib / 1024:.1f} GiB", f.cgroup_version,
            f.machine_id[:12] + ("…" if len(f.machine_id) > 12 else ""),
            f"{f.clock_offset * 1000:+.1f} ± {f.clock_uncertainty * 1000:.1f} ms", f.virtualization,
        ])
    return Table(
        ["host", "roles", "OS", "kernel", "CPUs", "memory", "cgroup", "machine-id", "clock offset", "virtualization"],
        rows, title="host facts",
    )


def preflight_table(checks: list[Check]) -> Table:
    """Return the checks as a pass/fail table (host, check, result, reason)."""
    return Table(["host", "check", "result", "detail"],
                 [[c.host, c.check, "pass" if c.passed else "fail", c.detail] for c in checks],
                 title=f"preflight: {sum(c.passed for c in checks)} of {len(checks)} checks pass")
