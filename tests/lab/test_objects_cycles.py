"""06-objects' clean-up on a built lab cluster, repeated: nothing is left when it returns.

The first fresh ``make up`` runs failed at 06's last check: the PersistentVolume was listed
right after its delete request, while the ``kubernetes.io/pv-protection`` finalizer still
held it (``Released``). A second run on the same cluster passed, so the failure depended on
timing. This test builds the part of the demo that has a deletion with finalizers — the
namespace, the PV, its claim and a pod using it — and deletes it, several times in a row,
asserting after each :meth:`Demo.delete_namespace` that one list call finds neither the
namespace, nor a pod of it, nor the PV: the contract the notebook's check relies on.

Needs the cluster the notebooks built (``KJ_INVENTORY``); real API server, real kubelets.
"""

from __future__ import annotations

import pytest
from labkit import require

from helpers import objects

pytestmark = pytest.mark.lab

CYCLES = 3


@pytest.fixture(scope="module")
def demo(built_inventory):
    d = objects.Demo(built_inventory)
    try:
        nodes = d.core.list_node().items
    except Exception as err:  # noqa: BLE001 - any failure to ask means no cluster to test
        require(f"the cluster of {built_inventory.path} does not answer: {err}")
    if not nodes:
        require(f"no node registered in the cluster of {built_inventory.path}: 05-workers has not run")
    yield d
    d.delete_namespace()


@pytest.mark.parametrize("cycle", range(1, CYCLES + 1))
def test_delete_namespace_leaves_nothing_behind(demo, cycle):
    workers = [h.name for h in demo.inv.hosts_with("worker")]
    demo.apply(objects.namespace_manifest(), "namespace")
    demo.ensure_volume(workers[0])
    demo.apply(objects.pvc_pod("pv-writer", demo.busybox, demo.policy), "pod using the claim")
    demo.wait_pod_ready("pv-writer")
    pv = demo.core.read_persistent_volume(objects.PV_NAME)
    assert pv.status.phase == "Bound", f"cycle {cycle}: the PV should be bound to the claim, is {pv.status.phase}"

    deletion = demo.delete_namespace()

    ns_left = demo.core.list_namespace(field_selector=f"metadata.name={objects.NAMESPACE}").items
    pods_left = demo.core.list_pod_for_all_namespaces(field_selector=f"metadata.namespace={objects.NAMESPACE}").items
    pv_left = demo.core.list_persistent_volume(field_selector=f"metadata.name={objects.PV_NAME}").items
    assert not ns_left, f"cycle {cycle}: namespace still listed after delete_namespace returned"
    assert not pods_left, f"cycle {cycle}: pods left: {[p.metadata.name for p in pods_left]}"
    assert not pv_left, (f"cycle {cycle}: PersistentVolume still listed after delete_namespace returned "
                         f"({pv_left[0].status.phase})")
    print(f"cycle {cycle}: namespace gone in {deletion.namespace_seconds:.1f} s, "
          f"PV {deletion.volume_seconds:.1f} s after")
