"""helpers.pki: CAs and certificates on disk, reuse rules, re-issue reasons."""

from __future__ import annotations

import datetime as dt
import ssl
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from helpers import pki
from helpers.errors import ConfigError
from helpers.pki.files import _write_pair
from helpers.pki.model import _new_key


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def ca(tmp_path):
    return pki.ensure_ca(tmp_path / "pki", "ca", "etcd-ca")


def test_ca_created_with_private_modes(tmp_path, ca):
    assert ca.changed
    assert mode(tmp_path / "pki") == 0o700
    assert mode(ca.key_path) == 0o600
    assert ca.cert_path.name == "ca.crt" and ca.key_path.name == "ca.key"
    bc = ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert bc.ca
    assert ca.cert.subject == ca.cert.issuer
    years = (ca.cert.not_valid_after_utc - ca.cert.not_valid_before_utc).days / 365
    assert 9.9 < years < 10.1
    assert b"BEGIN PRIVATE KEY" in ca.key_pem


def test_ca_reused_on_second_call(tmp_path, ca):
    again = pki.ensure_ca(tmp_path / "pki", "ca", "etcd-ca")
    assert not again.changed and again.detail == "reused"
    assert again.cert == ca.cert


def test_ca_key_mode_repaired(tmp_path, ca):
    ca.key_path.chmod(0o644)
    again = pki.ensure_ca(tmp_path / "pki", "ca", "etcd-ca")
    assert again.changed and "mode fixed" in again.detail
    assert mode(ca.key_path) == 0o600


def test_ca_never_replaced_silently(tmp_path, ca):
    with pytest.raises(ConfigError, match="refusing to replace a CA"):
        pki.ensure_ca(tmp_path / "pki", "ca", "another-ca")
    ca.key_path.unlink()
    with pytest.raises(ConfigError, match="ca.key"):
        pki.ensure_ca(tmp_path / "pki", "ca", "etcd-ca")


def test_server_cert_fields(tmp_path, ca):
    pair, changed = pki.ensure_cert(
        ca, tmp_path / "pki", "m1-server", "kube-mast01",
        sans=["kube-mast01", "kube-mast01.kube.demo", "192.168.4.21", "127.0.0.1", "localhost"],
        usages="server",
    )
    assert changed and pair.detail == "issued"
    assert mode(pair.key_path) == 0o600
    assert pair.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kube-mast01"
    assert pki.cert_sans(pair.cert) == [
        "kube-mast01", "kube-mast01.kube.demo", "localhost", "127.0.0.1", "192.168.4.21"]
    eku = pair.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert pki.verify_chain(pair.cert, ca.cert)
    days = (pair.cert.not_valid_after_utc - pair.cert.not_valid_before_utc).days
    assert 364 <= days <= 366


def test_client_cert_with_organization(tmp_path, ca):
    pair, _ = pki.ensure_cert(ca, tmp_path / "pki", "admin", "admin",
                              organization=["system:masters"], usages="client")
    orgs = pair.cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    assert [o.value for o in orgs] == ["system:masters"]
    assert pki.cert_sans(pair.cert) == []


def test_cert_reused_when_nothing_differs(tmp_path, ca):
    sans = ["a.example", "10.0.0.1"]
    first, _ = pki.ensure_cert(ca, tmp_path / "pki", "x", "x", sans=sans)
    # Same SANs in another order and case: still the same certificate.
    again, changed = pki.ensure_cert(ca, tmp_path / "pki", "x", "x", sans=["10.0.0.1", "A.example"])
    assert not changed and again.detail == "reused"
    assert again.cert == first.cert


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"sans": ["a.example", "10.0.0.1", "10.0.0.2"]}, "SANs changed (+10.0.0.2)"),
        ({"sans": ["a.example"]}, "SANs changed (-10.0.0.1)"),
        ({"sans": ["a.example", "10.0.0.1"], "common_name": "y"}, "subject changed"),
        ({"sans": ["a.example", "10.0.0.1"], "usages": "server"}, "usage changed"),
    ],
)
def test_cert_reissued_and_says_why(tmp_path, ca, kwargs, reason):
    pki.ensure_cert(ca, tmp_path / "pki", "x", "x", sans=["a.example", "10.0.0.1"])
    args = {"common_name": "x", **kwargs}
    pair, changed = pki.ensure_cert(ca, tmp_path / "pki", "x", **args)
    assert changed
    assert pair.detail.startswith("re-issued: ") and reason in pair.detail


def test_cert_reissued_when_ca_changes(tmp_path, ca):
    pki.ensure_cert(ca, tmp_path / "pki", "x", "x")
    other = pki.ensure_ca(tmp_path / "other", "ca", "other-ca")
    pair, changed = pki.ensure_cert(other, tmp_path / "pki", "x", "x")
    assert changed and "not signed by the current CA" in pair.detail
    assert pki.verify_chain(pair.cert, other.cert)


def test_cert_reissued_when_key_missing_or_foreign(tmp_path, ca):
    first, _ = pki.ensure_cert(ca, tmp_path / "pki", "x", "x")
    first.key_path.unlink()
    pair, changed = pki.ensure_cert(ca, tmp_path / "pki", "x", "x")
    assert changed and "missing" in pair.detail
    (tmp_path / "pki" / "x.key").write_bytes(ca.key_pem)
    pair, changed = pki.ensure_cert(ca, tmp_path / "pki", "x", "x")
    assert changed and "key does not match" in pair.detail


