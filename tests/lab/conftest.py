"""Fixtures of the lab tests: the small lab (3 machines), module-scoped."""

from __future__ import annotations

import pytest
from labkit import SMALL, Lab, snapshot

from helpers.lab import lab
from helpers.lab.plan import load_plan


@pytest.fixture(scope="module")
def small_lab():
    """The small lab (3 machines), brought up from scratch for the module, down after."""
    plan = load_plan(SMALL)
    lab.down(plan.name)  # from scratch: no leftovers of an earlier run
    baseline = snapshot()
    report = lab.up(plan)
    yield Lab(plan, report), baseline
    lab.down(plan.name)
