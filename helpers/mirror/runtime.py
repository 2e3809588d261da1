"""The node runtime: containerd 2.x, runc, the CNI base plugins and crictl, at upstream's paths.

Each is built from its Go module at the pinned version and packed the way its project
releases it, so a node installs the same file from the lab mirror or from upstream:

- containerd: ``containerd-<v>-linux-amd64.tar.gz`` with ``bin/containerd``,
  ``bin/containerd-shim-runc-v2`` and ``bin/ctr`` (upstream's also carries
  ``containerd-stress``, a load tool no node needs). All three without cgo: containerd's
  only cgo user is the btrfs snapshotter (tag ``no_btrfs``; nodes use overlayfs); the
  shim is static as upstream builds it. Its systemd unit is upstream's
  ``containerd.service`` from the same tag, published at its raw.githubusercontent.com path.
- runc: ``runc.amd64``, a static PIE linked with Debian's libseccomp as upstream's
  ``make static`` does, without the ``libpathrs`` tag (a Rust library not available here).
- CNI base plugins: ``cni-plugins-linux-amd64-<v>.tgz`` with every Linux plugin at ``./<name>``.
- crictl: ``crictl-<v>-linux-amd64.tar.gz`` with ``crictl``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from helpers.artifacts import CNI_PLUGINS, CONTAINERD_BINARIES, release
from helpers.errors import BuildError
from helpers.mirror import gobuild
from helpers.mirror.layout import Output, Unit
from helpers.mirror.tarballs import write_tarball

CONTAINERD_MODULE = "github.com/containerd/containerd/v2"
RUNC_MODULE = "github.com/opencontainers/runc"
PLUGINS_MODULE = "github.com/containernetworking/plugins"
CRI_TOOLS_MODULE = "sigs.k8s.io/cri-tools"
CONTAINERD_TAGS = "no_btrfs urfave_cli_no_docs"
RUNC_TAGS = "seccomp urfave_cli_no_docs netgo osusergo"
LIBSECCOMP = Path("/usr/lib/x86_64-linux-gnu/libseccomp.a")

_PLUGIN_DIRS = {
    "main": ("bridge", "dummy", "host-device", "ipvlan", "loopback", "macvlan", "ptp", "tap", "vlan"),
    "ipam": ("dhcp", "host-local", "static"),
    "meta": ("bandwidth", "firewall", "portmap", "sbr", "tuning", "vrf"),
}


def containerd_unit(versions: dict) -> Unit:
    """The containerd release tarball (containerd, the runc shim, ctr) at the pinned version."""
    version = versions["containerd"]
    toolchain = versions.get("go", "auto")
    rel = release("containerd", versions)
    outputs = [Output(rel, rel.filename, CONTAINERD_MODULE, version, note="containerd, containerd-shim-runc-v2, ctr")]

    def build(unit: Unit) -> None:
        info, env = gobuild.wrap_module(CONTAINERD_MODULE, version, unit, toolchain)
        stamp = (f"-X {CONTAINERD_MODULE}/version.Version={version}"
                 f" -X {CONTAINERD_MODULE}/version.Revision={info['Hash']}"
                 f" -X {CONTAINERD_MODULE}/version.Package={CONTAINERD_MODULE}")
        bin_dir = unit.dir / "bin"
        gobuild.go_build(
            unit.dir / "src", bin_dir, [f"{CONTAINERD_MODULE}/cmd/{name}" for name in CONTAINERD_BINARIES],
            env, unit.log_file, ldflags=f"-s -w {stamp}", tags=CONTAINERD_TAGS,
            step=f"build containerd {version} ({', '.join(CONTAINERD_BINARIES)})",
        )
        write_tarball(unit.out / rel.filename,
                      [(f"bin/{name}", bin_dir / name, 0o755) for name in CONTAINERD_BINARIES],
                      directories=["bin"], mtime=info["Time"])
        shutil.rmtree(bin_dir)

    inputs = {"version": version, "go": toolchain, "tags": CONTAINERD_TAGS, "cgo": "off"}
    return Unit("containerd", version, outputs, build, inputs)


def containerd_service_unit(versions: dict) -> Unit:
    """Upstream's ``containerd.service`` of the pinned tag, taken from the module (no compile)."""
    version = versions["containerd"]
    toolchain = versions.get("go", "auto")
    rel = release("containerd-service", versions)
    outputs = [Output(rel, rel.filename, CONTAINERD_MODULE, version, note="upstream's systemd unit")]

    def build(unit: Unit) -> None:
        env = gobuild.go_env(toolchain)
        info = gobuild.module_download(CONTAINERD_MODULE, version, env, unit.log_file)
        shutil.copyfile(Path(info["Dir"]) / "containerd.service", unit.out / rel.filename)

    return Unit("containerd-service", version, outputs, build, {"version": version})


