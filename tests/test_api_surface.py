"""API surface: every ``helpers`` name the notebooks (and docs/helpers-api.md) use resolves.

The notebooks are the helpers' main callers, and nothing else imports them before a lab
runs them. This test reads every code cell of ``notebooks/NN-*.ipynb`` with :mod:`ast`
(lines starting with ``%`` or ``!``, IPython magics, are skipped) and collects:

- ``from helpers[.x] import name [as alias]``: ``name`` must be an attribute (or a
  submodule) of ``helpers[.x]``;
- ``import helpers.x [as alias]``: the module must import;
- ``alias.name`` where ``alias`` is bound to a helpers module by one of those imports:
  ``name`` must be a module-level attribute of it (``lb.wait_for_holder``,
  ``objects.NAMESPACE``). Only the first attribute is checked; methods of returned
  objects (``demo.apply``) are not. A name a later cell assigns to stops counting as
  the module.

Bindings carry over from cell to cell, as in a kernel. Each notebook is one test case;
a failure lists ``notebook cell N line L: helpers.x.name``.

``docs/helpers-api.md`` is checked too: the calls in its ``## helpers.<module>`` code
blocks (``load_inventory(path)``, ``ensure_file(h, ...)``, ``Change.merge(...)``) and the
backticked calls in its table of component modules, each in one of that row's modules.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]-*.ipynb"))
API_DOC = REPO / "docs" / "helpers-api.md"


@dataclass(frozen=True)
class Use:
    """One use of a helpers name: where it is and what must resolve."""

    where: str  # "cell 4 line 7"
    module: str  # "helpers.loadbalancer"
    name: str | None  # attribute of the module, or None for the module itself

    def __str__(self) -> str:
        return f"{self.where}: {self.module}{'.' + self.name if self.name else ''}"


def _cells(path: Path) -> list[tuple[int, str]]:
    """``(cell index, source)`` of every code cell, with IPython magic lines blanked."""
    nb = json.loads(path.read_text())
    cells = []
    for index, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") != "code":
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
        cells.append((index, "\n".join(lines)))
    return cells


def _is_helpers(module: str | None) -> bool:
    return module == "helpers" or bool(module and module.startswith("helpers."))


def _stores(tree: ast.AST) -> set[str]:
    """Names a cell (re)binds other than by an import."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
    return names


def notebook_uses(path: Path) -> list[Use]:
    """Every helpers name ``path`` uses, in cell order."""
    aliases: dict[str, str] = {}  # local name -> helpers module it is bound to
    uses: list[Use] = []
    for index, source in _cells(path):
        tree = ast.parse(source, filename=f"{path.name} cell {index}")
        bound_here: dict[str, str] = {}
        for node in ast.walk(tree):
            where = f"cell {index} line {getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.ImportFrom) and not node.level and _is_helpers(node.module):
                for alias in node.names:
                    uses.append(Use(where, node.module, alias.name))
                    target = f"{node.module}.{alias.name}"
                    if _is_module(target):
                        bound_here[alias.asname or alias.name] = target
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if _is_helpers(alias.name):
                        uses.append(Use(where, alias.name, None))
                        if alias.asname:
                            bound_here[alias.asname] = alias.name
                        else:
                            bound_here.setdefault("helpers", "helpers")
        for name in _stores(tree):
            aliases.pop(name, None)
        aliases.update(bound_here)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
                module = aliases[node.value.id]
                if module == "helpers" and _is_module(f"helpers.{node.attr}"):
                    continue  # `import helpers.x` then helpers.x.name: the module is checked above
                uses.append(Use(f"cell {index} line {node.lineno}", module, node.attr))
    return uses


def _is_module(dotted: str) -> bool:
    try:
        return importlib.util.find_spec(dotted) is not None
    except ModuleNotFoundError:
        return False


