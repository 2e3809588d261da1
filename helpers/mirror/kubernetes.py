"""Kubernetes binaries and the agnhost test image, built from the k8s.io/kubernetes module.

k8s.io/kubernetes cannot be ``go install``ed: its go.mod replaces every staging module
(k8s.io/api, k8s.io/client-go, ...) with a ``./staging/...`` path that is not part of
the module zip. A wrapper module requires k8s.io/kubernetes at the pinned version and
replaces each of those staging modules with its published release, ``v0.<minor>.<patch>``
(v1.37.2 -> v0.37.2). All six commands are built by one ``go build`` so they share
compilation. Versions are stamped the way hack/lib/version.sh does.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from helpers.artifacts import KUBERNETES_BINARIES, release
from helpers.errors import BuildError
from helpers.mirror import gobuild, images
from helpers.mirror.layout import Output, Unit

MODULE = "k8s.io/kubernetes"
TAGS = "selinux,notest,grpcnotrace"  # as hack/lib/golang.sh builds releases
_SEMVER = re.compile(r"^v1\.(\d+)\.(\d+)$")


def staging_version(version: str) -> str:
    """The staging modules' release for a Kubernetes version: v1.37.2 -> v0.37.2."""
    match = _SEMVER.match(version)
    if not match:
        raise BuildError(f"failed to build kubernetes {version}: expected a release version v1.Y.Z")
    return f"v0.{match.group(1)}.{match.group(2)}"


def staging_modules(module_dir: Path) -> list[str]:
    """Modules k8s.io/kubernetes requires at v0.0.0 and replaces with ./staging paths."""
    text = (module_dir / "go.mod").read_text()
    replaced = set(re.findall(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/", text, re.M))
    required = set(re.findall(r"^\s*(k8s\.io/[\w.-]+)\s+v0\.0\.0\b", text, re.M))
    return sorted(replaced & required)


def version_ldflags(version: str, build_date: str, commit: str = "") -> str:
    """The -ldflags value stamping k8s.io/component-base/version and k8s.io/client-go/pkg/version."""
    match = _SEMVER.match(version)
    assert match
    values = {
        "gitVersion": version,
        "gitMajor": "1",
        "gitMinor": match.group(1),
        "gitTreeState": "clean",
        "buildDate": build_date,
    }
    if commit:
        values["gitCommit"] = commit
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/client-go/pkg/version", "k8s.io/component-base/version"):
        flags += [f"-X {pkg}.{key}={val}" for key, val in values.items()]
    return " ".join(flags)


def prepare_wrapper(unit: Unit, version: str, toolchain: str) -> tuple[dict, dict[str, str]]:
    """Download the module and write the wrapper go.mod in ``unit.dir/src``; returns (module info, env)."""
    env = gobuild.go_env(toolchain)
    info = gobuild.module_download(MODULE, version, env, unit.log_file)
    staging = staging_version(version)
    replaces = {m: f"{m} {staging}" for m in staging_modules(Path(info["Dir"]))}
    gobuild.write_wrapper_module(
        unit.dir / "src", "kubernetes-journey/build/kubernetes", {MODULE: version}, replaces
    )
    return info, env


def kubernetes_unit(versions: dict) -> Unit:
    """The six Kubernetes binaries at the pinned version, dl.k8s.io layout."""
    version = versions["kubernetes"]
    toolchain = versions.get("go", "auto")
    outputs = [
        Output(release(name, versions), name, MODULE, version) for name in KUBERNETES_BINARIES
    ]

    def build(unit: Unit) -> None:
        info, env = prepare_wrapper(unit, version, toolchain)
        gobuild.go_build(
            unit.dir / "src",
            unit.out,
            [f"{MODULE}/cmd/{name}" for name in KUBERNETES_BINARIES],
            env,
            unit.log_file,
            ldflags=version_ldflags(version, info["Time"], info["Hash"]),
            tags=TAGS,
            step=f"build kubernetes {version} ({', '.join(KUBERNETES_BINARIES)})",
        )

    return Unit(
        "kubernetes", version, outputs, build, {"version": version, "go": toolchain, "tags": TAGS}
    )


def agnhost_unit(versions: dict) -> Unit:
    """The agnhost test image, built from test/images/agnhost of the pinned Kubernetes."""
    version, k8s = versions["agnhost"], versions["kubernetes"]
    toolchain = versions.get("go", "auto")
    rel = release("image-bundle:agnhost", versions)
    outputs = [Output(rel, rel.filename, f"{MODULE}/test/images/agnhost", k8s)]

    def build(unit: Unit) -> None:
        info, env = prepare_wrapper(unit, k8s, toolchain)
        shipped = (Path(info["Dir"]) / "test/images/agnhost/VERSION").read_text().strip()
        if shipped != version:
            raise BuildError(
                f"failed to build agnhost {version}: kubernetes {k8s} ships agnhost {shipped}; "
                "pin the agnhost version Kubernetes uses in versions.yaml"
            )
        bin_dir = unit.dir / "bin"
        gobuild.go_build(
            unit.dir / "src",
            bin_dir,
            [f"{MODULE}/test/images/agnhost"],
            env,
            unit.log_file,
            ldflags=f"-s -w -X 'main.Version={version}'",
            step=f"build agnhost {version} from kubernetes {k8s}",
        )
        images.write_image_archive(
            unit.out / rel.filename,
            rel.image_ref,
            [
                images.File("agnhost", bin_dir / "agnhost", 0o755),
                images.Symlink("agnhost-2", "agnhost"),
                *images.base_files(),
            ],
            entrypoint=["/agnhost"],
            cmd=["pause"],
            created=info["Time"],
        )
        shutil.rmtree(bin_dir)

    return Unit(
        "agnhost",
        version,
        outputs,
        build,
        {"version": version, "kubernetes": k8s, "go": toolchain, "image": 1},
    )
