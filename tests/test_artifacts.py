"""Release artifacts: URL resolution, verified downloads, image archives, and the built mirror.

Unmarked tests are fast and self-contained (a temporary mirror served by a real HTTP
server on 127.0.0.1). Tests marked ``build`` use the mirror that
``python -m helpers artifacts build`` makes (the session fixture runs that build: a no-op
in seconds when the cache is warm, the long Kubernetes build when it is cold).
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import http.server
import io
import json
import re
import subprocess
import tarfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from helpers import artifacts, paths
from helpers.errors import BuildError, ChecksumMismatch, ConfigError
from helpers.mirror import images
from helpers.mirror.cli import build_all, select, units
from helpers.mirror.kubernetes import staging_modules, staging_version
from helpers.waiting import poll_until

VERSIONS = artifacts.load_versions()


def inventory(mirror: str, kubernetes_version: str = "pinned"):
    """The two inventory fields fetch reads (the inventory model is duck-typed there)."""
    return SimpleNamespace(
        sources=SimpleNamespace(release_mirror=mirror),
        cluster=SimpleNamespace(kubernetes_version=kubernetes_version),
    )


@pytest.fixture
def http_root(tmp_path):
    """A real HTTP server on 127.0.0.1 serving tmp_path/www; yields (root dir, base URL)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, *args):
        QuietHandler.requests.append(self.path)


def publish_fake(
    root: Path, name: str, content: bytes, digest: str | None = None
) -> artifacts.Release:
    rel = artifacts.release(name, VERSIONS)
    path = root / rel.path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    (root / (rel.path + ".sha256")).write_text(digest or hashlib.sha256(content).hexdigest())
    return rel


# --- fast: names, URLs, versions ------------------------------------------------------


def test_shipped_versions_resolve_every_artifact():
    names = artifacts.artifact_names(VERSIONS)
    assert len(names) == len(set(names)) == 29
    for name in names:
        rel = artifacts.release(name, VERSIONS)
        assert rel.version and rel.path and not rel.path.startswith("/")
    assert artifacts.release("kubelet", VERSIONS).path == (
        f"dl.k8s.io/release/{VERSIONS['kubernetes']}/bin/linux/amd64/kubelet"
    )
    etcd = VERSIONS["etcd"]
    assert artifacts.release("etcd", VERSIONS).path == (
        f"github.com/etcd-io/etcd/releases/download/{etcd}/etcd-{etcd}-linux-amd64.tar.gz"
    )
    assert (
        artifacts.release("image-bundle:pause", VERSIONS).image_ref
        == f"registry.k8s.io/pause:{VERSIONS['pause']}"
    )


def test_runtime_artifacts_sit_at_upstream_release_paths_with_upstream_checksums():
    runtime = {name: artifacts.release(name, VERSIONS) for name in artifacts.RUNTIME}
    v = VERSIONS["containerd"]
    assert runtime["containerd"].path == (
        f"github.com/containerd/containerd/releases/download/{v}/containerd-{v[1:]}-linux-amd64.tar.gz"
    )
    assert runtime["containerd"].upstream_checksum == runtime["containerd"].path + ".sha256sum"
    assert runtime["containerd-service"].upstream_checksum is None
    assert runtime["runc"].path.endswith(f"/{VERSIONS['runc']}/runc.amd64")
    assert runtime["runc"].upstream_checksum.endswith("/runc.sha256sum")
    assert runtime["cni-plugins"].filename == f"cni-plugins-linux-amd64-{VERSIONS['cni_plugins']}.tgz"
    assert runtime["crictl"].upstream_checksum == runtime["crictl"].path + ".sha256"
    assert artifacts.release("flanneld", VERSIONS).upstream_checksum is None


def test_checksum_files_listing_several_files_give_the_named_one():
    a, b = "a" * 64, "b" * 64
    listing = f"{a}  runc.arm64\n{b} *runc.amd64\n"
    assert artifacts.parse_sha256_file(listing, "runc.amd64") == b
    assert artifacts.parse_sha256_file(f"{a}  cni.tgz\n", "cni.tgz") == a
    assert artifacts.parse_sha256_file(a) == a
    with pytest.raises(ValueError, match="lists no runc.386"):
        artifacts.parse_sha256_file(listing, "runc.386")


