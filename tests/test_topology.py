"""The topology diagram and address plan are drawn from the inventory alone."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml

from helpers.inventory import load_inventory
from helpers.topology import address_plan, api_address, api_fqdn, draw_topology, group_hosts

REPO = Path(__file__).resolve().parent.parent
INVENTORIES = sorted((REPO / "inventories").glob("*.yaml"))


def _texts(fig) -> str:
    return "\n".join(t.get_text() for ax in fig.axes for t in ax.texts)


@pytest.mark.parametrize("path", INVENTORIES, ids=lambda p: p.stem)
def test_diagram_names_every_host_vip_and_range(path):
    inv = load_inventory(path)
    fig = draw_topology(inv)
    text = _texts(fig)
    for host in inv.hosts:
        assert host.name in text and str(host.address) in text
    assert f"VIP {inv.network.vip}" in text and api_fqdn(inv) in text
    assert str(inv.network.pod_cidr) in text and str(inv.network.service_cidr) in text
    assert f"node network {inv.network.node_subnet}" in text
    buf = io.BytesIO()
    fig.savefig(buf, format="png")  # renders headless, no pyplot
    assert buf.getvalue().startswith(b"\x89PNG")


def test_rows_group_hosts_by_first_role():
    inv = load_inventory(REPO / "inventories" / "lab.yaml")
    rows = group_hosts(inv)
    assert list(rows) == ["lb", "master", "worker"]
    assert [h.name for h in rows["lb"]] == ["hapx-node01", "hapx-node02"]
    assert [h.name for h in rows["master"]] == ["kube-mast01", "kube-mast02", "kube-mast03"]


def test_separate_etcd_and_no_lb(tmp_path):
    data = yaml.safe_load((REPO / "inventories" / "lab.yaml").read_text())
    data["network"]["vip"] = None
    data.pop("lab")
    data["hosts"] = [
        {"name": "m1", "address": "192.168.4.21", "roles": ["master"]},
        {"name": "e1", "address": "192.168.4.41", "roles": ["etcd"]},
        {"name": "w1", "address": "192.168.4.31", "roles": ["worker"]},
    ]
    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump(data))
    inv = load_inventory(path)
    assert list(group_hosts(inv)) == ["master", "etcd", "worker"]
    assert str(api_address(inv)) == "192.168.4.21"  # no VIP: the first master
    text = _texts(draw_topology(inv))
    assert "VIP" not in text and "apiserver to etcd" in text
    plan = address_plan(inv)
    assert "API VIP" not in plan.column("what")


def test_address_plan_rows():
    inv = load_inventory(REPO / "inventories" / "lab.yaml")
    plan = {row["what"]: row for row in address_plan(inv).as_dicts() if not row["what"].startswith("host")}
    assert plan["API VIP"]["address"] == "192.168.4.20" and plan["API VIP"]["name"] == "kube-api.kube.demo"
    assert plan["kubernetes service"]["address"] == "10.96.0.1"
    assert plan["cluster DNS"]["address"] == "10.96.0.10"
    hosts = [row for row in address_plan(inv).as_dicts() if row["what"].startswith("host")]
    assert [r["name"] for r in hosts] == [h.fqdn for h in inv.hosts]
