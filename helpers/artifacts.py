"""Release artifacts: where each one lives upstream, download, sha256 verification, cache.

Every artifact has one path in the upstream URL layout, host name first
(``dl.k8s.io/release/v1.37.2/bin/linux/amd64/kubelet``). With
``sources.release_mirror: upstream`` it is fetched from ``https://<path>``; with a mirror
base URL (``http://10.0.0.1:8080``, ``file:///var/cache/.../mirror``) from
``<base>/<path>``. The lab mirror (``python -m helpers artifacts build``) uses the same
layout, so this code is the same for both.

Every download is verified before it is used: against the ``<path>.sha256`` file of the
same source, and against the pinned table in ``versions.yaml`` when it lists the
artifact. A mismatch raises :class:`helpers.errors.ChecksumMismatch`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tarfile
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers import paths
from helpers.errors import ChecksumMismatch, ConfigError, DownloadFailed
from helpers.localfiles import atomic_open
from helpers.releases import (  # noqa: F401 - re-exported: artifacts is the catalogue's front door
    ARCH,
    CNI_PLUGINS,
    CONTAINERD_BINARIES,
    IMAGE_PREFIX,
    IMAGES,
    KUBERNETES_BINARIES,
    RUNTIME,
    RUNTIME_KEYS,
    VERSIONS_FILE,
    Release,
    archive_members,
    artifact_names,
    bundle_image,
    image_ref,
    load_versions,
    release,
)

log = logging.getLogger(__name__)

_HEX64 = re.compile(r"^[0-9a-f]{64}$")



@dataclass(frozen=True)
class Artifact:
    """A downloaded, verified artifact: ``path`` is the local cache file."""

    name: str
    version: str
    url: str
    path: Path
    sha256: str


def resolve_url(release_mirror: str, path: str) -> str:
    """The URL of an upstream-layout ``path`` for a ``sources.release_mirror`` value.

    ``"upstream"`` maps ``dl.k8s.io/...`` to ``https://dl.k8s.io/...``; any other value is
    a base URL (http, https or file) the path is appended to.

    Raises:
        ConfigError: the mirror is neither "upstream" nor an http(s)/file URL, or the
            path has no upstream host (image bundles exist only in a mirror).
    """
    if release_mirror == "upstream":
        if path.startswith("images/"):
            raise ConfigError(
                f"image bundle {path} exists only in a release mirror; with "
                "sources.release_mirror: upstream set sources.images: registry"
            )
        return f"https://{path}"
    scheme = urllib.parse.urlsplit(release_mirror).scheme
    if scheme not in ("http", "https", "file"):
        raise ConfigError(
            f"sources.release_mirror {release_mirror!r}: expected 'upstream' or an http(s):// or file:// URL"
        )
    return release_mirror.rstrip("/") + "/" + path


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def parse_sha256_file(text: str, filename: str | None = None) -> str:
    """The digest in a ``.sha256`` file: a bare hex digest, or ``<hex>  <file>`` lines.

    With ``filename``, a file listing several (``SHA256SUMS``, runc's ``runc.sha256sum``)
    gives the digest of the line naming that file (``*file`` for binary mode counts too).
    """
    lines = [line.split() for line in text.strip().splitlines() if line.strip()]
    if filename and len(lines) > 1:
        named = [parts for parts in lines if len(parts) >= 2 and parts[1].lstrip("*") in (filename, f"./{filename}")]
        if not named:
            raise ValueError(f"lists no {filename} ({len(lines)} lines)")
        lines = named
    token = lines[0][0].lower() if lines else ""
    if not _HEX64.match(token):
        raise ValueError(f"not a sha256 digest: {text.strip()[:80]!r}")
    return token


def _open_url(url: str, timeout: float):
    if url.startswith("file://"):
        return open(urllib.request.url2pathname(urllib.parse.urlsplit(url).path), "rb")
    request = urllib.request.Request(url, headers={"User-Agent": "kubernetes-journey"})
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - scheme checked in resolve_url


def _read_url(name: str, url: str, timeout: float) -> bytes:
    try:
        with _open_url(url, timeout) as fh:
            return fh.read()
    except OSError as err:  # URLError, HTTPError and FileNotFoundError are OSErrors
        raise DownloadFailed(name, url, str(err)) from err


def _download(name: str, url: str, dest: Path, timeout: float) -> None:
    # streamed into the one atomic writer; 0600 is the mode downloads always had (mkstemp's)
    with atomic_open(dest, 0o600) as out:
        try:
            with _open_url(url, timeout) as src:
                shutil.copyfileobj(src, out, 1 << 20)
        except OSError as err:
            raise DownloadFailed(name, url, str(err)) from err


def _pinned(versions: dict[str, Any], release_mirror: str, name: str) -> str | None:
    table = (versions.get("sha256") or {}).get(
        "upstream" if release_mirror == "upstream" else "mirror"
    ) or {}
    pin = table.get(name)
    return str(pin).lower() if pin else None


def fetch(
    inv: Any,
    name: str,
    *,
    versions: dict[str, Any] | None = None,
    cache: str | os.PathLike | None = None,
    timeout: float = 60.0,
) -> Artifact:
    """Download one artifact into the local cache and verify its sha256.

    Args:
        inv: the inventory; only ``inv.sources.release_mirror`` and (when present)
            ``inv.cluster.kubernetes_version`` ("pinned" or "vX.Y.Z") are read.
        name: an entry of :func:`artifact_names`, e.g. ``kube-apiserver``, ``etcd``,
            ``image-bundle:coredns``.
        versions: pinned versions (default: :func:`load_versions`).
        cache: download cache root (default: ``paths.cache_dir()/downloads``).
        timeout: network timeout in seconds per request.

    Returns:
        The verified artifact; a cached file with the right digest is not downloaded again.

    Raises:
        ChecksumMismatch: the file's digest differs from the source's .sha256 file or the pin.
        DownloadFailed: the file or its .sha256 cannot be fetched.
        ConfigError: unknown name or unusable release_mirror.
    """
    v = versions if versions is not None else load_versions()
    mirror = str(inv.sources.release_mirror)
    k8s = getattr(getattr(inv, "cluster", None), "kubernetes_version", None)
    rel = release(name, v, kubernetes_version=None if k8s in (None, "pinned") else str(k8s))
    url = resolve_url(mirror, rel.path)
    dest = Path(cache) if cache else paths.cache_dir() / "downloads"
    dest = dest / rel.path

    sha_url = url + ".sha256"
    try:
        published = parse_sha256_file(_read_url(name, sha_url, timeout).decode("utf-8", "replace"))
    except ValueError as err:
        raise DownloadFailed(name, sha_url, str(err)) from err
    checks = [(published, sha_url)]
    pin = _pinned(v, mirror, name)
    if pin:
        checks.append((pin, f"{VERSIONS_FILE.name} pin"))

    if dest.exists() and all(sha256_file(dest) == digest for digest, _ in checks):
        log.debug("%s: cached %s", name, dest)
        return Artifact(name, rel.version, url, dest, published)

    log.info("%s: downloading %s", name, url)
    _download(name, url, dest, timeout)
    actual = sha256_file(dest)
    for digest, source in checks:
        if actual != digest:
            os.replace(dest, dest.with_name(dest.name + ".rejected"))
            raise ChecksumMismatch(f"{rel.filename} ({url})", digest, actual, source=source)
    return Artifact(name, rel.version, url, dest, actual)


def extract(art: Artifact, binary: str) -> Artifact:
    """Extract one binary from a verified tarball artifact into the cache, next to it.

    The result is an :class:`Artifact` for that binary (its own sha256, url
    ``<tarball url>#<member>``), ready for ``ensure_binary``.

    Raises:
        ConfigError: the artifact has no such binary.
    """
    members = archive_members(art.name, art.version)
    if binary not in members:
        raise ConfigError(
            f"{art.name} {art.version} has no binary {binary!r}; it has {', '.join(members)}"
        )
    member = members[binary]
    dest = art.path.parent / f"{art.path.name}.d" / art.sha256[:16] / binary
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(art.path) as tar:
            try:
                src = tar.extractfile(member)
            except KeyError:
                src = None
            if src is None:
                raise ConfigError(f"{art.path} has no member {member}")
            with atomic_open(dest, 0o755) as out:
                shutil.copyfileobj(src, out, 1 << 20)
    return Artifact(
        f"{art.name}/{binary}", art.version, f"{art.url}#{member}", dest, sha256_file(dest)
    )
