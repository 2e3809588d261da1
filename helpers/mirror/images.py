"""Single-layer container image archives written by hand (tarfile + json + hashlib).

The archive is an OCI image layout (``oci-layout``, ``index.json``, ``blobs/sha256/``)
that also carries a Docker ``manifest.json`` with ``RepoTags``, like ``docker save``
writes since Docker 25. ``ctr -n k8s.io images import`` names the image from the
index's ``io.containerd.image.name`` annotation; ``docker load`` from ``RepoTags``.
Everything is deterministic (fixed timestamps, sorted entries, gzip without a name or
mtime), so the same inputs give the same archive and the same digests.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class File:
    """A regular file in the layer; ``source`` is a host path or the content as bytes."""

    path: str
    source: Path | bytes
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    xattrs: dict[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class Symlink:
    """A symbolic link in the layer."""

    path: str
    target: str


@dataclass(frozen=True)
class Directory:
    """A directory in the layer."""

    path: str
    mode: int = 0o755


def base_files(nonroot: tuple[str, int] | None = None) -> list[File | Directory]:
    """/etc/passwd, /etc/group, /etc/nsswitch.conf and /tmp as a minimal static image needs them.

    Args:
        nonroot: an extra (name, id) user and group, e.g. ("nonroot", 65532) as distroless has.
    """
    passwd = "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
    group = "root:x:0:\nnobody:x:65534:\n"
    if nonroot:
        name, uid = nonroot
        passwd += f"{name}:x:{uid}:{uid}:{name}:/home/{name}:/sbin/nologin\n"
        group += f"{name}:x:{uid}:\n"
    return [
        File("etc/passwd", passwd.encode()),
        File("etc/group", group.encode()),
        File("etc/nsswitch.conf", b"hosts: files dns\npasswd: files\ngroup: files\n"),
        Directory("tmp", 0o1777),
    ]


def _epoch(created: str) -> int:
    return int(datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp())


def _layer_tar(entries: list, mtime: int) -> bytes:
    buf = io.BytesIO()
    dirs: set[str] = set()
    members: list[tuple[tarfile.TarInfo, bytes | None]] = []

    def add_parents(path: str) -> None:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in dirs:
                dirs.add(d)
                info = tarfile.TarInfo(d)
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, mtime
                members.append((info, None))

    for entry in sorted(entries, key=lambda e: e.path):
        path = entry.path.strip("/")
        add_parents(path)
        info = tarfile.TarInfo(path)
        info.mtime = mtime
        data = None
        if isinstance(entry, Directory):
            if path in dirs:
                for existing, _ in members:
                    if existing.name == path:
                        existing.mode = entry.mode
                continue
            dirs.add(path)
            info.type, info.mode = tarfile.DIRTYPE, entry.mode
        elif isinstance(entry, Symlink):
            info.type, info.linkname, info.mode = tarfile.SYMTYPE, entry.target, 0o777
        else:
            data = (
                entry.source if isinstance(entry.source, bytes) else Path(entry.source).read_bytes()
            )
            info.size, info.mode, info.uid, info.gid = len(data), entry.mode, entry.uid, entry.gid
            if entry.xattrs:
                info.pax_headers = {
                    f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape")
                    for k, v in entry.xattrs.items()
                }
        members.append((info, data))

    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8") as tar:
        for info, data in members:
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _blob(data: bytes) -> tuple[str, bytes]:
    return "sha256:" + hashlib.sha256(data).hexdigest(), data


def write_image_archive(
    dest: Path,
    ref: str,
    entries: list,
    entrypoint: list[str] | None = None,
    cmd: list[str] | None = None,
    user: str = "",
    env: list[str] | None = None,
    exposed_ports: list[str] | None = None,
    created: str = "1970-01-01T00:00:00Z",
    workdir: str = "/",
) -> str:
    """Write a single-layer linux/amd64 image archive named ``ref``; returns the manifest digest.

    Args:
        dest: the archive to write (replaced atomically).
        ref: the full image reference, e.g. ``registry.k8s.io/pause:3.10.2``.
        entries: File / Symlink / Directory entries of the layer (parents are added).
        entrypoint: ENTRYPOINT as upstream's Dockerfile has it.
        cmd: CMD.
        user: USER (e.g. ``65535:65535``).
        env: environment; PATH by default.
        exposed_ports: e.g. ``["53/tcp", "53/udp"]``.
        created: RFC 3339 creation time (also every file's mtime), for reproducibility.
        workdir: WORKDIR.
    """
    mtime = _epoch(created)
    layer = _layer_tar(entries, mtime)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0, filename="") as zf:
        zf.write(layer)
    layer_digest, layer_blob = _blob(gz.getvalue())

    config: dict = {"Env": env or [DEFAULT_PATH], "WorkingDir": workdir}
    if entrypoint:
        config["Entrypoint"] = entrypoint
    if cmd:
        config["Cmd"] = cmd
    if user:
        config["User"] = user
    if exposed_ports:
        config["ExposedPorts"] = {p: {} for p in exposed_ports}
    config_doc = {
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": "kubernetes-journey artifacts build"}],
    }
    config_digest, config_blob = _blob(
        json.dumps(config_doc, sort_keys=True, separators=(",", ":")).encode()
    )
    manifest_doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config_blob)},
        "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": layer_digest, "size": len(layer_blob)}],
    }
    manifest_digest, manifest_blob = _blob(
        json.dumps(manifest_doc, sort_keys=True, separators=(",", ":")).encode()
    )
    tag = ref.rsplit(":", 1)[1]
    index_doc = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": manifest_digest,
                "size": len(manifest_blob),
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {
                    "io.containerd.image.name": ref,
                    "org.opencontainers.image.ref.name": tag,
                },
            }
        ],
    }
    docker_manifest = [
        {
            "Config": f"blobs/sha256/{config_digest[7:]}",
            "RepoTags": [ref],
            "Layers": [f"blobs/sha256/{layer_digest[7:]}"],
        }
    ]
    files = [
        ("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode()),
        ("index.json", json.dumps(index_doc, indent=2).encode()),
        ("manifest.json", json.dumps(docker_manifest, indent=2).encode()),
        ("blobs", None),
        ("blobs/sha256", None),
        (f"blobs/sha256/{config_digest[7:]}", config_blob),
        (f"blobs/sha256/{layer_digest[7:]}", layer_blob),
        (f"blobs/sha256/{manifest_digest[7:]}", manifest_blob),
    ]
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.mtime = mtime
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    os.replace(tmp, dest)
    return manifest_digest
