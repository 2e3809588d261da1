"""The guestbook's web frontend (09-applications), built from this repository's ``apps/guestbook``.

Upstream's guestbook frontend (``gb-frontend``, PHP on Apache) is not on any registry this
machine reaches, and agnhost's ``guestbook`` mode speaks to agnhost backends, not to
Redis. So the series carries its own: a small Go program (``apps/guestbook/main.go``) with
the go-redis client from the module proxy, which writes to the Redis leader, reads from a
follower and says which pod and which Redis answered. It is an image of this project, so it
is named ``localhost/kubernetes-journey/guestbook`` (``localhost/`` is the prefix local
builds get: no registry serves it) and is always built, never fetched. The unit's inputs
hold a digest of the source, so an edit rebuilds it.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from helpers.artifacts import release
from helpers.mirror import gobuild, images
from helpers.mirror.layout import Output, Unit

SOURCE = Path(__file__).resolve().parents[2] / "apps" / "guestbook"
UID = 65532


def source_digest(source: Path = SOURCE) -> str:
    """sha256 over the source files' names and contents, in name order."""
    h = hashlib.sha256()
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def guestbook_unit(versions: dict) -> Unit:
    """localhost/kubernetes-journey/guestbook at the version versions.yaml gives it."""
    version = versions["guestbook"]
    toolchain = versions.get("go", "auto")
    rel = release("image-bundle:guestbook", versions)
    outputs = [Output(rel, rel.filename, "apps/guestbook", version, note="this repository's source")]

    def build(unit: Unit) -> None:
        env = gobuild.go_env(toolchain)
        src = unit.dir / "src"
        if src.exists():
            shutil.rmtree(src)
        shutil.copytree(SOURCE, src)
        bin_dir = unit.dir / "bin"
        gobuild.go_build(src, bin_dir, ["."], env, unit.log_file, step=f"build the guestbook frontend {version}")
        images.write_image_archive(
            unit.out / rel.filename, rel.image_ref,
            [images.File("usr/bin/guestbook", bin_dir / "guestbook", 0o755), *images.base_files(nonroot=("nonroot", UID))],
            entrypoint=["/usr/bin/guestbook"], user=f"{UID}:{UID}", exposed_ports=["8080/tcp"],
        )
        shutil.rmtree(bin_dir)

    return Unit("guestbook", version, outputs, build,
                {"version": version, "go": toolchain, "source": source_digest(), "image": 1})
