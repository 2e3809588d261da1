"""Load-balancer configuration rendering and credential handling (pure, no hosts)."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from helpers import loadbalancer as lb
from helpers.inventory import load_inventory

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def inv(tmp_path, monkeypatch):
    monkeypatch.setenv("KJ_CLUSTER_DIR", str(tmp_path / "cluster"))
    return load_inventory(REPO / "inventories" / "lab.yaml")


def test_credentials_generated_once_private_and_reused(inv):
    with pytest.raises(Exception, match="no load-balancer credentials"):
        lb.load_credentials(inv)
    first = lb.ensure_lb_credentials(inv)
    assert first.changed == 1
    path = lb.credentials_path(inv)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    creds, created = lb.load_credentials(inv)
    assert not created
    assert creds.stats_user != "admin" and len(creds.stats_password) >= 20
    assert re.fullmatch(r"[A-Za-z0-9]{8}", creds.vrrp_auth_pass)  # VRRP PASS: 8 characters at most
    second = lb.ensure_lb_credentials(inv)
    assert second.changed == 0 and second.ok == 1
    assert lb.load_credentials(inv)[0] == creds


def test_haproxy_config(inv):
    creds, _ = lb.load_credentials(inv, create=True)
    host = inv.host("hapx-node02")
    cfg = lb.haproxy_config(inv, host, creds)
    assert "bind 192.168.4.20:6443" in cfg
    for m in inv.hosts_with("master"):
        assert f"server {m.name} {m.address}:6443" in cfg
    assert "http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host kube-api.kube.demo" in cfg
    assert "check check-ssl verify none" in cfg
    assert "bind 192.168.4.12:8404" in cfg  # stats on the lb's own address only
    assert f"stats auth {creds.stats_user}:{creds.stats_password}" in cfg
    assert "admin:admin" not in cfg and "{{" not in cfg
    assert lb.haproxy_config(inv, host, creds) == cfg  # deterministic: re-runs change nothing


def test_keepalived_config_priorities_and_peers(inv):
    creds, _ = lb.load_credentials(inv, create=True)
    first = lb.keepalived_config(inv, inv.host("hapx-node01"), creds, "host0")
    second = lb.keepalived_config(inv, inv.host("hapx-node02"), creds, "host0")
    assert "state BACKUP" in first and "priority 150" in first
    assert "state BACKUP" in second and "priority 140" in second
    assert "unicast_src_ip 192.168.4.11" in first and re.search(r"unicast_peer \{\s+192\.168\.4\.12\s+\}", first)
    assert re.search(r"unicast_peer \{\s+192\.168\.4\.11\s+\}", second)
    for cfg in (first, second):
        assert f"auth_pass {creds.vrrp_auth_pass}" in cfg
        assert "192.168.4.20/24 dev host0" in cfg
        assert f"virtual_router_id {lb.router_id(inv)}" in cfg
        assert "track_script {\n        chk_haproxy\n    }" in cfg
        assert "systemctl is-active --quiet haproxy.service" in cfg


def test_router_id_is_stable_and_in_range(inv):
    assert 1 <= lb.router_id(inv) <= 255
    assert lb.router_id(inv) == lb.router_id(load_inventory(REPO / "inventories" / "lab.yaml"))


def test_single_lb_has_no_unicast_peers(tmp_path, monkeypatch):
    monkeypatch.setenv("KJ_CLUSTER_DIR", str(tmp_path / "c"))
    inv = load_inventory(REPO / "inventories" / "small.yaml")
    creds, _ = lb.load_credentials(inv, create=True)
    cfg = lb.keepalived_config(inv, inv.host("hapx-node01"), creds, "host0")
    assert "unicast_peer" not in cfg and "priority 150" in cfg


def test_failover_table_reports_missing_moves():
    drill = lb.Failover(service="keepalived", primary="a", secondary="b", failover_seconds=0.84, failback_seconds=None)
    text = str(lb.failover_table([drill]))
    assert "0.84 s" in text and "did not happen" in text
    fig = lb.plot_failover([dataclass_with_samples(drill)], ["a", "b"])
    assert fig.axes


def dataclass_with_samples(drill):
    drill.samples = [(0.0, "a", True), (0.2, "-", False), (0.84, "b", True), (1.5, "a", True)]
    drill.restart_at = 1.0
    return drill
