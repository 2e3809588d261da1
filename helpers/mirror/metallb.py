"""MetalLB: the controller and speaker images, and the native manifest, from go.universe.tf/metallb.

Shaped like upstream's images (``controller/Dockerfile``, ``speaker/Dockerfile``: distroless
static, no shell): ``/controller``; ``/speaker`` with ``/cp-tool``, ``/frr-metrics`` and
``/frr-reloader.sh`` beside it (the FRR mode's helpers, unused in layer 2 but part of the
image upstream publishes), ``/LICENSE`` in both. All four binaries are built in one ``go
build`` with upstream's flags (``CGO_ENABLED=0``, the version stamped into
``internal/version``). The manifest is ``config/manifests/metallb-native.yaml`` of the same
module — the file MetalLB's documentation installs from the tag — copied unchanged: its
image references are the bundle's.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from helpers.artifacts import release
from helpers.mirror import gobuild, images
from helpers.mirror.layout import Output, Unit

MODULE = "go.universe.tf/metallb"
#: package -> binary name in the image (go names a binary after its package's last element)
BINARIES = {
    f"{MODULE}/controller": "controller",
    f"{MODULE}/speaker": "speaker",
    f"{MODULE}/frr-tools/cp-tool": "cp-tool",
    f"{MODULE}/frr-tools/metrics": "frr-metrics",
}
MANIFEST = "config/manifests/metallb-native.yaml"


def metallb_unit(versions: dict) -> Unit:
    """quay.io/metallb/controller and speaker at the pinned version, and metallb-native.yaml."""
    version = versions["metallb"]
    toolchain = versions.get("go", "auto")
    controller = release("image-bundle:metallb-controller", versions)
    speaker = release("image-bundle:metallb-speaker", versions)
    manifest = release("metallb-manifest", versions)
    outputs = [
        Output(controller, controller.filename, f"{MODULE}/controller", version),
        Output(speaker, speaker.filename, f"{MODULE}/speaker", version, note="with cp-tool, frr-metrics, frr-reloader.sh"),
        Output(manifest, manifest.filename, f"{MODULE}/{MANIFEST}", version, note="upstream's file, unchanged"),
    ]

    def build(unit: Unit) -> None:
        info, env = gobuild.wrap_module(MODULE, version, unit, toolchain)
        source = Path(info["Dir"])
        src = unit.dir / "src"
        bin_dir = unit.dir / "bin"
        stamp = f"-X '{MODULE}/internal/version.gitCommit={info['Hash'][:12] or version}' " \
                f"-X '{MODULE}/internal/version.gitBranch={version}'"
        gobuild.go_build(src, bin_dir, list(BINARIES), env, unit.log_file, ldflags=f"-s -w {stamp}",
                         step=f"build MetalLB {version} (controller, speaker, cp-tool, frr-metrics)")
        shutil.move(bin_dir / "metrics", bin_dir / "frr-metrics")
        license_file = images.File("LICENSE", source / "LICENSE", 0o644)
        created = info["Time"] or "1970-01-01T00:00:00Z"
        images.write_image_archive(
            unit.out / controller.filename, controller.image_ref,
            [images.File("controller", bin_dir / "controller", 0o755), license_file,
             *images.base_files(nonroot=("nonroot", 65532))],
            entrypoint=["/controller"], created=created,
        )
        images.write_image_archive(
            unit.out / speaker.filename, speaker.image_ref,
            [*(images.File(name, bin_dir / name, 0o755) for name in ("speaker", "cp-tool", "frr-metrics")),
             images.File("frr-reloader.sh", source / "frr-tools" / "reloader" / "frr-reloader.sh", 0o755),
             license_file, *images.base_files(nonroot=("nonroot", 65532))],
            entrypoint=["/speaker"], created=created,
        )
        shutil.copyfile(source / MANIFEST, unit.out / manifest.filename)
        shutil.rmtree(bin_dir)

    inputs = {"version": version, "go": toolchain, "binaries": sorted(BINARIES.values())}
    return Unit("metallb", version, outputs, build, inputs)