def test_kubernetes_version_override_and_unknown_name():
    assert artifacts.release("kubectl", VERSIONS, kubernetes_version="v1.36.3").path.startswith(
        "dl.k8s.io/release/v1.36.3/"
    )
    with pytest.raises(ConfigError, match="unknown artifact 'kube-nothing'"):
        artifacts.release("kube-nothing", VERSIONS)


@pytest.mark.parametrize(
    "mirror, expected",
    [
        ("upstream", "https://dl.k8s.io/release/v1.37.2/bin/linux/amd64/kubelet"),
        (
            "http://10.0.0.1:8080",
            "http://10.0.0.1:8080/dl.k8s.io/release/v1.37.2/bin/linux/amd64/kubelet",
        ),
        (
            "https://mirror.example/base/",
            "https://mirror.example/base/dl.k8s.io/release/v1.37.2/bin/linux/amd64/kubelet",
        ),
        (
            "file:///srv/mirror",
            "file:///srv/mirror/dl.k8s.io/release/v1.37.2/bin/linux/amd64/kubelet",
        ),
    ],
)
def test_resolve_url(mirror, expected):
    assert (
        artifacts.resolve_url(mirror, "dl.k8s.io/release/v1.37.2/bin/linux/amd64/kubelet")
        == expected
    )


def test_resolve_url_rejects_bad_mirror_and_upstream_image_bundles():
    with pytest.raises(ConfigError, match="expected 'upstream' or an http"):
        artifacts.resolve_url("ftp://mirror", "dl.k8s.io/x")
    with pytest.raises(ConfigError, match="sources.images: registry"):
        artifacts.resolve_url("upstream", "images/pause-3.10.2.tar")


def test_load_versions_names_missing_keys(tmp_path):
    bad = tmp_path / "versions.yaml"
    bad.write_text("kubernetes: v1.37.2\n")
    with pytest.raises(ConfigError, match="lacks: etcd, flannel"):
        artifacts.load_versions(bad)


# --- fast: verified downloads --------------------------------------------------------


def test_fetch_over_http_verifies_and_caches(http_root, tmp_path):
    root, base = http_root
    content = b"#!/bin/sh\necho kubelet\n"
    rel = publish_fake(root, "kubelet", content)
    cache = tmp_path / "cache"
    art = artifacts.fetch(inventory(base), "kubelet", versions=VERSIONS, cache=cache)
    assert art.url == f"{base}/{rel.path}"
    assert art.path == cache / rel.path and art.path.read_bytes() == content
    assert (
        art.sha256 == hashlib.sha256(content).hexdigest() and art.version == VERSIONS["kubernetes"]
    )

    QuietHandler.requests.clear()
    again = artifacts.fetch(inventory(base), "kubelet", versions=VERSIONS, cache=cache)
    assert again == art
    assert QuietHandler.requests == ["/" + rel.path + ".sha256"], (
        "cached file must not be downloaded again"
    )


def test_fetch_refuses_tampered_file(http_root, tmp_path):
    root, base = http_root
    good = b"the real etcd tarball"
    rel = publish_fake(root, "etcd", good)
    (root / rel.path).write_bytes(b"a tampered etcd tarball")
    good_digest = hashlib.sha256(good).hexdigest()
    bad_digest = hashlib.sha256(b"a tampered etcd tarball").hexdigest()
    with pytest.raises(ChecksumMismatch) as err:
        artifacts.fetch(inventory(base), "etcd", versions=VERSIONS, cache=tmp_path / "cache")
    assert err.value.expected == good_digest and err.value.actual == bad_digest
    message = str(err.value)
    assert rel.filename in message and good_digest in message and bad_digest in message
    assert not (tmp_path / "cache" / rel.path).exists(), (
        "a rejected download must not stay in the cache"
    )


def test_fetch_refuses_tampered_cache(http_root, tmp_path):
    root, base = http_root
    rel = publish_fake(root, "kubectl", b"kubectl")
    cache = tmp_path / "cache"
    art = artifacts.fetch(inventory(base), "kubectl", versions=VERSIONS, cache=cache)
    art.path.write_bytes(b"modified after download")
    again = artifacts.fetch(inventory(base), "kubectl", versions=VERSIONS, cache=cache)
    assert again.path.read_bytes() == b"kubectl" and (cache / rel.path).read_bytes() == b"kubectl"


