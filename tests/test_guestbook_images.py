"""The guestbook's two images, run for real on loopback: Debian's Redis and the Go frontend.

The Redis image is checked the way a container would start it: its own loader and its own
libraries, nothing of the host's (``ld-linux --library-path``). A leader and a replica
(password on, ``replicaof``) and the frontend binary from its image then run on
127.0.0.1, and the frontend is driven over HTTP: a write goes to the leader, the read is
served by the replica (``ROLE`` says ``slave``), the write waited for the replica, bad
input is refused with a reason, a wrong password names the Redis that refused it. Every
process is started here and stopped by its PID.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from test_artifacts import mirror, read_image_archive  # noqa: F401 - mirror is a fixture

from helpers import paths
from helpers.artifacts import load_versions
from helpers.mirror import debian

VERSIONS = load_versions()
pytestmark = pytest.mark.build


def test_depends_names_takes_first_alternatives_without_versions():
    assert debian.depends_names("libc6 (>= 2.34), libssl3 (>= 3.0.0) | libssl1.1, perl:any, ") == [
        "libc6", "libssl3", "perl"]
    assert debian.depends_names("") == []


def _unpack(archive: Path, dest: Path) -> dict:
    img = read_image_archive(archive)
    img["layer"].extractall(dest, filter="fully_trusted")
    return img["config"]["config"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _redis(root: Path, conf: Path, log: Path) -> subprocess.Popen:
    lib = ":".join(str(root / d) for d in debian.LIB_DIRS)
    return subprocess.Popen([str(root / debian.LOADER), "--library-path", lib, str(root / "usr/bin/redis-server"),
                             str(conf)], stdout=log.open("w"), stderr=subprocess.STDOUT)


def _call(url: str, body: dict | bytes | None = None) -> tuple[int, dict | str]:
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, raw = resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read().decode()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


def _wait_port(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"exited {proc.returncode}: {log.read_text()[-800:]}"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}: {log.read_text()[-800:]}")


def test_redis_image_runs_on_its_own_libraries(mirror, tmp_path):  # noqa: F811
    config = _unpack(paths.mirror_dir() / mirror["image-bundle:redis"]["path"], tmp_path)
    assert config["Cmd"] == ["redis-server"] and config["User"] == "999:999" and config["WorkingDir"] == "/data"
    assert "6379/tcp" in config["ExposedPorts"]
    lib = ":".join(str(tmp_path / d) for d in debian.LIB_DIRS)
    for binary, says in (("redis-server", f"v={VERSIONS['redis']}"), ("redis-cli", VERSIONS["redis"])):
        out = subprocess.run([str(tmp_path / debian.LOADER), "--library-path", lib, str(tmp_path / "usr/bin" / binary),
                              "--version"], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and says in out.stdout, out
    assert not (tmp_path / "bin" / "sh").exists(), "the Redis image carries no shell"
    assert mirror["image-bundle:redis"]["source"]["module"] == "deb:redis-server"


def test_frontend_writes_to_the_leader_and_reads_from_a_replica(mirror, tmp_path):  # noqa: F811
    redis_root, app_root = tmp_path / "redis", tmp_path / "app"
    _unpack(paths.mirror_dir() / mirror["image-bundle:redis"]["path"], redis_root)
    app = _unpack(paths.mirror_dir() / mirror["image-bundle:guestbook"]["path"], app_root)
    assert app["Entrypoint"] == ["/usr/bin/guestbook"] and app["User"] == "65532:65532"
    leader_port, replica_port, web_port = _free_port(), _free_port(), _free_port()
    auth = "requirepass s3cret\nmasterauth s3cret\nbind 127.0.0.1\nsave \"\"\nappendonly no\n"
    (tmp_path / "leader.conf").write_text(f"{auth}port {leader_port}\ndir {tmp_path}\n")
    (tmp_path / "replica.conf").write_text(f"{auth}port {replica_port}\ndir {tmp_path}\n"
                                           f"replicaof 127.0.0.1 {leader_port}\n")
    procs: list[subprocess.Popen] = []
    try:
        procs.append(_redis(redis_root, tmp_path / "leader.conf", tmp_path / "leader.log"))
        _wait_port(leader_port, procs[-1], tmp_path / "leader.log")
        procs.append(_redis(redis_root, tmp_path / "replica.conf", tmp_path / "replica.log"))
        _wait_port(replica_port, procs[-1], tmp_path / "replica.log")
        env = {"LISTEN": f"127.0.0.1:{web_port}", "REDIS_LEADER": f"127.0.0.1:{leader_port}",
               "REDIS_FOLLOWER": f"127.0.0.1:{replica_port}", "REDIS_PASSWORD": "s3cret", "POD_NAME": "frontend-test",
               "SHUTDOWN_DELAY": "2s"}
        log = tmp_path / "frontend.log"
        procs.append(subprocess.Popen([str(app_root / "usr/bin/guestbook")], env=env, stdout=log.open("w"),
                                      stderr=subprocess.STDOUT))
        _wait_port(web_port, procs[-1], log)
        base = f"http://127.0.0.1:{web_port}"
        deadline = time.monotonic() + 20
        while "MASTER <-> REPLICA sync: Finished" not in (tmp_path / "replica.log").read_text():
            assert time.monotonic() < deadline, (tmp_path / "replica.log").read_text()[-800:]
            time.sleep(0.2)
        assert _call(f"{base}/healthz") == (200, "ok\n")

        status, wrote = _call(f"{base}/api/entries", {"entry": "  hello <b>world</b>  "})
        assert status == 201, wrote
        assert wrote["entry"] == "hello <b>world</b>" and wrote["served_by"] == "frontend-test"
        assert wrote["replicas_connected"] == 1 and wrote["replicas_acknowledged"] == 1, wrote
        status, read = _call(f"{base}/api/entries")
        assert status == 200 and read["entries"] == ["hello <b>world</b>"], read
        assert read["read_from"] == {"address": f"127.0.0.1:{replica_port}", "role": "slave"}
        with urllib.request.urlopen(base + "/", timeout=10) as resp:
            page = resp.read().decode()
        assert "<li>hello &lt;b&gt;world&lt;/b&gt;</li>" in page, "the page escapes what it shows"

        refused = {
            "empty": ({"entry": "   "}, "entry is empty"),
            "too long": ({"entry": "x" * 201}, "at most 200"),
            "control": ({"entry": "a\u0007b"}, "control character U+0007"),
            "no field": ({"other": 1}, 'no "entry" field'),
            "not JSON": (b"{nope", "not a JSON object"),
            "not UTF-8": (b'{"entry": "\xff"}', "not UTF-8"),
            "huge": (json.dumps({"entry": "x" * 100_000}).encode(), "at most 4096 bytes"),
        }
        for case, (body, reason) in refused.items():
            status, said = _call(f"{base}/api/entries", body)
            assert status == 400 and reason in said["error"], (case, status, said)
        assert _call(f"{base}/api/entries")[1]["entries"] == ["hello <b>world</b>"], "refused writes wrote nothing"

        procs[-1].terminate()
        time.sleep(0.3)
        status, said = _call(f"{base}/readyz")
        assert (status, said.strip()) == (503, "stopping"), "told to stop, it leaves the Service first"
        assert _call(f"{base}/api/entries")[0] == 200, "and serves meanwhile"
        assert procs[-1].wait(timeout=15) == 0, "the frontend stops cleanly on SIGTERM"
        env["REDIS_PASSWORD"] = "wrong"
        procs.append(subprocess.Popen([str(app_root / "usr/bin/guestbook")], env=env, stdout=log.open("a"),
                                      stderr=subprocess.STDOUT))
        _wait_port(web_port, procs[-1], log)
        status, said = _call(f"{base}/healthz")
        assert status == 503 and f"leader 127.0.0.1:{leader_port}" in said and "WRONGPASS" in said, said
        status, said = _call(f"{base}/api/entries", {"entry": "x"})
        assert status == 503 and "write to" in said["error"], said

        # a follower that accepts connections and never answers (its node lost, its endpoint not
        # yet removed): the read goes to the leader within about a second
        procs[-1].terminate()
        procs[-1].wait(timeout=15)
        silent = socket.create_server(("127.0.0.1", 0))
        env.update(REDIS_PASSWORD="s3cret", REDIS_FOLLOWER=f"127.0.0.1:{silent.getsockname()[1]}")
        procs.append(subprocess.Popen([str(app_root / "usr/bin/guestbook")], env=env, stdout=log.open("a"),
                                      stderr=subprocess.STDOUT))
        _wait_port(web_port, procs[-1], log)
        started = time.monotonic()
        status, read = _call(f"{base}/api/entries")
        took = time.monotonic() - started
        silent.close()
        assert status == 200 and read["read_from"] == {"address": f"127.0.0.1:{leader_port}", "role": "master"}, read
        assert read["entries"] == ["hello <b>world</b>"] and took < 2.5, (took, read)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
