"""Fast checks of the lab's pure parts (no root, no machines): mirror discovery from
apt sources, resource names, the DNS client and the firewall rules."""

from __future__ import annotations

import socket
import threading

import pytest

from helpers.errors import LabError
from helpers.lab import base, firewall, services
from helpers.lab.files import render
from helpers.lab.plan import load_plan
from helpers.paths import REPO


def test_mirror_from_deb822_skips_security(tmp_path, monkeypatch):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\n# a comment\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n"
        "Components: main\n\nTypes: deb-src deb\nURIs: http://mirror.example/debian/\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n"
    )
    monkeypatch.setenv("KJ_APT_ETC", str(tmp_path))
    assert base.host_mirror() == "http://mirror.example/debian"


def test_mirror_from_one_line_sources(tmp_path, monkeypatch):
    (tmp_path / "sources.list").write_text(
        "# deb http://commented.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/x.gpg] http://ftp.example.org/debian bookworm main\n"
    )
    monkeypatch.setenv("KJ_APT_ETC", str(tmp_path))
    assert base.host_mirror() == "http://ftp.example.org/debian"


def test_no_mirror_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KJ_APT_ETC", str(tmp_path))
    with pytest.raises(LabError, match="no Debian archive"):
        base.host_mirror()


def test_resource_names_fit_the_kernel_limits():
    for inventory in ("small.yaml", "lab.yaml"):
        plan = load_plan(REPO / "inventories" / inventory)
        veths = {m.veth for m in plan.machines}
        assert len(veths) == len(plan.machines)
        assert all(len(v) <= 15 for v in veths | {plan.bridge})
        assert all(m.netns.startswith(f"kj-{plan.name}-") for m in plan.machines)
        assert all(str(m.root).startswith(str(plan.run_dir)) for m in plan.machines)


def test_firewall_admits_only_the_site_services():
    plan = load_plan(REPO / "inventories" / "small.yaml")
    rules = render("firewall.nft.j2", lab=plan.name, table=firewall.table_name(plan.name),
                   bridge=plan.bridge, gateway=plan.gateway)  # fmt: skip
    assert "table inet kj_kube_small {" in rules
    assert "ip daddr 192.168.5.1 tcp dport { 53, 3142, 8080 } accept" in rules
    assert rules.rstrip().splitlines()[-3].strip().startswith('iifname "kjbr-small" counter reject')


def test_resolve_reads_a_real_dns_answer():
    """The tiny DNS client against a one-shot UDP responder on loopback."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]

    def answer():
        query, peer = sock.recvfrom(512)
        header = query[:2] + b"\x81\x80" + b"\x00\x01\x00\x01\x00\x00\x00\x00"
        record = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + socket.inet_aton(
            "192.168.5.21"
        )
        sock.sendto(header + query[12:] + record, peer)

    t = threading.Thread(target=answer)
    t.start()
    try:
        assert services.resolve("127.0.0.1", "kube-mast01.kube.demo", port=port) == ["192.168.5.21"]
    finally:
        t.join()
        sock.close()


def test_known_labs_come_from_runtime_state_and_disks(tmp_path, monkeypatch):
    """``lab down --all`` tears down every lab with a state file or machine disks."""
    from helpers.lab.state import LabState, known_labs

    monkeypatch.setenv("KJ_LAB_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("KJ_LAB_DATA_DIR", str(tmp_path / "data"))
    assert known_labs() == []
    (tmp_path / "run" / "kube-a").mkdir(parents=True)
    LabState(lab="kube-a", bridge="kjbr-a", machines=["m1"]).save()
    (tmp_path / "data" / "kube-b" / "m1").mkdir(parents=True)  # disks left by a lost /run
    assert known_labs() == ["kube-a", "kube-b"]
    again = LabState.load("kube-a")
    assert (again.bridge, again.machines, oct(LabState.path_for("kube-a").stat().st_mode & 0o777)) == (
        "kjbr-a", ["m1"], "0o600",
    )  # fmt: skip
