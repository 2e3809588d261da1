"""metrics-server (09-applications): its image and its release manifest, from sigs.k8s.io/metrics-server.

Built as upstream's Makefile builds it (``CGO_ENABLED=0``, the version stamped into
``k8s.io/client-go/pkg/version``), through a wrapper module; upstream's image
(``Dockerfile``) is distroless with the binary at ``/metrics-server``, user 65534, and so is
the bundle's. ``components.yaml`` is made the way upstream's ``release-manifests`` target
makes it, ``kubectl kustomize manifests/overlays/release``, with the kubectl the mirror
built (so this unit comes after the Kubernetes one). Upstream publishes no checksum for
it, so in upstream mode it is built too.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from helpers.artifacts import release
from helpers.errors import BuildError
from helpers.mirror import gobuild, images
from helpers.mirror.layout import Output, Unit

MODULE = "sigs.k8s.io/metrics-server"
OVERLAY = "manifests/overlays/release"


def metrics_server_unit(versions: dict) -> Unit:
    """registry.k8s.io/metrics-server/metrics-server at the pinned version, and components.yaml."""
    version = versions["metrics_server"]
    toolchain = versions.get("go", "auto")
    image = release("image-bundle:metrics-server", versions)
    manifest = release("metrics-server-manifest", versions)
    outputs = [
        Output(image, image.filename, f"{MODULE}/cmd/metrics-server", version),
        Output(manifest, manifest.filename, f"{MODULE}/{OVERLAY}", version, note="kubectl kustomize, as upstream's release"),
    ]

    def build(unit: Unit) -> None:
        from helpers.mirror.kubernetes import kubernetes_unit  # noqa: PLC0415

        info, env = gobuild.wrap_module(MODULE, version, unit, toolchain)
        source = Path(info["Dir"])
        bin_dir = unit.dir / "bin"
        created = info["Time"] or "1970-01-01T00:00:00Z"
        stamp = (f"-X k8s.io/client-go/pkg/version.gitVersion={version} "
                 f"-X k8s.io/client-go/pkg/version.gitCommit={info['Hash'] or version} "
                 f"-X k8s.io/client-go/pkg/version.buildDate={created}")
        gobuild.go_build(unit.dir / "src", bin_dir, [f"{MODULE}/cmd/metrics-server"], env, unit.log_file,
                         ldflags=f"-s -w {stamp}", step=f"build metrics-server {version}")
        images.write_image_archive(
            unit.out / image.filename, image.image_ref,
            [images.File("metrics-server", bin_dir / "metrics-server", 0o755),
             images.File("LICENSE", source / "LICENSE"), *images.base_files()],
            entrypoint=["/metrics-server"], user="65534", created=created,
        )
        built = kubernetes_unit(versions).out / "kubectl"
        if not built.exists():
            raise BuildError(f"failed to make metrics-server's components.yaml: no kubectl at {built} "
                             "(build the kubernetes unit first)")
        kubectl = unit.dir / "kubectl"  # a copy of our own: one fetched from upstream is not executable
        shutil.copyfile(built, kubectl)
        kubectl.chmod(0o755)
        overlay = unit.dir / "manifests"
        if overlay.exists():
            shutil.rmtree(overlay)
        shutil.copytree(source / "manifests", overlay)  # the module cache is read-only
        proc = subprocess.run([str(kubectl), "kustomize", str(overlay / "overlays" / "release")],
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise BuildError(f"failed to render {OVERLAY} with {kubectl} kustomize: {proc.stderr.strip()[-500:]}")
        (unit.out / manifest.filename).write_text(proc.stdout)
        shutil.rmtree(bin_dir)
        kubectl.unlink()

    return Unit("metrics-server", version, outputs, build, {"version": version, "go": toolchain})
