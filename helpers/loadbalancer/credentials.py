"""The load-balancer secrets: the stats page and VRRP passwords, generated once on the operator's machine.

They live in ``cluster_dir/loadbalancer/credentials.json`` (0600, in a 0700 directory)
and are reused by every later run, so re-rendering the configs changes nothing.
"""

from __future__ import annotations

import json
import os
import secrets
import string
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from helpers.localfiles import ensure_private_dir, write_atomic

STATS_USER = "kj-stats"


@dataclass
class LBCredentials:
    """Generated secrets of the load-balancer tier (stored 0600 in the cluster directory)."""

    stats_user: str
    stats_password: str
    vrrp_auth_pass: str  # VRRP PASS authentication carries at most 8 characters


def credentials_path(inv: Any) -> Path:
    """Where the load-balancer secrets live: ``cluster_dir/loadbalancer/credentials.json``."""
    return inv.cluster_dir / "loadbalancer" / "credentials.json"


def load_credentials(inv: Any, create: bool = False) -> tuple[LBCredentials, bool]:
    """Return (credentials, created): read them, or generate and store them once when ``create``.

    Raises:
        ConfigError: the file is missing and ``create`` is false, or it is unreadable.
    """
    from helpers.errors import ConfigError

    path = credentials_path(inv)
    if path.exists():
        try:
            return LBCredentials(**json.loads(path.read_text())), False
        except (ValueError, TypeError) as err:
            raise ConfigError(f"failed to read load-balancer credentials {path}: {err}") from err
    if not create:
        raise ConfigError(f"no load-balancer credentials at {path}: run ensure_lb_credentials (02-network)")
    alphabet = string.ascii_letters + string.digits
    creds = LBCredentials(
        stats_user=STATS_USER,
        stats_password=secrets.token_urlsafe(18),
        vrrp_auth_pass="".join(secrets.choice(alphabet) for _ in range(8)),
    )
    ensure_private_dir(path.parent)
    write_atomic(path, json.dumps(asdict(creds), indent=1), 0o600, private=True)
    return creds, True


def ensure_lb_credentials(inv: Any) -> Any:
    """Step (local): generate the stats and VRRP passwords once; later runs reuse them unchanged."""
    from helpers.report import OPERATOR, Report, Result

    started = time.monotonic()
    _, created = load_credentials(inv, create=True)
    path = credentials_path(inv)
    mode = oct(path.stat().st_mode & 0o777)
    if mode != "0o600":
        os.chmod(path, 0o600)
        created = True
    detail = f"{'generated' if created else 'reused'} {path} (mode 0600)"
    result = Result(OPERATOR, "changed" if created else "ok", detail, time.monotonic() - started)
    return Report("load-balancer credentials", {OPERATOR: result})
