"""The one Jinja2 environment factory: helpers/templates/ (through :mod:`helpers.ensure`) and the lab's.

Foundation layer, so the lab (top layer) gets the same environment without importing
:mod:`helpers.ensure` and the SSH stack behind it.
"""

from __future__ import annotations

import threading
from pathlib import Path

import jinja2

_ENVS: dict[Path, jinja2.Environment] = {}
_ENVS_LOCK = threading.Lock()


def environment(directory: str | Path) -> jinja2.Environment:
    """The Jinja2 environment for the templates under ``directory`` (built once per directory).

    Undefined names raise (``StrictUndefined``) instead of rendering blank, a template's
    final newline is kept, nothing is HTML-escaped, and block tags keep their surrounding
    whitespace (no ``trim_blocks``/``lstrip_blocks``).
    """
    directory = Path(directory)
    with _ENVS_LOCK:
        env = _ENVS.get(directory)
        if env is None:
            env = jinja2.Environment(
                loader=jinja2.FileSystemLoader(str(directory)),
                undefined=jinja2.StrictUndefined,
                keep_trailing_newline=True,
                autoescape=False,
            )
            _ENVS[directory] = env
        return env
