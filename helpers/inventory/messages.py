"""Pydantic's validation errors in plain language, with did-you-mean suggestions.

Each error becomes a ``(field path, reason)`` problem: the path dotted and indexed as
in the file (``hosts[3].address``), the reason in words (``unknown key 'adress'; did
you mean 'address'?``).
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from helpers.inventory.fields import Problem


def _unwrap(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) is not None:
        for arg in typing.get_args(annotation):
            found = _unwrap(arg)
            if found is not None:
                return found
    return None


def _known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        inner = _unwrap(field.annotation) if field else None
        if inner is None:
            return []
        model = inner
    return list(model.model_fields)


def _unknown_key(key: str, known: Iterable[str]) -> str:
    known = list(known)
    close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
    return f"unknown key {key!r}{hint}"


def _dotted(prefix: str, loc: Iterable[Any]) -> str:
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _reason(err: dict[str, Any], model: type[BaseModel]) -> str:
    kind, value = err["type"], err.get("input")
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return _unknown_key(err["loc"][-1], _known_keys(model, err["loc"][:-1]))
    if kind == "value_error":
        return str(err["ctx"]["error"])
    if kind == "literal_error":
        expected = err["ctx"]["expected"].replace(" or ", ", ")
        what = "role" if len(err["loc"]) >= 2 and err["loc"][-2] == "roles" else "value"
        return f"unknown {what} {value!r}; expected one of {expected}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"expected a mapping of keys, got {type(value).__name__} {value!r}"
    if kind == "list_type":
        return f"expected a list, got {type(value).__name__} {value!r}"
    if kind == "string_type":
        return f"expected text, got {type(value).__name__} {value!r} (quote it in YAML)"
    return f"{err['msg']} (got {value!r})"


def _translate(error: ValidationError, model: type[BaseModel], prefix: str) -> list[Problem]:
    return [(_dotted(prefix, e["loc"]), _reason(e, model)) for e in error.errors()]
