"""The cluster's CAs as intermediates of an organisation's root (the seed's appendix), checked with OpenSSL.

The root is made the way an organisation would make one, with the ``openssl`` command
line, not with the library under test; every chain is then judged by ``openssl verify``
and by Python's own TLS stack (a server presenting the leaf's file, a client trusting
only the root).
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import subprocess
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from helpers import pki
from helpers.errors import ConfigError
from helpers.pki.chains import verify_chains
from helpers.pki.root import load_root


def openssl(*args: str, cwd) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def org(tmp_path):
    """An organisation's root CA made with openssl: ``(directory, RootCA with key, RootCA without)``."""
    d = tmp_path / "org"
    d.mkdir()
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "root.key", "-out", "root.crt", "-days", "7300", "-subj", "/O=Example Org/CN=Example Org Root CA",
            "-addext", "basicConstraints=critical,CA:true", "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    return d, load_root(d / "root.crt", d / "root.key"), load_root(d / "root.crt")


def test_intermediate_issued_under_the_root_with_its_chain(tmp_path, org):
    _, root, _ = org
    ca = pki.ensure_ca(tmp_path / "pki", "ca", "kubernetes", root=root)
    assert ca.changed and "intermediate" in ca.detail
    assert ca.cert.issuer == root.cert.subject
    constraints = ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca and constraints.path_length == 0
    assert ca.cert.not_valid_after_utc <= root.cert.not_valid_after_utc
    chain = x509.load_pem_x509_certificates((tmp_path / "pki" / "ca-chain.crt").read_bytes())
    assert [c.subject for c in chain] == [ca.cert.subject, root.cert.subject]
    # the trust file stays the intermediate alone: a component trusting it trusts nothing else of the org
    assert len(x509.load_pem_x509_certificates(ca.cert_path.read_bytes())) == 1
    again = pki.ensure_ca(tmp_path / "pki", "ca", "kubernetes", root=root)
    assert not again.changed and again.cert == ca.cert


def test_leaves_carry_the_intermediate_and_openssl_accepts_them_against_the_root(tmp_path, org):
    _, root, _ = org
    ca = pki.ensure_ca(tmp_path / "pki", "ca", "kubernetes", root=root)
    leaf, changed = pki.ensure_cert(ca, tmp_path / "pki", "apiserver", "kube-apiserver", sans=["localhost", "127.0.0.1"],
                                    usages="server")
    assert changed
    in_file = x509.load_pem_x509_certificates(leaf.cert_path.read_bytes())
    assert [c.subject for c in in_file] == [leaf.cert.subject, ca.cert.subject]
    pki.ensure_cert(ca, tmp_path / "pki", "admin", "admin", organization="kj:cluster-admins", usages="client")
    table = verify_chains(tmp_path / "pki", root, "chains")
    assert table.ok, table.problems
    assert [row[3] for row in table.rows] == ["OK", "OK"]
    assert all(row[1].endswith("→ kubernetes → Example Org Root CA") for row in table.rows)
    assert not pki.ensure_cert(ca, tmp_path / "pki", "apiserver", "kube-apiserver", sans=["localhost", "127.0.0.1"],
                               usages="server")[1], "reuse must see through the chain in the file"


def test_a_server_presenting_the_leaf_file_is_trusted_by_a_client_that_knows_only_the_root(tmp_path, org):
    d, root, _ = org
    ca = pki.ensure_ca(tmp_path / "pki", "ca", "kubernetes", root=root)
    leaf, _ = pki.ensure_cert(ca, tmp_path / "pki", "apiserver", "kube-apiserver", sans=["127.0.0.1"], usages="server")
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(leaf.cert_path, leaf.key_path)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve():
        conn, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"hello")
        except ssl.SSLError:
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client_ctx = ssl.create_default_context(cafile=str(d / "root.crt"))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            client_ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        assert tls.recv(5) == b"hello"
    thread.join(5)
    listener.close()


def test_openssl_rejects_a_leaf_of_another_root(tmp_path, org):
    _, root, _ = org
    ca = pki.ensure_ca(tmp_path / "pki", "ca", "kubernetes", root=root)
    pki.ensure_cert(ca, tmp_path / "pki", "admin", "admin", usages="client")
    other = tmp_path / "other"
    other.mkdir()
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "r.key",
            "-out", "r.crt", "-days", "30", "-subj", "/CN=Someone Else", "-addext", "basicConstraints=critical,CA:true",
            cwd=other)
    table = verify_chains(tmp_path / "pki", load_root(other / "r.crt"), "chains")
    assert not table.ok and "admin.crt" in table.problems[0]


