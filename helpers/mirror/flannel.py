"""flanneld and the flannel CNI plugin.

flanneld is built from github.com/flannel-io/flannel as upstream builds amd64: with CGO
(its UDP backend needs it), linked statically (``-extldflags "-static"``). One change to the source: the ``tencentvpc`` backend's
blank import is dropped from main.go, because its SDK module
(github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc) is refused by the Go
module proxy (403). The wrapper module's main package is upstream's main.go minus
that one line; every other backend (vxlan, host-gw, ipip, ipsec, wireguard, ...) stays.

The CNI plugin's own repository (github.com/flannel-io/cni-plugin) is not served by the
Go module proxy this project builds from, so the mirror carries its predecessor,
``plugins/meta/flannel`` of github.com/containernetworking/plugins at the pinned version
(v0.9.1, the last release that includes it), packed like that release's tarball
(``cni-plugins-linux-amd64-vX.tgz``, member ``./flannel``) but holding only that plugin.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from helpers.artifacts import release
from helpers.errors import BuildError
from helpers.mirror import gobuild
from helpers.mirror.layout import Output, Unit
from helpers.mirror.tarballs import write_tarball

FLANNEL_MODULE = "github.com/flannel-io/flannel"
DROPPED_IMPORT = '\t_ "github.com/flannel-io/flannel/pkg/backend/tencentvpc"\n'

PLUGINS_MODULE = "github.com/containernetworking/plugins"


def flanneld_unit(versions: dict) -> Unit:
    """The flanneld binary at the pinned version, GitHub release layout (``flanneld-amd64``)."""
    version = versions["flannel"]
    toolchain = versions.get("go", "auto")
    rel = release("flanneld", versions)
    note = "tencentvpc backend dropped (its SDK is not on the Go module proxy)"
    outputs = [Output(rel, rel.filename, FLANNEL_MODULE, version, note=note)]

    def build(unit: Unit) -> None:
        env = gobuild.go_env(toolchain, cgo=True)
        info = gobuild.module_download(FLANNEL_MODULE, version, env, unit.log_file)
        src = unit.dir / "src"
        gobuild.write_wrapper_module(
            src, "kubernetes-journey/build/flannel", {FLANNEL_MODULE: version}
        )
        main = (Path(info["Dir"]) / "main.go").read_text()
        if main.count(DROPPED_IMPORT) != 1:
            raise BuildError(
                f"failed to build flanneld {version}: main.go no longer imports the tencentvpc backend as expected"
            )
        (src / "main.go").write_text(main.replace(DROPPED_IMPORT, ""))
        bin_dir = unit.dir / "bin"
        gobuild.go_build(
            src,
            bin_dir,
            ["."],
            env,
            unit.log_file,
            ldflags=f'-s -w -X {FLANNEL_MODULE}/pkg/version.Version={version} -extldflags "-static"',
            step=f"build flanneld {version}",
        )
        shutil.move(bin_dir / "flannel", unit.out / rel.filename)
        shutil.rmtree(bin_dir)

    inputs = {"version": version, "go": toolchain, "cgo": "static", "dropped": ["tencentvpc"]}
    return Unit("flannel", version, outputs, build, inputs)


def cni_plugin_unit(versions: dict) -> Unit:
    """The flannel CNI plugin in a cni-plugins release tarball (member ``./flannel``)."""
    version = versions["flannel_cni_plugin"]
    toolchain = versions.get("go", "auto")
    rel = release("flannel-cni-plugin", versions)
    package = f"{PLUGINS_MODULE}/plugins/meta/flannel"
    outputs = [
        Output(rel, rel.filename, package, version, note="only the flannel plugin of this release")
    ]

    def build(unit: Unit) -> None:
        env = gobuild.go_env(toolchain)
        info = gobuild.module_download(PLUGINS_MODULE, version, env, unit.log_file)
        gobuild.write_wrapper_module(
            unit.dir / "src", "kubernetes-journey/build/cni-plugins", {PLUGINS_MODULE: version}
        )
        bin_dir = unit.dir / "bin"
        gobuild.go_build(
            unit.dir / "src",
            bin_dir,
            [package],
            env,
            unit.log_file,
            ldflags=f"-s -w -X {PLUGINS_MODULE}/pkg/utils/buildversion.BuildVersion={version}",
            step=f"build the flannel CNI plugin from {PLUGINS_MODULE} {version}",
        )
        write_tarball(
            unit.out / rel.filename,
            [("./flannel", bin_dir / "flannel", 0o755)],
            directories=["./"],
            mtime=info["Time"],
        )
        shutil.rmtree(bin_dir)

    return Unit(
        "flannel-cni-plugin", version, outputs, build, {"version": version, "go": toolchain}
    )
