"""The host's side of the air gap: machines reach only the site services on the gateway.

With forwarding off nothing leaves the bridge, but a machine could still connect to
services the host offers on its other addresses. One nftables table per lab
(``inet kj_<lab>``, input hook, traffic from the lab bridge only) admits the site
services on the gateway address and replies to connections the host opened, and
drops the rest. Nothing else of the host's firewall is touched; ``down`` deletes the
table.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess

from helpers.errors import LabError
from helpers.lab.files import render
from helpers.lab.plan import LabPlan


def table_name(lab: str) -> str:
    """The lab's nftables table (identifier characters only)."""
    return "kj_" + lab.replace("-", "_")


def _nft(args: list[str], script: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["nft", *args], input=script, capture_output=True, text=True)


def available() -> bool:
    """Whether nft is installed (the table is then required, not optional)."""
    return shutil.which("nft") is not None


def exists(lab: str) -> bool:
    """Whether the lab's table is loaded."""
    return _nft(["list", "table", "inet", table_name(lab)]).returncode == 0


def ensure_firewall(plan: LabPlan, applied: str | None) -> tuple[str, bool]:
    """Load the lab's table unless the same rules are loaded; return ``(digest, changed)``.

    Raises:
        LabError: when nft is missing or rejects the rules.
    """
    script = render(
        "firewall.nft.j2",
        lab=plan.name,
        table=table_name(plan.name),
        bridge=plan.bridge,
        gateway=plan.gateway,
    )
    digest = hashlib.sha256(script.encode()).hexdigest()[:16]
    if applied == digest and exists(plan.name):
        return digest, False
    if not available():
        raise LabError(
            "the lab needs nft (Debian package nftables) to keep machines off the host's services"
        )
    proc = _nft(["-f", "-"], script)
    if proc.returncode != 0:
        raise LabError(
            f"failed to load the lab firewall table {table_name(plan.name)}: {proc.stderr.strip()}"
        )
    return digest, True


def remove_firewall(lab: str) -> bool:
    """Delete the lab's table; True if it existed."""
    if not available() or not exists(lab):
        return False
    proc = _nft(["delete", "table", "inet", table_name(lab)])
    if proc.returncode != 0:
        raise LabError(
            f"failed to delete the lab firewall table {table_name(lab)}: {proc.stderr.strip()}"
        )
    return True
