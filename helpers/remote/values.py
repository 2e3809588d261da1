"""The values of the SSH layer: a command's :class:`RunResult`, a primitive's :class:`Change`.

Also the two helpers both :mod:`helpers.remote` and :mod:`helpers.ensure` need:
:func:`_absolute` (a remote path, checked and normalised) and :func:`_joined` (a
command's output for a message). Nothing here imports fabric or paramiko.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass


@dataclass(frozen=True)
class RunResult:
    """The outcome of one remote command."""

    stdout: str
    stderr: str
    exit_code: int

    @property
    def ok(self) -> bool:
        """Whether the command exited 0."""
        return self.exit_code == 0


@dataclass(frozen=True)
class Change:
    """What an idempotent primitive did: ``changed`` and one line saying what or why not."""

    changed: bool
    detail: str = ""

    @classmethod
    def merge(cls, *changes: Change | None) -> Change:
        """Combine several changes: changed when any changed; the details of those that did.

        When nothing changed, the detail lists every (distinct) reason instead.
        """
        done = [c for c in changes if c is not None]
        changed = [c for c in done if c.changed]
        details = [c.detail for c in (changed or done) if c.detail]
        return cls(bool(changed), "; ".join(dict.fromkeys(details)))


def _joined(stdout: str, stderr: str) -> str:
    text = "\n".join(s.rstrip() for s in (stdout, stderr) if s and s.strip())
    return text[-8000:]


def _absolute(path: str) -> str:
    path = str(path)
    if not path.startswith("/") or "\0" in path:
        raise ValueError(f"remote paths must be absolute, got {path!r}")
    return posixpath.normpath(path)
