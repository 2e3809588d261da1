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
def inv(lab_inventory, monkeypatch):
    monkeypatch.setattr(install, "upstream_documents", lambda _inv: list(yaml.safe_load_all(UPSTREAM)))
    pki.ensure_ca(pki_dir(lab_inventory.cluster_dir), "ca", "kubernetes")
    return lab_inventory


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


def _timeline():
    from helpers.metrics.autoscale import Timeline

    records = []
    for i in range(20):
        loaded = 3 <= i <= 10
        records.append({"t": i * 3.0, "phase": "load" if loaded else ("idle" if i < 3 else "after"),
                        "requests": 100 * max(0, min(i, 10) - 2), "current": 3 + (i > 6) + (i > 8) - (i > 16) * 2,
                        "desired": 3, "cpu": 300 if loaded else 5, "scaling_active": "True",
                        "nodes": {"kube-node01": {"cpu": 150.0 + 100 * loaded, "memory": 900.0}},
                        "pods": {} if i == 5 else {"frontend-a": {"cpu": 1.0 + 60 * loaded, "memory": 3.0}}})
    return Timeline(records=records, load_started=9.0, load_stopped=30.0, requests=800, failed=0)


def test_the_figures_draw_from_a_recorded_timeline():
    from helpers.metrics.figure import request_rate

    timeline = _timeline()
    rates = request_rate(timeline)
    assert rates[0] == 0.0 and rates[5] == pytest.approx(100 / 3)
    fig = metrics.plot_autoscale(timeline, 3, 6, 50)
    assert len(fig.axes) == 3  # replicas (with the request rate on a twin axis) and CPU
    usage = metrics.plot_usage(timeline)
    lines = {ax.get_title(): [line.get_label() for line in ax.get_lines()] for ax in usage.axes}
    assert lines["CPU (millicores) per node"] == ["kube-node01"]
    assert lines["memory (MiB) per pod"] == ["frontend-a"]
    assert len(usage.axes[2].get_lines()[0].get_xdata()) == 19, "a missed sample is a gap, not a zero"
