"""Host facts parsing and preflight evaluation (pure logic: facts in, verdicts out)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from helpers.facts import (
    HostFacts,
    failures,
    parse_facts,
    parse_listening,
    preflight,
    preflight_table,
)
from helpers.inventory import load_inventory

REPO = Path(__file__).resolve().parent.parent

SS = """\
LISTEN 0      4096    192.168.4.20:6443       0.0.0.0:*    users:(("haproxy",pid=812,fd=7))
LISTEN 0      4096    192.168.4.11:8404       0.0.0.0:*    users:(("haproxy",pid=812,fd=8))
LISTEN 0      128          0.0.0.0:22         0.0.0.0:*    users:(("sshd",pid=90,fd=3))
LISTEN 0      128             [::]:22            [::]:*    users:(("sshd",pid=90,fd=4))
LISTEN 0      4096   127.0.0.53%lo:53         0.0.0.0:*    users:(("systemd-resolve",pid=70,fd=14))
LISTEN 0      4096               *:10257            *:*    users:(("kube-controller",pid=1,fd=3))
"""

GATHERED = """\
os_id=debian
os_version=13
os_name=Debian GNU/Linux 13 (trixie)
kernel=6.1.102
arch=x86_64
cpus=2
mem_kib=24615744
cgroup_fs=tmpfs
machine_id=0123456789abcdef0123456789abcdef
hostname=hapx-node01
init=systemd
virt=systemd-nspawn
swap_kib=0
swap_devices=0
ca_file=/etc/etcd/pki/ca.crt
--- ports
""" + SS


def test_parse_listening():
    ports = parse_listening(SS)
    assert ports == {6443: "haproxy", 8404: "haproxy", 22: "sshd", 53: "systemd-resolve", 10257: "kube-controller"}


def test_parse_facts():
    f = parse_facts("hapx-node01", GATHERED)
    assert (f.os_id, f.os_version, f.cpus, f.cgroup_version, f.virtualization) == ("debian", "13", 2, "v1", "systemd-nspawn")
    assert f.memory_mib == 24615744 // 1024
    assert f.ca_files == {"/etc/etcd/pki/ca.crt": ""}
    assert f.listening[6443] == "haproxy"


@pytest.fixture
def inv():
    return load_inventory(REPO / "inventories" / "lab.yaml")


def _good(inv) -> dict[str, HostFacts]:
    out = {}
    for i, h in enumerate(inv.hosts):
        out[h.name] = HostFacts(
            name=h.name, os_id="debian", os_version="13", os_name="Debian GNU/Linux 13 (trixie)",
            kernel="6.1.102", arch="x86_64", cpus=2, memory_mib=24 * 1024, cgroup_version="v1",
            machine_id=f"{i:032x}", hostname=h.name, init="systemd", clock_offset=0.002,
            clock_uncertainty=0.003,
        )
    return out


def _failed(checks, host=None):
    return {(c.host, c.check) for c in checks if not c.passed and (host is None or c.host == host)}


def test_lab_machines_pass(inv, tmp_path):
    checks = preflight(inv, _good(inv), cluster_dir=tmp_path)
    assert not failures(checks)
    assert len(checks) == 13 * len(inv.hosts)
    assert "pass" in str(preflight_table(checks))


def test_fresh_host_name_and_swap_pass_with_a_note(inv, tmp_path):
    facts = _good(inv)
    facts["kube-node01"].hostname = "debian"
    facts["kube-node01"].swap_devices, facts["kube-node01"].swap_mib = 1, 2048
    checks = preflight(inv, facts, cluster_dir=tmp_path)
    assert not failures(checks)
    notes = {c.check: c.detail for c in checks if c.host == "kube-node01"}
    assert "02-network renames it" in notes["hostname"]
    assert "02-network turns it off" in notes["swap"]


@pytest.mark.parametrize(
    ("change", "check", "reason"),
    [
        ({"os_id": "centos", "os_version": "9", "os_name": "CentOS Stream 9"}, "os", "not supported"),
        ({"os_id": "debian", "os_version": "11", "os_name": "Debian GNU/Linux 11"}, "os", "not supported"),
        ({"cpus": 1}, "cpu", "need at least 2"),
        ({"memory_mib": 1024}, "memory", "only 1.0 GiB"),
        ({"clock_offset": 4.5}, "clock", "more than 1 s"),
        ({"machine_id": ""}, "machine-id", "systemd-machine-id-setup"),
        ({"hostname": "kube-mast02"}, "hostname", "swapped"),
        ({"init": "init"}, "init", "systemd units"),
        ({"arch": "aarch64"}, "architecture", "amd64"),
        ({"kernel": "4.9.0-8-amd64"}, "kernel", "older than 4.19"),
        ({"cgroup_version": "unknown"}, "cgroup", "cannot tell"),
        ({"listening": {6443: "nginx"}}, "ports", "6443 is in use by nginx; kube-apiserver needs it"),
    ],
)
def test_each_failure_names_its_reason(inv, tmp_path, change, check, reason):
    facts = _good(inv)
    facts["kube-mast01"] = dataclasses.replace(facts["kube-mast01"], **change)
    checks = preflight(inv, facts, cluster_dir=tmp_path)
    assert _failed(checks) == {("kube-mast01", check)}
    (line,) = failures(checks)
    assert line.startswith(f"kube-mast01: {check}: ") and reason in line


def test_ports_held_by_the_expected_service_pass(inv, tmp_path):
    facts = _good(inv)
    facts["hapx-node01"].listening = {6443: "haproxy", 8404: "haproxy", 22: "sshd"}
    facts["kube-mast01"].listening = {6443: "kube-apiserver", 10257: "kube-controller", 2379: "etcd", 2380: "etcd"}
    checks = preflight(inv, facts, cluster_dir=tmp_path)
    assert not failures(checks)
    detail = next(c.detail for c in checks if c.host == "kube-mast01" and c.check == "ports")
    assert "10257 held by kube-controller (expected)" in detail and "10259 free" in detail


def test_duplicate_machine_id_fails_on_both(inv, tmp_path):
    facts = _good(inv)
    facts["kube-node02"].machine_id = facts["kube-node01"].machine_id
    assert _failed(preflight(inv, facts, cluster_dir=tmp_path)) == {
        ("kube-node01", "machine-id"), ("kube-node02", "machine-id")}


def test_missing_facts_fail(inv, tmp_path):
    facts = _good(inv)
    del facts["kube-node02"]
    assert _failed(preflight(inv, facts, cluster_dir=tmp_path)) == {("kube-node02", "facts")}


def _ca(directory: Path, name: str) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ca.crt").write_bytes(cert.public_bytes(Encoding.PEM))
    import hashlib
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def test_cluster_ca_on_host(inv, tmp_path):
    ours = _ca(tmp_path / "cluster" / "pki" / "etcd", "etcd-ca")
    theirs = _ca(tmp_path / "other", "someone-else")
    facts = _good(inv)
    facts["kube-mast01"].ca_files = {"/etc/etcd/pki/ca.crt": ours}
    facts["kube-mast02"].ca_files = {"/etc/etcd/pki/ca.crt": theirs}
    checks = preflight(inv, facts, cluster_dir=tmp_path / "cluster")
    assert _failed(checks) == {("kube-mast02", "cluster CA")}
    assert "different CA" in failures(checks)[0]
    # a CA on the host but none in the cluster directory: another cluster runs there
    checks = preflight(inv, facts, cluster_dir=tmp_path / "empty")
    assert _failed(checks) == {("kube-mast01", "cluster CA"), ("kube-mast02", "cluster CA")}
    assert all("no CA" in line for line in failures(checks))
