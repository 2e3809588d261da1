"""A stand-in for upstream on loopback: the release sites over HTTP and a registry (crane).

Built from a mirror the project already has: every release file is served at its
upstream path with the checksum file *that project* publishes (``.sha256``,
``.sha256sum``, a ``SHA256SUMS`` or ``runc.sha256sum`` list; nothing where upstream
publishes nothing), and every bundle image is pushed, unchanged (same manifest digest),
into ``crane registry serve`` under its upstream repository. Pointing
``KJ_UPSTREAM_RELEASES`` and ``KJ_UPSTREAM_REGISTRY`` at it (:meth:`LoopbackUpstream.env`)
makes ``artifacts build --source auto|upstream`` take the download path for real
without leaving the machine.

Used by ``tests/test_upstream.py`` (build tests) and by hand, to measure a ``make up``
whose artifacts come from upstream::

    .venv/bin/python tests/loopback_upstream.py --mirror /var/cache/kubernetes-journey/mirror
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers import artifacts  # noqa: E402
from helpers.mirror import upstream  # noqa: E402
from helpers.releases import PROJECT_IMAGES  # noqa: E402

LIST_FILES = ("SHA256SUMS", "runc.sha256sum")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lay_out(mirror: Path, root: Path, versions: dict) -> list[artifacts.Release]:
    """Hard-link the mirror's release files into ``root`` with upstream's checksum files; return the images."""
    images, lists = [], {}
    for name in artifacts.artifact_names(versions):
        rel = artifacts.release(name, versions)
        if name.removeprefix(artifacts.IMAGE_PREFIX) in PROJECT_IMAGES:
            continue  # this project's own images: no upstream publishes them
        if rel.image_ref:
            images.append(rel)
            continue
        src = mirror / rel.path
        dest = root / rel.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists():
            os.link(src, dest)
        if not rel.upstream_checksum:
            continue
        digest = (mirror / (rel.path + ".sha256")).read_text().strip()
        line = f"{digest}  {rel.filename}\n"
        if rel.upstream_checksum.endswith(LIST_FILES):
            lists.setdefault(rel.upstream_checksum, []).append(line)
        else:
            (root / rel.upstream_checksum).write_text(line)
    for path, lines in lists.items():
        (root / path).write_text("".join(["0" * 64 + "  another-architecture\n", *lines]))
    return images


class LoopbackUpstream:
    """The release sites (HTTP) and a registry, on 127.0.0.1, until :meth:`close`."""

    def __init__(self, mirror: Path, workdir: Path, versions: dict | None = None, registry: bool = True):
        self.versions = versions or artifacts.load_versions()
        self.root = workdir / "releases"
        self.root.mkdir(parents=True, exist_ok=True)
        self.images = lay_out(mirror, self.root, self.versions)
        handler = functools.partial(_QuietHandler, directory=str(self.root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.releases = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.registry = None
        self._registry_proc = None
        if registry:
            try:
                self._start_registry(mirror, workdir)
            except BaseException:
                self.close()       # no registry (or server) left running behind a failed setup
                raise

    def _start_registry(self, mirror: Path, workdir: Path) -> None:
        crane = upstream.crane_binary(self.versions)
        port = free_port()
        log = open(workdir / "registry.log", "w")  # noqa: SIM115 - closed with the process
        self._registry_proc = subprocess.Popen(
            [str(crane), "registry", "serve", "--address", f"127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT)
        self.registry = f"127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"crane registry serve did not listen on {self.registry}")
        up = upstream.Upstream(self.releases, self.registry)
        for rel in self.images:
            with tempfile.TemporaryDirectory() as tmp:
                with tarfile.open(mirror / rel.path) as tar:
                    tar.extractall(tmp, filter="data")
                target = up.image(rel.image_ref)
                subprocess.run([str(crane), "push", "--insecure", tmp, target], check=True,
                               capture_output=True, text=True)

    def env(self) -> dict[str, str]:
        """The environment that points ``artifacts build`` here."""
        env = {upstream.ENV_RELEASES: self.releases}
        if self.registry:
            env[upstream.ENV_REGISTRY] = self.registry
        return env

    def upstream(self, timeout: float = 30.0) -> upstream.Upstream:
        return upstream.Upstream(self.releases, self.registry, timeout)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._registry_proc and self._registry_proc.poll() is None:
            self._registry_proc.terminate()
            self._registry_proc.wait(timeout=10)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirror", type=Path, required=True, help="a mirror built by artifacts build")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kj-upstream-"))
    # SIGTERM ends it like Ctrl-C, so the registry process it started is stopped too
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    served = LoopbackUpstream(args.mirror, workdir)
    for key, value in served.env().items():
        print(f"export {key}={value}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        served.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