def unresolved(uses: list[Use]) -> list[str]:
    """The uses whose module does not import or has no such attribute (or submodule)."""
    missing = []
    for use in dict.fromkeys(uses):
        try:
            module: ModuleType = importlib.import_module(use.module)
        except ImportError as err:
            missing.append(f"{use}  (module does not import: {err})")
            continue
        if use.name is None or hasattr(module, use.name) or _is_module(f"{use.module}.{use.name}"):
            continue
        missing.append(f"{use}  (no such name)")
    return missing


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_names_resolve(notebook):
    uses = notebook_uses(notebook)
    assert uses, f"{notebook.name} uses no helpers name at all: is the parser still right?"
    missing = unresolved(uses)
    assert not missing, f"{notebook.name} uses helpers names that do not resolve:\n  " + "\n  ".join(missing)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_cells_have_unique_ids(notebook):
    """nbformat 4.5 requires a cell id; a cell added by a script without one makes papermill warn."""
    import json  # noqa: PLC0415

    doc = json.loads(notebook.read_text())
    ids = [c.get("id") for c in doc["cells"]]
    missing = [i for i, cell_id in enumerate(ids) if not cell_id]
    assert not missing, f"{notebook.name}: cells {missing} have no id"
    assert len(set(ids)) == len(ids), f"{notebook.name}: duplicate cell ids"


def test_the_parser_sees_what_the_notebooks_do():
    uses = {(u.module, u.name) for p in NOTEBOOKS for u in notebook_uses(p)}
    assert ("helpers.loadbalancer", "wait_for_holder") in uses  # `from helpers import loadbalancer as lb`
    assert ("helpers.objects", "Demo") in uses
    assert ("helpers.objects", "NAMESPACE") in uses
    assert ("helpers.notebook", "start") in uses   # `from helpers import notebook`, then notebook.start(...)
    assert not any(name == "apply" for module, name in uses)  # demo.apply is a method, not checked


# --- docs/helpers-api.md ----------------------------------------------------------------

#: ``name(`` or ``Class.attribute(`` at the start of a statement, after an optional ``x, y =``
_CALL = re.compile(r"^(?:[A-Za-z_][\w, ]*=\s*)?(?:([A-Z]\w*)\.(\w+)|([A-Za-z_]\w*))\(")
#: a backticked name in a table cell: ``name(...)`` or a bare ``name``
_TABLE_NAME = re.compile(r"`([A-Za-z_]\w*)(?:\(|`)")


def doc_uses(text: str) -> list[tuple[str, list[str], str, str | None]]:
    """``(where, candidate modules, name, attribute)`` for each call the API doc shows."""
    uses = []
    module = None
    in_code = False
    for number, line in enumerate(text.splitlines(), 1):
        where = f"{API_DOC.name} line {number}"
        heading = re.match(r"^## (helpers\.\w+)", line)
        if heading:
            module = heading.group(1)
            continue
        if line.startswith("## "):
            module = None
        if line.startswith("```"):
            in_code = not in_code
            continue
        if in_code and module:
            code = line.split("  #", 1)[0].split(" # ", 1)[0]
            if code.lstrip().startswith("#"):
                continue
            for piece in code.split(";"):
                match = _CALL.match(piece.strip())
                if match:
                    name = match.group(1) or match.group(3)
                    uses.append((where, [module], name, match.group(2)))
        elif line.startswith("| `") and not in_code:
            cells = [c.strip() for c in line.strip("|").split("|")]
            modules = [f"helpers.{m}" for m in re.findall(r"`(\w+)`", cells[0])]
            for cell in cells[1:]:
                for name in _TABLE_NAME.findall(cell):
                    uses.append((where, modules, name, None))
    return uses


def test_api_doc_names_resolve():
    uses = doc_uses(API_DOC.read_text())
    assert len(uses) > 30, f"only {len(uses)} names found in {API_DOC.name}: is the parser still right?"
    missing = []
    for where, modules, name, attribute in uses:
        found = [getattr(importlib.import_module(m), name) for m in modules
                 if hasattr(importlib.import_module(m), name)]
        if not found and not _is_module(f"helpers.{name}"):  # a bare `kube_apply` names a module
            missing.append(f"{where}: {name} in none of {', '.join(modules)}")
        elif attribute and not any(hasattr(obj, attribute) for obj in found):
            missing.append(f"{where}: {name}.{attribute} ({', '.join(modules)})")
    assert not missing, f"{API_DOC.name} documents names that do not resolve:\n  " + "\n  ".join(missing)
