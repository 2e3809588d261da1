"""The lab's SSH trust: one client key per lab, per-machine host keys, known_hosts.

The client key (ed25519, 0600) lives at the inventory's ``ssh.identity_file`` and is
authorised for root on every machine. Each machine's host keys are generated on its
own writable layer and written to the inventory's ``ssh.known_hosts`` under the
machine's name, FQDN and address, so the runbook verifies them like on real hosts.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from helpers.errors import LabError
from helpers.lab.files import write_file
from helpers.lab.plan import LabPlan, MachinePlan

HOST_KEY_TYPES = ("ed25519", "ecdsa", "rsa")


def ensure_client_key(plan: LabPlan) -> bool:
    """Create the lab's SSH key pair if missing; return True if created."""
    key = plan.identity_file
    pub = key.with_name(key.name + ".pub")
    if key.exists() and pub.exists():
        if key.stat().st_mode & 0o077:
            os.chmod(key, 0o600)
        return False
    key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key.unlink(missing_ok=True)
    pub.unlink(missing_ok=True)
    proc = subprocess.run(
        [
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            f"kubernetes-journey-lab-{plan.name}",
            "-f",
            str(key),
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise LabError(f"failed to create the lab SSH key {key}: {proc.stderr.strip()}")
    os.chmod(key, 0o600)
    return True


def public_key(plan: LabPlan) -> str:
    """The lab's public key line."""
    return plan.identity_file.with_name(plan.identity_file.name + ".pub").read_text().strip()


def ensure_host_keys(root: Path) -> bool:
    """Generate any missing SSH host keys inside a machine root; True if some were made."""
    have = {t for t in HOST_KEY_TYPES if (root / f"etc/ssh/ssh_host_{t}_key").exists()}
    if have == set(HOST_KEY_TYPES):
        return False
    proc = subprocess.run(["ssh-keygen", "-A", "-f", str(root)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise LabError(f"failed to create SSH host keys in {root}: {proc.stderr.strip()}")
    return True


def host_key_lines(m: MachinePlan, root: Path) -> list[str]:
    """known_hosts lines for one machine: its name, FQDN and address, each key type."""
    names = ",".join([m.name, m.fqdn, str(m.address)])
    lines = []
    for t in HOST_KEY_TYPES:
        pub = root / f"etc/ssh/ssh_host_{t}_key.pub"
        kind, blob = pub.read_text().split()[:2]
        lines.append(f"{names} {kind} {blob}")
    return lines


def write_known_hosts(plan: LabPlan, lines: list[str]) -> bool:
    """Write the lab's known_hosts (exactly the machines' keys); True if it changed."""
    header = (
        f"# kubernetes-journey lab {plan.name}: host keys of its machines (written by `lab up`)\n"
    )
    return write_file(plan.known_hosts, header + "\n".join(lines) + "\n", 0o644)
