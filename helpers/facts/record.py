"""The saved preflight result: ``cluster_dir/preflight.json``, written by 01, required by later notebooks."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from helpers.facts.model import Check, HostFacts
from helpers.localfiles import write_atomic


def inventory_digest(inv: Any) -> str:
    """Return the sha256 of the inventory file, to tell whether it changed since preflight."""
    return hashlib.sha256(Path(inv.path).read_bytes()).hexdigest() if inv.path else ""


def save_preflight(inv: Any, checks: list[Check], facts: dict[str, HostFacts] | None = None) -> Path:
    """Write the preflight result to ``cluster_dir/preflight.json`` for later notebooks; return the path."""
    path = inv.cluster_dir / "preflight.json"
    record = {
        "inventory": str(inv.path),
        "inventory_sha256": inventory_digest(inv),
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "checks": [asdict(c) for c in checks],
        "facts": {n: asdict(f) for n, f in (facts or {}).items()},
    }
    write_atomic(path, json.dumps(record, indent=1, sort_keys=True), 0o644, private=True)
    return path


def load_preflight(inv: Any) -> dict[str, Any]:
    """Return the saved preflight record, or raise ConfigError saying why it cannot be used.

    Raises:
        ConfigError: no record (01-architecture has not run), the inventory changed
            since, or a check failed.
    """
    from helpers.errors import ConfigError

    path = inv.cluster_dir / "preflight.json"
    if not path.exists():
        raise ConfigError(f"no preflight result at {path}: run notebooks/01-architecture first")
    record = json.loads(path.read_text())
    if record.get("inventory_sha256") != inventory_digest(inv):
        raise ConfigError(f"inventory {inv.path} changed since preflight ran ({record.get('time')}): re-run 01-architecture")
    failed = [c for c in record["checks"] if not c["passed"]]
    if failed:
        lines = "; ".join(f"{c['host']}: {c['check']}: {c['detail']}" for c in failed)
        raise ConfigError(f"preflight failed ({record.get('time')}): {lines}")
    missing = sorted({h.name for h in inv.hosts} - {c["host"] for c in record["checks"]})
    if missing:
        raise ConfigError(f"preflight has no result for {', '.join(missing)}: re-run 01-architecture")
    return record
