"""Shared markers and skips (the markers themselves are declared in pyproject.toml).

Tests marked ``lab`` need root and systemd-nspawn; tests marked ``sshd`` need an
OpenSSH server binary. Where a precondition is missing they are skipped with the
reason, unless ``KJ_REQUIRE_ALL=1`` (set by ci/test.sh): then the run stops with the
reason instead, so CI never passes by skipping.

Marker ``cluster``: a lab test that needs the cluster the notebooks built on the lab
named by ``KJ_INVENTORY`` (default inventories/lab.yaml), as opposed to a lab test that
brings its own small lab up and down (the ``small_lab`` fixture). ci/test.sh runs
``-m "lab and not cluster"`` on its own and ``-m cluster`` after the notebook run, while
that lab is still up. A ``lab`` test that does not use ``small_lab`` is marked
``cluster`` automatically, unless it is marked ``own_lab``: it brings a lab of its own up
and down (``tests/lab/test_external_etcd.py``) and runs with the ``lab`` stage.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def _missing(marker: str) -> str | None:
    if marker == "lab":
        if os.geteuid() != 0:
            return "lab tests need root"
        if not shutil.which("systemd-nspawn"):
            return "lab tests need systemd-nspawn (Debian package systemd-container)"
    if marker == "sshd" and not Path("/usr/sbin/sshd").exists():
        return "sshd tests need /usr/sbin/sshd (Debian package openssh-server)"
    return None


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``cluster`` marker (the others are declared in pyproject.toml)."""
    config.addinivalue_line(
        "markers",
        "cluster: lab test that needs the cluster built by the notebooks (KJ_INVENTORY); "
        "run after the notebook run",
    )
    config.addinivalue_line("markers", "own_lab: lab test that brings up and takes down a lab of its own")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip (or, under KJ_REQUIRE_ALL=1, refuse to run) tests whose precondition is missing."""
    strict = os.environ.get("KJ_REQUIRE_ALL") == "1"
    for item in items:
        if (item.get_closest_marker("lab") and not item.get_closest_marker("own_lab")
                and "small_lab" not in getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.cluster)
        for marker in ("lab", "sshd"):
            if item.get_closest_marker(marker) is None:
                continue
            why = _missing(marker)
            if why and strict:
                raise pytest.UsageError(f"KJ_REQUIRE_ALL=1 and {item.nodeid} cannot run: {why}")
            if why:
                item.add_marker(pytest.mark.skip(reason=why))


@pytest.fixture
def lab_inventory(tmp_path, monkeypatch):
    """The reference lab's inventory, loadable without the lab (stand-in SSH files), its cluster directory in tmp."""
    import yaml

    from helpers.inventory import load_inventory

    monkeypatch.setenv("KJ_CLUSTER_DIR", str(tmp_path / "cluster"))
    doc = yaml.safe_load((Path(__file__).resolve().parent.parent / "inventories" / "lab.yaml").read_text())
    doc["ssh"] = {**doc["ssh"], "identity_file": "k", "known_hosts": "h"}
    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_inventory(path)
