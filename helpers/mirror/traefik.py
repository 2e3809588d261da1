"""Traefik (the HTTP router of 07) and the Gateway API CRDs, from their Go modules.

**Traefik** is built from ``github.com/traefik/traefik/v3`` as upstream's Makefile builds it
(``CGO_ENABLED=0 go build ./cmd/traefik``, the version stamped into ``pkg/version``), inside
a copy of the module: its go.mod replaces two modules with forks and excludes another,
which only the main module's go.mod can do, so a wrapper module would build something
else. Upstream's image (its ``Dockerfile``) is Alpine with ``ca-certificates`` and
``tzdata`` and ``/traefik`` as entrypoint; the bundle's image has ``/traefik`` and the
files a static binary needs. The CA bundle serves only ACME and plugin downloads, which
need the internet and are off here; the web dashboard's assets (an npm build upstream
embeds) are not built, and 07 leaves the dashboard off.

**Gateway API** is CRDs only. ``standard-install.yaml`` is what the project publishes with
each release: ``hack/build-install-yaml.sh`` concatenates
``config/crd/standard/gateway*.yaml`` under a licence header. The same is done here from
the module, with the year of the release's commit in the header (upstream writes the
build's year), so the file is reproducible.
"""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

from helpers.artifacts import release
from helpers.mirror import gobuild, images
from helpers.mirror.layout import Output, Unit

TRAEFIK = "github.com/traefik/traefik/v3"
GATEWAY_API = "sigs.k8s.io/gateway-api"


def _writable_copy(source: Path, dest: Path) -> None:
    """Copy a module from the (read-only) module cache, writable, replacing ``dest``."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(source, dest, symlinks=True)
    for path in [dest, *dest.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


def traefik_unit(versions: dict) -> Unit:
    """docker.io/library/traefik at the pinned version."""
    version = versions["traefik"]
    toolchain = versions.get("go", "auto")
    image = release("image-bundle:traefik", versions)
    outputs = [Output(image, image.filename, f"{TRAEFIK}/cmd/traefik", version, note="no web dashboard assets")]

    def build(unit: Unit) -> None:
        env = gobuild.go_env(toolchain)
        info = gobuild.module_download(TRAEFIK, version, env, unit.log_file)
        src = unit.dir / "src"
        _writable_copy(Path(info["Dir"]), src)
        created = info["Time"] or "1970-01-01T00:00:00Z"
        stamp = f"-X '{TRAEFIK}/pkg/version.Version={version}' -X '{TRAEFIK}/pkg/version.BuildDate={created}'"
        bin_dir = unit.dir / "bin"
        gobuild.go_build(src, bin_dir, ["./cmd/traefik"], env, unit.log_file, ldflags=f"-s -w {stamp}",
                         step=f"build Traefik {version}")
        images.write_image_archive(
            unit.out / image.filename, image.image_ref,
            [images.File("traefik", bin_dir / "traefik", 0o755), images.File("LICENSE.md", src / "LICENSE.md"),
             *images.base_files(nonroot=("traefik", 65532))],
            entrypoint=["/traefik"], exposed_ports=["80/tcp"], created=created,
        )
        shutil.rmtree(bin_dir)
        shutil.rmtree(src)

    return Unit("traefik", version, outputs, build, {"version": version, "go": toolchain, "dashboard": False})


def standard_install(crd_dir: Path, year: str) -> str:
    """``standard-install.yaml`` as ``hack/build-install-yaml.sh`` writes it, from ``crd_dir``."""
    header = (crd_dir.parents[2] / "hack" / "boilerplate" / "boilerplate.sh.txt").read_text().replace("YEAR", year)
    parts = [header, "#\n# Gateway API Standard channel install\n#\n"]
    for path in sorted(crd_dir.glob("gateway*.yaml")):
        parts.append(f"---\n#\n# config/crd/standard/{path.name}\n#\n{path.read_text()}")
    return "".join(parts)


def gateway_api_unit(versions: dict) -> Unit:
    """The Gateway API standard-channel CRDs (``standard-install.yaml``) at the pinned version."""
    version = versions["gateway_api"]
    manifest = release("gateway-api-crds", versions)
    outputs = [Output(manifest, manifest.filename, f"{GATEWAY_API}/config/crd/standard", version,
                      note="hack/build-install-yaml.sh, standard channel")]

    def build(unit: Unit) -> None:
        env = gobuild.go_env(versions.get("go", "auto"))
        info = gobuild.module_download(GATEWAY_API, version, env, unit.log_file)
        year = (info["Time"] or "1970")[:4]
        text = standard_install(Path(info["Dir"]) / "config" / "crd" / "standard", year)
        (unit.out / manifest.filename).write_text(text)

    return Unit("gateway-api", version, outputs, build, {"version": version, "channel": "standard"})
