"""Filling the mirror from upstream: release files downloaded and verified, images pulled with crane.

A user whose machine reaches the upstream release sites and registries should not
compile for half an hour. ``artifacts build`` therefore takes each unit from upstream
when it can and builds from source only what it cannot get, per the *source* setting
(``--source``, or ``KJ_ARTIFACTS_SOURCE``):

- ``auto`` (the default): upstream first; a unit upstream does not serve, cannot be
  verified, or that fails to download is built from source, and the log says why;
- ``upstream``: upstream only; any unit that cannot be fetched fails the build, named;
- ``build``: from source only, never a connection to upstream (CI and the tests).

A release file is used only when it matches the sha256 upstream publishes beside it
(``.sha256``, ``.sha256sum``, ``SHA256SUMS`` — whichever that project publishes,
:attr:`helpers.artifacts.Release.upstream_checksum`) or a pin in ``versions.yaml``
(``sha256.upstream``); a file upstream publishes no checksum for and nothing pins
(flanneld, containerd's unit) is built from source. Images are pulled by crane (built
from go-containerregistry through the Go module proxy, like everything else), for
linux/amd64 only, into the same OCI archive layout the source builds write, named by
their upstream reference. Every download goes to a temporary file that replaces the
output only once it is verified: a wrong checksum, a truncated body or a server that
stops answering leaves nothing in the mirror and names the file, the URL and the cause.

Where upstream lives is a setting too, so the tests can stand up a loopback "upstream":
``KJ_UPSTREAM_RELEASES`` is the base the upstream paths are appended to (default
``https://``, i.e. ``https://dl.k8s.io/...``), ``KJ_UPSTREAM_REGISTRY`` a registry that
answers for every upstream registry (``127.0.0.1:5000``; default: each image's own).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from helpers import paths
from helpers.artifacts import Release, parse_sha256_file
from helpers.errors import ChecksumMismatch, ConfigError, DownloadFailed
from helpers.localfiles import atomic_open
from helpers.releases import IMAGE_PREFIX, PROJECT_IMAGES

log = logging.getLogger(__name__)

SOURCES = ("auto", "upstream", "build")
ENV_SOURCE = "KJ_ARTIFACTS_SOURCE"
ENV_RELEASES = "KJ_UPSTREAM_RELEASES"
ENV_REGISTRY = "KJ_UPSTREAM_REGISTRY"
CRANE_MODULE = "github.com/google/go-containerregistry"
#: A checksum file is small; anything bigger is not one (and is not read into memory).
MAX_CHECKSUM_BYTES = 1 << 20


def source_setting(value: str | None = None) -> str:
    """The source setting: ``value`` if given, else ``KJ_ARTIFACTS_SOURCE``, else ``auto``.

    Raises:
        ConfigError: not one of auto, upstream, build.
    """
    chosen = (value or os.environ.get(ENV_SOURCE) or "auto").strip()
    if chosen not in SOURCES:
        raise ConfigError(f"artifacts source {chosen!r} (from --source or {ENV_SOURCE}): "
                          f"expected one of {', '.join(SOURCES)}")
    return chosen


@dataclass
class Upstream:
    """Where upstream is, and which of its hosts answered (so a dead host costs one timeout).

    Attributes:
        releases: base URL the upstream paths (``dl.k8s.io/...``) are appended to.
        registry: a registry answering for every upstream registry, or None.
        timeout: seconds a connection or a read may stall before the download fails.
    """

    releases: str = "https://"
    registry: str | None = None
    timeout: float = 30.0
    down: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, timeout: float = 30.0) -> Upstream:
        """The upstream the environment names (defaults: the real sites)."""
        releases = os.environ.get(ENV_RELEASES) or "https://"
        scheme = urllib.parse.urlsplit(releases).scheme
        if scheme not in ("http", "https"):
            raise ConfigError(f"{ENV_RELEASES}={releases!r}: expected an http:// or https:// base URL")
        if releases not in ("https://", "http://") and not releases.endswith("/"):
            releases += "/"
        return cls(releases, os.environ.get(ENV_REGISTRY) or None, timeout)

    def url(self, path: str) -> str:
        """The URL of an upstream-layout path (``dl.k8s.io/release/...``)."""
        return self.releases + path

    def image(self, ref: str) -> str:
        """Where to pull an upstream image reference from (itself, or the same repository on ``registry``)."""
        if not self.registry:
            return ref
        return f"{self.registry}/{ref.split('/', 1)[1]}"

    def host_of(self, url: str) -> str:
        """The host a URL points at (the unit of "upstream answered")."""
        return urllib.parse.urlsplit(url).netloc


def _open(url: str, timeout: float):
    request = urllib.request.Request(url, headers={"User-Agent": "kubernetes-journey"})
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - http(s) checked in from_env


def read_checksum(upstream: Upstream, rel: Release, pins: dict) -> tuple[str, str]:
    """The digest a download of ``rel`` must have, and where it came from.

    A pin in ``versions.yaml`` (``sha256.upstream``) wins; otherwise the checksum file
    upstream publishes is read (at most 1 MiB) and the line for this file taken.

    Raises:
        DownloadFailed: nothing to check against, or the checksum file is unreadable.
    """
    pin = ((pins or {}).get("upstream") or {}).get(rel.name)
    if pin:
        return str(pin).lower(), "versions.yaml pin"
    if not rel.upstream_checksum:
        raise DownloadFailed(rel.name, upstream.url(rel.path),
                             "upstream publishes no checksum for it and versions.yaml pins none")
    url = upstream.url(rel.upstream_checksum)
    try:
        with _open(url, upstream.timeout) as resp:
            body = resp.read(MAX_CHECKSUM_BYTES + 1)
    except (OSError, ValueError) as err:
        raise DownloadFailed(rel.name, url, _cause(err)) from err
    if len(body) > MAX_CHECKSUM_BYTES:
        raise DownloadFailed(rel.name, url, f"checksum file larger than {MAX_CHECKSUM_BYTES} bytes")
    try:
        return parse_sha256_file(body.decode("utf-8", "replace"), rel.filename), url
    except ValueError as err:
        raise DownloadFailed(rel.name, url, f"not a checksum file: {err}") from err


def _cause(err: BaseException) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return f"no answer ({err.reason})"
    if isinstance(err, TimeoutError):
        return "the server stopped answering (timed out)"
    return f"{type(err).__name__}: {err}"


def download(upstream: Upstream, rel: Release, dest: Path, pins: dict | None = None) -> dict[str, str]:
    """Download one release file to ``dest`` and verify it; returns where it came from.

    Nothing is written at ``dest`` unless the whole file arrived and has the digest
    upstream (or a pin) says it must have.

    Raises:
        DownloadFailed: no checksum to trust, no answer, an HTTP error, a stalled or
            truncated transfer.
        ChecksumMismatch: the file arrived whole but its digest is wrong.
    """
    expected, checked_against = read_checksum(upstream, rel, pins or {})
    url = upstream.url(rel.path)
    digest = hashlib.sha256()
    received = 0
    with atomic_open(dest, 0o644) as out:
        try:
            with _open(url, upstream.timeout) as resp:
                length = resp.headers.get("Content-Length")
                while block := resp.read(1 << 20):
                    out.write(block)
                    digest.update(block)
                    received += len(block)
                if length is not None and received != int(length):
                    raise DownloadFailed(rel.name, url, f"truncated: got {received} of {length} bytes")
        except DownloadFailed:
            raise
        except (OSError, ValueError) as err:
            # http.client.IncompleteRead is an HTTPException, caught below
            raise DownloadFailed(rel.name, url, _cause(err)) from err
        except Exception as err:  # noqa: BLE001 - http.client errors (IncompleteRead, RemoteDisconnected)
            raise DownloadFailed(rel.name, url, f"truncated or broken transfer after {received} bytes: "
                                 f"{type(err).__name__}") from err
        actual = digest.hexdigest()
        if actual != expected:
            raise ChecksumMismatch(f"{rel.filename} ({url})", expected, actual, source=checked_against)
    return {"from": url, "sha256": actual, "checked_against": checked_against}


def answers(upstream: Upstream, urls: list[str], timeout: float = 5.0) -> dict[str, str]:
    """Which hosts of ``urls`` answer HTTP at all: {host: "" if it answers, else why not}.

    Probed in parallel with a short timeout, so an air-gapped machine learns in seconds
    that upstream is out of reach instead of waiting on every download.
    """
    hosts = {upstream.host_of(u): u for u in urls}

    def probe(url: str) -> str:
        try:
            with _open(url, timeout):
                return ""
        except urllib.error.HTTPError:
            return ""            # it answered (404 for a probe path is an answer)
        except (OSError, ValueError) as err:
            return _cause(err)

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
        results = dict(zip(hosts, pool.map(probe, hosts.values()), strict=True))
    return results


# --- images -------------------------------------------------------------------------------


def crane_binary(versions: dict) -> Path:
    """crane, built from go-containerregistry at the pinned version (once; cached by version).

    Raises:
        BuildError: the build failed (the log is named).
    """
    from helpers.mirror import gobuild  # noqa: PLC0415

    version = versions.get("crane") or "v0.22.1"
    root = paths.cache_dir() / "build" / f"crane-{version}"
    binary = root / "bin" / "crane"
    if binary.is_file():
        return binary
    env = gobuild.go_env(versions.get("go", "auto"))
    log_file = root / "build.log"
    gobuild.module_download(CRANE_MODULE, version, env, log_file)
    gobuild.write_wrapper_module(root / "src", "kubernetes-journey/build/crane", {CRANE_MODULE: version})
    gobuild.go_build(root / "src", root / "bin", [f"{CRANE_MODULE}/cmd/crane"], env, log_file,
                     step=f"build crane {version}")
    return binary


def pull_image(upstream: Upstream, rel: Release, dest: Path, crane: Path) -> dict[str, str]:
    """Pull ``rel.image_ref`` (linux/amd64) into an OCI archive at ``dest``, named by its upstream reference.

    crane verifies every blob against its digest as it downloads. The archive has the
    layout the source builds write (``oci-layout``, ``index.json`` annotated with
    ``io.containerd.image.name``, ``blobs/sha256/...``), so ``ctr images import`` names
    the image the same either way.

    Raises:
        DownloadFailed: crane failed (its message is the cause).
    """
    assert rel.image_ref
    source = upstream.image(rel.image_ref)
    with tempfile.TemporaryDirectory(prefix="kj-pull-", dir=dest.parent if dest.parent.exists() else None) as tmp:
        layout = Path(tmp) / "layout"
        cmd = [str(crane), "pull", "--platform", "linux/amd64", "--format", "oci", source, str(layout)]
        if upstream.registry:
            cmd.insert(1, "--insecure")   # a loopback registry speaks plain HTTP
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=max(60.0, upstream.timeout * 10))
        except subprocess.TimeoutExpired:
            raise DownloadFailed(rel.name, source, "crane pull stopped answering (timed out)") from None
        if proc.returncode != 0:
            raise DownloadFailed(rel.name, source, f"crane pull exited {proc.returncode}: "
                                 f"{(proc.stderr or proc.stdout).strip()[-400:]}")
        index = json.loads((layout / "index.json").read_text())
        manifests = index.get("manifests") or []
        if len(manifests) != 1:
            raise DownloadFailed(rel.name, source, f"expected one linux/amd64 manifest, got {len(manifests)}")
        tag = rel.image_ref.rsplit(":", 1)[1]
        manifests[0].setdefault("annotations", {}).update(
            {"io.containerd.image.name": rel.image_ref, "org.opencontainers.image.ref.name": tag})
        (layout / "index.json").write_text(json.dumps(index, indent=2))
        digest = manifests[0]["digest"]
        with atomic_open(dest, 0o644) as out, tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name in ("oci-layout", "index.json", "blobs"):
                tar.add(layout / name, arcname=name, filter=_normalise)
    return {"from": source, "manifest": digest, "checked_against": "blob digests (crane)"}


def _normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    return info


def fill_unit(unit, upstream: Upstream, versions: dict) -> dict[str, dict[str, str]]:
    """Fetch every output of ``unit`` from upstream into ``unit.out``; returns each file's source.

    Raises:
        DownloadFailed, ChecksumMismatch: an output could not be fetched or verified
            (outputs fetched before it are removed again).
    """
    sources: dict[str, dict[str, str]] = {}
    crane = None
    try:
        for out in unit.outputs:
            dest = unit.out / out.file
            if out.release.image_ref:
                crane = crane or crane_binary(versions)
                sources[out.file] = pull_image(upstream, out.release, dest, crane)
            else:
                sources[out.file] = download(upstream, out.release, dest, versions.get("sha256"))
    except BaseException:
        for out in unit.outputs:
            (unit.out / out.file).unlink(missing_ok=True)
        raise
    return sources


def unit_urls(unit, upstream: Upstream) -> list[str]:
    """URLs whose hosts must answer for ``unit`` to come from upstream (for :func:`answers`)."""
    urls = []
    for out in unit.outputs:
        if out.release.image_ref:
            ref = upstream.image(out.release.image_ref)
            host = ref.split("/", 1)[0]
            scheme = "http" if upstream.registry else "https"
            urls.append(f"{scheme}://{'registry-1.docker.io' if host == 'docker.io' else host}/v2/")
        else:
            urls.append(upstream.url(out.release.path))
    return urls


def can_verify(unit, versions: dict) -> str:
    """Why ``unit`` cannot come from upstream verified ("" when it can)."""
    pins = (versions.get("sha256") or {}).get("upstream") or {}
    for out in unit.outputs:
        rel = out.release
        if rel.name.removeprefix(IMAGE_PREFIX) in PROJECT_IMAGES:
            return f"{rel.filename} is this project's own image, built from its source"
        if not rel.image_ref and not rel.upstream_checksum and not pins.get(rel.name):
            return f"upstream publishes no checksum for {rel.filename} and versions.yaml pins none"
    return ""


def remove_partial(unit) -> None:
    """Remove a unit's outputs (after a failed upstream fill, before building)."""
    if unit.out.exists():
        shutil.rmtree(unit.out)
