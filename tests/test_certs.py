"""The certificate inventory on a cluster directory the PKI steps filled (no hosts)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from helpers import certs
from helpers import control_plane as cp
from helpers.inventory import load_inventory

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def inv(tmp_path, monkeypatch):
    monkeypatch.setenv("KJ_CLUSTER_DIR", str(tmp_path / "cluster"))
    inv = load_inventory(REPO / "inventories" / "lab.yaml")
    cp.ensure_kubernetes_pki(inv)
    cp.ensure_kubeconfigs(inv)
    return inv


def _states(table) -> dict[str, str]:
    return {row[0]: row[4] for row in table.rows}


def test_every_certificate_is_listed_once_with_where_it_is(inv):
    table = certs.certificate_inventory(inv)
    assert table.ok, table.problems
    names = [row[0] for row in table.rows]
    assert len(names) == len(set(names)), "one row per certificate, however many copies"
    assert {"kubernetes", "front-proxy-ca", "kube-apiserver", "admin", "super-admin"} <= set(names)
    assert names.index("kubernetes") < names.index("kube-apiserver"), "CAs first"
    admin = next(r for r in table.rows if r[0] == "admin")
    # the admin certificate is in pki/ and embedded in admin.kubeconfig: one certificate, two places
    assert "pki/kubernetes/admin.crt" in admin[5] and "kubeconfigs/admin.kubeconfig" in admin[5]
    assert set(_states(table).values()) == {"ok"}


def test_renewal_window_ca_warning_and_expiry(inv):
    now = dt.datetime.now(dt.UTC)
    soon = certs.certificate_inventory(inv, now=now + dt.timedelta(days=350))
    assert _states(soon)["kube-apiserver"] == "renewed by the next run" and soon.ok
    later = certs.certificate_inventory(inv, now=now + dt.timedelta(days=400))
    assert _states(later)["kube-apiserver"] == "EXPIRED"
    assert any(p.startswith("kube-apiserver expired") for p in later.problems)
    ca_due = certs.certificate_inventory(inv, now=now + dt.timedelta(days=3400))
    assert _states(ca_due)["kubernetes"].startswith("CA: plan its rotation")


def test_under_an_organisation_root_the_root_is_listed_and_chains_do_not_multiply_rows(tmp_path, monkeypatch):
    import subprocess

    import yaml

    org = tmp_path / "org"
    org.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", "root.key", "-out", "root.crt", "-days", "3650", "-subj", "/CN=Example Org Root CA",
                    "-addext", "basicConstraints=critical,CA:true"], cwd=org, check=True, capture_output=True)
    doc = yaml.safe_load((REPO / "inventories" / "lab.yaml").read_text())
    doc["ssh"] = {**doc["ssh"], "identity_file": str(REPO / ".state/lab/kube-demo/id_ed25519"),
                  "known_hosts": str(REPO / ".state/lab/kube-demo/known_hosts")}
    doc["pki"] = {"root_ca": {"cert": str(org / "root.crt"), "key": str(org / "root.key")}}
    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump(doc))
    monkeypatch.setenv("KJ_CLUSTER_DIR", str(tmp_path / "cluster"))
    inv = load_inventory(path)
    cp.ensure_kubernetes_pki(inv)
    cp.ensure_kubeconfigs(inv)
    table = certs.certificate_inventory(inv)
    assert table.ok, table.problems
    rows = {row[0]: row for row in table.rows}
    assert rows["Example Org Root CA"][1] == "CA" and "pki.root_ca" in rows["Example Org Root CA"][5]
    assert rows["kubernetes"][1] == "CA"
    # the Kubernetes CA is in ca.crt and ca-chain.crt, and after every leaf in its file: listed where it lives
    assert rows["kubernetes"][5].split(", ") == ["pki/kubernetes/ca-chain.crt", "pki/kubernetes/ca.crt"]
    kubeconfig = yaml.safe_load((inv.cluster_dir / "kubeconfigs" / "admin.kubeconfig").read_text())
    import base64

    bundle = base64.b64decode(kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"])
    assert bundle.count(b"BEGIN CERTIFICATE") == 2, "the operator's kubeconfig carries the chain up to the root"


def test_the_hosts_are_searched_where_the_series_writes_never_in_pod_volumes():
    # a pod's secret volume (/var/lib/kubelet/pods/<uid>/volumes/...) holds the workload's
    # certificates, e.g. MetalLB's webhook: found there, they were reported as stale copies
    roots = certs.host_roots()
    pods = "/var/lib/kubelet/pods/0000/volumes/kubernetes.io~secret/cert/tls.crt"
    assert not [r for r in roots if pods.startswith(r.rstrip("/") + "/")], roots
    assert "/var/lib/kubelet/pki" in roots and "/var/lib/kubelet/kubeconfig" in roots
