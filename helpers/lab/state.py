"""What the lab created, recorded on disk so ``down`` (or a later ``up``) finds it.

Per lab, ``/run/kubernetes-journey/<lab>/state.json`` records the processes it started
(PID plus start time, so a recycled PID is never mistaken for ours) and the inventory
it came from. Host-wide changes shared by all labs (sysctls, the nspawn tmpfs, the
``/run/netns`` mount) are recorded once in ``/run/kubernetes-journey/host.json`` with
their previous values, and undone when the last lab goes down.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from helpers.errors import LabError
from helpers.lab.files import write_file
from helpers.lab.plan import run_root
from helpers.waiting import WaitTimeout, poll_until

KILL_WAIT = 10.0
"""Seconds a process may take to vanish after SIGKILL (longer means it hangs in the kernel)."""


@dataclass
class ProcRecord:
    """A process the lab started: PID and kernel start time identify it exactly."""

    pid: int
    start: int
    argv: list[str]

    def alive(self) -> bool:
        """Whether this very process (same PID *and* start time) still runs."""
        return proc_start_time(self.pid) == self.start

    def stop(self, timeout: float = 10.0) -> bool:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL; return True if it was running.

        Raises:
            LabError: the process still runs :data:`KILL_WAIT` seconds after SIGKILL
                (stuck in the kernel); names the PID, the program and its last state.
        """
        if not self.alive():
            return False
        _signal(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                return True
            time.sleep(0.05)
        if self.alive():
            _signal(self.pid, signal.SIGKILL)
            program = self.argv[0] if self.argv else "?"
            try:
                poll_until(self.alive, lambda alive: not alive,
                           what=f"process {self.pid} ({program}) to exit after SIGKILL "
                                f"(SIGTERM {timeout:.0f}s before)",
                           where="the lab host", timeout=KILL_WAIT, interval=0.05,
                           describe=lambda _: f"still running, state {proc_state(self.pid)}")
            except WaitTimeout as err:
                raise LabError(str(err)) from err
        return True


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def proc_start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot, or None when it is gone (or a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat.rpartition(")")[2].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def proc_state(pid: int) -> str:
    """The kernel's state letter of ``pid`` (``D`` = uninterruptible sleep), or ``gone``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return "gone"
    return stat.rpartition(")")[2].split()[0]


def record(pid: int, argv: list[str]) -> ProcRecord:
    """Record a just-started process."""
    start = proc_start_time(pid)
    if start is None:
        raise ProcessLookupError(pid)
    return ProcRecord(pid=pid, start=start, argv=list(argv))


_SAVE_LOCK = threading.RLock()


@dataclass
class LabState:
    """The record of one lab's processes (``procs``: service or machine name -> process)."""

    lab: str
    inventory: str = ""
    bridge: str = ""
    machines: list[str] = field(default_factory=list)
    procs: dict[str, ProcRecord] = field(default_factory=dict)
    config: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def path_for(lab: str) -> Path:
        """Where the state of ``lab`` lives."""
        return run_root() / lab / "state.json"

    @classmethod
    def load(cls, lab: str) -> LabState:
        """Load the state of ``lab`` (empty state when there is none)."""
        try:
            raw = json.loads(cls.path_for(lab).read_text())
        except FileNotFoundError:
            return cls(lab=lab)
        procs = {k: ProcRecord(**v) for k, v in raw.get("procs", {}).items()}
        return cls(
            lab=lab,
            inventory=raw.get("inventory", ""),
            bridge=raw.get("bridge", ""),
            machines=raw.get("machines", []),
            procs=procs,
            config=raw.get("config", {}),
        )

    def save(self) -> None:
        """Write the state atomically (safe to call from several threads)."""
        with _SAVE_LOCK:
            data = json.dumps(asdict(self), indent=2) + "\n"
            write_file(self.path_for(self.lab), data, 0o600)


def known_labs() -> list[str]:
    """Names of every lab with runtime state or machine disks on this host."""
    from helpers.lab.plan import data_root

    names = {p.parent.name for p in run_root().glob("*/state.json")}
    if data_root().is_dir():
        names |= {p.name for p in data_root().iterdir() if p.is_dir()}
    return sorted(names)


@dataclass
class HostRecord:
    """Host-wide changes shared by every lab, with the values to restore."""

    labs: list[str] = field(default_factory=list)
    sysctls: dict[str, str] = field(default_factory=dict)
    mounts: list[str] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)

    @staticmethod
    def path() -> Path:
        """Where the host record lives."""
        return run_root() / "host.json"

    @classmethod
    def load(cls) -> HostRecord:
        """Load the host record (empty when no lab changed anything)."""
        try:
            return cls(**json.loads(cls.path().read_text()))
        except FileNotFoundError:
            return cls()

    def save(self) -> None:
        """Write the record atomically, or remove it when it records nothing."""
        if not (self.labs or self.sysctls or self.mounts or self.dirs):
            self.path().unlink(missing_ok=True)
            return
        write_file(self.path(), json.dumps(asdict(self), indent=2) + "\n", 0o600)


@contextmanager
def host_lock() -> Iterator[None]:
    """Serialise lab operations on this host (one ``up``/``down`` at a time)."""
    root = run_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def as_dict(rec: ProcRecord) -> dict[str, Any]:
    """A process record as a plain dictionary (for reports)."""
    return asdict(rec)
