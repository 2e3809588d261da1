"""The CoreDNS image, built from github.com/coredns/coredns at the pinned version.

Shaped like upstream's image (distroless static, nonroot): ``/coredns`` with the file
capability ``cap_net_bind_service=+ep`` (so it binds port 53 as user 65532, with the
capability that the Kubernetes manifest adds), ``USER nonroot:nonroot``,
``ENTRYPOINT ["/coredns"]``, ports 53/tcp and 53/udp.
"""

from __future__ import annotations

import shutil
import struct

from helpers.artifacts import release
from helpers.mirror import gobuild, images
from helpers.mirror.layout import Output, Unit

MODULE = "github.com/coredns/coredns"
NONROOT = 65532
CAP_NET_BIND_SERVICE = 10


def file_capability(*caps: int) -> bytes:
    """A ``security.capability`` xattr value (VFS_CAP_REVISION_2, effective) granting ``caps``."""
    permitted = 0
    for cap in caps:
        permitted |= 1 << cap
    return struct.pack("<IIIII", 0x02000000 | 0x1, permitted & 0xFFFFFFFF, 0, permitted >> 32, 0)


def coredns_unit(versions: dict) -> Unit:
    """registry.k8s.io/coredns/coredns:<pinned> as an image archive."""
    version = versions["coredns"]
    toolchain = versions.get("go", "auto")
    rel = release("image-bundle:coredns", versions)
    outputs = [Output(rel, rel.filename, MODULE, version)]

    def build(unit: Unit) -> None:
        env = gobuild.go_env(toolchain)
        info = gobuild.module_download(MODULE, version, env, unit.log_file)
        gobuild.write_wrapper_module(
            unit.dir / "src", "kubernetes-journey/build/coredns", {MODULE: version}
        )
        bin_dir = unit.dir / "bin"
        gobuild.go_build(
            unit.dir / "src",
            bin_dir,
            [MODULE],
            env,
            unit.log_file,
            ldflags=f"-s -w -X {MODULE}/coremain.GitCommit={info['Hash'][:7] or version}",
            step=f"build coredns {version}",
        )
        images.write_image_archive(
            unit.out / rel.filename,
            rel.image_ref,
            [
                images.File(
                    "coredns",
                    bin_dir / "coredns",
                    0o755,
                    xattrs={"security.capability": file_capability(CAP_NET_BIND_SERVICE)},
                ),
                *images.base_files(nonroot=("nonroot", NONROOT)),
            ],
            entrypoint=["/coredns"],
            user=f"{NONROOT}:{NONROOT}",
            exposed_ports=["53/tcp", "53/udp"],
            created=info["Time"],
        )
        shutil.rmtree(bin_dir)

    return Unit(
        "coredns", version, outputs, build, {"version": version, "go": toolchain, "image": 1}
    )
