"""09's metrics-server objects without a cluster: TLS verified both ways, and nothing else changed.

A stand-in of upstream's ``components.yaml`` (the objects 09 changes, with upstream's
fields) replaces the mirror's copy; the Kubernetes CA is made in a temporary cluster
directory, as 04 would make it.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from helpers import metrics, pki
from helpers.inventory import load_inventory
from helpers.k8s_pki import pki_dir
from helpers.metrics import install

REPO = Path(__file__).resolve().parent.parent

UPSTREAM = """
apiVersion: v1
kind: ServiceAccount
metadata: {name: metrics-server, namespace: kube-system}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: metrics-server, namespace: kube-system}
spec:
  template:
    spec:
      containers:
      - name: metrics-server
        image: registry.k8s.io/metrics-server/metrics-server:v0.8.0
        args: [--cert-dir=/tmp, --secure-port=10250, "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
               --kubelet-use-node-status-port, --metric-resolution=15s]
        volumeMounts: [{name: tmp-dir, mountPath: /tmp}]
      volumes: [{name: tmp-dir, emptyDir: {}}]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta1.metrics.k8s.io}
spec:
  service: {name: metrics-server, namespace: kube-system}
  group: metrics.k8s.io
  version: v1beta1
  insecureSkipTLSVerify: true
  groupPriorityMinimum: 100
  versionPriority: 100
"""


@pytest.fixture
def inv(tmp_path, monkeypatch):
    doc = yaml.safe_load((REPO / "inventories" / "lab.yaml").read_text())
    doc["ssh"] = {**doc["ssh"], "identity_file": "k", "known_hosts": "h"}
    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump(doc))
    monkeypatch.setenv("KJ_CLUSTER_DIR", str(tmp_path / "cluster"))
    monkeypatch.setattr(install, "upstream_documents", lambda _inv: list(yaml.safe_load_all(UPSTREAM)))
    loaded = load_inventory(path)
    pki.ensure_ca(pki_dir(loaded.cluster_dir), "ca", "kubernetes")
    return loaded


def test_tls_is_verified_both_ways(inv):
    ca, pair, changed = install.ensure_certificate(inv)
    assert changed
    docs = {(d["kind"], d["metadata"]["name"]): d for d in metrics.manifest_documents(inv, ca, pair)}
    api = docs[("APIService", "v1beta1.metrics.k8s.io")]["spec"]
    assert "insecureSkipTLSVerify" not in api
    assert base64.b64decode(api["caBundle"]) == Path(ca.cert_path).read_bytes()
    pod = docs[("Deployment", "metrics-server")]["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    assert "--kubelet-insecure-tls" not in args
    assert f"--kubelet-certificate-authority={install.KUBELET_CA}" in args
    assert "--kubelet-preferred-address-types=InternalIP" in args
    assert sum(a.startswith("--kubelet-preferred-address-types") for a in args) == 1
    assert {"name": "kubelet-ca", "configMap": {"name": "kube-root-ca.crt"}} in pod["volumes"]
    secret = docs[("Secret", "metrics-server-tls")]
    assert base64.b64decode(secret["data"]["tls.crt"]) == Path(pair.cert_path).read_bytes()
    # the certificate names the Service as the API server dials it
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(Path(pair.cert_path).read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert set(names) == {"metrics-server.kube-system.svc", "metrics-server.kube-system.svc.cluster.local"}
    assert install.ensure_certificate(inv)[2] is False, "a second run reuses the certificate"


def test_departures_name_every_change(inv):
    seen = metrics.departures(inv)
    assert seen.ok, seen.problems
    changes = {(r[0], r[2], r[3]) for r in seen.rows}
    assert ("APIService/v1beta1.metrics.k8s.io", "insecureSkipTLSVerify", "removed") in changes
    assert ("APIService/v1beta1.metrics.k8s.io", "caBundle", "added") in changes
    assert ("Deployment/metrics-server", "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
            "removed") in changes
    assert ("Secret/metrics-server-tls", "the serving certificate and key", "added") in changes


def test_a_manifest_without_the_objects_is_a_problem(inv, monkeypatch):
    only_sa = UPSTREAM.split("---")[0]
    monkeypatch.setattr(install, "upstream_documents", lambda _inv: list(yaml.safe_load_all(only_sa)))
    assert len(metrics.departures(inv).problems) == 2


@pytest.mark.parametrize(("quantity", "millicores"), [("12345678n", 12.345678), ("250u", 0.25), ("15m", 15.0),
                                                      ("2", 2000.0), ("0", 0.0)])
def test_cpu_quantities(quantity, millicores):
    assert metrics.cpu_millicores(quantity) == pytest.approx(millicores)


@pytest.mark.parametrize(("quantity", "mib"), [("2048Ki", 2.0), ("64Mi", 64.0), ("1Gi", 1024.0), ("1048576", 1.0)])
def test_memory_quantities(quantity, mib):
    assert metrics.memory_mib(quantity) == pytest.approx(mib)


def test_hpa_scales_on_cpu_requests_within_bounds():
    hpa = metrics.hpa_document("kj-guestbook", "frontend", 3, 6, 50)
    spec = hpa["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (3, 6)
    assert spec["metrics"][0]["resource"] == {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}
    assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 20
