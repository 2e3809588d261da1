"""etcd, etcdctl and etcdutl from the etcd v3 modules, packed as the upstream release tarball.

The upstream tarball ``etcd-vX-linux-amd64.tar.gz`` holds a directory
``etcd-vX-linux-amd64/`` with the three binaries; this one does too (without upstream's
README files). The etcd modules' own go.mod files replace their siblings with ``../``
paths, so they are built from a wrapper module requiring all three at the pinned
version.
"""

from __future__ import annotations

from helpers.artifacts import release
from helpers.mirror import gobuild
from helpers.mirror.layout import Output, Unit
from helpers.mirror.tarballs import write_tarball

MODULES = {
    "etcd": "go.etcd.io/etcd/server/v3",
    "etcdctl": "go.etcd.io/etcd/etcdctl/v3",
    "etcdutl": "go.etcd.io/etcd/etcdutl/v3",
}
# `go build -o DIR` names a binary after its package path without the /vN suffix.
_BUILT_AS = {"etcd": "server", "etcdctl": "etcdctl", "etcdutl": "etcdutl"}


def etcd_unit(versions: dict) -> Unit:
    """The etcd release tarball at the pinned version, GitHub release layout."""
    version = versions["etcd"]
    toolchain = versions.get("go", "auto")
    rel = release("etcd", versions)
    outputs = [Output(rel, rel.filename, MODULES["etcd"], version, note="also etcdctl, etcdutl")]

    def build(unit: Unit) -> None:
        env = gobuild.go_env(toolchain)
        infos = [gobuild.module_download(m, version, env, unit.log_file) for m in MODULES.values()]
        commit = next((i["Hash"] for i in infos if i["Hash"]), "")
        gobuild.write_wrapper_module(
            unit.dir / "src",
            "kubernetes-journey/build/etcd",
            {m: version for m in MODULES.values()},
        )
        ldflags = "-s -w"
        if commit:
            ldflags += f" -X go.etcd.io/etcd/api/v3/version.GitSHA={commit[:7]}"
        bin_dir = unit.dir / "bin"
        gobuild.go_build(
            unit.dir / "src",
            bin_dir,
            list(MODULES.values()),
            env,
            unit.log_file,
            ldflags=ldflags,
            step=f"build etcd {version} (etcd, etcdctl, etcdutl)",
        )
        top = f"etcd-{version}-linux-amd64"
        write_tarball(
            unit.out / rel.filename,
            [(f"{top}/{name}", bin_dir / _BUILT_AS[name], 0o755) for name in MODULES],
            directories=[top],
            mtime=infos[0]["Time"],
        )

    return Unit("etcd", version, outputs, build, {"version": version, "go": toolchain})