def test_cert_renewed_when_expiring(tmp_path, ca):
    # Forge a certificate that expires in 10 days, signed by the real CA.
    key = _new_key()
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=355))
        .not_valid_after(now + dt.timedelta(days=10))
        .add_extension(x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    _write_pair(tmp_path / "pki" / "x.crt", tmp_path / "pki" / "x.key", cert, key)
    pair, changed = pki.ensure_cert(ca, tmp_path / "pki", "x", "x")
    assert changed and "expires" in pair.detail
    assert pair.cert.not_valid_after_utc > now + dt.timedelta(days=300)


def test_cert_table(tmp_path, ca):
    pair, _ = pki.ensure_cert(ca, tmp_path / "pki", "srv", "srv", sans=["h", "10.1.1.1"], usages="server")
    table = pki.cert_table([ca.cert_path, pair])
    assert table.columns[:5] == ["name", "subject", "SANs", "issuer", "not after"]
    rows = table.as_dicts()
    assert rows[0]["name"] == "ca" and rows[0]["usage"] == "CA"
    assert rows[1]["SANs"] == "h, 10.1.1.1" and rows[1]["issuer"] == "CN=etcd-ca"
    assert rows[1]["key"] == "ECDSA secp256r1"
    assert "srv" in str(table)


def test_openssl_stack_accepts_the_chain(tmp_path, ca):
    """Python's ssl module (OpenSSL) loads the key pair and trusts the chain."""
    pair, _ = pki.ensure_cert(ca, tmp_path / "pki", "srv", "srv", sans=["localhost"], usages="server")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pair.cert_path, pair.key_path)
    client = ssl.create_default_context(cafile=str(ca.cert_path))
    assert client.get_ca_certs()[0]["subject"] == ((("commonName", "etcd-ca"),),)


def test_load_cert_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="nope.crt"):
        pki.load_cert(tmp_path / "nope.crt")
    bad = tmp_path / "bad.crt"
    bad.write_text("not a certificate")
    with pytest.raises(ConfigError, match="bad.crt"):
        pki.load_cert(bad)


def test_bad_usage_rejected(tmp_path, ca):
    with pytest.raises(ValueError, match="usages"):
        pki.ensure_cert(ca, tmp_path / "pki", "x", "x", usages="peer")


def test_key_is_unencrypted_pkcs8_ec(ca):
    key = serialization.load_pem_private_key(ca.key_pem, None)
    assert key.curve.name == "secp256r1"


def test_mutual_tls_handshake(tmp_path, ca):
    """A server cert and a client cert from the same CA complete a mutual-TLS handshake."""
    import socket
    import threading

    srv, _ = pki.ensure_cert(ca, tmp_path / "pki", "srv", "srv", sans=["localhost", "127.0.0.1"],
                             usages="server")
    cli, _ = pki.ensure_cert(ca, tmp_path / "pki", "cli", "etcd-healthcheck-client", usages="client")
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(srv.cert_path, srv.key_path)
    sctx.load_verify_locations(ca.cert_path)
    sctx.verify_mode = ssl.CERT_REQUIRED
    cctx = ssl.create_default_context(cafile=str(ca.cert_path))
    cctx.load_cert_chain(cli.cert_path, cli.key_path)
    a, b = socket.socketpair()
    seen = {}

    def serve():
        with sctx.wrap_socket(a, server_side=True) as s:
            seen["peer"] = s.getpeercert()["subject"]
            s.sendall(b"ok")

    t = threading.Thread(target=serve)
    t.start()
    with cctx.wrap_socket(b, server_hostname="localhost") as c:
        assert c.recv(2) == b"ok"
    t.join(5)
    assert seen["peer"] == ((("commonName", "etcd-healthcheck-client"),),)


def test_validity_setting_sets_lifetime_and_renewal_window(tmp_path):
    import datetime as dt  # noqa: PLC0415

    ca = pki.ensure_ca(tmp_path, "ca", "test-ca")
    short = pki.Validity(leaf=dt.timedelta(hours=2), renew_before=dt.timedelta(hours=1))
    pair, changed = pki.ensure_cert(ca, tmp_path, "leaf", "leaf", usages="client", validity=short)
    life = pair.cert.not_valid_after_utc - pair.cert.not_valid_before_utc
    assert changed and dt.timedelta(hours=2) <= life <= dt.timedelta(hours=2, minutes=6)
    again, changed = pki.ensure_cert(ca, tmp_path, "leaf", "leaf", usages="client", validity=short)
    assert not changed and again.cert.serial_number == pair.cert.serial_number
    wide = pki.Validity(leaf=dt.timedelta(hours=4), renew_before=dt.timedelta(hours=3))
    renewed, changed = pki.ensure_cert(ca, tmp_path, "leaf", "leaf", usages="client", validity=wide)
    assert changed and renewed.cert.serial_number != pair.cert.serial_number
    assert "renewed within 3 hours" in renewed.detail
