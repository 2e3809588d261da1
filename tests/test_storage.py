"""08's objects without a cluster: the three changes to upstream's manifest, the claims, pods and StatefulSet.

Upstream's ``local-path-storage.yaml`` comes from the mirror in the notebook; here a copy of
its relevant objects (same names, same shape) stands in, so the test needs no mirror. The
changes are checked against it, and so is :func:`helpers.storage.departures`, which must
name every change and complain when one found nothing to change.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from helpers import storage
from helpers.storage import install, volumes

REPO = Path(__file__).resolve().parent.parent

UPSTREAM = """
apiVersion: v1
kind: Namespace
metadata:
  name: local-path-storage
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local-path
provisioner: rancher.io/local-path
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
---
kind: ConfigMap
apiVersion: v1
metadata:
  name: local-path-config
  namespace: local-path-storage
data:
  config.json: |-
    {"nodePathMap":[{"node":"DEFAULT_PATH_FOR_NON_LISTED_NODES","paths":["/opt/local-path-provisioner"]}]}
  helperPod.yaml: |-
    apiVersion: v1
    kind: Pod
    metadata:
      name: helper-pod
    spec:
      priorityClassName: system-node-critical
      containers:
      - name: helper-pod
        image: busybox
        imagePullPolicy: IfNotPresent
"""


@pytest.fixture
def inv(lab_inventory, monkeypatch):
    monkeypatch.setattr(install, "upstream_documents", lambda _inv: list(yaml.safe_load_all(UPSTREAM)))
    return lab_inventory


def test_the_three_changes_are_made_and_named(inv):
    docs = {d["kind"]: d for d in storage.manifest_documents(inv)}
    assert docs["Namespace"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert docs["StorageClass"]["metadata"]["annotations"][install.DEFAULT_CLASS] == "true"
    helper = yaml.safe_load(docs["ConfigMap"]["data"]["helperPod.yaml"])
    assert helper["spec"]["containers"][0]["image"] == "docker.io/library/busybox:1.35.0"
    assert helper["spec"]["priorityClassName"] == "system-node-critical"  # the rest is upstream's
    changes = storage.departures(inv)
    assert changes.ok, changes.problems
    assert {r[0]: r[1] for r in changes.rows} == {
        "Namespace/local-path-storage": "metadata.labels",
        "StorageClass/local-path": "metadata.annotations",
        "ConfigMap/local-path-config": "data.helperPod.yaml",
    }


def test_a_change_that_finds_nothing_to_change_is_a_problem(inv, monkeypatch):
    renamed = UPSTREAM.replace("name: local-path-config", "name: local-path-settings")
    monkeypatch.setattr(install, "upstream_documents", lambda _inv: list(yaml.safe_load_all(renamed)))
    changes = storage.departures(inv)
    assert changes.problems == ["ConfigMap/local-path-config: not in the manifest, or nothing to change"]


def test_the_claim_names_no_class_so_the_default_serves_it():
    claim = storage.claim_document("kj-data")
    assert "storageClassName" not in claim["spec"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_pods_pass_the_restricted_level_and_write_once():
    pod = storage.pod_document("kj-writer", "kj-data")
    (container,) = pod["spec"]["containers"]
    sc = container["securityContext"]
    assert sc["runAsNonRoot"] and sc["capabilities"] == {"drop": ["ALL"]} and not sc["allowPrivilegeEscalation"]
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    script = container["command"][-1]
    assert script.startswith("[ -s /data/first-writer ] ||")  # an existing file is never overwritten
    assert pod["spec"]["volumes"] == [{"name": "data", "persistentVolumeClaim": {"claimName": "kj-data"}}]
    assert volumes.namespace_document()["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_statefulset_has_a_claim_per_replica_and_deletes_them_with_itself():
    sts = storage.statefulset_document()
    spec = sts["spec"]
    assert spec["replicas"] == 2 and spec["serviceName"] == storage.STS
    (template,) = spec["volumeClaimTemplates"]
    assert template["metadata"]["name"] == "data" and "storageClassName" not in template["spec"]
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Delete", "whenScaled": "Retain"}


def test_the_node_a_volume_lives_on_is_read_from_its_affinity():
    from kubernetes import client

    pv = client.V1PersistentVolume(spec=client.V1PersistentVolumeSpec(node_affinity=client.V1VolumeNodeAffinity(
        required=client.V1NodeSelector(node_selector_terms=[client.V1NodeSelectorTerm(match_expressions=[
            client.V1NodeSelectorRequirement(key="kubernetes.io/hostname", operator="In", values=["kube-node02"])])]))))
    assert volumes.affinity_node(pv) == "kube-node02"
    assert volumes.affinity_node(client.V1PersistentVolume(spec=client.V1PersistentVolumeSpec())) == ""


def test_the_volumes_picture_puts_each_volume_under_its_node(inv):
    volumes = {"kube-node01": [("pvc-1234", "kj-storage/kj-data", ["kj-writer @ kube-node01"])], "kube-node02": []}
    fig = storage.plot_volumes(inv, volumes)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "kube-node01" in texts and "no local-path volume" in texts
    assert any("claim kj-storage/kj-data" in t and "kj-writer @ kube-node01" in t for t in texts)