def test_fetch_refuses_pinned_mismatch_over_file_url(tmp_path):
    root = tmp_path / "mirror"
    content = b"flanneld binary"
    publish_fake(root, "flanneld", content)
    pinned = "0" * 64
    versions = {**VERSIONS, "sha256": {"upstream": {}, "mirror": {"flanneld": pinned}}}
    with pytest.raises(ChecksumMismatch) as err:
        artifacts.fetch(
            inventory(root.as_uri()), "flanneld", versions=versions, cache=tmp_path / "cache"
        )
    assert err.value.expected == pinned
    assert err.value.actual == hashlib.sha256(content).hexdigest()
    assert "versions.yaml pin" in str(err.value)

    versions["sha256"]["mirror"]["flanneld"] = hashlib.sha256(content).hexdigest()
    art = artifacts.fetch(
        inventory(root.as_uri()), "flanneld", versions=versions, cache=tmp_path / "cache"
    )
    assert art.path.read_bytes() == content


def test_fetch_names_missing_file(http_root, tmp_path):
    _, base = http_root
    with pytest.raises(
        artifacts.DownloadFailed, match=r"kube-proxy from http://127\.0\.0\.1:\d+/dl\.k8s\.io/.*404"
    ):
        artifacts.fetch(inventory(base), "kube-proxy", versions=VERSIONS, cache=tmp_path / "cache")


def test_extract_binary_from_fetched_tarball(tmp_path):
    from helpers.mirror.tarballs import write_tarball

    version = VERSIONS["etcd"]
    top = f"etcd-{version}-linux-amd64"
    src = tmp_path / "src"
    src.mkdir()
    for name in ("etcd", "etcdctl", "etcdutl"):
        (src / name).write_bytes(f"#!/bin/sh\necho {name}\n".encode())
    root = tmp_path / "mirror"
    rel = artifacts.release("etcd", VERSIONS)
    tarball = root / rel.path
    write_tarball(
        tarball, [(f"{top}/{n}", src / n, 0o755) for n in ("etcd", "etcdctl", "etcdutl")], [top]
    )
    (root / (rel.path + ".sha256")).write_text(artifacts.sha256_file(tarball))
    art = artifacts.fetch(
        inventory(root.as_uri()), "etcd", versions=VERSIONS, cache=tmp_path / "cache"
    )
    ctl = artifacts.extract(art, "etcdctl")
    assert (
        ctl.path.read_bytes() == (src / "etcdctl").read_bytes() and ctl.path.stat().st_mode & 0o111
    )
    assert ctl.sha256 == artifacts.sha256_file(src / "etcdctl") and ctl.url.endswith(
        f"#{top}/etcdctl"
    )
    with pytest.raises(ConfigError, match="no binary 'kubelet'"):
        artifacts.extract(art, "kubelet")


# --- fast: build helpers ------------------------------------------------------------------


def test_staging_versions_and_modules(tmp_path):
    assert staging_version("v1.37.2") == "v0.37.2"
    with pytest.raises(BuildError):
        staging_version("v1.37.2-rc.0")
    (tmp_path / "go.mod").write_text(
        "module k8s.io/kubernetes\n\nrequire (\n\tk8s.io/api v0.0.0\n\tk8s.io/utils v0.0.0-2026\n)\n"
        "replace (\n\tk8s.io/api => ./staging/src/k8s.io/api\n"
        "\tk8s.io/sample-controller => ./staging/src/k8s.io/sample-controller\n)\n"
    )
    assert staging_modules(tmp_path) == ["k8s.io/api"]


def test_select_units_by_unit_or_artifact_name():
    all_units = units(VERSIONS)
    assert [u.name for u in select(all_units, ["kubelet", "etcd"])] == ["etcd", "kubernetes"]
    assert [u.name for u in select(all_units, ["image-bundle:coredns"])] == ["coredns"]
    with pytest.raises(BuildError, match="nothing"):
        select(all_units, ["nothing"])
    covered = sorted(o.release.name for u in all_units for o in u.outputs)
    assert covered == sorted(artifacts.artifact_names(VERSIONS))


