"""Layering: which helpers module may import which, checked with :mod:`ast` over helpers/**/*.py.

Every ``import helpers.x`` / ``from helpers[.x] import y`` / relative import counts, at
module level and inside functions alike (a lazy import is still a dependency). Modules
are named relative to the package (``kubelet``, ``lab.plan``; ``.`` is ``helpers/__init__``).

The rule, as data (:data:`LAYERS`, lowest first):

1. a module imports only from its own layer or lower ones;
2. a module of the ``chapters`` layer imports no other chapter module (chapters share
   code through ``core`` and ``foundation``, never sideways);
3. there are no import cycles inside one layer (every edge of a cycle made of
   same-layer imports counts; a cycle across layers always has an upward edge, which
   rule 1 names).

Today's code breaks rules 2 and 3 in known places: :data:`KNOWN_VIOLATIONS` lists each
offending edge ``"a -> b"`` with why it exists. The tests fail on any violation not in
that list (naming ``file:line`` of every offending import) and on any listed edge that
no longer violates a rule, so the list can only shrink as the refactor proceeds: delete
an entry once its import is gone. A new module must be given a layer in :data:`LAYERS`.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "helpers"

#: Layers, lowest first. An entry ending in ``.*`` covers a subpackage and its modules.
LAYERS: dict[str, tuple[str, ...]] = {
    "foundation": (".", "constants", "errors", "localfiles", "paths", "report", "tables", "templating", "verdict", "waiting", "prober", "records"),
    "core": ("artifacts", "releases", "inventory", "inventory.*", "remote", "remote.*", "ensure", "ensure.*", "pki", "pki.*", "kube", "kube_apply", "kube_wait", "facts", "facts.*", "notebook"),
    # what several chapters build on: names and addresses, the PKI layout, kubeconfigs,
    # node facts and node identities; a chapter may import these, they import no chapter
    "shared": ("topology", "k8s_pki", "kubeconfig", "node_facts", "node_pki"),
    "chapters": (
        "hostprep", "loadbalancer", "loadbalancer.*", "etcd", "etcd.*", "control_plane", "control_plane.*",
        "containerd", "kubelet", "kubelet.*", "kube_proxy", "flannel", "coredns", "pod_network", "objects", "objects.*",
        "metallb", "metallb.*", "routing", "routing.*", "storage", "storage.*", "guestbook", "guestbook.*",
        "metrics", "metrics.*",
    ),
    # day two: what runs a built cluster, composed from several chapters' checks
    "operations": ("resilience", "resilience.*"),
    "top": ("__main__", "runbook", "certs", "lab", "lab.*", "mirror", "mirror.*"),
}
CHAPTERS = "chapters"

#: Today's violations, ``"importer -> imported": why``. Remove an entry when its import goes.
KNOWN_VIOLATIONS: dict[str, str] = {
    # rule 2: chapters importing each other
    # the control plane is ready only when the tier in front of it agrees: wait_for_api and 04
    # read HAProxy's stats page until every load balancer sees every API server UP
    "control_plane -> loadbalancer": "check_haproxy_backends reads the stats page (function-level)",
}


@dataclass(frozen=True)
class Import:
    """One import statement of a helpers module by another (one per statement and target)."""

    importer: str
    imported: str
    file: str
    line: int
    in_function: bool

    @property
    def edge(self) -> str:
        return f"{self.importer} -> {self.imported}"

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}{' (in a function)' if self.in_function else ''}"


def modules() -> dict[str, Path]:
    """Every module of the package, by name relative to it (``.`` for helpers/__init__)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts) or "."] = path
    return found


def _absolute(name: str) -> str:
    return "." if name == "helpers" else name.removeprefix("helpers.")


def _resolve(target: str, known: dict[str, Path]) -> str | None:
    """The known module a dotted helpers name refers to (``helpers.remote.Change`` -> ``remote``)."""
    if target != "helpers" and not target.startswith("helpers."):
        return None
    name = _absolute(target)
    while name not in known and "." in name:
        name = name.rsplit(".", 1)[0]
    return name if name in known else "."


