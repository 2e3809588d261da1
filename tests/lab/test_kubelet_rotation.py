"""Kubelet client certificate rotation through the CSR API, forced on a built cluster.

The kubelets run with ``rotateCertificates: true``; left alone, one renews its client
certificate at 70-90 % of a year. The test does not wait a year: it gives the last worker's
kubelet a client certificate of the cluster CA whose life is 95 % over (valid from ten hours
ago for ten and a half hours), installed the way the kubelet stores its own renewals
(``kubelet-client-<time>.pem`` and the ``kubelet-client-current.pem`` symlink), and restarts
the kubelet. Its certificate manager finds the rotation deadline passed and asks for a new
certificate at once; the controller manager approves (selfnodeclient) and signs it.
Afterwards: a CSR of that node is approved and issued, the kubelet uses a new certificate of
the cluster CA for its own name with a full validity, the node is Ready on a heartbeat
posted after the restart, and the certificate inventory and the rotation check find no
problem. The planted pair is removed; the rotated one stays, as after a real renewal.
"""

from __future__ import annotations

import datetime as dt
import shlex

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from helpers import kubelet
from helpers.certs import certificate_inventory, fingerprint
from helpers.k8s_pki import pki_dir
from helpers.kubelet.layout import PKI
from helpers.kubelet.rotation import ROTATED, client_certificates, csr_state, node_csrs
from helpers.pki import load_cert
from helpers.remote import Change, Fleet
from helpers.waiting import poll_until

pytestmark = pytest.mark.lab

PLANTED = f"{PKI}/kubelet-client-2000-01-01-00-00-00.pem"


def _nearly_expired_pair(inv, node: str) -> tuple[bytes, x509.Certificate]:
    """A client certificate of the cluster CA for ``node``, 95 % through its life: PEM of cert + key."""
    directory = pki_dir(inv.cluster_dir)
    ca = load_cert(directory / "ca.crt")
    ca_key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
                                 x509.NameAttribute(NameOID.COMMON_NAME, f"system:node:{node}")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=10))
        .not_valid_after(now + dt.timedelta(minutes=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem, cert


def test_kubelet_renews_its_client_certificate_through_a_csr(built_inventory):
    inv = built_inventory
    node = inv.hosts_with("worker")[-1].name
    pem, planted = _nearly_expired_pair(inv, node)
    ca = load_cert(pki_dir(inv.cluster_dir) / "ca.crt")
    with Fleet(inv) as fleet:
        previous = fleet.step("read the current link", lambda h: h.run(
            f"readlink {ROTATED} || true").stdout.strip(), hosts=[node]).results[node].data
        csrs_before = {c.metadata.name for c in node_csrs(inv).get(node, [])}
        restarted_at = 0.0

        def plant(h):
            nonlocal restarted_at
            h.run(f"umask 077 && cat > {PLANTED} && ln -sfn {PLANTED} {ROTATED} && systemctl restart kubelet",
                  input=pem.decode())
            restarted_at = float(h.run("systemctl show -p ExecMainStartTimestamp --timestamp=unix --value kubelet")
                                 .stdout.strip().lstrip("@"))
            return Change(True, "planted a client certificate 95 % through its life; kubelet restarted")

        try:
            fleet.step("plant a nearly expired client certificate", plant, hosts=[node])
            waited = poll_until(
                lambda: client_certificates(fleet)[node],
                lambda cert: cert is not None and fingerprint(cert) != fingerprint(planted),
                what=f"{node}'s kubelet to rotate its client certificate", where=node,
                timeout=120, interval=2,
                describe=lambda cert: f"in use: {cert and cert.subject.rfc4514_string()} "
                                      f"until {cert and cert.not_valid_after_utc}")
            rotated = waited.value
            print(f"{node}: rotated {waited.seconds:.0f} s after the restart; "
                  f"new certificate valid until {rotated.not_valid_after_utc:%Y-%m-%d}")
        finally:
            def restore(h):
                # a failed rotation leaves the planted pair in use: point back to what was there
                link = h.run(f"readlink {ROTATED} || true").stdout.strip()
                if link == PLANTED:
                    back = f"ln -sfn {shlex.quote(previous)} {ROTATED}" if previous else f"rm -f {ROTATED}"
                    h.run(f"{back} && rm -f {PLANTED} && systemctl restart kubelet")
                    return Change(True, "rotation did not happen: restored the previous client certificate")
                h.run(f"rm -f {PLANTED}")
                return Change(True, "removed the planted pair")

            fleet.step("remove the planted certificate", restore, hosts=[node])

        assert rotated.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == f"system:node:{node}"
        assert rotated.issuer == ca.subject, rotated.issuer.rfc4514_string()
        life = rotated.not_valid_after_utc - rotated.not_valid_before_utc
        assert life > dt.timedelta(days=300), f"the signer gave only {life} (--cluster-signing-duration)"
        new = [c for c in node_csrs(inv).get(node, []) if c.metadata.name not in csrs_before]
        assert new, f"no new CSR of {node}"
        assert [csr_state(c) for c in new] == ["Approved, issued"] * len(new), [csr_state(c) for c in new]

        ready = kubelet.wait_nodes_ready(inv, timeout=120, restarted=_restart_report(node, restarted_at))
        assert ready.failed == 0
        rotation = kubelet.verify_client_rotation(fleet)
        assert rotation.ok, "; ".join(rotation.problems)
        assert any(row[0] == node and row[1].startswith("rotated") for row in rotation.rows), rotation.rows
        table = certificate_inventory(inv, fleet)
        assert table.ok, "; ".join(table.problems)
        assert any("rotated by its kubelet" in str(row[4]) for row in table.rows), table.rows


def _restart_report(node: str, started_at: float):
    from helpers.report import Report, Result

    return Report("kubelet", {node: Result(node, "changed", "restarted", data={"started_at": started_at})})