def test_without_the_root_key_the_ca_waits_for_a_signed_request(tmp_path, org):
    d, _, root = org
    directory = tmp_path / "pki"
    with pytest.raises(ConfigError) as waiting:
        pki.ensure_ca(directory, "ca", "etcd-ca", root=root)
    message = str(waiting.value)
    assert "waits for the root CA's signature" in message and str(directory / "ca.csr") in message
    assert "openssl x509 -req" in message
    key_before = (directory / "ca.key").read_bytes()
    assert (directory / "ca.key").stat().st_mode & 0o777 == 0o600
    with pytest.raises(ConfigError):  # asking again keeps the key the request was made for
        pki.ensure_ca(directory, "ca", "etcd-ca", root=root)
    assert (directory / "ca.key").read_bytes() == key_before
    # the organisation signs it, with its own tools, copying the CA extensions of the request
    openssl("x509", "-req", "-in", str(directory / "ca.csr"), "-CA", str(d / "root.crt"), "-CAkey", str(d / "root.key"),
            "-days", "3650", "-sha256", "-copy_extensions", "copyall", "-out", str(directory / "ca.crt"), cwd=d)
    ca = pki.ensure_ca(directory, "ca", "etcd-ca", root=root)
    assert ca.cert.issuer == root.cert.subject and (directory / "ca-chain.crt").exists()
    pki.ensure_cert(ca, directory, "member-server", "member", sans=["127.0.0.1"], usages="both")
    assert verify_chains(directory, root, "chains").ok


def test_an_existing_self_signed_ca_is_never_replaced_by_an_intermediate(tmp_path, org):
    _, root, _ = org
    pki.ensure_ca(tmp_path / "pki", "ca", "kubernetes")
    with pytest.raises(ConfigError, match="not by the root CA .*refusing to replace a CA silently"):
        pki.ensure_ca(tmp_path / "pki", "ca", "kubernetes", root=root)


@pytest.mark.parametrize("case, match", [
    ("not a CA", "is not a CA certificate"),
    ("foreign key", "does not belong to"),
    ("expired", "expired"),
    ("no file", "file not found"),
])
def test_a_bad_root_is_named(tmp_path, org, case, match):
    d, _, _ = org
    cert, key = d / "root.crt", d / "root.key"
    if case == "not a CA":
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "leaf.key",
                "-out", "leaf.crt", "-days", "30", "-subj", "/CN=leaf", "-addext", "basicConstraints=critical,CA:false",
                cwd=d)
        cert, key = d / "leaf.crt", d / "leaf.key"
    elif case == "foreign key":
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "other.key", cwd=d)
        key = d / "other.key"
    elif case == "expired":
        k = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "old root")])
        now = dt.datetime.now(dt.UTC)
        old = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(k.public_key())
               .serial_number(1).not_valid_before(now - dt.timedelta(days=20)).not_valid_after(now - dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(k, hashes.SHA256()))
        cert = d / "old.crt"
        cert.write_bytes(old.public_bytes(pki.files.serialization.Encoding.PEM))
        key = None
    else:
        cert = d / "missing.crt"
    with pytest.raises(ConfigError, match=match):
        load_root(cert, key)


def test_the_inventory_takes_a_root_relative_to_itself(tmp_path, org):
    import yaml

    from helpers.inventory import load_inventory

    d, _, _ = org
    base = yaml.safe_load(open("inventories/small.yaml"))
    base["pki"] = {"root_ca": {"cert": "org/root.crt", "key": "org/root.key"}}
    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump(base))
    inv = load_inventory(path)
    assert inv.pki.root_ca.cert == d / "root.crt"
    assert pki.root_of(inv).key is not None
    base["pki"] = {"root_ca": {"certificate": "org/root.crt"}}
    path.write_text(yaml.safe_dump(base))
    from helpers.inventory import InventoryError

    with pytest.raises(InventoryError, match="pki.root_ca"):
        load_inventory(path)


def test_ca_requests_command_writes_four_requests_and_then_takes_the_signed_certificates(tmp_path, org):
    import os
    import sys

    import yaml

    d, _, _ = org
    doc = yaml.safe_load(open("inventories/small.yaml"))
    doc["pki"] = {"root_ca": {"cert": str(d / "root.crt")}}
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(yaml.safe_dump(doc))
    env = {**os.environ, "KJ_CLUSTER_DIR": str(tmp_path / "cluster")}

    def run():
        return subprocess.run([sys.executable, "-m", "helpers", "ca-requests", "--inventory", str(inventory)],
                              capture_output=True, text=True, env=env, timeout=60)

    first = run()
    assert first.returncode == 3, first.stdout + first.stderr
    csrs = sorted((tmp_path / "cluster").rglob("*.csr"))
    assert [p.name for p in csrs] == ["ca.csr", "ca.csr", "ca.csr", "front-proxy-ca.csr"], csrs
    assert first.stdout.count("waiting: sign the request") == 4 and "Traceback" not in first.stderr
    for csr in csrs:
        request = x509.load_pem_x509_csr(csr.read_bytes())
        assert request.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        openssl("x509", "-req", "-in", str(csr), "-CA", str(d / "root.crt"), "-CAkey", str(d / "root.key"),
                "-days", "3650", "-sha256", "-copy_extensions", "copyall", "-out", str(csr.with_suffix(".crt")), cwd=d)
    second = run()
    assert second.returncode == 0, second.stdout + second.stderr
    assert second.stdout.count("intermediate of") == 4
