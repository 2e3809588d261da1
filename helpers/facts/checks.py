"""Preflight: the gathered facts against what the cluster needs, one verdict per host and check.

No host is contacted: :func:`preflight` runs every ``_check_*`` of :data:`_CHECKS` on each
host's :class:`~helpers.facts.model.HostFacts`; :func:`failures` lists the failed ones.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from helpers.facts.certificates import local_ca_fingerprints
from helpers.facts.model import Check, HostFacts
from helpers.facts.requirements import (
    MAX_CLOCK_OFFSET,
    MEMORY_SLACK,
    MIN_CPUS,
    MIN_KERNEL,
    MIN_MEMORY_MIB,
    ROLE_PORTS,
    SUPPORTED_OS,
)


def preflight(inv: Any, facts: dict[str, HostFacts], cluster_dir: Path | None = None) -> list[Check]:
    """Evaluate the gathered facts against what the cluster needs; no host is contacted.

    Args:
        inv: the loaded inventory (roles, names).
        facts: host name to :class:`HostFacts`, as :func:`gather_facts` reported them.
        cluster_dir: the cluster directory whose CAs installed CAs must match
            (default: ``inv.cluster_dir``).

    Returns:
        One :class:`Check` per host and check, in host order; a host without facts
        fails a ``facts`` check instead.
    """
    local_cas = local_ca_fingerprints(Path(cluster_dir) if cluster_dir else inv.cluster_dir)
    machine_ids: dict[str, list[str]] = {}
    for name, f in facts.items():
        machine_ids.setdefault(f.machine_id, []).append(name)
    by_address_name = {h.name: h for h in inv.hosts}
    checks: list[Check] = []
    for host in inv.hosts:
        f = facts.get(host.name)
        if f is None:
            checks.append(Check(host.name, "facts", False, "no facts gathered: the host did not answer"))
            continue
        for name, fn in _CHECKS:
            passed, detail = fn(host, f, machine_ids=machine_ids, names=by_address_name, local_cas=local_cas)
            checks.append(Check(host.name, name, passed, detail))
    return checks


def _check_os(host, f, **_):
    if (f.os_id, f.os_version) in SUPPORTED_OS:
        return True, f.os_name
    supported = ", ".join(f"{o.capitalize()} {v}" for o, v in sorted(SUPPORTED_OS))
    return False, f"{f.os_name or f.os_id + ' ' + f.os_version} is not supported (supported: {supported})"


def _check_arch(host, f, **_):
    if f.arch == "x86_64":
        return True, "x86_64 (amd64 binaries)"
    return False, f"{f.arch}: the release artifacts of this series are built for amd64 (x86_64) only"


def _check_kernel(host, f, **_):
    numbers = tuple(int(n) for n in re.findall(r"\d+", f.kernel)[:2])
    if numbers >= MIN_KERNEL:
        return True, f.kernel
    return False, f"kernel {f.kernel} is older than {MIN_KERNEL[0]}.{MIN_KERNEL[1]}"


def _check_init(host, f, **_):
    if f.init == "systemd":
        return True, "systemd is PID 1"
    return False, f"PID 1 is {f.init!r}: the services of this series are systemd units"


def _check_cpu(host, f, **_):
    need = max(MIN_CPUS[r] for r in host.roles)
    if f.cpus >= need:
        return True, f"{f.cpus} CPUs (need {need} for {', '.join(host.roles)})"
    return False, f"{f.cpus} CPUs, but {', '.join(host.roles)} need at least {need}"


def _check_memory(host, f, **_):
    need = sum(MIN_MEMORY_MIB[r] for r in host.roles)
    text = f"{f.memory_mib / 1024:.1f} GiB (need {need / 1024:.1f} GiB for {', '.join(host.roles)})"
    return f.memory_mib >= need * MEMORY_SLACK, text if f.memory_mib >= need * MEMORY_SLACK else "only " + text


def _check_cgroup(host, f, **_):
    if f.cgroup_version == "v2":
        return True, "cgroup v2 (unified)"
    if f.cgroup_version == "v1":
        return True, "cgroup v1 (hybrid): supported with kubelet failCgroupV1: false and the cgroupfs driver"
    return False, f"cannot tell the cgroup version (/sys/fs/cgroup is {f.cgroup_version!r})"


def _check_machine_id(host, f, machine_ids, **_):
    if not re.fullmatch(r"[0-9a-f]{32}", f.machine_id):
        return False, f"/etc/machine-id is {f.machine_id!r}, not 32 hex digits: run systemd-machine-id-setup"
    twins = [n for n in machine_ids.get(f.machine_id, []) if n != host.name]
    if twins:
        return False, (f"machine-id {f.machine_id[:12]}… is shared with {', '.join(twins)} (cloned image?): "
                       "give each host its own (rm /etc/machine-id; systemd-machine-id-setup)")
    return True, f"{f.machine_id[:12]}… unique"


def _check_hostname(host, f, names, **_):
    current = f.hostname.split(".")[0]
    if current == host.name:
        return True, f"{f.hostname}"
    if current in names:
        return False, (f"{host.address} calls itself {f.hostname}, the name of another inventory host: "
                       "are two addresses swapped in the inventory?")
    return True, f"currently {f.hostname!r}; 02-network renames it {host.name}"


def _check_clock(host, f, **_):
    text = f"{f.clock_offset * 1000:+.0f} ms ± {f.clock_uncertainty * 1000:.0f} ms against the operator's clock"
    if abs(f.clock_offset) - f.clock_uncertainty <= MAX_CLOCK_OFFSET:
        return True, text
    return False, f"{text}, more than {MAX_CLOCK_OFFSET:.0f} s: fix time sync before certificates are issued"


def _check_ports(host, f, **_):
    wanted: dict[int, tuple[str, str]] = {}
    problems, notes = [], []
    for role in host.roles:
        for port, proc in ROLE_PORTS[role].items():
            if port in wanted and wanted[port][1] != proc:
                problems.append(f"{port} is needed by both {wanted[port][0]} ({wanted[port][1]}) and {role} ({proc})")
            wanted.setdefault(port, (role, proc))
    for port, (_role, proc) in sorted(wanted.items()):
        holder = f.listening.get(port)
        if holder is None:
            notes.append(f"{port} free")
        elif holder and holder[:15] == proc[:15]:
            notes.append(f"{port} held by {holder} (expected)")
        else:
            problems.append(f"{port} is in use by {holder or 'an unknown process'}; {proc} needs it")
    if problems:
        return False, "; ".join(problems)
    return True, ", ".join(notes)


def _check_swap(host, f, **_):
    if f.swap_devices == 0:
        return True, "off"
    return True, f"on ({f.swap_devices} device(s), {f.swap_mib} MiB): 02-network turns it off"


def _check_ca(host, f, local_cas, **_):
    if not f.ca_files:
        return True, "no cluster CA on the host"
    foreign = [p for p, fp in f.ca_files.items() if fp not in local_cas]
    if not foreign:
        return True, "installed CA(s) are this cluster's: " + ", ".join(f.ca_files)
    if not local_cas:
        return False, (f"{', '.join(foreign)} exists but the cluster directory has no CA: another cluster "
                       "runs here (reset the host or point KJ_CLUSTER_DIR at that cluster's state)")
    return False, (f"{', '.join(foreign)} is a different CA from this cluster directory's: another cluster "
                   "runs here (reset the host or use that cluster's directory)")


_CHECKS = [
    ("os", _check_os),
    ("architecture", _check_arch),
    ("kernel", _check_kernel),
    ("init", _check_init),
    ("cpu", _check_cpu),
    ("memory", _check_memory),
    ("cgroup", _check_cgroup),
    ("machine-id", _check_machine_id),
    ("hostname", _check_hostname),
    ("clock", _check_clock),
    ("ports", _check_ports),
    ("swap", _check_swap),
    ("cluster CA", _check_ca),
]


def failures(checks: list[Check]) -> list[str]:
    """Return one readable line per failed check ("host: check: reason")."""
    return [f"{c.host}: {c.check}: {c.detail}" for c in checks if not c.passed]
