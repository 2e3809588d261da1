"""A prober: one request at a fixed rate from the operator's machine, each result kept with its time.

Drills (09's lost replica and scaling, 11's failures) measure what a user would have seen:
a thread calls ``probe()`` every ``interval`` seconds until it is stopped, ``limit``
seconds have passed or ``max_count`` probes were made (load is bounded in count and in
time, whatever the caller forgets). ``probe`` returns a short text on success and raises
on failure; each call becomes a :class:`Sample` (seconds since the start, ok, what it
said or why it failed). The caller's own request timeout bounds each probe.

By default one probe runs at a time, so a probe that hangs delays the next (closed loop:
the user who waits before clicking again). With ``concurrency`` > 1 the probes start on
their schedule whatever the earlier ones are doing, up to that many in flight (open
loop: many users, each arriving on time), so an outage costs every probe due during it;
a drill that judges availability needs that. Samples are kept in order of their start.

    with Prober(lambda: get(url), interval=0.1, limit=60) as p:
        break_something()
    p.summary()   # {"probes": 412, "answered": 410, "ratio": 0.995, "longest_outage": 0.2, ...}
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Sample:
    """One probe: when it started (seconds after the prober did), whether it answered, what it said."""

    t: float
    ok: bool
    detail: str
    seconds: float


class Prober:
    """Call ``probe`` every ``interval`` seconds in a thread (at most ``limit`` seconds, ``max_count`` calls)."""

    def __init__(self, probe: Callable[[], str], *, interval: float = 0.1, limit: float = 120.0,
                 max_count: int = 5000, concurrency: int = 1):
        if interval <= 0 or limit <= 0 or max_count <= 0 or concurrency <= 0:
            raise ValueError(f"interval, limit, max_count and concurrency must be positive (got {interval}, {limit}, "
                             f"{max_count}, {concurrency})")
        self.probe, self.interval, self.limit, self.max_count = probe, interval, limit, max_count
        self.concurrency = concurrency
        self._samples: list[Sample] = []
        self._lock = threading.Lock()
        #: moments a drill marks on the timeline, ``(seconds, label)``
        self.marks: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started = 0.0

    @property
    def samples(self) -> list[Sample]:
        """The samples so far, in order of their start."""
        with self._lock:
            return sorted(self._samples, key=lambda s: s.t) if self.concurrency > 1 else list(self._samples)

    def _one(self) -> None:
        t0 = time.monotonic()
        try:
            ok, detail = True, str(self.probe())
        except Exception as err:  # noqa: BLE001 - a failed probe is data, not an error
            ok, detail = False, f"{type(err).__name__}: {err}"[:200]
        with self._lock:
            self._samples.append(Sample(t0 - self.started, ok, detail, time.monotonic() - t0))

    def _run(self) -> None:
        from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="probe") if self.concurrency > 1 else None
        n = 0
        try:
            while not self._stop.is_set() and n < self.max_count:
                due = self.started + n * self.interval
                now = time.monotonic()
                if now - self.started >= self.limit:
                    break
                if due > now:
                    self._stop.wait(due - now)
                    continue
                if pool is None:
                    self._one()
                else:
                    pool.submit(self._one)
                n += 1
        finally:
            if pool is not None:
                pool.shutdown(wait=True)

    def start(self) -> Prober:
        """Start probing (returns self)."""
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="prober", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> Prober:
        """Stop after the probe in flight (returns self)."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=self.limit + 30)
        return self

    def now(self) -> float:
        """Seconds since the prober started (to mark events on its timeline)."""
        return time.monotonic() - self.started

    def __enter__(self) -> Prober:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def summary(self, since: float = 0.0, until: float | None = None) -> dict[str, Any]:
        """:func:`summarize` of this prober's samples."""
        return summarize(self.samples, since, until)


def summarize(samples: list[Sample], since: float = 0.0, until: float | None = None) -> dict[str, Any]:
    """Counts over a window of a timeline: probes, answered, ratio, longest outage, failures' reasons."""
    window = [s for s in samples if s.t >= since and (until is None or s.t <= until)]
    answered = sum(s.ok for s in window)
    longest, start = 0.0, None
    for s in window:
        if not s.ok and start is None:
            start = s.t
        elif s.ok and start is not None:
            longest, start = max(longest, s.t - start), None
    if start is not None and window:
        longest = max(longest, window[-1].t + window[-1].seconds - start)
    reasons: dict[str, int] = {}
    for s in window:
        if not s.ok:
            reasons[s.detail] = reasons.get(s.detail, 0) + 1
    return {"probes": len(window), "answered": answered, "ratio": answered / len(window) if window else 0.0,
            "longest_outage": round(longest, 3), "failures": reasons}


def to_json(samples: list[Sample]) -> list[list]:
    """Samples as ``[t, ok, detail, seconds]`` lists (rounded to the millisecond), for a record."""
    return [[round(s.t, 3), s.ok, s.detail, round(s.seconds, 3)] for s in samples]


def from_json(rows: list[list]) -> list[Sample]:
    """The inverse of :func:`to_json`."""
    return [Sample(float(t), bool(ok), str(detail), float(seconds)) for t, ok, detail, seconds in rows]
