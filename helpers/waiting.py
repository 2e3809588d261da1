"""Waiting for the cluster to agree: one poll loop with a deadline, for every check that follows a change.

A check that reads state once right after changing it (a deletion, a rollout, a restart,
a VIP move) races the controllers that carry the change out; it passes or fails by timing.
Every such check waits here instead: it polls (or, for the Kubernetes API, watches, see
:mod:`helpers.kube_wait`) until a condition holds or a deadline passes, and the timeout
names what it waited for and what it saw last.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from helpers.errors import HostError

T = TypeVar("T")


class WaitTimeout(HostError):
    """Raised when a condition is not reached before its deadline.

    ``what`` is the condition, ``last`` what the last probe saw (already shortened),
    ``seconds`` how long it waited.
    """

    def __init__(self, where: str, what: str, seconds: float, last: str):
        self.what = what
        self.seconds = seconds
        self.last = last
        super().__init__(where, f"wait for {what}", f"not reached after {seconds:.0f}s; last seen: {last}")


@dataclass
class Waited(Generic[T]):
    """What a wait returns: the last probed value, how long it took and how many probes it made."""

    value: T
    seconds: float
    probes: int


def shorten(text: object, limit: int = 300) -> str:
    """``str(text)`` on one line, cut to ``limit`` characters (messages never carry huge values)."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def poll_until(probe: Callable[[], T], done: Callable[[T], bool], *, what: str, where: str,
               timeout: float, interval: float = 0.5, describe: Callable[[T], str] | None = None,
               tolerate: tuple[type[BaseException], ...] = ()) -> Waited[T]:
    """Call ``probe()`` until ``done(value)`` holds or ``timeout`` seconds have passed.

    Args:
        probe: reads the state (one API call, one SSH round trip); its value goes to ``done``.
        done: the condition waited for.
        what: the condition in words, for the timeout message ("PersistentVolume kj-demo-pv gone").
        where: the host or object the condition is about.
        timeout: the deadline in seconds; the probe runs at least once.
        interval: seconds between probes.
        describe: renders the last value for the timeout message (default ``str``).
        tolerate: exceptions of the probe that mean "not yet" (a refused connection
            while a service restarts); the last one is shown if the deadline passes.

    Returns:
        :class:`Waited` with the value that satisfied ``done``.

    Raises:
        WaitTimeout: the deadline passed; names ``what`` and the last value seen.
    """
    waited, reached, error = _poll(probe, done, timeout, interval, tolerate)
    if reached:
        return waited
    if error is not None:
        last = f"{type(error).__name__}: {error}"
    else:
        last = describe(waited.value) if describe else str(waited.value)
    raise WaitTimeout(where, what, waited.seconds, shorten(last))


def settle(probe: Callable[[], T], done: Callable[[T], bool], *, within: float, interval: float = 1.0) -> Waited[T]:
    """Like :func:`poll_until`, but return the last value at the deadline instead of raising.

    For verification checks: give the cluster ``within`` seconds to agree (a new
    EndpointSlice reaching kube-proxy and CoreDNS, a restarted kubelet posting its
    status), then let the caller judge — and show — what it saw last. ``within=0``
    probes once.
    """
    return _poll(probe, done, within, interval, ())[0]


def _poll(probe, done, limit, interval, tolerate) -> tuple[Waited, bool, BaseException | None]:
    """The one poll loop: probe until ``done`` or ``limit`` seconds (at least once).

    Returns ``(Waited, reached, error)``: ``error`` is the tolerated exception the last
    probe raised (then ``Waited.value`` is the last value a probe returned, if any).
    """
    t0 = time.monotonic()
    probes = 0
    value = None
    error: BaseException | None = None
    while True:
        probes += 1
        try:
            value, error = probe(), None
        except tolerate as err:
            error = err
        else:
            if done(value):
                return Waited(value, time.monotonic() - t0, probes), True, None
        elapsed = time.monotonic() - t0
        if elapsed >= limit:
            return Waited(value, elapsed, probes), False, error
        time.sleep(min(interval, max(0.0, limit - elapsed)))
