"""Local file helpers: atomic writes that report whether anything changed, templates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers.localfiles import write_atomic
from helpers.templating import environment

TEMPLATES = Path(__file__).parent / "templates"


def render(template: str, **context: Any) -> str:
    """Render a template from ``helpers/lab/templates/`` (jinja errors propagate as they are)."""
    return environment(TEMPLATES).get_template(template).render(**context)


def write_file(path: Path, content: str | bytes, mode: int = 0o644) -> bool:
    """Write ``content`` to ``path`` atomically (:func:`helpers.localfiles.write_atomic`); True if it changed.

    The file is left alone (and False returned) when it already has this content and mode.
    """
    return write_atomic(path, content, mode)


def is_mountpoint(path: Path) -> bool:
    """Whether ``path`` is a mount point in this mount namespace (from mountinfo)."""
    return str(path) in mounts()


def mounts() -> dict[str, tuple[str, str]]:
    """Mount points of this namespace: ``{target: (fstype, super options)}``."""
    result = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        target = left.split()[4].replace("\\040", " ")
        fields = right.split()
        result[target] = (fields[0], fields[2] if len(fields) > 2 else "")
    return result
