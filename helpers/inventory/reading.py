"""Reading an inventory file safely: bounded size, UTF-8, YAML without its traps.

An inventory is a small hand-written file, and the loader is the first thing to see what
an operator in a hurry (or anyone able to hand the runbook a file) writes. Everything it
can be fed ends in an :class:`~helpers.errors.InventoryError` that names the line, never in
a traceback or a hang:

- the file is read only up to :data:`MAX_BYTES` (a larger one is refused unread);
- bytes that are not UTF-8, and NUL or other control characters, are named by line and column;
- a key given twice in one mapping is an error (YAML would silently keep the last);
- nesting deeper than :data:`MAX_DEPTH` is refused while parsing (no recursion blow-up);
- a number longer than :data:`MAX_DIGITS` digits is refused before Python converts it;
- aliases that expand to more than :data:`MAX_VALUES` values (a "billion laughs" bomb)
  are refused before anything walks the document;
- a syntax error names where the parser gave up *and* where the construct it was reading
  opened (the unclosed bracket).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.error import MarkedYAMLError

from helpers.errors import InventoryError

MAX_BYTES = 1 << 20        # 1 MiB: a real inventory is a few KiB
MAX_DEPTH = 32             # the deepest real inventory nests 4 levels
MAX_DIGITS = 30            # ports and versions; nothing in an inventory is a longer number
MAX_VALUES = 100_000       # scalars and collections after alias expansion


class _Refused(MarkedYAMLError):
    """A document this loader will not build (too deep, a huge number, a duplicate key)."""


def _where(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "somewhere"


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with a depth bound, duplicate-key detection and bounded integers."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(problem=f"nested more than {MAX_DEPTH} levels deep",
                               problem_mark=self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> dict:
        if isinstance(node, yaml.MappingNode):
            self.flatten_mapping(node)
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                try:
                    first = seen.get(key)
                except TypeError:           # an unhashable key: the base class names it
                    break
                if first is not None:
                    raise _Refused(problem=f"key {_short(key)!r} is given twice in this mapping "
                                   f"(first at {_where(first)}); YAML would silently keep the last",
                                   problem_mark=key_node.start_mark)
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: Any) -> int:
        digits = sum(c.isdigit() for c in str(node.value))
        if digits > MAX_DIGITS:
            raise _Refused(problem=f"a number with {digits} digits; nothing in an inventory is that long",
                           problem_mark=node.start_mark)
        return super().construct_yaml_int(node)


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)


def _short(value: Any, limit: int = 60) -> str:
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _line_col(data: bytes, offset: int) -> str:
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}"


def _count_values(doc: Any) -> int:
    """How many values ``doc`` holds once aliases are expanded; stops counting past :data:`MAX_VALUES`."""
    count, stack = 0, [doc]
    while stack:
        item = stack.pop()
        count += 1
        if count > MAX_VALUES:
            return count
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def read_inventory_file(path: Path) -> Any:
    """Read and parse an inventory file within the bounds above; return the YAML document.

    Raises:
        InventoryError: the file cannot be read, is too big, is not UTF-8 text, or is not
            YAML this loader accepts; the reason names the line.
    """
    source = str(path)

    def refuse(reason: str) -> InventoryError:
        return InventoryError(source, [("(file)", reason)])

    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as err:
        raise refuse(f"cannot read: {err.strerror or err}") from None
    if len(data) > MAX_BYTES:
        size = path.stat().st_size if path.exists() else len(data)
        raise refuse(f"the file is {size} bytes; an inventory is at most {MAX_BYTES} bytes (1 MiB)")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise refuse(f"a NUL byte at {_line_col(data, nul)}: this is not a text file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise refuse(f"not UTF-8 text: byte 0x{data[err.start]:02x} at {_line_col(data, err.start)}") from None
    try:
        doc = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.reader.ReaderError as err:
        offset = len(text[: err.position].encode("utf-8"))
        char = err.character if isinstance(err.character, int) else ord(str(err.character)[:1] or "?")
        raise refuse(f"character U+{char:04X} at {_line_col(data, offset)} is not allowed in YAML") from None
    except MarkedYAMLError as err:
        where = f"{_where(err.problem_mark)}: " if err.problem_mark else ""
        what = err.problem or str(err)
        opened = ""
        if err.context and err.context_mark and (
            err.problem_mark is None or err.context_mark.line != err.problem_mark.line
            or err.context_mark.column != err.problem_mark.column
        ):
            opened = f" ({err.context.removeprefix('while ')} that opened at {_where(err.context_mark)})"
        kind = "" if isinstance(err, _Refused | ConstructorError) else "invalid YAML: "
        raise refuse(f"{kind}{where}{what}{opened}") from None
    except yaml.YAMLError as err:
        raise refuse(f"invalid YAML: {_short(err, 200)}") from None
    except RecursionError:
        raise refuse(f"nested too deeply (more than {MAX_DEPTH} levels)") from None
    if _count_values(doc) > MAX_VALUES:
        raise refuse(f"its aliases expand to more than {MAX_VALUES} values (a YAML alias bomb?); "
                     "write the values out instead")
    return doc
