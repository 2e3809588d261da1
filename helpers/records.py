"""Drills that run once and are shown afterwards: run when due, keep what was measured, recall it later.

A drill changes the cluster on purpose for a while (a pod deleted, replicas scaled, load
sent). Running it on every re-run of a notebook would make the re-run slow and busy for
nothing: :func:`run_or_recall` runs it when no record exists (a fresh build) or when asked
(``when="always"``), keeps its JSON record in the cluster directory — only when the
drill passed, so a failed one is tried again next time — and otherwise returns the
record, saying when it was measured. ``when="never"`` shows a record or fails saying there
is none.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from helpers.localfiles import write_atomic

WHEN = ("auto", "always", "never")


def run_or_recall(path: Path, when: str, run: Callable[[], tuple[dict[str, Any], bool]],
                  knob: str = "drills") -> tuple[dict[str, Any], bool, str]:
    """``run()`` (returning ``(record, passed)``) when due, else the record in ``path``.

    Returns:
        ``(record, measured_now, why)``; the record has ``measured_at`` (UTC, ISO 8601).

    Raises:
        ValueError: ``when`` is not one of :data:`WHEN`.
        FileNotFoundError: ``when="never"`` and nothing is on record.
    """
    if when not in WHEN:
        raise ValueError(f"{knob} must be one of {', '.join(WHEN)}, not {when!r}")
    if path.exists() and when != "always":
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            if when == "never":
                raise
            record = None
            reason = f"the record {path} is unreadable ({err}); measured again"
        else:
            return record, False, (f"on record since {record.get('measured_at', '?')}; set {knob}='always' to "
                                   "measure again")
    elif when == "never":
        raise FileNotFoundError(f"{knob}='never' but nothing is on record in {path}")
    else:
        reason = "measured now (asked for)" if when == "always" else "measured now (no earlier measurement)"
    record, passed = run()
    record["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if passed:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(record, indent=1), 0o644)
    else:
        reason += "; it failed, so it is not kept and runs again next time"
    return record, True, reason
