"""The pause image: build/pause/linux/pause.c of the pinned Kubernetes, compiled static.

Upstream compiles it with ``gcc -Os -Wall -Werror -static -DVERSION=...`` in its cross
build image; here with the host's gcc and static glibc. The image matches upstream's
Dockerfile: ``/pause``, ``USER 65535:65535``, ``ENTRYPOINT ["/pause"]``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from helpers.artifacts import release
from helpers.errors import BuildError
from helpers.mirror import gobuild, images
from helpers.mirror.layout import Output, Unit

MODULE = "k8s.io/kubernetes"
SOURCE = "build/pause/linux/pause.c"


def compile_pause(source: Path, dest: Path, version: str, log_file: Path) -> None:
    """Compile pause.c statically with the host's gcc.

    Raises:
        BuildError: gcc is missing or fails (static glibc comes with libc6-dev).
    """
    gcc = shutil.which("gcc")
    if not gcc:
        raise BuildError("failed to build pause: gcc not found (apt-get install gcc libc6-dev)")
    cmd = [
        gcc,
        "-Os",
        "-Wall",
        "-Werror",
        "-static",
        f"-DVERSION=v{version}",
        "-o",
        str(dest),
        str(source),
    ]
    with open(log_file, "a") as lf:
        lf.write(f"\n$ {' '.join(cmd)}\n")
        lf.flush()
        proc = subprocess.run(cmd, stdout=lf, stderr=subprocess.STDOUT)
        if proc.returncode == 0:
            proc = subprocess.run(["strip", str(dest)], stdout=lf, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise BuildError(
            f"failed to build pause {version}: {' '.join(cmd)} exited {proc.returncode} (log {log_file})"
        )


def pause_unit(versions: dict) -> Unit:
    """registry.k8s.io/pause:<pinned> as an image archive."""
    version, k8s = versions["pause"], versions["kubernetes"]
    rel = release("image-bundle:pause", versions)
    outputs = [Output(rel, rel.filename, f"{MODULE}/{SOURCE}", k8s)]

    def build(unit: Unit) -> None:
        env = gobuild.go_env(versions.get("go", "auto"))
        info = gobuild.module_download(MODULE, k8s, env, unit.log_file)
        source = Path(info["Dir"]) / SOURCE
        tag = Path(info["Dir"]) / "build/pause/Makefile"
        if f"TAG ?= {version}" not in tag.read_text():
            raise BuildError(
                f"failed to build pause {version}: build/pause/Makefile of kubernetes {k8s} has another TAG"
            )
        binary = unit.dir / "pause"
        compile_pause(source, binary, version, unit.log_file)
        images.write_image_archive(
            unit.out / rel.filename,
            rel.image_ref,
            [images.File("pause", binary, 0o755)],
            entrypoint=["/pause"],
            user="65535:65535",
            created=info["Time"],
        )
        binary.unlink()

    return Unit(
        "pause", version, outputs, build, {"version": version, "kubernetes": k8s, "image": 1}
    )
