"""Failure paths of 01-architecture and 02-network on the running lab.

Needs the lab up (``python -m helpers lab up --inventory inventories/lab.yaml``); the
inventory is ``$KJ_INVENTORY`` (default: the reference lab). Nothing on the machines is
changed: the unreachable-host test only reads facts, the wrong-key test only connects.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest
import yaml

from helpers.errors import HostKeyMismatch, JourneyError, StepFailed, UnreachableHost
from helpers.facts import gather_facts, preflight
from helpers.inventory import load_inventory
from helpers.paths import REPO

pytestmark = pytest.mark.lab

INVENTORY = Path(os.environ.get("KJ_INVENTORY", REPO / "inventories" / "lab.yaml"))


@pytest.fixture(scope="module")
def inv():
    inv = load_inventory(INVENTORY)
    from helpers.remote import Fleet

    with Fleet(inv, connect_timeout=5) as fleet:
        try:
            fleet.step("reach the lab", lambda h: None)
        except JourneyError as err:
            pytest.skip(f"lab not reachable: {err}")
    return inv


def _with_extra_host(inv, tmp_path, name: str, address: str) -> Path:
    """Copy the inventory with one more worker; relative paths stay valid via absolute ones."""
    data = yaml.safe_load(INVENTORY.read_text())
    data["ssh"]["identity_file"] = str(inv.ssh.identity_file)
    data["ssh"]["known_hosts"] = str(inv.ssh.known_hosts)
    data["hosts"].append({"name": name, "address": address, "roles": ["worker"]})
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _free_address(inv) -> str:
    used = {h.address for h in inv.hosts} | {inv.network.gateway, inv.network.vip}
    for address in reversed(list(inv.network.node_subnet.hosts())):
        if address not in used:
            return str(address)
    raise AssertionError("no free address in the node subnet")


def test_unreachable_host_fails_the_facts_step_with_its_name(inv, tmp_path):
    from helpers.remote import Fleet

    address = _free_address(inv)
    ghost = load_inventory(_with_extra_host(inv, tmp_path, "kube-ghost01", address))
    with Fleet(ghost, connect_timeout=3) as fleet:
        with pytest.raises(StepFailed) as caught:
            gather_facts(fleet)
    err = caught.value
    assert set(err.failures) == {"kube-ghost01"}, f"only the ghost should fail: {err}"
    assert isinstance(err.failures["kube-ghost01"], UnreachableHost)
    text = str(err)
    assert "gather host facts" in text and "kube-ghost01" in text and address in text
    # every other host still ran, and the preflight names the ghost
    report = err.report
    assert report.ok == len(inv.hosts)
    facts = {n: d for n, d in report.data().items() if d is not None}
    checks = preflight(ghost, facts, cluster_dir=inv.cluster_dir)  # the lab's own cluster directory
    assert [(c.host, c.check) for c in checks if not c.passed] == [("kube-ghost01", "facts")]


def test_host_with_an_unrecorded_key_is_refused(inv, tmp_path):
    """The facts step refuses a host whose key known_hosts does not list (here: an empty file)."""
    from helpers.remote import Fleet

    data = yaml.safe_load(INVENTORY.read_text())
    data["ssh"]["identity_file"] = str(inv.ssh.identity_file)
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    data["ssh"]["known_hosts"] = str(empty)
    data["hosts"] = data["hosts"][:1]
    data["hosts"][0]["roles"] = ["master", "etcd", "worker"]
    data["network"]["vip"] = None
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    one = load_inventory(path)
    with Fleet(one, connect_timeout=5) as fleet:
        with pytest.raises(StepFailed) as caught:
            gather_facts(fleet)
    ((name, error),) = caught.value.failures.items()
    assert name == one.hosts[0].name and isinstance(error, HostKeyMismatch)
    assert ipaddress.ip_address(one.hosts[0].address).compressed in str(caught.value)
