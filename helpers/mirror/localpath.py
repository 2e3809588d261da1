"""The local-path provisioner (08-storage): its image and its manifest, from github.com/rancher/local-path-provisioner.

Built as upstream's ``scripts/build`` builds it (``CGO_ENABLED=0``, ``-X main.VERSION``),
through a wrapper module (its go.mod replaces nothing; the module zip leaves its vendor
directory out, so the dependencies come from the proxy at the versions its go.mod pins).
Upstream's image (``package/Dockerfile``) is Alpine with the binary at
``/usr/bin/local-path-provisioner``; the bundle's has the binary at the same path and the
files a static binary needs. The provisioner runs no shell itself: the ``setup`` and
``teardown`` scripts run in helper pods of the busybox image (08 points them at the
bundle's pinned busybox). The manifest is ``deploy/local-path-storage.yaml`` of the same
module, copied unchanged.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from helpers.artifacts import release
from helpers.mirror import gobuild, images
from helpers.mirror.layout import Output, Unit

MODULE = "github.com/rancher/local-path-provisioner"
MANIFEST = "deploy/local-path-storage.yaml"


def local_path_unit(versions: dict) -> Unit:
    """docker.io/rancher/local-path-provisioner at the pinned version, and local-path-storage.yaml."""
    version = versions["local_path_provisioner"]
    toolchain = versions.get("go", "auto")
    image = release("image-bundle:local-path-provisioner", versions)
    manifest = release("local-path-manifest", versions)
    outputs = [
        Output(image, image.filename, MODULE, version),
        Output(manifest, manifest.filename, f"{MODULE}/{MANIFEST}", version, note="upstream's file, unchanged"),
    ]

    def build(unit: Unit) -> None:
        info, env = gobuild.wrap_module(MODULE, version, unit, toolchain)
        source = Path(info["Dir"])
        src = unit.dir / "src"
        bin_dir = unit.dir / "bin"
        gobuild.go_build(src, bin_dir, [MODULE], env, unit.log_file,
                         ldflags=f"-s -w -X main.VERSION={version}", step=f"build local-path-provisioner {version}")
        created = info["Time"] or "1970-01-01T00:00:00Z"
        images.write_image_archive(
            unit.out / image.filename, image.image_ref,
            [images.File("usr/bin/local-path-provisioner", bin_dir / "local-path-provisioner", 0o755),
             images.File("LICENSE", source / "LICENSE"), *images.base_files()],
            cmd=["local-path-provisioner"], created=created,
        )
        shutil.copyfile(source / MANIFEST, unit.out / manifest.filename)
        shutil.rmtree(bin_dir)

    return Unit("local-path-provisioner", version, outputs, build, {"version": version, "go": toolchain})
