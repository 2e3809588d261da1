"""The seed's appendix, built for real: external etcd machines, and the CAs as intermediates of a root.

``inventories/external-etcd.yaml`` on its own lab (seven machines: a load balancer, three
etcd-only machines, two masters, a worker). The test makes the organisation's root CA the
way its comment says (``openssl req -x509``), brings the lab up, runs notebooks 01-05 on it
(their verification cells assert too: etcd healthy, ``openssl verify`` of every leaf
against the root, the API servers' chains trusted by the root alone, nodes Ready), and
then checks from the outside:

- etcd runs on the etcd machines only, and the API servers' ``--etcd-servers`` name exactly them;
- the three CAs are intermediates of the root (``pathlen:0``), each with its chain file;
- each etcd member presents a chain that a client trusting only the root accepts;
- the kubelets' client certificates, renewed through the CSR API, chain to the root too.

The lab and its cluster directory are removed afterwards.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from helpers import kubelet, paths
from helpers.control_plane import unit_flags
from helpers.inventory import load_inventory
from helpers.kubelet.rotation import client_certificates
from helpers.lab import lab
from helpers.lab.plan import load_plan
from helpers.pki import root_of
from helpers.remote import Fleet
from helpers.runbook import run_notebooks

pytestmark = [pytest.mark.lab, pytest.mark.own_lab, pytest.mark.timeout(1200)]

INVENTORY = paths.REPO / "inventories" / "external-etcd.yaml"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    inv = load_inventory(INVENTORY)
    root_dir = inv.pki.root_ca.cert.parent
    plan = load_plan(INVENTORY)
    lab.down(plan.name)
    shutil.rmtree(inv.cluster_dir, ignore_errors=True)
    shutil.rmtree(root_dir, ignore_errors=True)
    root_dir.mkdir(parents=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "root.key", "-out", "root.crt", "-days", "7300", "-subj", "/O=Example Org/CN=Example Org Root CA",
         "-addext", "basicConstraints=critical,CA:true", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        cwd=root_dir, check=True, capture_output=True)
    (root_dir / "root.key").chmod(0o600)
    out = tmp_path_factory.mktemp("runs")
    try:
        lab.up(plan)
        for number in ("01", "02", "03", "04", "05"):
            run_notebooks(INVENTORY, only=number, out_dir=out)
        yield inv
    finally:
        lab.down(plan.name)
        shutil.rmtree(inv.cluster_dir, ignore_errors=True)


def test_etcd_runs_on_its_own_machines_and_the_api_servers_use_exactly_them(built):
    inv = built
    etcd_hosts = {h.name for h in inv.hosts_with("etcd")}
    assert etcd_hosts and not etcd_hosts & {h.name for h in inv.hosts_with("master")}
    with Fleet(inv) as fleet:
        active = fleet.step("is etcd running", lambda h: h.run("systemctl is-active etcd || true").stdout.strip())
        units = fleet.step("API server unit", lambda h: h.run("cat /etc/systemd/system/kube-apiserver.service").stdout,
                           hosts=[h.name for h in inv.hosts_with("master")])
    running = {name for name, r in active.results.items() if r.data == "active"}
    assert running == etcd_hosts, f"etcd active on {sorted(running)}, expected {sorted(etcd_hosts)}"
    wanted = sorted(f"https://{h.address}:2379" for h in inv.hosts_with("etcd"))
    for name, result in units.results.items():
        assert sorted(unit_flags(result.data)["etcd-servers"].split(",")) == wanted, name


def test_the_cluster_cas_are_intermediates_of_the_root(built):
    inv = built
    root = root_of(inv)
    cas = [inv.cluster_dir / "pki" / "kubernetes" / "ca.crt", inv.cluster_dir / "pki" / "kubernetes" / "front-proxy-ca.crt",
           inv.cluster_dir / "pki" / "etcd" / "ca.crt"]
    for path in cas:
        ca = x509.load_pem_x509_certificate(path.read_bytes())
        ca.verify_directly_issued_by(root.cert)
        assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0, path
        chain = x509.load_pem_x509_certificates(path.with_name(path.stem + "-chain.crt").read_bytes())
        assert [c.subject for c in chain] == [ca.subject, root.cert.subject], path
        verdict = subprocess.run(["openssl", "verify", "-CAfile", str(root.cert_path), str(path)],
                                 capture_output=True, text=True)
        assert verdict.returncode == 0, verdict.stdout + verdict.stderr


def test_each_etcd_member_presents_a_chain_the_root_alone_accepts(built):
    inv = built
    root = root_of(inv)
    etcd_pki = inv.cluster_dir / "pki" / "etcd"
    ctx = ssl.create_default_context(cafile=str(root.cert_path))
    ctx.load_cert_chain(etcd_pki / "healthcheck-client.crt", etcd_pki / "healthcheck-client.key")
    for host in inv.hosts_with("etcd"):
        with socket.create_connection((str(host.address), 2379), timeout=10) as raw, \
                ctx.wrap_socket(raw, server_hostname=host.name) as tls:
            tls.sendall(f"GET /health HTTP/1.1\r\nHost: {host.name}\r\nConnection: close\r\n\r\n".encode())
            answer = tls.recv(4096).decode(errors="replace")
        assert answer.startswith("HTTP/1.1 200") and '"health":"true"' in answer, f"{host.name}: {answer[:200]}"


def test_rotated_kubelet_certificates_chain_to_the_root(built):
    inv = built
    root = root_of(inv)
    with Fleet(inv) as fleet:
        rotation = kubelet.verify_client_rotation(fleet)
        certs = client_certificates(fleet)
    assert rotation.ok, "; ".join(rotation.problems)
    ca = inv.cluster_dir / "pki" / "kubernetes" / "ca.crt"
    for node, cert in certs.items():
        assert cert is not None, f"{node} has not rotated its client certificate"
        leaf = inv.cluster_dir / f"rotated-{node}.crt"
        leaf.write_bytes(cert.public_bytes(Encoding.PEM))
        verdict = subprocess.run(["openssl", "verify", "-CAfile", str(root.cert_path), "-untrusted", str(ca), str(leaf)],
                                 capture_output=True, text=True)
        assert verdict.returncode == 0, f"{node}: {verdict.stdout}{verdict.stderr}"

