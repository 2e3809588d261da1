"""Fixtures of the lab tests: the small lab (3 machines), module-scoped."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from labkit import SMALL, Lab, require, snapshot

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


@pytest.fixture(scope="module")
def built_inventory():
    """The inventory of the cluster the notebooks built (``KJ_INVENTORY``); required to have its admin kubeconfig."""
    from helpers.inventory import load_inventory
    from helpers.kube import admin_kubeconfig

    path = Path(os.environ.get("KJ_INVENTORY", Path(__file__).resolve().parents[2] / "inventories" / "lab.yaml"))
    inv = load_inventory(path)
    if not admin_kubeconfig(inv).exists():
        require(f"no cluster built for {path} (no admin kubeconfig): run the notebooks first")
    return inv
