"""09 on the built cluster, broken on purpose: the checks name what failed, the steps repair it.

- the Redis leader away (its StatefulSet scaled to 0): the page and the reads go on from
  the followers, writes fail, and the verdict names the write that failed and the leader
  the followers lost; the frontend's ``/healthz`` names the leader; scaled back, the
  guestbook is whole again and nothing written before is missing;
- metrics-server's APIService given a CA that did not sign its certificate: the API server
  refuses to talk to it (``Available`` False, and the reason says so), the metrics API
  fails and the check says why; 09's step puts the right ``caBundle`` back.

Needs the cluster the notebooks built through 09 (``KJ_INVENTORY``).
"""

from __future__ import annotations

import base64

import pytest
from labkit import require

from helpers import guestbook, metrics
from helpers.waiting import settle

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def inv(built_inventory):
    from kubernetes import client

    from helpers.kube import api_client

    try:
        client.AppsV1Api(api_client(built_inventory)).read_namespaced_deployment(guestbook.FRONTEND, guestbook.NAMESPACE)
    except Exception as err:  # noqa: BLE001 - no guestbook means 09 has not run
        require(f"no guestbook on the cluster of {built_inventory.path} (09 not run?): {err}")
    before = guestbook.verify_guestbook(built_inventory)
    assert before.ok, f"the guestbook is not healthy before the test: {before.problems}"
    return built_inventory


def _scale_leader(inv, replicas: int) -> None:
    from kubernetes import client

    from helpers.kube import api_client
    from helpers.kube_wait import wait_deleted, wait_statefulset_ready

    api = api_client(inv)
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.patch_namespaced_stateful_set_scale(guestbook.LEADER, guestbook.NAMESPACE, {"spec": {"replicas": replicas}})
    if replicas == 0:
        wait_deleted(core.list_namespaced_pod, f"{guestbook.LEADER}-0", kind="Pod", namespace=guestbook.NAMESPACE,
                     timeout=60)
    else:
        wait_statefulset_ready(apps, guestbook.NAMESPACE, guestbook.LEADER, timeout=120)


def test_without_its_leader_the_guestbook_reads_and_names_the_failed_write(inv):
    address = guestbook.address(inv)
    entries = guestbook.read_entries(address)["entries"]
    _scale_leader(inv, 0)
    try:
        seen = settle(lambda: guestbook.verify_guestbook(inv, reads=6),
                      lambda v: any("writing an entry" in p for p in v.problems), within=30).value
        assert any("writing an entry" in p and "503" in p and "redis-leader:6379" in p for p in seen.problems), \
            seen.problems
        assert "redis-leader-0 could not be asked (not found)" in seen.problems, seen.problems
        assert any("redis-follower-0 is slave with link down" in p for p in seen.problems), seen.problems
        assert not any("does not hold" in p for p in seen.problems), "no entry was written, so none is missing"
        assert guestbook.read_entries(address)["entries"] == entries, "reads go on from the followers"
        status, said = guestbook.call(address, "GET", "/healthz")
        assert status == 503 and "leader redis-leader:6379" in said, said
    finally:
        _scale_leader(inv, 1)
    after = settle(lambda: guestbook.verify_guestbook(inv), lambda v: v.ok, within=60).value
    assert after.ok, after.problems
    assert entries == guestbook.read_entries(address)["entries"][: len(entries)], "nothing written before is missing"


def test_a_wrong_ca_bundle_is_refused_and_09_restores_it(inv, tmp_path):
    from kubernetes import client

    from helpers import pki
    from helpers.kube import api_client

    other = pki.ensure_ca(tmp_path, "ca", "not-the-kubernetes-ca")
    registration = client.ApiregistrationV1Api(api_client(inv))
    bundle = base64.b64encode(other.cert_path.read_bytes()).decode()
    registration.patch_api_service(metrics.install.APISERVICE, {"spec": {"caBundle": bundle}})
    try:
        status, reason = settle(lambda: metrics.apiservice_condition(inv), lambda c: c[0] == "False", within=60).value
        assert status == "False", reason
        assert "x509" in reason or "certificate" in reason, reason
        seen = metrics.verify_metrics(inv, guestbook.NAMESPACE, within=0)
        assert seen.problems and "reading metrics.k8s.io failed" in seen.problems[0], seen.problems
    finally:
        repaired = metrics.ensure_metrics_server(inv)
    assert repaired.results["APIService/v1beta1.metrics.k8s.io"].status == "changed"
    assert metrics.apiservice_condition(inv)[0] == "True"
    assert metrics.verify_metrics(inv, guestbook.NAMESPACE).ok
