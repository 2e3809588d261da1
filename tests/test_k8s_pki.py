"""The Kubernetes PKI: names, subjects, SANs, idempotence, the encryption key (real files, real crypto)."""

from __future__ import annotations

import base64
import ipaddress

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from helpers import k8s_pki, pki
from helpers.errors import ConfigError
from helpers.inventory import load_inventory
from helpers.paths import REPO


@pytest.fixture
def inv(tmp_path, monkeypatch):
    monkeypatch.setenv("KJ_CLUSTER_DIR", str(tmp_path / "cluster"))
    return load_inventory(REPO / "inventories" / "lab.yaml")


def _subject(cert, oid):
    return [a.value for a in cert.subject.get_attributes_for_oid(oid)]


def _eku(cert):
    return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def test_apiserver_sans_cover_every_way_in(inv):
    sans = k8s_pki.apiserver_sans(inv)
    for name in ["192.168.4.20", "kube-api", "kube-api.kube.demo", "hapx-node01", "hapx-node02.kube.demo", "192.168.4.12",
                 "kube-mast01", "kube-mast02.kube.demo", "192.168.4.23",
                 "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                 "kubernetes.default.svc.cluster.local", "10.96.0.1", "127.0.0.1", "localhost"]:
        assert name in sans, name
    assert len(sans) == len(set(sans))
    assert "192.168.4.31" not in sans, "workers are not API server addresses"


def test_first_service_address_and_issuer(inv):
    assert k8s_pki.first_service_address(inv) == ipaddress.IPv4Address("10.96.0.1")
    assert k8s_pki.service_account_issuer(inv) == "https://kubernetes.default.svc.cluster.local"


def test_pki_subjects_usages_and_signers(inv):
    table, changed = k8s_pki.issue_kubernetes_pki(inv)
    assert changed
    d = k8s_pki.pki_dir(inv.cluster_dir)
    ca = pki.load_cert(d / "ca.crt")
    fp_ca = pki.load_cert(d / "front-proxy-ca.crt")
    assert _subject(ca, NameOID.COMMON_NAME) == ["kubernetes"]
    expect = {
        "apiserver": ("kube-apiserver", [], ca, {ExtendedKeyUsageOID.SERVER_AUTH}),
        "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", [], ca, {ExtendedKeyUsageOID.CLIENT_AUTH}),
        "front-proxy-client": ("front-proxy-client", [], fp_ca, {ExtendedKeyUsageOID.CLIENT_AUTH}),
        # admin is revocable (a ClusterRoleBinding); only the break-glass super-admin is system:masters
        "admin": ("admin", ["kj:cluster-admins"], ca, {ExtendedKeyUsageOID.CLIENT_AUTH}),
        "super-admin": ("super-admin", ["system:masters"], ca, {ExtendedKeyUsageOID.CLIENT_AUTH}),
        "kube-controller-manager": ("system:kube-controller-manager", [], ca, {ExtendedKeyUsageOID.CLIENT_AUTH}),
        "kube-scheduler": ("system:kube-scheduler", [], ca, {ExtendedKeyUsageOID.CLIENT_AUTH}),
    }
    for name, (cn, orgs, signer, eku) in expect.items():
        cert = pki.load_cert(d / f"{name}.crt")
        assert _subject(cert, NameOID.COMMON_NAME) == [cn], name
        assert _subject(cert, NameOID.ORGANIZATION_NAME) == orgs, name
        assert pki.verify_chain(cert, signer), f"{name} not signed by {signer.subject}"
        assert _eku(cert) == eku, name
        assert (d / f"{name}.key").stat().st_mode & 0o777 == 0o600
    assert set(pki.cert_sans(pki.load_cert(d / "apiserver.crt"))) == set(
        pki.normalize_sans(k8s_pki.apiserver_sans(inv)))
    assert "action" in table.columns and len(table) == 10


def test_pki_rerun_changes_nothing(inv):
    k8s_pki.issue_kubernetes_pki(inv)
    d = k8s_pki.pki_dir(inv.cluster_dir)
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    table, changed = k8s_pki.issue_kubernetes_pki(inv)
    assert not changed
    assert set(table.column("action")) == {"reused"}
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before


def test_service_account_keys(inv, tmp_path):
    d = tmp_path / "sa"
    assert k8s_pki.ensure_service_account_keys(d)
    key = serialization.load_pem_private_key((d / "sa.key").read_bytes(), None)
    pub = serialization.load_pem_public_key((d / "sa.pub").read_bytes())
    assert key.public_key().public_numbers() == pub.public_numbers()
    assert (d / "sa.key").stat().st_mode & 0o777 == 0o600
    assert not k8s_pki.ensure_service_account_keys(d)
    (d / "sa.pub").unlink()
    assert k8s_pki.ensure_service_account_keys(d), "a lost sa.pub is re-derived"
    assert serialization.load_pem_public_key((d / "sa.pub").read_bytes()).public_numbers() == pub.public_numbers()


def test_encryption_config_generated_once(tmp_path):
    path, changed = k8s_pki.write_encryption_config(tmp_path)
    assert changed and path.stat().st_mode & 0o777 == 0o600
    doc = yaml.safe_load(path.read_text())
    assert doc["kind"] == "EncryptionConfiguration"
    providers = doc["resources"][0]["providers"]
    assert list(providers[0]) == ["secretbox"] and providers[-1] == {"identity": {}}
    assert len(base64.b64decode(providers[0]["secretbox"]["keys"][0]["secret"])) == 32
    text = path.read_text()
    for _ in range(2):
        assert k8s_pki.write_encryption_config(tmp_path) == (path, False)
    assert path.read_text() == text, "the key must never be rotated by a re-run"
    path.chmod(0o644)
    assert k8s_pki.write_encryption_config(tmp_path)[1] and path.stat().st_mode & 0o777 == 0o600


def test_encryption_config_refuses_a_broken_file(tmp_path):
    path = k8s_pki.encryption_config_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(k8s_pki.render_encryption_config(b"k" * 32).replace("secretbox", "identityx"))
    with pytest.raises(ConfigError, match="first provider"):
        k8s_pki.write_encryption_config(tmp_path)
    with pytest.raises(ConfigError, match="32"):
        k8s_pki.render_encryption_config(b"short")
