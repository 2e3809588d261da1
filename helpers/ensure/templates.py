"""Jinja2 templates from helpers/templates/: undefined names are errors, not blanks."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from helpers.errors import ConfigError

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


_ENVS: dict[Path, jinja2.Environment] = {}
_ENVS_LOCK = threading.Lock()


def _environment(directory: Path) -> jinja2.Environment:
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


def render_template(template: str, context: Mapping[str, Any], directory: str | Path | None = None) -> str:
    """Render a Jinja2 template from helpers/templates/ (or ``directory``); undefined names are errors.

    Raises:
        ConfigError: the template is missing, has a syntax error, or uses a name the
            context does not define.
    """
    root = Path(directory).resolve() if directory is not None else TEMPLATES
    try:
        return _environment(root).get_template(template).render(**context)
    except jinja2.TemplateNotFound as err:
        raise ConfigError(f"template {template} not found under {root}") from err
    except jinja2.UndefinedError as err:
        raise ConfigError(f"failed to render template {template}: {err.message}") from err
    except jinja2.TemplateSyntaxError as err:
        raise ConfigError(f"template {template} line {err.lineno}: {err.message}") from err
