"""Per-machine cgroup subtrees in every hierarchy, never touching the host's mounts.

Each machine gets ``<hierarchy>/kubernetes-journey/<lab>/<machine>`` in every mounted
cgroup hierarchy (v1 controllers, the named systemd hierarchy and the unified one).
The process that will exec systemd-nspawn moves itself there first; nspawn's cgroup
namespace then roots the machine at that directory, so the machine's systemd,
containerd, runc and kubelet create their cgroups inside it and nowhere else.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from helpers.lab.plan import CGROUP_PARENT

_CPUSET_FILES = ("cpuset.cpus", "cpuset.mems")


def hierarchies() -> list[Path]:
    """Mount points of every cgroup hierarchy on this host (v1 and v2)."""
    found = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        parts = line.split()
        if parts[2] in ("cgroup", "cgroup2") and parts[1].startswith("/sys/fs/cgroup"):
            found.append(Path(parts[1]))
    return found


def machine_dirs(lab: str, machine: str) -> list[Path]:
    """The machine's cgroup directory in each hierarchy."""
    return [h / CGROUP_PARENT / lab / machine for h in hierarchies()]


def lab_dirs(lab: str) -> list[Path]:
    """The lab's cgroup directory in each hierarchy."""
    return [h / CGROUP_PARENT / lab for h in hierarchies()]


def ensure_machine_cgroups(lab: str, machine: str) -> None:
    """Create the machine's directories in every hierarchy (cpuset values copied down)."""
    for hier in hierarchies():
        path = hier
        for part in (CGROUP_PARENT, lab, machine):
            parent, path = path, path / part
            if not path.is_dir():
                path.mkdir()
            if (hier / "cpuset.cpus").exists():
                for name in _CPUSET_FILES:
                    if not (path / name).read_text().strip():
                        (path / name).write_text((parent / name).read_text())


def enter(lab: str, machine: str) -> None:
    """Move the calling process into the machine's cgroups (call in the child before exec)."""
    for d in machine_dirs(lab, machine):
        with open(d / "cgroup.procs", "w") as f:
            f.write("0")


def procs_in(tree: Path) -> set[int]:
    """PIDs of every process in a cgroup directory and its descendants."""
    pids: set[int] = set()
    if not tree.is_dir():
        return pids
    for dirpath, _dirs, files in os.walk(tree):
        if "cgroup.procs" in files:
            try:
                text = Path(dirpath, "cgroup.procs").read_text()
            except OSError:
                continue
            pids |= {int(p) for p in text.split()}
    return pids


def kill_all(lab: str, machine: str | None = None, timeout: float = 15.0) -> int:
    """SIGKILL every process left in the lab's (or one machine's) subtree; return how many.

    Only processes inside cgroups the lab created are signalled.
    """
    trees = machine_dirs(lab, machine) if machine else lab_dirs(lab)
    killed: set[int] = set()
    deadline = time.monotonic() + timeout
    while True:
        pids = set().union(*(procs_in(t) for t in trees)) if trees else set()
        if not pids:
            return len(killed)
        if time.monotonic() > deadline:
            raise TimeoutError(f"processes {sorted(pids)} survive in cgroups of lab {lab}")
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.1)


def remove_tree(tree: Path) -> None:
    """Remove a cgroup directory and its descendants, deepest first (must hold no process)."""
    if not tree.is_dir():
        return
    for dirpath, _dirs, _files in sorted(os.walk(tree), key=lambda w: -len(Path(w[0]).parts)):
        for attempt in range(50):
            try:
                os.rmdir(dirpath)
                break
            except FileNotFoundError:
                break
            except OSError:
                if attempt == 49:
                    raise
                time.sleep(0.1)


def remove_machine(lab: str, machine: str) -> None:
    """Remove the machine's subtree in every hierarchy."""
    for d in machine_dirs(lab, machine):
        remove_tree(d)


def remove_lab(lab: str) -> None:
    """Remove the lab's subtree, and the shared parent when no other lab uses it."""
    for d in lab_dirs(lab):
        remove_tree(d)
        parent = d.parent
        try:
            if parent.name == CGROUP_PARENT and not any(p.is_dir() for p in parent.iterdir()):
                os.rmdir(parent)
        except OSError:
            pass