def imports() -> list[Import]:
    """Every import of one helpers module by another, with file, line and whether it is lazy."""
    known = modules()
    found: list[Import] = []
    for name, path in known.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        package = name if path.name == "__init__.py" else (name.rsplit(".", 1)[0] if "." in name else ".")
        rel = str(path.relative_to(REPO))

        def visit(node: ast.AST, in_function: bool, name: str = name, package: str = package,
                  rel: str = rel) -> None:
            for child in ast.iter_child_nodes(node):
                lazy = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
                targets: list[str] = []
                if isinstance(child, ast.Import):
                    targets = [a.name for a in child.names]
                elif isinstance(child, ast.ImportFrom):
                    if child.level:
                        base = [] if package == "." else package.split(".")
                        base = base[:len(base) - (child.level - 1)] if child.level > 1 else base
                        module = ".".join(["helpers", *base, *([child.module] if child.module else [])])
                    else:
                        module = child.module or ""
                    targets = [f"{module}.{a.name}" for a in child.names]
                for imported in dict.fromkeys(_resolve(t, known) for t in targets):
                    if imported is not None and imported != name:
                        found.append(Import(name, imported, rel, child.lineno, lazy))
                visit(child, lazy)

        visit(tree, False)
    return found


def layer_of(module: str) -> str | None:
    """The layer ``module`` belongs to, or None when :data:`LAYERS` does not place it."""
    for layer, members in LAYERS.items():
        for member in members:
            if module == member or (member.endswith(".*") and module.startswith(member[:-1])):
                return layer
    return None


def _cycle_edges(found: list[Import]) -> set[str]:
    """Edges whose two ends lie in one strongly connected component of the import graph (Tarjan)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for imp in found:
        graph[imp.importer].add(imp.imported)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    component: dict[str, int] = {}

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component[w] = index[v]  # the root's index names the component
                if w == v:
                    break

    for v in list(graph):
        if v not in index:
            strongconnect(v)
    return {f"{a} -> {b}" for a, targets in graph.items() for b in targets
            if component.get(a) == component.get(b)}


def violations(found: list[Import]) -> dict[str, list[Import]]:
    """Edge -> the imports that make it, for every edge breaking rule 1, 2 or 3."""
    order = list(LAYERS)
    cycles = _cycle_edges([i for i in found if layer_of(i.importer) == layer_of(i.imported)])
    bad: dict[str, list[Import]] = defaultdict(list)
    for imp in found:
        a, b = layer_of(imp.importer), layer_of(imp.imported)
        if a is None or b is None:
            continue  # test_every_module_has_a_layer names it
        upward = order.index(b) > order.index(a)
        # a chapter may not import another chapter; the files of one chapter package may
        # import each other (etcd.running -> etcd.config is one chapter's business)
        sideways = a == b == CHAPTERS and imp.importer.split(".")[0] != imp.imported.split(".")[0]
        cyclic = imp.edge in cycles
        if upward or sideways or cyclic:
            # a sideways import is one chapter reaching into another: named by the packages
            edge = imp.edge if cyclic or not sideways else \
                f"{imp.importer.split('.')[0]} -> {imp.imported.split('.')[0]}"
            bad[edge].append(imp)
    return dict(bad)


def _explain(edge: str, imps: list[Import]) -> str:
    a, b = edge.split(" -> ")
    kind = f"{layer_of(a)} -> {layer_of(b)}"
    return f"{edge} ({kind}): " + ", ".join(i.where for i in imps)


# --- tests ---------------------------------------------------------------------------------


def test_every_module_has_a_layer():
    unplaced = sorted(m for m in modules() if layer_of(m) is None)
    assert not unplaced, f"modules with no layer in tests/test_layering.py LAYERS: {', '.join(unplaced)}"


def test_layers_name_only_existing_modules():
    known = modules()
    stale = [m for members in LAYERS.values() for m in members
             if not m.endswith(".*") and m not in known]
    assert not stale, f"LAYERS names modules that do not exist (any more): {', '.join(stale)}"


def test_no_new_layering_violations():
    bad = violations(imports())
    new = {edge: imps for edge, imps in bad.items() if edge not in KNOWN_VIOLATIONS}
    assert not new, (
        "imports that break the layering (see tests/test_layering.py):\n  "
        + "\n  ".join(_explain(e, i) for e, i in sorted(new.items()))
    )


def test_known_violations_still_occur():
    bad = violations(imports())
    gone = sorted(edge for edge in KNOWN_VIOLATIONS if edge not in bad)
    assert not gone, (
        "KNOWN_VIOLATIONS lists edges that no longer break a rule; delete them from "
        "tests/test_layering.py: " + ", ".join(gone)
    )


def test_known_violations_are_explained():
    assert all(reason.strip() for reason in KNOWN_VIOLATIONS.values())
    assert all(len(edge.split(" -> ")) == 2 for edge in KNOWN_VIOLATIONS)


def test_the_scanner_sees_lazy_imports():
    found = {(i.edge, i.in_function) for i in imports()}
    assert ("notebook -> remote", True) in found  # inside Chapter.fleet
    assert ("ensure.files -> remote.connection", False) in found
    assert ("lab.plan -> inventory", False) in found
