"""The one restart rule, on a built lab cluster: a unit restarts when its inputs differ from its last start.

Before this rule, node units restarted only when *this* run changed one of their files.
A run that wrote new files and died before the restart left the old process running,
and every later run found the files "up to date" and never restarted it. Now the
fingerprint of a unit's inputs is recorded on the host at each successful start; this
test makes the record disagree with the files (what such an interrupted run leaves
behind), runs the real step, and checks from systemd that the unit was restarted, once,
and that a second run changes nothing. Real SSH, real systemd, real kube-proxy.
"""

from __future__ import annotations

import pytest

from helpers import kube_proxy
from helpers.ensure import STAMP_DIR
from helpers.remote import Fleet

pytestmark = pytest.mark.lab

@pytest.fixture(scope="module")
def fleet(built_inventory):
    f = Fleet(built_inventory)
    yield f
    f.close()


def _started(h, unit: str) -> str:
    return h.run(f"systemctl show -p ActiveEnterTimestampMonotonic --value {unit}").stdout.strip()


def test_a_run_that_died_before_restarting_is_healed(fleet):
    worker = fleet.inventory.hosts_with("worker")[-1].name
    h = fleet.hosts(worker)[0]
    stamp = f"{STAMP_DIR}/kube-proxy.inputs"
    recorded = h.run(f"cat {stamp}").stdout.strip()
    assert len(recorded) == 64, f"kube-proxy on {worker} has no recorded inputs fingerprint: {recorded!r}"
    before = _started(h, "kube-proxy")
    # what an interrupted run leaves: files on disk that the running process did not start with
    h.run(f"echo {'0' * 64} > {stamp}")

    report = kube_proxy.ensure_kube_proxy(fleet)

    row = report.results[worker]
    assert row.status == "changed" and "restarted" in row.detail, f"{worker}: {row.status} ({row.detail})"
    assert _started(h, "kube-proxy") != before, f"kube-proxy on {worker} was not restarted"
    assert h.run(f"cat {stamp}").stdout.strip() == recorded, "the fingerprint of the same files should be recorded again"
    others = {n: r.status for n, r in report.results.items() if n != worker and r.status != "skipped"}
    assert set(others.values()) == {"ok"}, f"only {worker} needed a restart: {others}"

    again = kube_proxy.ensure_kube_proxy(fleet)
    assert not again.changed, f"a second run should change nothing: {[(n, r.detail) for n, r in again.results.items()]}"


def test_a_stopped_unit_is_started_without_a_new_record(fleet):
    worker = fleet.inventory.hosts_with("worker")[-1].name
    h = fleet.hosts(worker)[0]
    h.run("systemctl stop kube-proxy")
    report = kube_proxy.ensure_kube_proxy(fleet)
    row = report.results[worker]
    assert row.status == "changed" and "started" in row.detail, f"{worker}: {row.status} ({row.detail})"
    assert h.run("systemctl is-active kube-proxy", check=False).stdout.strip() == "active"
    assert not kube_proxy.ensure_kube_proxy(fleet).changed
