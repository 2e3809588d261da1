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
from pathlib import Path

from helpers.errors import LabError
from helpers.lab.plan import CGROUP_PARENT
from helpers.waiting import WaitTimeout, poll_until

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

    Raises:
        LabError: processes still live after ``timeout`` seconds; names them.
    """
    trees = machine_dirs(lab, machine) if machine else lab_dirs(lab)
    scope = f"machine {machine} of lab {lab}" if machine else f"lab {lab}"
    killed: set[int] = set()

    def kill_survivors() -> set[int]:
        # each probe signals what it finds; the wait ends when a probe finds nothing
        pids = set().union(*(procs_in(t) for t in trees)) if trees else set()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
        return pids

    try:
        poll_until(kill_survivors, lambda pids: not pids,
                   what=f"every process in the cgroups of {scope} to end after SIGKILL",
                   where="the lab host", timeout=timeout, interval=0.1,
                   describe=lambda pids: f"{len(pids)} survivor(s): {describe_pids(pids)}")
    except WaitTimeout as err:
        raise LabError(str(err)) from err
    return len(killed)


def describe_pids(pids: set[int]) -> str:
    """``pid (command, state X)`` for each PID, for error messages."""
    parts = []
    for pid in sorted(pids):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            parts.append(f"{pid} (gone)")
            continue
        comm = stat[stat.find("(") + 1 : stat.rfind(")")]
        state = stat.rpartition(")")[2].split()[0]
        parts.append(f"{pid} ({comm}, state {state})")
    return ", ".join(parts)


RMDIR_WAIT = 5.0
"""Seconds ``remove_tree`` retries a busy cgroup (freed just after its last process exits)."""


def remove_tree(tree: Path) -> None:
    """Remove a cgroup directory and its descendants, deepest first (must hold no process).

    Raises:
        LabError: a directory stays busy for :data:`RMDIR_WAIT` seconds; names it and the
            last error.
    """
    if not tree.is_dir():
        return
    for dirpath, _dirs, _files in sorted(os.walk(tree), key=lambda w: -len(Path(w[0]).parts)):
        try:
            poll_until(lambda d=dirpath: _rmdir(d), bool, what=f"cgroup {dirpath} removed",
                       where="the lab host", timeout=RMDIR_WAIT, interval=0.1, tolerate=(OSError,))
        except WaitTimeout as err:
            left = procs_in(Path(dirpath))
            inside = f"; processes still inside: {describe_pids(left)}" if left else ""
            raise LabError(
                f"failed to remove cgroup {dirpath}: rmdir kept failing for {err.seconds:.0f}s; "
                f"last error: {err.last}{inside}"
            ) from err


def _rmdir(path: str) -> bool:
    """``rmdir``; True when the directory is gone (already gone counts); other errors propagate."""
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass
    return True


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