def read_image_archive(path: Path) -> dict:
    with tarfile.open(path) as tar:
        index = json.load(tar.extractfile("index.json"))
        docker = json.load(tar.extractfile("manifest.json"))
        desc = index["manifests"][0]
        manifest = json.load(tar.extractfile("blobs/sha256/" + desc["digest"][7:]))
        config = json.load(tar.extractfile("blobs/sha256/" + manifest["config"]["digest"][7:]))
        layer_gz = tar.extractfile("blobs/sha256/" + manifest["layers"][0]["digest"][7:]).read()
    layer = tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer_gz)))
    return {
        "index": index,
        "docker": docker,
        "desc": desc,
        "config": config,
        "layer": layer,
        "layer_gz": layer_gz,
    }


def test_image_archive_is_deterministic_and_named(tmp_path):
    entries = [
        images.File("hello", b"#!/bin/sh\n", 0o755, xattrs={"user.k": b"\x01\x00\xff"}),
        images.Symlink("bin/sh", "/hello"),
        *images.base_files(("nonroot", 65532)),
    ]
    a = images.write_image_archive(
        tmp_path / "a.tar",
        "registry.example/x/hello:1.0",
        entries,
        entrypoint=["/hello"],
        user="65532:65532",
    )
    b = images.write_image_archive(
        tmp_path / "b.tar",
        "registry.example/x/hello:1.0",
        entries,
        entrypoint=["/hello"],
        user="65532:65532",
    )
    assert a == b and (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    img = read_image_archive(tmp_path / "a.tar")
    assert img["desc"]["annotations"]["io.containerd.image.name"] == "registry.example/x/hello:1.0"
    assert img["desc"]["annotations"]["org.opencontainers.image.ref.name"] == "1.0"
    assert img["docker"][0]["RepoTags"] == ["registry.example/x/hello:1.0"]
    assert (
        img["config"]["config"]["Entrypoint"] == ["/hello"]
        and img["config"]["config"]["User"] == "65532:65532"
    )
    layer = img["layer"]
    assert layer.getmember("hello").mode == 0o755
    assert (
        layer.getmember("hello")
        .pax_headers["SCHILY.xattr.user.k"]
        .encode("utf-8", "surrogateescape")
        == b"\x01\x00\xff"
    )
    assert layer.getmember("bin/sh").issym() and layer.getmember("tmp").mode == 0o1777
    assert b"nonroot:x:65532" in layer.extractfile("etc/passwd").read()
    diff_id = "sha256:" + hashlib.sha256(gzip.decompress(img["layer_gz"])).hexdigest()
    assert img["config"]["rootfs"]["diff_ids"] == [diff_id]


# --- build: the mirror made by `artifacts build` -------------------------------------------


@pytest.fixture(scope="session")
def mirror() -> dict:
    """Build (or confirm) the mirror; returns its manifest keyed by artifact name."""
    build_all(VERSIONS)
    manifest = json.loads((paths.mirror_dir() / "manifest.json").read_text())
    return {entry["name"]: entry for entry in manifest["artifacts"]}


@pytest.mark.build
def test_manifest_lists_every_artifact_with_its_file(mirror):
    assert sorted(mirror) == sorted(artifacts.artifact_names(VERSIONS))
    for name, entry in mirror.items():
        rel = artifacts.release(name, VERSIONS)
        assert entry["path"] == rel.path and entry["version"] == rel.version
        path = paths.mirror_dir() / entry["path"]
        assert path.stat().st_size == entry["size"], name
        assert artifacts.sha256_file(path) == entry["sha256"], name
        assert (paths.mirror_dir() / (entry["path"] + ".sha256")).read_text() == entry["sha256"]
        assert entry["source"]["module"] and entry["source"]["version"]
        if rel.image_ref:
            assert entry["image"] == rel.image_ref


@pytest.mark.build
def test_second_build_is_a_quick_noop(mirror):
    manifest = paths.mirror_dir() / "manifest.json"
    before = manifest.stat().st_mtime_ns
    start = time.monotonic()
    results = build_all(VERSIONS)
    assert time.monotonic() - start < 30
    assert not any(r["built"] for r in results.values())
    assert manifest.stat().st_mtime_ns == before


@pytest.mark.build
def test_partial_cache_rebuilds_only_what_is_missing_and_reproducibly(mirror):
    pause = next(u for u in units(VERSIONS) if u.name == "pause")
    published = paths.mirror_dir() / mirror["image-bundle:pause"]["path"]
    (pause.dir / "built.json").unlink()
    results = build_all(VERSIONS)
    assert results["pause"]["built"] is True
    assert [name for name, r in results.items() if r["built"]] == ["pause"]
    assert artifacts.sha256_file(published) == mirror["image-bundle:pause"]["sha256"], (
        "rebuild changed the digest"
    )
    forced = build_all(VERSIONS, force=True, only=["image-bundle:pause"])
    assert list(forced) == ["pause"] and forced["pause"]["built"] is True
    assert artifacts.sha256_file(published) == mirror["image-bundle:pause"]["sha256"]


def run(cmd, **kw) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)
    return proc.stdout + proc.stderr


