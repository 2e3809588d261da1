"""helpers.waiting: the one poll loop with a deadline."""

from __future__ import annotations

import time

import pytest

from helpers.errors import HostError
from helpers.waiting import WaitTimeout, poll_until, shorten


def test_returns_as_soon_as_the_condition_holds():
    values = iter([1, 2, 3, 4])
    waited = poll_until(lambda: next(values), lambda v: v >= 3, what="three", where="here",
                        timeout=5, interval=0.01)
    assert waited.value == 3
    assert waited.probes == 3
    assert waited.seconds < 1


def test_probes_at_least_once_even_with_no_time():
    waited = poll_until(lambda: "x", lambda v: v == "x", what="x", where="here", timeout=0)
    assert waited.value == "x" and waited.probes == 1


def test_timeout_names_what_it_waited_for_and_what_it_saw_last():
    t0 = time.monotonic()
    with pytest.raises(WaitTimeout) as caught:
        poll_until(lambda: {"phase": "Released"}, lambda v: False, what="PersistentVolume pv gone",
                   where="PersistentVolume/pv", timeout=0.3, interval=0.05,
                   describe=lambda v: f"phase {v['phase']}")
    assert 0.25 < time.monotonic() - t0 < 2
    err = caught.value
    assert isinstance(err, HostError)
    assert err.what == "PersistentVolume pv gone" and err.last == "phase Released"
    assert str(err).startswith("failed to wait for PersistentVolume pv gone on PersistentVolume/pv: "
                               "not reached after 0s; last seen: phase Released")


def test_tolerated_errors_mean_not_yet_and_are_reported_last():
    calls = []

    def probe():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionRefusedError("refused")
        return "up"

    assert poll_until(probe, lambda v: v == "up", what="up", where="h", timeout=5, interval=0.01,
                      tolerate=(ConnectionRefusedError,)).value == "up"
    with pytest.raises(WaitTimeout, match="last seen: ConnectionRefusedError: refused"):
        poll_until(lambda: (_ for _ in ()).throw(ConnectionRefusedError("refused")), bool, what="up",
                   where="h", timeout=0.1, interval=0.02, tolerate=(ConnectionRefusedError,))


def test_other_errors_are_not_swallowed():
    with pytest.raises(ZeroDivisionError):
        poll_until(lambda: 1 / 0, bool, what="x", where="h", timeout=1, tolerate=(OSError,))


def test_messages_never_carry_huge_values():
    huge = "line\n" * 100_000
    assert len(shorten(huge)) == 300
    with pytest.raises(WaitTimeout) as caught:
        poll_until(lambda: huge, lambda v: False, what="x", where="h", timeout=0)
    assert len(str(caught.value)) < 500
