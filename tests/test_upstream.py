"""The mirror's download path, against an "upstream" this test serves on loopback.

The server speaks real HTTP on 127.0.0.1 and serves files in upstream's layout (host
name first, with each project's own checksum file: ``.sha256``, ``.sha256sum``, a
``SHA256SUMS`` list). Some paths misbehave on purpose: a body cut short of its
Content-Length, a server that stops answering. Nothing here reaches the real upstream.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import threading
import time
from pathlib import Path

import pytest

from helpers import artifacts
from helpers.errors import BuildError, ChecksumMismatch, ConfigError, DownloadFailed
from helpers.mirror import cli, upstream

VERSIONS = artifacts.load_versions()


class _Handler(http.server.BaseHTTPRequestHandler):
    root: Path
    behaviour: dict[str, str]

    def log_message(self, *args) -> None:  # keep pytest's output clean
        pass

    def do_GET(self) -> None:
        path = self.path.lstrip("/")
        mode = self.behaviour.get(path, "")
        if mode == "stall":
            time.sleep(3)
            return
        file = self.root / path
        if not file.is_file():
            self.send_error(404)
            return
        data = file.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if mode == "truncate":
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data)


@pytest.fixture
def server(tmp_path):
    """A loopback upstream: (Upstream pointing at it, its root directory, the behaviour table)."""
    root = tmp_path / "upstream"
    root.mkdir()
    behaviour: dict[str, str] = {}
    handler = type("Handler", (_Handler,), {"root": root, "behaviour": behaviour})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    up = upstream.Upstream(f"http://127.0.0.1:{httpd.server_address[1]}/", timeout=1.0)
    try:
        yield up, root, behaviour
    finally:
        httpd.shutdown()
        httpd.server_close()


def publish(root: Path, rel: artifacts.Release, data: bytes, digest: str | None = None) -> None:
    """Put a release file and its checksum file where upstream would."""
    (root / rel.path).parent.mkdir(parents=True, exist_ok=True)
    (root / rel.path).write_bytes(data)
    digest = digest or hashlib.sha256(data).hexdigest()
    if rel.upstream_checksum and rel.upstream_checksum.endswith(("SHA256SUMS", "runc.sha256sum")):
        other = "0" * 64
        (root / rel.upstream_checksum).write_text(f"{other}  something-else\n{digest}  {rel.filename}\n")
    elif rel.upstream_checksum:
        (root / rel.upstream_checksum).write_text(f"{digest}  {rel.filename}\n")


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


@pytest.mark.parametrize("name", ["crictl", "containerd", "runc", "etcd", "kubelet"])
def test_download_verifies_against_each_projects_checksum_file(server, tmp_path, name):
    up, root, _ = server
    rel = artifacts.release(name, VERSIONS)
    data = f"release file {rel.path}\n".encode() * 1000
    publish(root, rel, data)
    dest = tmp_path / "out" / rel.filename
    got = upstream.download(up, rel, dest)
    assert dest.read_bytes() == data
    assert got["from"] == up.url(rel.path)
    assert got["sha256"] == hashlib.sha256(data).hexdigest()
    assert got["checked_against"] == up.url(rel.upstream_checksum)


def test_wrong_checksum_is_named_and_leaves_nothing(server, tmp_path):
    up, root, _ = server
    rel = artifacts.release("crictl", VERSIONS)
    publish(root, rel, b"the real bytes", digest="ab" * 32)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ChecksumMismatch) as err:
        upstream.download(up, rel, out / rel.filename)
    message = str(err.value)
    assert rel.filename in message and up.url(rel.path) in message and "sha256 mismatch" in message
    assert up.url(rel.upstream_checksum) in message
    assert leftovers(out) == []


def test_truncated_download_is_named_and_leaves_nothing(server, tmp_path):
    up, root, behaviour = server
    rel = artifacts.release("runc", VERSIONS)
    publish(root, rel, os.urandom(200_000))
    behaviour[rel.path] = "truncate"
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(DownloadFailed) as err:
        upstream.download(up, rel, out / rel.filename)
    assert "truncated" in str(err.value) and up.url(rel.path) in str(err.value)
    assert leftovers(out) == []


def test_server_that_stops_answering_fails_within_the_timeout(server, tmp_path):
    up, root, behaviour = server
    rel = artifacts.release("cni-plugins", VERSIONS)
    publish(root, rel, b"plugins")
    behaviour[rel.path] = "stall"
    out = tmp_path / "out"
    out.mkdir()
    start = time.monotonic()
    with pytest.raises(DownloadFailed, match="stopped answering"):
        upstream.download(up, rel, out / rel.filename)
    assert time.monotonic() - start < 2.5
    assert leftovers(out) == []


def test_missing_checksum_file_and_unpublished_checksums(server, tmp_path):
    up, root, _ = server
    rel = artifacts.release("crictl", VERSIONS)
    (root / rel.path).parent.mkdir(parents=True)
    (root / rel.path).write_bytes(b"no checksum beside me")
    with pytest.raises(DownloadFailed, match="HTTP 404"):
        upstream.download(up, rel, tmp_path / rel.filename)
    flanneld = artifacts.release("flanneld", VERSIONS)
    with pytest.raises(DownloadFailed, match="publishes no checksum"):
        upstream.download(up, flanneld, tmp_path / "flanneld")
    # a pin in versions.yaml makes it trustworthy
    publish(root, flanneld, b"flanneld bytes")
    pins = {"upstream": {"flanneld": hashlib.sha256(b"flanneld bytes").hexdigest()}}
    got = upstream.download(up, flanneld, tmp_path / "flanneld", pins)
    assert got["checked_against"] == "versions.yaml pin"


def test_hostile_checksum_files_get_a_clear_error(server, tmp_path):
    up, root, _ = server
    rel = artifacts.release("crictl", VERSIONS)
    publish(root, rel, b"x")
    (root / rel.upstream_checksum).write_bytes(b"\xff\xfe not utf-8 \x00" * 10)
    with pytest.raises(DownloadFailed, match="not a checksum file"):
        upstream.download(up, rel, tmp_path / rel.filename)
    (root / rel.upstream_checksum).write_bytes(b"a" * (upstream.MAX_CHECKSUM_BYTES + 10))
    with pytest.raises(DownloadFailed, match="larger than"):
        upstream.download(up, rel, tmp_path / rel.filename)


def test_answers_names_the_host_that_does_not_answer(server):
    up, _, _ = server
    dead = upstream.Upstream("http://127.0.0.1:9/")  # discard port: nothing listens
    result = upstream.answers(up, [up.url("x"), dead.url("y")], timeout=1.0)
    assert result[up.host_of(up.url("x"))] == ""          # a 404 is an answer
    assert "no answer" in result["127.0.0.1:9"]


def test_source_setting_and_upstream_from_env(monkeypatch):
    monkeypatch.delenv(upstream.ENV_SOURCE, raising=False)
    assert upstream.source_setting() == "auto"
    monkeypatch.setenv(upstream.ENV_SOURCE, "build")
    assert upstream.source_setting() == "build"
    assert upstream.source_setting("upstream") == "upstream"
    with pytest.raises(ConfigError, match="expected one of auto, upstream, build"):
        upstream.source_setting("sometimes")
    monkeypatch.setenv(upstream.ENV_RELEASES, "ftp://example")
    with pytest.raises(ConfigError, match="http"):
        upstream.Upstream.from_env()
    monkeypatch.setenv(upstream.ENV_RELEASES, "http://127.0.0.1:1234")
    monkeypatch.setenv(upstream.ENV_REGISTRY, "127.0.0.1:5000")
    up = upstream.Upstream.from_env()
    assert up.url("dl.k8s.io/x") == "http://127.0.0.1:1234/dl.k8s.io/x"
    assert up.image("registry.k8s.io/pause:3.10.2") == "127.0.0.1:5000/pause:3.10.2"
    assert up.image("docker.io/library/busybox:1.35.0") == "127.0.0.1:5000/library/busybox:1.35.0"


# --- the whole path: build_all fills a mirror from the loopback upstream ---------------------


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KJ_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_build_all_fills_the_mirror_from_upstream_and_says_so(server, cache, tmp_path):
    up, root, _ = server
    rel = artifacts.release("crictl", VERSIONS)
    data = b"crictl from the loopback upstream\n" * 100
    publish(root, rel, data)
    mirror = tmp_path / "mirror"
    results = cli.build_all(VERSIONS, only=["crictl"], mirror=mirror, source="upstream", up=up)
    assert results["crictl"]["origin"] == "upstream"
    assert (mirror / rel.path).read_bytes() == data
    assert (mirror / (rel.path + ".sha256")).read_text() == hashlib.sha256(data).hexdigest()
    entry = next(e for e in json.loads((mirror / "manifest.json").read_text())["artifacts"] if e["name"] == "crictl")
    assert entry["source"]["from"] == up.url(rel.path)
    # a second build fetches nothing
    assert cli.build_all(VERSIONS, only=["crictl"], mirror=mirror, source="upstream", up=up)["crictl"]["built"] is False


def test_source_upstream_fails_named_and_publishes_nothing_half_written(server, cache, tmp_path):
    up, root, _ = server
    rel = artifacts.release("crictl", VERSIONS)
    publish(root, rel, b"tampered", digest="cd" * 32)
    mirror = tmp_path / "mirror"
    with pytest.raises(BuildError, match="crictl") as err:
        cli.build_all(VERSIONS, only=["crictl"], mirror=mirror, source="upstream", up=up)
    assert "sha256 mismatch" in str(err.value)
    assert not (mirror / rel.path).exists()
    assert not [p for p in cache.rglob("*") if p.is_file() and p.name.startswith(("crictl", ".crictl"))]


def test_source_upstream_with_upstream_down_names_the_host(cache, tmp_path):
    dead = upstream.Upstream("http://127.0.0.1:9/", timeout=1.0)
    with pytest.raises(BuildError, match=r"127\.0\.0\.1:9: no answer"):
        cli.build_all(VERSIONS, only=["crictl"], mirror=tmp_path / "mirror", source="upstream", up=dead)


# --- build: the whole mirror from a loopback upstream (release files and a registry) ---------


@pytest.fixture
def loopback(tmp_path, monkeypatch):
    """A loopback upstream serving the project's own mirror, and a fresh cache to fill from it.

    The fresh cache shares the Go caches (so crane, and the units upstream publishes no
    checksum for, compile from a warm build cache).
    """
    from loopback_upstream import LoopbackUpstream  # noqa: PLC0415

    from helpers import paths  # noqa: PLC0415

    source_mirror = paths.mirror_dir()
    cli.build_all(VERSIONS)                       # the mirror to serve (a no-op when built)
    served = LoopbackUpstream(source_mirror, tmp_path / "upstream-site", VERSIONS)
    fresh = tmp_path / "fresh-cache"
    fresh.mkdir()
    (fresh / "go").symlink_to(paths.cache_dir() / "go")
    crane = upstream.crane_binary(VERSIONS)
    monkeypatch.setenv("KJ_CACHE_DIR", str(fresh))
    monkeypatch.setenv("KJ_MIRROR_DIR", str(fresh / "mirror"))
    (fresh / "build" / crane.parent.parent.name / "bin").mkdir(parents=True)
    (fresh / "build" / crane.parent.parent.name / "bin" / "crane").symlink_to(crane)
    try:
        yield served, source_mirror, fresh / "mirror"
    finally:
        served.close()


def _manifest(mirror: Path) -> dict[str, dict]:
    return {e["name"]: e for e in json.loads((mirror / "manifest.json").read_text())["artifacts"]}


def _image_digest(archive: Path) -> str:
    import tarfile  # noqa: PLC0415

    with tarfile.open(archive) as tar:
        index = json.load(tar.extractfile("index.json"))
    (only,) = index["manifests"]
    return only["digest"], only["annotations"]["io.containerd.image.name"]


@pytest.mark.build
def test_the_whole_mirror_fills_from_a_loopback_upstream(loopback):
    served, source_mirror, mirror = loopback
    results = cli.build_all(VERSIONS, source="upstream", up=served.upstream())
    # upstream publishes no checksum for these: flanneld, containerd.service, metallb-native.yaml,
    # the Gateway API's standard-install.yaml, local-path-storage.yaml, metrics-server's
    # components.yaml; and nobody publishes the guestbook's frontend (this project's own image)
    unverifiable = {"flannel", "containerd-service", "metallb", "gateway-api", "local-path-provisioner",
                    "metrics-server", "guestbook"}
    assert {n for n, r in results.items() if r["origin"] == "source"} == unverifiable
    assert all(r["origin"] == "upstream" for n, r in results.items() if n not in unverifiable)
    before, after = _manifest(source_mirror), _manifest(mirror)
    assert sorted(after) == sorted(before)
    for name, entry in after.items():
        if "image" in entry:
            # the same image (manifest digest), named by its upstream reference
            assert _image_digest(mirror / entry["path"]) == _image_digest(source_mirror / entry["path"]), name
            if name.startswith(("image-bundle:metallb-", "image-bundle:local-path-", "image-bundle:metrics-server",
                                "image-bundle:guestbook")):
                # built with their unit (its manifest is unverifiable), not pulled: reproducibly the same
                assert entry["sha256"] == before[name]["sha256"], name
            else:
                assert entry["source"]["from"] == served.upstream().image(entry["image"])
        else:
            # the same bytes; the source builds are reproducible, so even those match
            assert entry["sha256"] == before[name]["sha256"], name
    assert after["kubelet"]["source"]["from"] == served.releases + after["kubelet"]["path"]


@pytest.mark.build
def test_pulled_images_import_into_containerd(loopback, tmp_path):
    import subprocess  # noqa: PLC0415

    served, _, _ = loopback
    rel = artifacts.release("image-bundle:pause", VERSIONS)
    dest = tmp_path / "pause.tar"
    got = upstream.pull_image(served.upstream(), rel, dest, upstream.crane_binary(VERSIONS))
    assert got["manifest"].startswith("sha256:")
    with tempfile_containerd(tmp_path) as ctr:
        out = subprocess.run([*ctr, "images", "import", str(dest)], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        listing = subprocess.run([*ctr, "images", "ls", "-q"], capture_output=True, text=True, check=True).stdout
    assert rel.image_ref in listing.split()


@pytest.mark.build
def test_a_missing_image_is_named(loopback, tmp_path):
    served, _, _ = loopback
    rel = artifacts.Release("image-bundle:nothing", "1", "images/nothing-1.tar",
                            image_ref="registry.k8s.io/nothing:1")
    with pytest.raises(DownloadFailed, match="crane pull exited"):
        upstream.pull_image(served.upstream(), rel, tmp_path / "nothing.tar", upstream.crane_binary(VERSIONS))
    assert not (tmp_path / "nothing.tar").exists()


def tempfile_containerd(tmp_path):
    """The containerd of tests/test_artifacts.py (our own root, state and socket), as ``ctr`` arguments."""
    import contextlib  # noqa: PLC0415

    from test_artifacts import own_containerd  # noqa: PLC0415

    @contextlib.contextmanager
    def running():
        with own_containerd(tmp_path) as sock:
            yield ["ctr", "--address", str(sock), "-n", "k8s.io"]

    return running()
