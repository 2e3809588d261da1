"""A Redis image for 09's guestbook, from Debian's redis-server package.

Like busybox, not built from source: Debian's ``redis-server`` and ``redis-tools`` (the
server, ``redis-cli``, ``redis-check-*``) and the shared libraries they load
(:func:`helpers.mirror.debian.download_closure`), with no shell. It is tagged like
upstream's (``docker.io/library/redis:<upstream version>``) and behaves like it where a
manifest can tell: ``redis-server`` and ``redis-cli`` on the PATH, ``WORKDIR /data``, port
6379, user ``redis`` (999, upstream's uid). Upstream's entrypoint script (which drops root
and adds ``--protected-mode no`` when given no configuration) is not there: 09 runs it as
999 from the start and gives it a configuration file. Debian's ``/etc/redis/redis.conf``
(daemonised, bound to 127.0.0.1, logging to a file) is left out, so a bare ``redis-server``
starts with Redis's defaults, as upstream's image does.
"""

from __future__ import annotations

import shutil

from helpers.artifacts import release
from helpers.errors import BuildError
from helpers.mirror import debian, images
from helpers.mirror.layout import Output, Unit

PACKAGES = ["redis-server", "redis-tools"]
UID = 999


def redis_unit(versions: dict) -> Unit:
    """docker.io/library/redis:<pinned> made from Debian's redis-server, redis-tools and their libraries."""
    version = versions["redis"]
    rel = release("image-bundle:redis", versions)
    outputs = [Output(rel, rel.filename, "deb:redis-server", version, note="Debian package binaries, not built from source")]

    def build(unit: Unit) -> None:
        work = unit.dir / "deb"
        debs = debian.download_closure(PACKAGES, work, unit.log_file)
        debver = debian.field(debs["redis-server"], "Version", work, unit.log_file)
        if debian.upstream_version(debver) != version:
            raise BuildError(f"failed to build redis {version}: apt offers redis-server {debver}; pin redis: "
                             f"{debian.upstream_version(debver)} in versions.yaml")
        root = work / "root"
        debian.extract(debs, root, work, unit.log_file)
        shutil.rmtree(root / "etc" / "redis", ignore_errors=True)
        said = debian.check_closure(root, "usr/bin/redis-server", ["--version"], work, unit.log_file)
        if f"v={version}" not in said:
            raise BuildError(f"failed to build redis {version}: the image's redis-server says {said.strip()!r}")
        names = {p.relative_to(root).parts[0] for p in root.iterdir()}
        entries = [e for e in debian.tree_entries(root) if e.path.split("/", 1)[0] in names]
        entries += [*images.base_files(nonroot=("redis", UID)), images.Directory("data", 0o755)]
        images.write_image_archive(unit.out / rel.filename, rel.image_ref, entries, cmd=["redis-server"],
                                   user=f"{UID}:{UID}", exposed_ports=["6379/tcp"], workdir="/data")
        unit.sources[rel.filename] = {"module": "deb:redis-server", "version": debver,
                                      "file": ", ".join(sorted(d.name for d in debs.values()))}

    return Unit("redis", version, outputs, build, {"version": version, "packages": PACKAGES, "image": 1})
