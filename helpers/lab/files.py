"""Local file helpers: atomic writes that report whether anything changed, templates."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import jinja2

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


def render(template: str, **context: Any) -> str:
    """Render a template from ``helpers/lab/templates/``."""
    return _ENV.get_template(template).render(**context)


def write_file(path: Path, content: str | bytes, mode: int = 0o644) -> bool:
    """Write ``content`` to ``path`` through a temp file and rename; return True if it changed.

    The file is left alone (and False returned) when it already has this content and mode.
    """
    data = content.encode() if isinstance(content, str) else content
    try:
        if path.read_bytes() == data and (path.stat().st_mode & 0o7777) == mode:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


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