@pytest.mark.build
@pytest.mark.parametrize("name", artifacts.KUBERNETES_BINARIES)
def test_kubernetes_binaries_print_pinned_version(mirror, name):
    binary = paths.mirror_dir() / mirror[name]["path"]
    args = ["version", "--client"] if name == "kubectl" else ["--version"]
    out = run([binary, *args])
    assert f"v{VERSIONS['kubernetes'][1:]}" in out, out
    assert "Kubernetes" in out or "Client Version" in out, out


@pytest.mark.build
def test_etcd_tarball_binaries(mirror, tmp_path):
    version = VERSIONS["etcd"]
    with tarfile.open(paths.mirror_dir() / mirror["etcd"]["path"]) as tar:
        names = tar.getnames()
        tar.extractall(tmp_path, filter="data")
    top = f"etcd-{version}-linux-amd64"
    assert {f"{top}/etcd", f"{top}/etcdctl", f"{top}/etcdutl"} <= set(names)
    assert f"etcd Version: {version[1:]}" in run([tmp_path / top / "etcd", "--version"])
    assert f"etcdctl version: {version[1:]}" in run([tmp_path / top / "etcdctl", "version"])
    assert f"etcdutl version: {version[1:]}" in run([tmp_path / top / "etcdutl", "version"])


@pytest.mark.build
def test_flannel_binaries(mirror, tmp_path):
    flanneld = paths.mirror_dir() / mirror["flanneld"]["path"]
    assert VERSIONS["flannel"] in run([flanneld, "--version"])
    with tarfile.open(paths.mirror_dir() / mirror["flannel-cni-plugin"]["path"]) as tar:
        assert "./flannel" in tar.getnames()
        tar.extractall(tmp_path, filter="data")
    out = run([tmp_path / "flannel"], env={"CNI_COMMAND": "VERSION"})
    assert '"supportedVersions"' in out and "0.3.1" in out, out
    assert f"CNI flannel plugin {VERSIONS['flannel_cni_plugin']}" in run(
        [tmp_path / "flannel"], env={}
    )


def extract_from_image(path: Path, member: str, dest: Path) -> Path:
    img = read_image_archive(path)
    data = img["layer"].extractfile(member).read()
    dest.write_bytes(data)
    dest.chmod(0o755)
    return dest


