"""Bring a lab up, tear it down, show its status: the lab's three verbs.

``up`` is idempotent (each part is probed and only what differs is changed, so a
second ``up`` takes seconds) and repairs what a killed run left behind. ``down`` ends
exactly the processes the lab recorded, removes every netns, link, mount, cgroup and
runtime directory the lab named, and restores the host settings it changed.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path

from helpers.errors import LabError
from helpers.lab import cgroups, firewall, hostsettings, keys, machines, network, services
from helpers.lab.base import ensure_base
from helpers.lab.files import is_mountpoint
from helpers.lab.plan import LabPlan, MachinePlan, data_root, run_root
from helpers.lab.state import HostRecord, LabState, host_lock, known_labs
from helpers.tables import Table

log = logging.getLogger(__name__)


@dataclass
class LabReport:
    """What ``up`` or ``down`` did: change lines, per-phase timings, host settings."""

    lab: str
    action: str
    changes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    host_settings: dict[str, str] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        """Total wall time."""
        return self.timings.get("total", 0.0)

    def __str__(self) -> str:
        lines = [
            f"lab {self.lab} {self.action}: {len(self.changes)} change(s) in {self.seconds:.1f} s"
        ]
        lines += [f"  - {c}" for c in self.changes]
        phases = ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items() if k != "total")
        if phases:
            lines.append(f"  timings: {phases}")
        if self.host_settings:
            lines.append(
                "  host-wide settings (sysctls and mounts are restored by the last `lab down`):"
            )
            lines += [f"    {k}: {v}" for k, v in self.host_settings.items()]
        return "\n".join(lines)


class _Clock:
    def __init__(self, report: LabReport):
        self.report = report
        self.start = self.last = time.monotonic()

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.report.timings[name] = now - self.last
        self.last = now

    def done(self) -> None:
        self.report.timings["total"] = time.monotonic() - self.start


def _held_settings(plan: LabPlan) -> dict[str, str]:
    rec = HostRecord.load()
    held = {
        f"sysctl {k}": f"{hostsettings.read_sysctl(k)} (was {v})" for k, v in rec.sysctls.items()
    }
    held.update({f"mount {m}": "created by the lab" for m in rec.mounts})
    held[f"nftables table inet {firewall.table_name(plan.name)}"] = (
        f"input from {plan.bridge}: only {plan.gateway} ports 53, 3142, 8080 (this lab; removed by its down)"
    )
    held["net.ipv4.ip_forward"] = f"{network.ip_forward()} (never changed by the lab)"
    return held


def up(plan: LabPlan) -> LabReport:
    """Create or repair the lab of ``plan``: host settings, base, bridge, services, machines.

    Raises:
        LabError: naming the part that failed (machine, service, host setting).
    """
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces, mounts, cgroups, nspawn)")
    report = LabReport(plan.name, "up")
    clock = _Clock(report)
    with host_lock():
        clock.lap("wait for lock")
        network.check_subnet_free(plan)
        state = LabState.load(plan.name)
        gone = [n for n in state.machines if n not in {m.name for m in plan.machines}]
        state.inventory = str(plan.inventory_path or "")
        state.bridge = plan.bridge
        state.machines = sorted(set(state.machines) | {m.name for m in plan.machines})
        plan.run_dir.mkdir(parents=True, exist_ok=True, mode=0o755)
        state.save()
        report.changes += hostsettings.ensure_host(plan.name)
        clock.lap("host")
        base, built = ensure_base(plan.release)
        if built:
            report.changes.append(f"built base image {base}")
        clock.lap("base")
        if keys.ensure_client_key(plan):
            report.changes.append(f"SSH key {plan.identity_file}")
        report.changes += network.ensure_bridge(plan)
        digest, changed = firewall.ensure_firewall(plan, state.config.get("firewall"))
        if changed:
            state.config["firewall"] = digest
            state.save()
            report.changes.append(
                f"nftables table inet {firewall.table_name(plan.name)} (machines reach only the site services)"
            )
        for name in gone:
            report.changes += _remove_machine(_teardown_machine(plan.name, name), state)
            state.machines.remove(name)
            state.save()
        clock.lap("bridge")
        for svc in services.services(plan):
            line = services.ensure_service(plan, state, svc)
            if ": running" not in line:
                report.changes.append(line)
        clock.lap("services")
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda m: _ensure_machine(plan, m, base, state), plan.machines))
        booting = [m for m, (lines, boots) in zip(plan.machines, results, strict=True) if boots]
        for lines, _boots in results:
            report.changes += lines
        clock.lap("machines")
        for m in booting:
            machines.wait_ssh(m, state)
        clock.lap("boot")
        lines = [line for m in plan.machines for line in keys.host_key_lines(m, m.root)]
        if keys.write_known_hosts(plan, lines):
            report.changes.append(f"known_hosts {plan.known_hosts}")
        if network.ip_forward() != "0":
            raise LabError(
                "host net.ipv4.ip_forward became 1 during `lab up`: the lab is not air-gapped"
            )
        report.host_settings = _held_settings(plan)
    clock.done()
    return report


def _ensure_machine(
    plan: LabPlan, m: MachinePlan, base: Path, state: LabState
) -> tuple[list[str], bool]:
    """Create or repair one machine; return its change lines and whether it is booting."""
    changes = network.ensure_machine_net(plan, m)
    rec = state.procs.get(machines.proc_key(m))
    running = rec is not None and rec.alive() and is_mountpoint(m.root)
    if not running:
        if rec is not None:
            rec.stop(timeout=1)  # a half-dead nspawn: start clean
        killed = cgroups.kill_all(m.lab, m.name)
        if killed:
            changes.append(f"{m.name}: ended {killed} orphaned process(es) of a killed run")
        if machines.ensure_root(m, base):
            changes.append(f"{m.name}: mounted root")
    changed = machines.ensure_identity(plan, m)
    if changed:
        changes.append(f"{m.name}: wrote {', '.join(changed)}")
    if not running:
        pid = machines.start(m, state)
        changes.append(f"{m.name}: booted (pid {pid})")
        return changes, True
    return changes, machines.ssh_banner(m) is None


def _teardown_machine(lab: str, name: str) -> MachinePlan:
    return MachinePlan(lab=lab, name=name, fqdn=name, address=IPv4Address(0), roles=())


def _remove_machine(m: MachinePlan, state: LabState) -> list[str]:
    done = machines.stop(m, state)
    done += network.remove_machine_net(m)
    machines.remove_disk(m)
    return done


def down(lab: str) -> LabReport:
    """Tear the lab called ``lab`` down completely (works from its recorded state alone)."""
    if os.geteuid() != 0:
        raise LabError("the lab needs root to tear down namespaces, mounts and cgroups")
    report = LabReport(lab, "down")
    clock = _Clock(report)
    with host_lock():
        clock.lap("wait for lock")
        state = LabState.load(lab)
        names = set(state.machines)
        lab_data = data_root() / lab
        if lab_data.is_dir():
            names |= {p.name for p in lab_data.iterdir() if p.is_dir()}
        members = [_teardown_machine(lab, n) for n in sorted(names)]
        for m in members:  # power every machine off at once, then wait for each
            rec = state.procs.get(machines.proc_key(m))
            if rec and rec.alive():
                os.kill(rec.pid, signal.SIGTERM)
        with ThreadPoolExecutor(max_workers=8) as pool:
            for lines in pool.map(lambda m: machines.stop(m, state), members):
                report.changes += lines
        clock.lap("machines")
        report.changes += [f"stopped {s}" for s in services.stop_services(state)]
        clock.lap("services")
        for m in members:
            report.changes += network.remove_machine_net(m)
            machines.remove_disk(m)
        if state.bridge and network.link(state.bridge) is not None:
            network.ip("link", "del", state.bridge)
            report.changes.append(f"removed bridge {state.bridge}")
        if firewall.remove_firewall(lab):
            report.changes.append(f"removed nftables table inet {firewall.table_name(lab)}")
        leftovers = cgroups.kill_all(lab)
        if leftovers:
            report.changes.append(f"ended {leftovers} stray process(es) in the lab's cgroups")
        cgroups.remove_lab(lab)
        for d in (run_root() / lab, lab_data):
            if d.exists():
                shutil.rmtree(d)
        if state.inventory:
            _forget_known_hosts(state.inventory)
        report.changes += hostsettings.release_host(lab)
        clock.lap("cleanup")
        _remove_empty_roots()
    clock.done()
    return report


def _forget_known_hosts(inventory: str) -> None:
    from helpers.lab.plan import load_plan

    try:
        plan = load_plan(inventory)
    except Exception:  # the inventory moved or broke: nothing to forget then
        return
    plan.known_hosts.unlink(missing_ok=True)


def _remove_empty_roots() -> None:
    if HostRecord.load().labs or known_labs():
        return
    (run_root() / ".lock").unlink(missing_ok=True)
    for d in (run_root(), data_root()):
        try:
            d.rmdir()
        except OSError:
            pass


def down_all() -> list[LabReport]:
    """Tear down every lab this host has state for."""
    return [down(lab) for lab in known_labs() or HostRecord.load().labs]


def ssh_check(plan: LabPlan, m: MachinePlan, timeout: int = 5) -> tuple[bool, str]:
    """Log in to the machine with the lab key, verifying its host key; ``(ok, detail)``."""
    cmd = [
        "ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={plan.known_hosts}", "-o", f"ConnectTimeout={timeout}",
        "-i", str(plan.identity_file), f"root@{m.address}", "hostname",
    ]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 5)
    except subprocess.TimeoutExpired:
        return False, "timed out"
    if proc.returncode != 0:
        return False, (proc.stderr.strip().splitlines() or ["ssh failed"])[-1]
    got = proc.stdout.strip()
    return got == m.name, got


def status(plan: LabPlan) -> Table:
    """One row per machine: machine, address, roles, state, SSH ok."""
    state = LabState.load(plan.name)

    def row(m: MachinePlan) -> list[str]:
        rec = state.procs.get(machines.proc_key(m))
        if rec is None:
            st = "absent"
        elif rec.alive():
            st = f"running (pid {rec.pid})"
        else:
            st = "dead (stale record)"
        ok, detail = ssh_check(plan, m) if rec is not None else (False, "-")
        return [m.name, str(m.address), ",".join(m.roles), st, "ok" if ok else f"no: {detail}"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        rows = list(pool.map(row, plan.machines))
    return Table(["machine", "address", "roles", "state", "SSH ok"], rows, title=f"lab {plan.name}")


def services_status(plan: LabPlan) -> Table:
    """One row per site service: name, endpoint, state."""
    state = LabState.load(plan.name)
    ports = {
        "apt-cacher-ng": services.APT_PORT,
        "mirror-http": services.MIRROR_PORT,
        "dnsmasq": services.DNS_PORT,
    }
    rows = []
    for name, port in ports.items():
        rec = state.procs.get(name)
        st = "absent" if rec is None else (f"running (pid {rec.pid})" if rec.alive() else "dead")
        rows.append([name, f"{plan.gateway}:{port}", st])
    return Table(["service", "endpoint", "state"], rows, title="site services")
