"""Shared markers and skips (the markers themselves are declared in pyproject.toml).

Tests marked ``lab`` need root and systemd-nspawn; tests marked ``sshd`` need an
OpenSSH server binary. Where a precondition is missing they are skipped with the
reason, unless ``KJ_REQUIRE_ALL=1`` (set by ci/test.sh): then the run stops with the
reason instead, so CI never passes by skipping.
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip (or, under KJ_REQUIRE_ALL=1, refuse to run) tests whose precondition is missing."""
    strict = os.environ.get("KJ_REQUIRE_ALL") == "1"
    for item in items:
        for marker in ("lab", "sshd"):
            if marker not in item.keywords:
                continue
            why = _missing(marker)
            if why and strict:
                raise pytest.UsageError(f"KJ_REQUIRE_ALL=1 and {item.nodeid} cannot run: {why}")
            if why:
                item.add_marker(pytest.mark.skip(reason=why))