@pytest.mark.build
def test_images_carry_upstream_shape_and_versions(mirror, tmp_path):
    root = paths.mirror_dir()
    coredns = read_image_archive(root / mirror["image-bundle:coredns"]["path"])
    assert coredns["config"]["config"]["Entrypoint"] == ["/coredns"]
    assert coredns["config"]["config"]["User"] == "65532:65532"
    assert "SCHILY.xattr.security.capability" in coredns["layer"].getmember("coredns").pax_headers
    binary = extract_from_image(
        root / mirror["image-bundle:coredns"]["path"], "coredns", tmp_path / "coredns"
    )
    assert f"CoreDNS-{VERSIONS['coredns'][1:]}" in run([binary, "-version"])

    agnhost = read_image_archive(root / mirror["image-bundle:agnhost"]["path"])
    assert agnhost["config"]["config"]["Entrypoint"] == ["/agnhost"]
    binary = extract_from_image(
        root / mirror["image-bundle:agnhost"]["path"], "agnhost", tmp_path / "agnhost"
    )
    assert VERSIONS["agnhost"] in run([binary, "--version"])

    pause = read_image_archive(root / mirror["image-bundle:pause"]["path"])
    assert pause["config"]["config"]["Entrypoint"] == ["/pause"]
    binary = extract_from_image(
        root / mirror["image-bundle:pause"]["path"], "pause", tmp_path / "pause"
    )
    assert f"v{VERSIONS['pause']}" in run([binary, "-v"])
    assert "not a dynamic executable" in run(["ldd", binary]) or "statically linked" in run(
        ["ldd", binary]
    )

    busybox = read_image_archive(root / mirror["image-bundle:busybox"]["path"])
    assert busybox["config"]["config"]["Cmd"] == ["sh"]
    names = set(busybox["layer"].getnames())
    assert {"bin/busybox", "bin/sh", "bin/nslookup", "bin/wget"} <= names
    assert mirror["image-bundle:busybox"]["source"]["module"] == "deb:busybox-static"


@pytest.mark.build
def test_fetch_every_artifact_from_the_mirror_over_http(mirror, tmp_path):
    handler = functools.partial(QuietHandler, directory=str(paths.mirror_dir()))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        inv = inventory(f"http://127.0.0.1:{server.server_address[1]}")
        for name in artifacts.artifact_names(VERSIONS):
            art = artifacts.fetch(inv, name, versions=VERSIONS, cache=tmp_path / "cache")
            assert (
                art.sha256 == mirror[name]["sha256"]
                and art.path.stat().st_size == mirror[name]["size"]
            )
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def own_containerd(tmp_path):
    """A containerd of our own (tmp root, state and socket), stopped by PID at the end; yields its socket."""
    base = Path("/tmp") / f"kj-ctr-{tmp_path.name[-12:]}"  # short: unix socket paths are limited
    base.mkdir(parents=True, exist_ok=True)
    config = base / "config.toml"
    sock = base / "containerd.sock"
    config.write_text(
        "version = 2\n"
        f'root = "{base}/root"\nstate = "{base}/state"\n'
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        f'[grpc]\n  address = "{sock}"\n[ttrpc]\n  address = "{sock}.ttrpc"\n'
        f'[debug]\n  address = "{base}/debug.sock"\n'
    )
    logfile = base / "containerd.log"
    log = open(logfile, "w")
    proc = subprocess.Popen(
        ["containerd", "--config", str(config)], stdout=log, stderr=subprocess.STDOUT
    )

    def socket_made() -> bool:
        assert proc.poll() is None, f"containerd exited {proc.returncode}:\n{logfile.read_text()}"
        return sock.exists()

    def log_tail(_) -> str:
        return "no socket yet; containerd.log ends: " + " | ".join(logfile.read_text().splitlines()[-3:])

    try:
        poll_until(socket_made, bool, what=f"containerd socket {sock}", where="localhost",
                   timeout=20, interval=0.2, describe=log_tail)
        yield sock
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
        subprocess.run(["umount", "-R", str(base / "root")], capture_output=True)
        subprocess.run(["rm", "-rf", str(base)], check=False)


@pytest.fixture
def containerd(tmp_path):
    """A containerd of our own (see :func:`own_containerd`)."""
    with own_containerd(tmp_path) as sock:
        yield sock


@pytest.mark.build
def test_image_bundles_import_into_containerd(mirror, containerd):
    ctr = ["ctr", "--address", str(containerd), "-n", "k8s.io"]
    refs = []
    for short in artifacts.IMAGES:
        entry = mirror[artifacts.IMAGE_PREFIX + short]
        out = subprocess.run(
            [*ctr, "images", "import", str(paths.mirror_dir() / entry["path"])],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        refs.append(entry["image"])
    listing = subprocess.run(
        [*ctr, "images", "ls", "-q"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert sorted(listing) == sorted(refs)
    for ref in refs:
        # upstream's names, and this project's own images under localhost/ (a registry nobody serves)
        assert re.match(r"^(registry\.k8s\.io|docker\.io|quay\.io|localhost/kubernetes-journey)/", ref), ref
