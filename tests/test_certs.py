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
