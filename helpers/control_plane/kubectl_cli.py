"""kubectl on the operator's machine: the cached, verified binary with the admin kubeconfig."""

from __future__ import annotations

import subprocess
from pathlib import Path

from helpers.control_plane.layout import admin_kubeconfig_path
from helpers.errors import CommandFailed

# ------------------------------------------------------------------ kubectl (operator side)


def local_kubectl(inv) -> Path:
    """Return kubectl for the operator's machine, from the release mirror (sha256-verified), cached."""
    from helpers import artifacts  # noqa: PLC0415

    art = artifacts.fetch(inv, "kubectl")
    path = Path(art.path)
    if not path.stat().st_mode & 0o100:
        path.chmod(0o755)
    return path


def kubectl(inv, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run the cached kubectl locally with the admin kubeconfig; raises on a non-zero exit."""
    cmd = [str(local_kubectl(inv)), "--kubeconfig", str(admin_kubeconfig_path(inv)), *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise CommandFailed("operator", "run kubectl", " ".join(cmd[1:]), res.returncode, res.stdout + res.stderr)
    return res
