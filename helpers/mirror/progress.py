"""Progress of an artifacts build: which unit, how far, how long still (instead of silence for minutes).

A cold build compiles for many minutes, most of them in one ``go build`` of Kubernetes.
While a unit builds, a line every :data:`INTERVAL` seconds says which unit it is, how many
Go packages it has compiled so far (of how many the last build of it compiled, when one
is on record), the time spent, and an estimate of what is left for the unit and for the
whole build. Estimates come from the unit's last recorded build (``built.json``), else
from :data:`TYPICAL_SECONDS`, measured on the reference 2-core box.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from helpers.mirror import gobuild
from helpers.mirror.layout import Unit, record_of

log = logging.getLogger(__name__)

INTERVAL = 30.0

#: Wall seconds of a cold build of each unit on an idle 2-core box (module cache warm).
TYPICAL_SECONDS = {
    "kubernetes": 320, "agnhost": 110, "coredns": 90, "flannel": 55, "containerd": 50,
    "etcd": 45, "crictl": 27, "cni-plugins": 18, "runc": 16, "traefik": 280, "metallb": 76,
    "local-path-provisioner": 60,
}


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class Progress:
    """Reports on a sequence of units being fetched or built (one at a time)."""

    def __init__(self, todo: list[Unit], interval: float = INTERVAL):
        self.todo = todo
        self.interval = interval
        records = {u.name: record_of(u) for u in todo}
        self.estimate = {u.name: float(records[u.name].get("seconds") or TYPICAL_SECONDS.get(u.name, 5))
                         for u in todo}
        self.packages = {u.name: records[u.name].get("packages") for u in todo}
        self.finished: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0

    def remaining(self, current: Unit | None = None, elapsed: float = 0.0) -> float:
        """Estimated seconds left for the whole build."""
        left = sum(s for n, s in self.estimate.items() if n not in self.finished and (not current or n != current.name))
        if current:
            left += max(0.0, self.estimate[current.name] - elapsed)
        return left

    def start(self, unit: Unit, what: str) -> None:
        """A unit begins: say so, and report on it every ``interval`` seconds until :meth:`done`."""
        index = len(self.finished) + 1
        log.info("[%d/%d] %s %s: %s (about %s; whole build about %s left)", index, len(self.todo), unit.name,
                 unit.version, what, _clock(self.estimate[unit.name]), _clock(self.remaining()))
        self._started = time.monotonic()
        gobuild.COMPILED.reset()
        self._stop.clear()
        self._thread = threading.Thread(target=self._tick, args=(unit,), daemon=True)
        self._thread.start()

    def _tick(self, unit: Unit) -> None:
        while not self._stop.wait(self.interval):
            elapsed = time.monotonic() - self._started
            count = gobuild.COMPILED.value
            of = f" of ~{self.packages[unit.name]}" if self.packages.get(unit.name) else ""
            log.info("    %s: %d packages compiled%s, %s elapsed, about %s left (whole build about %s)",
                     unit.name, count, of, _clock(elapsed),
                     _clock(self.estimate[unit.name] - elapsed), _clock(self.remaining(unit, elapsed)))

    @contextmanager
    def track(self, unit: Unit, what: str) -> Iterator[None]:
        """Report on ``unit`` while the block runs; the reports stop when it ends, however it ends."""
        self.start(unit, what)
        try:
            yield
        finally:
            self._stop.set()
            if self._thread:
                self._thread.join()
                self._thread = None

    def done(self, unit: Unit, seconds: float, what: str) -> None:
        """A unit finished."""
        self.finished.append(unit.name)
        log.info("    %s %s: %s in %s (%d packages compiled)", unit.name, unit.version, what, _clock(seconds),
                 gobuild.COMPILED.value)
