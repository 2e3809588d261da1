"""``python -m helpers artifacts build|list``: the offline release mirror, built from source.

``build`` builds every unit that is missing from its versioned build directory (or all
with ``--force``), publishes the outputs into ``paths.mirror_dir()`` in the upstream URL
layout with ``.sha256`` files, and writes ``manifest.json``. With everything built it
does no work beyond checking files, in seconds.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from helpers import paths
from helpers.artifacts import load_versions
from helpers.errors import BuildError, ChecksumMismatch, DownloadFailed, JourneyError
from helpers.mirror import gobuild, upstream
from helpers.mirror.busybox import busybox_unit
from helpers.mirror.coredns import coredns_unit
from helpers.mirror.etcd import etcd_unit
from helpers.mirror.flannel import cni_plugin_unit, flanneld_unit
from helpers.mirror.guestbook import guestbook_unit
from helpers.mirror.kubernetes import agnhost_unit, kubernetes_unit
from helpers.mirror.layout import Unit, build_unit, is_built, publish, record_of, write_manifest
from helpers.mirror.localpath import local_path_unit
from helpers.mirror.metallb import metallb_unit
from helpers.mirror.metricsserver import metrics_server_unit
from helpers.mirror.pause import pause_unit
from helpers.mirror.progress import Progress
from helpers.mirror.redis import redis_unit
from helpers.mirror.runtime import (
    cni_plugins_unit,
    containerd_service_unit,
    containerd_unit,
    crictl_unit,
    runc_unit,
)
from helpers.mirror.traefik import gateway_api_unit, traefik_unit

log = logging.getLogger(__name__)

#: Build order: quick units first, then Kubernetes, then agnhost (reuses its compiled packages).
UNIT_FACTORIES: list[Callable[[dict], Unit]] = [
    pause_unit,
    busybox_unit,
    redis_unit,
    containerd_service_unit,
    crictl_unit,
    runc_unit,
    cni_plugins_unit,
    containerd_unit,
    etcd_unit,
    flanneld_unit,
    cni_plugin_unit,
    coredns_unit,
    metallb_unit,
    gateway_api_unit,
    traefik_unit,
    local_path_unit,
    guestbook_unit,
    kubernetes_unit,
    metrics_server_unit,
    agnhost_unit,
]


def units(versions: dict) -> list[Unit]:
    """Every build unit for the given versions, in build order."""
    return [factory(versions) for factory in UNIT_FACTORIES]


def select(all_units: list[Unit], only: list[str] | None) -> list[Unit]:
    """Units named in ``only`` (unit names or artifact names); all when ``only`` is empty.

    Raises:
        BuildError: a name matches no unit.
    """
    if not only:
        return all_units
    chosen, unknown = [], []
    for name in only:
        match = [
            u for u in all_units if u.name == name or any(o.release.name == name for o in u.outputs)
        ]
        if not match:
            unknown.append(name)
        chosen += [u for u in match if u not in chosen]
    if unknown:
        names = ", ".join(u.name for u in all_units)
        raise BuildError(f"failed to select units {', '.join(unknown)}: known units are {names}")
    return [u for u in all_units if u in chosen]


@contextmanager
def build_lock():
    """Hold an exclusive lock on the build directory (one build at a time per cache)."""
    root = paths.cache_dir() / "build"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another artifacts build holds %s; waiting", root / ".lock")
            fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _plan_upstream(chosen: list[Unit], versions: dict, source: str, up: upstream.Upstream | None,
                   force: bool) -> dict[str, str]:
    """For each unit to build: "" when it is to be fetched from upstream, else why it is built."""
    todo = [u for u in chosen if force or not is_built(u)]
    if source == "build" or not todo:
        return {u.name: "source setting is build" for u in todo}
    assert up is not None
    plan = {u.name: upstream.can_verify(u, versions) for u in todo}
    urls = [url for u in todo if not plan[u.name] for url in upstream.unit_urls(u, up)]
    down = {host: why for host, why in upstream.answers(up, urls).items() if why} if urls else {}
    for u in todo:
        if plan[u.name]:
            continue
        dead = [f"{up.host_of(url)}: {down[up.host_of(url)]}" for url in upstream.unit_urls(u, up)
                if up.host_of(url) in down]
        if dead:
            plan[u.name] = DOWN + " (" + "; ".join(dict.fromkeys(dead)) + ")"
    return plan


DOWN = "upstream does not answer"


def build_all(
    versions: dict,
    force: bool = False,
    only: list[str] | None = None,
    mirror: Path | None = None,
    source: str = "build",
    up: upstream.Upstream | None = None,
) -> dict[str, dict]:
    """Fetch or build the selected units, publish every built unit, write the manifest.

    ``source`` is the source setting (:func:`helpers.mirror.upstream.source_setting`):
    ``auto`` fetches from upstream what it can verify and builds the rest, ``upstream``
    fails a unit upstream should serve but does not, ``build`` never asks upstream.
    Every selected unit is attempted; failures are raised together at the end.

    Returns:
        Per unit: {"built": bool, "origin": "upstream"|"source", "seconds": float,
        "why": why it was built from source} (or {"error": str}).

    Raises:
        BuildError: one or more units failed (all of them named).
    """
    all_units = units(versions)
    chosen = select(all_units, only)
    results: dict[str, dict] = {}
    failures: dict[str, str] = {}
    with build_lock():
        if source != "build" and up is None:
            up = upstream.Upstream.from_env()
        plan = _plan_upstream(chosen, versions, source, up, force)
        progress = Progress([u for u in chosen if u.name in plan])
        for unit in chosen:
            try:
                if unit.name not in plan:
                    log.info("%s %s: up to date (%s)", unit.name, unit.version, unit.dir)
                    results[unit.name] = {"built": False, "seconds": 0.0}
                    continue
                why = plan[unit.name]
                if not why:
                    try:
                        with progress.track(unit, f"fetching from upstream ({up.releases})"):
                            built, seconds = build_unit(
                                unit, force=True, fetch=lambda u: upstream.fill_unit(u, up, versions)
                            )
                        progress.done(unit, seconds, "fetched from upstream")
                        results[unit.name] = {"built": built, "origin": "upstream", "seconds": round(seconds, 1)}
                        continue
                    except (DownloadFailed, ChecksumMismatch, BuildError) as err:
                        if source == "upstream":
                            raise
                        why = f"upstream failed: {err}"
                        log.warning("%s %s: %s; building from source", unit.name, unit.version, why)
                elif source == "upstream" and why.startswith(DOWN):
                    raise BuildError(f"failed to fetch {unit.name} {unit.version} from upstream: {why}")
                elif source != "build":
                    log.info("%s %s: %s; building from source", unit.name, unit.version, why)
                with progress.track(unit, f"building (log {unit.log_file})"):
                    built, seconds = build_unit(unit, force=force)
                progress.done(unit, seconds, "built")
                results[unit.name] = {"built": built, "origin": "source", "seconds": round(seconds, 1), "why": why}
            except JourneyError as err:
                log.error("%s %s: %s", unit.name, unit.version, err)
                failures[unit.name] = str(err)
                results[unit.name] = {"error": str(err)}
        entries = []
        for unit in all_units:
            if is_built(unit):
                entries += publish(unit, mirror)
        pinned = {k: v for k, v in versions.items() if k != "sha256"}
        extra = {"versions": pinned, "gosumdb": "on" if gobuild.sumdb_reachable() else "off"}
        manifest = write_manifest(entries, mirror, extra)
        log.info(
            "mirror %s: %d artifacts in %s", (mirror or paths.mirror_dir()), len(entries), manifest
        )
    if failures:
        lines = [f"{name}: {msg}" for name, msg in failures.items()]
        raise BuildError("failed to build " + ", ".join(failures) + "\n" + "\n".join(lines))
    return results


def _cmd_build(args: argparse.Namespace) -> int:
    versions = load_versions(args.versions)
    start = time.monotonic()
    only = [n for item in (args.only or []) for n in item.split(",") if n]
    build_all(versions, force=args.force, only=only, source=upstream.source_setting(args.source))
    log.info("artifacts build done in %.1fs", time.monotonic() - start)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    versions = load_versions(args.versions)
    manifest_path = paths.mirror_dir() / "manifest.json"
    published = {}
    if manifest_path.exists():
        published = {e["path"]: e for e in json.loads(manifest_path.read_text())["artifacts"]}
    rows = [("artifact", "version", "state", "origin", "sha256", "path")]
    for unit in units(versions):
        built = is_built(unit)
        origin = (record_of(unit).get("origin") or "source") if built else "-"
        for out in unit.outputs:
            entry = published.get(out.release.path)
            digest = entry["sha256"][:12] if entry else "-"
            rows.append((out.release.name, out.release.version, "built" if built else "missing", origin, digest,
                         out.release.path))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for row in rows:
        print("  ".join(col.ljust(widths[i]) if i < 5 else col for i, col in enumerate(row)))
    print(f"mirror: {paths.mirror_dir()}")
    return 0


def add_cli(subparsers) -> None:
    """Register ``artifacts build`` and ``artifacts list``."""
    parser = subparsers.add_parser("artifacts", help="build and list the offline release mirror")
    sub = parser.add_subparsers(dest="artifacts_command", metavar="SUBCOMMAND")
    build = sub.add_parser(
        "build", help="build missing artifacts from source and publish the mirror"
    )
    build.add_argument(
        "--versions", type=Path, default=None, help="versions file (default helpers/versions.yaml)"
    )
    build.add_argument("--force", action="store_true", help="rebuild even what is already built")
    build.add_argument(
        "--source",
        choices=upstream.SOURCES,
        default=None,
        help=f"where artifacts come from: auto (upstream when it answers, else build; default), "
        f"upstream, build (default: ${upstream.ENV_SOURCE} or auto)",
    )
    build.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="unit or artifact name (repeatable, or comma-separated)",
    )
    build.set_defaults(func=_cmd_build)
    listing = sub.add_parser("list", help="list artifacts, their versions and build state")
    listing.add_argument(
        "--versions", type=Path, default=None, help="versions file (default helpers/versions.yaml)"
    )
    listing.set_defaults(func=_cmd_list)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
