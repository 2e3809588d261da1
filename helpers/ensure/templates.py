"""Jinja2 templates from helpers/templates/: undefined names are errors, not blanks."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from helpers.errors import ConfigError
from helpers.templating import environment

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def render_template(template: str, context: Mapping[str, Any], directory: str | Path | None = None) -> str:
    """Render a Jinja2 template from helpers/templates/ (or ``directory``); undefined names are errors.

    Raises:
        ConfigError: the template is missing, has a syntax error, or uses a name the
            context does not define.
    """
    root = Path(directory).resolve() if directory is not None else TEMPLATES
    try:
        return environment(root).get_template(template).render(**context)
    except jinja2.TemplateNotFound as err:
        raise ConfigError(f"template {template} not found under {root}") from err
    except jinja2.UndefinedError as err:
        raise ConfigError(f"failed to render template {template}: {err.message}") from err
    except jinja2.TemplateSyntaxError as err:
        raise ConfigError(f"template {template} line {err.lineno}: {err.message}") from err