def runc_unit(versions: dict) -> Unit:
    """The runc binary as upstream's static ``runc.amd64``, with seccomp from Debian's libseccomp."""
    version = versions["runc"]
    toolchain = versions.get("go", "auto")
    rel = release("runc", versions)
    outputs = [Output(rel, rel.filename, RUNC_MODULE, version, note="static, seccomp (Debian libseccomp)")]

    def build(unit: Unit) -> None:
        if not LIBSECCOMP.exists():
            raise BuildError(f"failed to build runc {version}: {LIBSECCOMP} is missing "
                             "(install Debian's libseccomp-dev; ci/setup.sh does)")
        info, env = gobuild.wrap_module(RUNC_MODULE, version, unit, toolchain, cgo=True)
        bin_dir = unit.dir / "bin"
        gobuild.go_build(
            unit.dir / "src", bin_dir, [RUNC_MODULE], env, unit.log_file,
            ldflags=f"-s -w -X main.gitCommit={info['Hash'][:12] or version} -linkmode external -extldflags -static-pie",
            tags=RUNC_TAGS, buildmode="pie", step=f"build runc {version}",
        )
        shutil.move(bin_dir / "runc", unit.out / rel.filename)
        shutil.rmtree(bin_dir)

    inputs = {"version": version, "go": toolchain, "tags": RUNC_TAGS, "link": "static-pie"}
    return Unit("runc", version, outputs, build, inputs)


def cni_plugins_unit(versions: dict) -> Unit:
    """The CNI base plugins' release tarball: every Linux plugin at ``./<name>``."""
    version = versions["cni_plugins"]
    toolchain = versions.get("go", "auto")
    rel = release("cni-plugins", versions)
    outputs = [Output(rel, rel.filename, PLUGINS_MODULE, version, note=f"{len(CNI_PLUGINS)} plugins")]
    packages = {name: f"{PLUGINS_MODULE}/plugins/{kind}/{name}" for kind, names in _PLUGIN_DIRS.items() for name in names}
    assert sorted(packages) == sorted(CNI_PLUGINS)

    def build(unit: Unit) -> None:
        info, env = gobuild.wrap_module(PLUGINS_MODULE, version, unit, toolchain)
        bin_dir = unit.dir / "bin"
        gobuild.go_build(
            unit.dir / "src", bin_dir, list(packages.values()), env, unit.log_file,
            ldflags=f"-s -w -X {PLUGINS_MODULE}/pkg/utils/buildversion.BuildVersion={version}",
            step=f"build the CNI plugins {version}",
        )
        write_tarball(unit.out / rel.filename, [(f"./{name}", bin_dir / name, 0o755) for name in CNI_PLUGINS],
                      directories=["./"], mtime=info["Time"])
        shutil.rmtree(bin_dir)

    return Unit("cni-plugins", version, outputs, build, {"version": version, "go": toolchain})


def crictl_unit(versions: dict) -> Unit:
    """The crictl release tarball (one file, ``crictl``)."""
    version = versions["crictl"]
    toolchain = versions.get("go", "auto")
    rel = release("crictl", versions)
    outputs = [Output(rel, rel.filename, CRI_TOOLS_MODULE, version)]

    def build(unit: Unit) -> None:
        info, env = gobuild.wrap_module(CRI_TOOLS_MODULE, version, unit, toolchain)
        bin_dir = unit.dir / "bin"
        gobuild.go_build(
            unit.dir / "src", bin_dir, [f"{CRI_TOOLS_MODULE}/cmd/crictl"], env, unit.log_file,
            ldflags=f"-s -w -X {CRI_TOOLS_MODULE}/pkg/version.Version={version.lstrip('v')}",
            step=f"build crictl {version}",
        )
        write_tarball(unit.out / rel.filename, [("crictl", bin_dir / "crictl", 0o755)], mtime=info["Time"])
        shutil.rmtree(bin_dir)

    return Unit("crictl", version, outputs, build, {"version": version, "go": toolchain})
