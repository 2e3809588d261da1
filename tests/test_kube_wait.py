"""Waiting for a rollout gives up early on an image that cannot be pulled, and names it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from helpers import kube_wait
from helpers.waiting import WaitTimeout


def _deployment(ready: int):
    return SimpleNamespace(
        spec=SimpleNamespace(replicas=1, selector=SimpleNamespace(match_labels={"app": "x"})),
        metadata=SimpleNamespace(generation=1),
        status=SimpleNamespace(observed_generation=1, updated_replicas=1, ready_replicas=ready,
                               available_replicas=ready, replicas=1))


class Apps:
    def __init__(self, ready_after: int | None):
        self.calls, self.ready_after = 0, ready_after

    def read_namespaced_deployment(self, name, namespace):
        self.calls += 1
        return _deployment(1 if self.ready_after is not None and self.calls > self.ready_after else 0)


def test_an_unpullable_image_ends_the_wait_with_its_name(monkeypatch):
    monkeypatch.setattr(kube_wait, "PULL_GRACE", 0.0)
    monkeypatch.setattr(kube_wait, "unpullable", lambda apps, ns, name: "x-1 on node01: ImagePullBackOff img:1")
    monkeypatch.setattr(kube_wait.time, "monotonic", _clock())
    with pytest.raises(WaitTimeout) as err:
        kube_wait.wait_rolled_out(Apps(None), "ns", "x", timeout=600)
    assert "gave up early: x-1 on node01: ImagePullBackOff img:1" in str(err.value)
    assert "image bundle" in str(err.value)


def test_a_rollout_that_completes_is_not_stopped(monkeypatch):
    monkeypatch.setattr(kube_wait, "PULL_GRACE", 0.0)
    monkeypatch.setattr(kube_wait, "unpullable", lambda apps, ns, name: "")
    monkeypatch.setattr(kube_wait.time, "monotonic", _clock())
    assert kube_wait.wait_rolled_out(Apps(3), "ns", "x", timeout=600) >= 0


def _clock():
    """A clock that moves 11 s per reading, so every probe is a look at the pods."""
    state = {"t": 0.0}

    def monotonic() -> float:
        state["t"] += 11.0
        return state["t"]
    return monotonic


def test_pod_ready_reads_the_ready_condition():
    def pod(*conditions):
        return SimpleNamespace(status=SimpleNamespace(conditions=[SimpleNamespace(type=t, status=s) for t, s in conditions]))

    assert kube_wait.pod_ready(pod(("PodScheduled", "True"), ("Ready", "True")))
    assert not kube_wait.pod_ready(pod(("Ready", "False")))
    assert not kube_wait.pod_ready(SimpleNamespace(status=SimpleNamespace(conditions=None)))
