"""Build units, their versioned build directories, and the mirror they are published into.

A unit (kubernetes, etcd, coredns, ...) builds into ``<cache>/build/<unit>-<version>/out``
and records what it built in ``built.json`` (its inputs and each output's size and
sha256). A unit whose record matches its inputs and whose files are intact is not built
again. Publishing hard-links (or copies) each output into the mirror at its upstream
path, writes ``<path>.sha256`` (the bare hex digest, as dl.k8s.io does) and
``manifest.json`` at the mirror root.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from helpers import paths
from helpers.artifacts import Release, sha256_file
from helpers.errors import BuildError
from helpers.mirror import gobuild

log = logging.getLogger(__name__)

RECORD = "built.json"


@dataclass(frozen=True)
class Output:
    """One published file of a unit: the artifact it is and the file in ``out/`` it comes from."""

    release: Release
    file: str
    source_module: str
    source_version: str
    note: str = ""


@dataclass
class Unit:
    """A buildable group of artifacts sharing one source and one build.

    ``build(unit)`` writes every ``outputs[i].file`` into ``unit.out``; ``inputs`` is
    everything that determines the result (versions, flags); a change rebuilds.
    """

    name: str
    version: str
    outputs: list[Output]
    build: Callable[[Unit], None]
    inputs: dict[str, Any] = field(default_factory=dict)
    #: per output file, the source actually used when it is only known at build time
    #: (e.g. the Debian package version); recorded in built.json and the manifest.
    sources: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def dir(self) -> Path:
        """The unit's versioned build directory."""
        return paths.cache_dir() / "build" / f"{self.name}-{self.version}"

    @property
    def out(self) -> Path:
        """Where the build writes its outputs."""
        return self.dir / "out"

    @property
    def log_file(self) -> Path:
        """The unit's build log."""
        return self.dir / "build.log"


def _record_path(unit: Unit) -> Path:
    return unit.dir / RECORD


def is_built(unit: Unit) -> bool:
    """Whether the unit's record matches its inputs and every output file is intact (size)."""
    try:
        record = json.loads(_record_path(unit).read_text())
    except (OSError, ValueError):
        return False
    if record.get("inputs") != unit.inputs:
        return False
    files = record.get("files", {})
    for out in unit.outputs:
        entry = files.get(out.file)
        path = unit.out / out.file
        if not entry or not path.is_file() or path.stat().st_size != entry["size"]:
            return False
    return True


def build_unit(unit: Unit, force: bool = False,
               fetch: Callable[[Unit], dict[str, dict[str, str]]] | None = None) -> tuple[bool, float]:
    """Build a unit unless it is already built; returns (built now, seconds).

    With ``fetch``, the outputs are fetched instead of built (``fetch(unit)`` writes them
    into ``unit.out`` and returns each file's source); the record says which it was,
    and the wall and CPU seconds it took (CPU: the child processes', i.e. the compilers').
    """
    if not force and is_built(unit):
        return False, 0.0
    start = time.monotonic()
    cpu_start = _children_cpu()
    _record_path(unit).unlink(missing_ok=True)
    if unit.out.exists():
        shutil.rmtree(unit.out)
    unit.out.mkdir(parents=True)
    with open(unit.log_file, "a") as lf:
        lf.write(
            f"\n=== build {unit.name} {unit.version} at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n"
        )
    origin = "source"
    if fetch:
        unit.sources.update(fetch(unit))
        origin = "upstream"
    else:
        unit.build(unit)
    files = {}
    for out in unit.outputs:
        path = unit.out / out.file
        if not path.is_file():
            raise BuildError(
                f"failed to build {unit.name} {unit.version}: {out.file} was not produced (log {unit.log_file})"
            )
        files[out.file] = {"size": path.stat().st_size, "sha256": sha256_file(path)}
    seconds = time.monotonic() - start
    record = {
        "unit": unit.name,
        "version": unit.version,
        "inputs": unit.inputs,
        "files": files,
        "sources": unit.sources,
        "origin": origin,
        "seconds": round(seconds, 1),
        "cpu_seconds": round(_children_cpu() - cpu_start, 1),
        "packages": gobuild.COMPILED.value,
    }
    _record_path(unit).write_text(json.dumps(record, indent=2) + "\n")
    return True, seconds


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def record_of(unit: Unit) -> dict[str, Any]:
    """The unit's ``built.json`` (empty when it was never built)."""
    try:
        return json.loads(_record_path(unit).read_text())
    except (OSError, ValueError):
        return {}


def _link_or_copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copy2(src, tmp)
    os.replace(tmp, dest)


def publish(unit: Unit, mirror: Path | None = None) -> list[dict[str, Any]]:
    """Place a built unit's outputs in the mirror; returns their manifest entries.

    Files already in place (same inode, or same size and digest) are left alone.
    """
    root = mirror or paths.mirror_dir()
    record = json.loads(_record_path(unit).read_text())
    entries = []
    for out in unit.outputs:
        src = unit.out / out.file
        digest = record["files"][out.file]["sha256"]
        size = record["files"][out.file]["size"]
        dest = root / out.release.path
        same = dest.exists() and (
            os.path.samefile(src, dest)
            or (dest.stat().st_size == size and sha256_file(dest) == digest)
        )
        if not same:
            _link_or_copy(src, dest)
        sha_file = dest.with_name(dest.name + ".sha256")
        if not sha_file.exists() or sha_file.read_text().strip() != digest:
            sha_file.write_text(digest)
        entry = {
            "name": out.release.name,
            "version": out.release.version,
            "path": out.release.path,
            "sha256": digest,
            "size": size,
            "source": record.get("sources", {}).get(out.file)
            or {"module": out.source_module, "version": out.source_version},
        }
        if out.release.image_ref:
            entry["image"] = out.release.image_ref
        if out.note:
            entry["note"] = out.note
        entries.append(entry)
    return entries


def write_manifest(
    entries: list[dict[str, Any]], mirror: Path | None = None, extra: dict | None = None
) -> Path:
    """Write ``manifest.json`` at the mirror root (rewritten only when its content changes)."""
    root = mirror or paths.mirror_dir()
    root.mkdir(parents=True, exist_ok=True)
    doc = {
        "layout": "upstream URL paths, host name first",
        "artifacts": sorted(entries, key=lambda e: e["path"]),
    }
    if extra:
        doc.update(extra)
    text = json.dumps(doc, indent=2) + "\n"
    path = root / "manifest.json"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def output_dict(out: Output) -> dict[str, Any]:
    """An output as plain data (for listings)."""
    return {"file": out.file, **asdict(out.release), "source_module": out.source_module}
