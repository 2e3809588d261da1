"""What the demonstrations of 06 measured, kept between runs in ``cluster_dir/objects/demo.json``."""

from __future__ import annotations

import json
from typing import Any

from helpers.localfiles import write_atomic


class DemoRecord:
    """What the demonstrations of 06 measured, kept in the cluster directory between runs.

    The demo's objects stay in the cluster after a run (like 05's probe workloads), so a
    re-run changes nothing. The demonstrations that *are* changes — scaling, the rolling
    update and the rollback, writing data into the volume — run when the demo is built
    (or when asked) and record what they saw here; a re-run shows the record, says when
    it was taken, and checks the live objects against it. The file is
    ``cluster_dir/objects/demo.json``; deleting the demo namespace deletes it too.
    """

    def __init__(self, inv):
        self.path = inv.cluster_dir / "objects" / "demo.json"
        try:
            self.data = json.loads(self.path.read_text()) if self.path.exists() else {}
        except ValueError:
            self.data = {}                  # a damaged record is a missing one: the demo runs again

    def has(self, key: str) -> bool:
        """Whether ``key`` was recorded."""
        return key in self.data

    def get(self, key: str) -> Any:
        """The recorded value of ``key``."""
        return self.data[key]["value"]

    def when(self, key: str) -> str:
        """When ``key`` was recorded (UTC)."""
        return self.data[key]["at"]

    def put(self, key: str, value: Any) -> Any:
        """Record ``value`` under ``key`` now (written at once, atomically); return it."""
        import datetime as dt  # noqa: PLC0415

        self.data[key] = {"at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"), "value": value}
        write_atomic(self.path, json.dumps(self.data, indent=1, default=str), 0o644)
        return value

    def clear(self) -> None:
        """Forget everything (the demo namespace was deleted)."""
        self.data = {}
        self.path.unlink(missing_ok=True)
