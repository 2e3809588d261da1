"""The SSH layer against a real OpenSSH server on loopback (see tests/sshd.py).

Every host of these inventories is a 127.0.0.x address served by the same sshd, so the
remote state the primitives change is this machine's file system: the tests check it
independently with os.stat / reading the file, not through the code under test.

Not covered here, because they need a Debian host with systemd and would change this
machine: ensure_packages installing, ensure_service, ensure_sysctl's ``sysctl -w`` and
ensure_kernel_feature's modprobe path. The lab tests exercise those; here only their
read-only probes run.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import subprocess
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from sshd import (  # noqa: F401 - the *_fixture names register the sshd, sudo_user, plain_user fixtures
    HOST_ADDRESSES,
    SSHD,
    default_hosts,
    free_port,
    keygen,
    plain_user_fixture,
    sshd_fixture,
    sudo_user_fixture,
    write_inventory,
)

from helpers.ensure import (
    ensure_absent,
    ensure_binary,
    ensure_directory,
    ensure_file,
    ensure_kernel_feature,
    ensure_packages,
    ensure_sysctl,
    ensure_template,
    kernel_feature_state,
    read_sysctl,
    render_template,
)
from helpers.errors import (
    ChecksumMismatch,
    CommandFailed,
    ConfigError,
    HostError,
    HostKeyMismatch,
    StepFailed,
    UnreachableHost,
)
from helpers.inventory import load_inventory
from helpers.remote import Change, Fleet

pytestmark = pytest.mark.sshd


@pytest.fixture
def inventory(sshd: SSHD, tmp_path: Path):
    return load_inventory(write_inventory(tmp_path / "inventory.yaml", sshd, default_hosts()))


@pytest.fixture
def fleet(inventory):
    with Fleet(inventory, connect_timeout=5, command_timeout=30) as f:
        yield f


@pytest.fixture
def h(fleet):
    return fleet.hosts("node1")[0]


def mode_of(path: Path) -> int:
    return path.stat().st_mode & 0o7777


class Listener:
    """A TCP listener that accepts and then says nothing (no SSH banner); counts accepts."""

    def __init__(self, address: str):
        self.sock = socket.socket()
        self.sock.bind((address, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self):
        self.sock.close()
        for c in self.accepted:
            c.close()


@pytest.fixture
def silent():
    listener = Listener("127.0.0.16")
    yield listener
    listener.close()


# --- commands, fan-out, failures --------------------------------------------------------------


def test_run_returns_stdout_per_host(fleet):
    report = fleet.run("addresses", "echo $SSH_CONNECTION | cut -d' ' -f3")
    assert report.ok == 4 and report.failed == 0
    assert {host: out.strip() for host, out in report.data().items()} == dict(
        zip(["node1", "node2", "node3", "node4"], HOST_ADDRESSES, strict=True))


def test_host_selectors(fleet):
    assert [h.name for h in fleet.hosts()] == ["node1", "node2", "node3", "node4"]
    assert [h.name for h in fleet.hosts("worker")] == ["node2", "node3", "node4"]
    assert [h.name for h in fleet.hosts("etcd")] == ["node1"]
    assert [h.name for h in fleet.hosts("node3")] == ["node3"]
    assert [h.name for h in fleet.hosts(["node4", "node2"])] == ["node2", "node4"]
    assert fleet.hosts("lb") == []
    with pytest.raises(ConfigError, match="no host 'node9'"):
        fleet.hosts(["node1", "node9"])


def test_step_fans_out_in_parallel(fleet):
    started = time.monotonic()
    report = fleet.step("sleep", lambda h: h.run("sleep 1") and None)
    wall = time.monotonic() - started
    assert report.ok == 4
    assert wall < 2.5, f"4 hosts x sleep 1 took {wall:.2f}s: not concurrent"
    assert report.seconds == pytest.approx(wall, abs=0.2)


def test_step_parallelism_is_bounded(inventory):
    active, peak, lock = 0, 0, threading.Lock()

    def work(h):
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        try:
            h.run("sleep 0.4")
        finally:
            with lock:
                active -= 1

    with Fleet(inventory, max_parallel=2) as fleet:
        started = time.monotonic()
        fleet.step("bounded", work)
        wall = time.monotonic() - started
    assert peak == 2
    assert wall >= 0.8


def test_step_collects_every_failure_and_raises_once(fleet, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()

    def work(h):
        h.run(f"touch {marks}/{h.name}")
        if h.name in ("node2", "node4"):
            h.run(f"echo broken {h.name} >&2; exit 3")
        return Change(True, "touched")

    with pytest.raises(StepFailed) as caught:
        fleet.step("mark hosts", work)
    err = caught.value
    assert set(err.failures) == {"node2", "node4"}
    assert all(isinstance(e, CommandFailed) and e.exit_code == 3 for e in err.failures.values())
    assert "node2" in str(err) and "node4" in str(err) and "broken node4" in str(err)
    # every host ran, the failing ones included
    assert sorted(p.name for p in marks.iterdir()) == ["node1", "node2", "node3", "node4"]
    report = err.report
    assert (report.ok, report.changed, report.failed) == (0, 2, 2)
    assert report["node1"].status == "changed" and report["node2"].status == "failed"


def test_step_without_raising_returns_the_report(fleet):
    report = fleet.step("fails on one", lambda h: h.run("exit 1") if h.name == "node3" else None,
                        raise_on_failure=False)
    assert report.failed == 1 and report.ok == 3
    with pytest.raises(StepFailed, match="node3"):
        report.raise_for_failures()


def test_step_logs_one_line_per_host(fleet, caplog):
    caplog.set_level(logging.INFO, logger="helpers")
    fleet.step("say hello", lambda h: Change(h.name == "node2", "said hello"))
    lines = [r.getMessage() for r in caplog.records if r.name == "helpers"]
    assert "[node1] say hello: ok (said hello)" in lines
    assert "[node2] say hello: changed (said hello)" in lines


def test_command_failed_carries_exit_code_and_stderr_tail(h):
    res = h.run("echo out; echo err >&2; exit 7", check=False)
    assert (res.exit_code, res.ok, res.stdout, res.stderr) == (7, False, "out\n", "err\n")
    with pytest.raises(CommandFailed) as caught:
        h.run("echo out; for i in $(seq 1 40); do echo line$i >&2; done; exit 5")
    err = caught.value
    assert err.host == "node1" and err.exit_code == 5
    assert "line40" in str(err) and "line20" not in str(err)  # the tail, not the whole output
    assert "line1" in err.output


def test_command_timeout(h):
    started = time.monotonic()
    with pytest.raises(CommandFailed, match="timed out after 1s") as caught:
        h.run("sleep 10", timeout=1)
    assert caught.value.exit_code == 124
    assert time.monotonic() - started < 3


def test_input_read_file_exists(h, tmp_path):
    data = bytes(range(256)) * 300
    assert h.run("sha256sum", input=data.hex()).stdout.split()[0] == hashlib.sha256(data.hex().encode()).hexdigest()
    (tmp_path / "blob").write_bytes(data)
    assert h.read_file(str(tmp_path / "blob")) == data
    assert h.read_file(str(tmp_path / "nothing")) is None
    assert h.exists(str(tmp_path / "blob")) and not h.exists(str(tmp_path / "nothing"))


# --- primitives: first run changes, second run does not ----------------------------------------


def test_ensure_file(h, tmp_path):
    target = tmp_path / "conf" / "app.conf"
    target.parent.mkdir()
    first = ensure_file(h, str(target), "hello\n", mode=0o640)
    assert first.changed and "created" in first.detail
    assert target.read_text() == "hello\n" and mode_of(target) == 0o640
    assert (target.stat().st_uid, target.stat().st_gid) == (0, 0)
    assert sorted(os.listdir(target.parent)) == ["app.conf"]  # no temp file left behind
    second = ensure_file(h, str(target), "hello\n", mode=0o640)
    assert not second.changed and "up to date" in second.detail

    inode = target.stat().st_ino
    target.chmod(0o600)
    fixed = ensure_file(h, str(target), "hello\n", mode=0o640)
    assert fixed.changed and "mode 0600 -> 0640" in fixed.detail
    assert mode_of(target) == 0o640 and target.stat().st_ino == inode  # metadata only, no rewrite

    os.chown(target, 65534, 65534)
    fixed = ensure_file(h, str(target), "hello\n", mode=0o640)
    assert fixed.changed and "owner" in fixed.detail and target.stat().st_uid == 0

    target.write_text("tampered\n")
    fixed = ensure_file(h, str(target), b"hello\n", mode=0o640)
    assert fixed.changed and "updated" in fixed.detail and target.read_text() == "hello\n"
    assert not ensure_file(h, str(target), "hello\n", mode=0o640).changed


def test_ensure_file_errors(h, tmp_path):
    with pytest.raises(HostError, match="does not exist"):
        ensure_file(h, str(tmp_path / "missing-dir" / "f"), "x")
    with pytest.raises(HostError, match="is a directory"):
        ensure_file(h, str(tmp_path), "x")
    with pytest.raises(ValueError, match="absolute"):
        ensure_file(h, "relative/path", "x")


def test_ensure_template(h, tmp_path):
    templates = tmp_path / "templates"
    (templates / "demo").mkdir(parents=True)
    (templates / "demo" / "unit.j2").write_text("[Service]\nExecStart={{ binary }} --port={{ port }}\n")
    assert render_template("demo/unit.j2", {"binary": "/usr/bin/x", "port": 1}, directory=templates).endswith("=1\n")
    with pytest.raises(ConfigError, match="'port' is undefined"):
        render_template("demo/unit.j2", {"binary": "/usr/bin/x"}, directory=templates)
    with pytest.raises(ConfigError, match="not found"):
        render_template("demo/nothing.j2", {})
    target = tmp_path / "x.service"
    ctx = {"binary": "/usr/bin/x", "port": 8080}
    assert ensure_template(h, str(target), "demo/unit.j2", ctx, directory=templates).changed
    assert target.read_text() == "[Service]\nExecStart=/usr/bin/x --port=8080\n"
    assert not ensure_template(h, str(target), "demo/unit.j2", ctx, directory=templates).changed


def test_ensure_directory(h, tmp_path):
    target = tmp_path / "a" / "b"
    assert ensure_directory(h, str(target), mode=0o700).changed
    assert target.is_dir() and mode_of(target) == 0o700
    assert not ensure_directory(h, str(target), mode=0o700).changed
    target.chmod(0o755)
    change = ensure_directory(h, str(target), mode=0o700)
    assert change.changed and "mode 0755 -> 0700" in change.detail and mode_of(target) == 0o700
    (tmp_path / "file").write_text("x")
    with pytest.raises(HostError, match="not a directory"):
        ensure_directory(h, str(tmp_path / "file"))


def test_ensure_absent(h, tmp_path):
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "f").write_text("x")
    assert ensure_absent(h, str(tree)).changed
    assert not tree.exists()
    assert not ensure_absent(h, str(tree)).changed
    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "nowhere")
    assert ensure_absent(h, str(link)).changed and not os.path.lexists(link)
    with pytest.raises(ValueError):
        ensure_absent(h, "/")


def test_ensure_binary(h, tmp_path):
    local = tmp_path / "kube-thing"
    local.write_bytes(os.urandom(3 * 1024 * 1024))
    art = SimpleNamespace(name="kube-thing", path=local, sha256=hashlib.sha256(local.read_bytes()).hexdigest())
    remote = tmp_path / "bin" / "kube-thing"
    remote.parent.mkdir()
    first = ensure_binary(h, str(remote), art)
    assert first.changed and remote.read_bytes() == local.read_bytes() and mode_of(remote) == 0o755
    assert not ensure_binary(h, str(remote), art).changed
    remote.write_bytes(b"old version")
    assert ensure_binary(h, str(remote), art).changed
    assert remote.read_bytes() == local.read_bytes()

    # the expected digest does not match what arrives: refused, the installed file untouched
    liar = SimpleNamespace(name="kube-thing", path=local, sha256="0" * 64)
    with pytest.raises(ChecksumMismatch) as caught:
        ensure_binary(h, str(remote), liar)
    assert caught.value.host == "node1" and caught.value.actual == art.sha256
    assert remote.read_bytes() == local.read_bytes()
    assert sorted(os.listdir(remote.parent)) == ["kube-thing"]
    assert not [p for p in os.listdir("/tmp") if p.startswith("kj-upload-")]


def test_ensure_sysctl_reads_and_persists_without_changing_the_kernel(h, tmp_path):
    live = {k: " ".join(Path("/proc/sys", k.replace(".", "/")).read_text().split())
            for k in ("kernel.ostype", "net.ipv4.ip_forward", "net.ipv4.tcp_rmem")}
    assert read_sysctl(h, [*live, "kj.no.such"]) == {**live, "kj.no.such": None}
    persist = tmp_path / "90-test.conf"
    # desired == current: the file is written, no value differs, so no `sysctl -w` runs
    first = ensure_sysctl(h, live, persist_file=str(persist))
    assert first.changed and "created" in first.detail and "was" not in first.detail
    assert "net.ipv4.tcp_rmem = " + live["net.ipv4.tcp_rmem"] in persist.read_text()
    assert not ensure_sysctl(h, live, persist_file=str(persist)).changed
    assert read_sysctl(h, live) == live
    with pytest.raises(HostError, match="no parameter kj.no.such"):
        ensure_sysctl(h, {"kj.no.such": 1}, persist_file=str(persist))


def test_kernel_feature_detection_is_read_only(h):
    state, why = kernel_feature_state(h, "br_netfilter")
    if Path("/proc/modules").exists() and "br_netfilter " in Path("/proc/modules").read_text():
        assert state == "loaded"
    elif Path("/proc/sys/net/bridge").is_dir():
        assert state == "builtin" and why
        change = ensure_kernel_feature(h, "br_netfilter")
        assert not change.changed and "built into the kernel" in change.detail
    assert kernel_feature_state(h, "kj_no_such_feature") == ("absent", "")
    with pytest.raises(HostError, match="kj_no_such_feature"):
        ensure_kernel_feature(h, "kj_no_such_feature")
    assert not Path("/etc/modules-load.d/kj_no_such_feature.conf").exists()


def test_ensure_packages_probe_only_when_installed(h):
    change = ensure_packages(h, ["openssh-server", "coreutils"])
    assert not change.changed and "2 package(s) installed" in change.detail


# --- configuration and connection failures ---------------------------------------------------


def test_missing_known_hosts_is_a_config_error_before_connecting(sshd, tmp_path, silent):
    hosts = [{"name": "node1", "address": "127.0.0.16", "roles": ["master", "etcd", "worker"],
              "ssh": {"port": silent.port}}]
    inv = load_inventory(write_inventory(tmp_path / "inv.yaml", sshd, hosts, known_hosts=tmp_path / "nope"))
    with pytest.raises(ConfigError, match="known_hosts .*nope does not exist"):
        Fleet(inv)
    time.sleep(0.1)
    assert silent.accepted == []


def test_missing_or_unprotected_identity_is_a_config_error(sshd, tmp_path, silent):
    hosts = [{"name": "node1", "address": "127.0.0.16", "roles": ["master", "etcd", "worker"],
              "ssh": {"port": silent.port}}]
    inv = load_inventory(write_inventory(tmp_path / "inv.yaml", sshd, hosts, identity=tmp_path / "id_missing"))
    with pytest.raises(ConfigError, match="identity_file .*id_missing does not exist"):
        Fleet(inv)
    loose = keygen(tmp_path / "id_loose")
    loose.chmod(0o644)
    hosts[0]["ssh"]["identity_file"] = str(loose)
    inv = load_inventory(write_inventory(tmp_path / "inv.yaml", sshd, hosts))
    with pytest.raises(ConfigError, match=r"hosts\[0\].ssh.identity_file .* readable by other users"):
        Fleet(inv)
    assert silent.accepted == []


def test_changed_host_key_is_refused(sshd, tmp_path):
    other = keygen(tmp_path / "other_host_key")
    other_pub = " ".join(Path(f"{other}.pub").read_text().split()[:2])
    known = sshd.known_hosts(tmp_path / "known_hosts", key=other_pub)
    inv = load_inventory(write_inventory(tmp_path / "inv.yaml", sshd, default_hosts(1), known_hosts=known))
    with Fleet(inv) as fleet, pytest.raises(StepFailed) as caught:
        fleet.run("uptime", "uptime")
    err = caught.value.failures["node1"]
    assert isinstance(err, HostKeyMismatch) and err.host == "node1"
    assert "host key changed" in str(err)
    assert sshd.host_fingerprint in str(err)  # the key the server presented
    assert f"{tmp_path}/known_hosts" in str(err)


def test_unknown_host_key_is_refused(sshd, tmp_path):
    known = sshd.known_hosts(tmp_path / "known_hosts", addresses=["127.0.0.99"])
    inv = load_inventory(write_inventory(tmp_path / "inv.yaml", sshd, default_hosts(1), known_hosts=known))
    with Fleet(inv) as fleet, pytest.raises(HostKeyMismatch) as caught:
        fleet.hosts("node1")[0].run("true")
    assert "unknown host key" in str(caught.value) and sshd.host_fingerprint in str(caught.value)
    assert known.read_text().count("\n") == 1  # nothing was added


def test_known_hosts_entry_by_host_name(sshd, tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text(f"[node1.kj.test]:{sshd.port} {sshd.host_pub}\n")
    inv = load_inventory(write_inventory(tmp_path / "inv.yaml", sshd, default_hosts(1), known_hosts=known))
    with Fleet(inv) as fleet:
        assert fleet.hosts("node1")[0].run("echo hi").stdout == "hi\n"


def test_unreachable_hosts_are_named_within_the_connect_timeout(sshd, tmp_path, silent):
    hosts = [
        {"name": "node1", "address": "127.0.0.11", "roles": ["master", "etcd"], "ssh": {"port": free_port("127.0.0.11")}},
        {"name": "node2", "address": "127.0.0.15", "roles": ["worker"]},
        {"name": "node3", "address": "127.0.0.16", "roles": ["worker"], "ssh": {"port": silent.port}},
        {"name": "node4", "address": "127.0.0.12", "roles": ["worker"]},
    ]
    inv = load_inventory(write_inventory(tmp_path / "inv.yaml", sshd, hosts))
    with Fleet(inv, connect_timeout=2) as fleet:
        started = time.monotonic()
        with pytest.raises(StepFailed) as caught:
            fleet.run("reach", "true")
        wall = time.monotonic() - started
    failures = caught.value.failures
    assert set(failures) == {"node1", "node2", "node3"}  # node4 is fine
    assert all(isinstance(e, UnreachableHost) for e in failures.values())
    assert "refused" in str(failures["node1"]) and "127.0.0.11" in str(failures["node1"])
    assert "refused" in str(failures["node2"]) and "127.0.0.15" in str(failures["node2"])
    assert "no SSH handshake within 2s" in str(failures["node3"])
    assert wall < 2 + 1.0, f"unreachable hosts took {wall:.1f}s with a 2s connect timeout"
    assert caught.value.report["node1"].seconds < 0.5  # refused is immediate
    assert caught.value.report["node4"].status == "ok"


def test_wrong_key_is_an_authentication_failure(sshd, tmp_path):
    stranger = keygen(tmp_path / "id_stranger")
    inv = load_inventory(write_inventory(tmp_path / "inv.yaml", sshd, default_hosts(1), identity=stranger))
    with Fleet(inv) as fleet, pytest.raises(UnreachableHost, match="authentication failed for root@127.0.0.11"):
        fleet.hosts("node1")[0].connect()


# --- sudo and bastion -------------------------------------------------------------------------


def test_sudo_user_writes_root_owned_files(sshd, sudo_user, tmp_path):
    inv = load_inventory(write_inventory(tmp_path / "inv.yaml", sshd, default_hosts(2), ssh={"user": sudo_user.name}))
    target_dir = tmp_path / "etc-like"  # tmp_path is 0700 root: only sudo gets in
    with Fleet(inv) as fleet:
        h = fleet.hosts("node1")[0]
        assert h.sudo and h.run("id -u").stdout.strip() == "0"
        assert ensure_directory(h, str(target_dir), mode=0o750).changed
        first = ensure_file(h, str(target_dir / "secret.key"), "s3cret\n", mode=0o600)
        assert first.changed
        target = target_dir / "secret.key"
        assert target.read_text() == "s3cret\n" and mode_of(target) == 0o600
        assert (target.stat().st_uid, target.stat().st_gid) == (0, 0)
        assert not ensure_file(h, str(target), "s3cret\n", mode=0o600).changed
        assert ensure_file(h, str(target), "rotated\n", mode=0o600).changed
        assert target.read_text() == "rotated\n"
        assert sorted(os.listdir(target_dir)) == ["secret.key"]
        assert not [p for p in os.listdir("/tmp") if p.startswith("kj-upload-")]
        report = fleet.run("whoami", f"stat -c %U {target}")
        assert set(report.data().values()) == {"root\n"}
    ls = subprocess.run(["stat", "-c", "%U:%G %a", str(target)], capture_output=True, text=True, check=True)
    assert ls.stdout.strip() == "root:root 600"


def test_user_without_passwordless_sudo_fails_clearly(sshd, plain_user, tmp_path):
    inv = load_inventory(write_inventory(tmp_path / "inv.yaml", sshd, default_hosts(1), ssh={"user": plain_user.name}))
    with Fleet(inv) as fleet, pytest.raises(StepFailed) as caught:
        fleet.run("id", "id -u")
    err = caught.value.failures["node1"]
    assert isinstance(err, CommandFailed) and err.command == "sudo -n true"
    assert "password is required" in str(err) and "NOPASSWD" in str(err)


def test_bastion_hop(sshd, tmp_path):
    inv = load_inventory(write_inventory(
        tmp_path / "inv.yaml", sshd, default_hosts(),
        ssh={"bastion": {"host": "127.0.0.1", "port": sshd.port, "user": "root"}},
    ))
    with Fleet(inv) as fleet:
        report = fleet.run("through the bastion", "echo $SSH_CONNECTION | cut -d' ' -f3")
        assert [v.strip() for v in report.data().values()] == HOST_ADDRESSES
        import paramiko

        for h in fleet.hosts():
            assert isinstance(h.connect().transport.sock, paramiko.Channel)  # tunnelled, not a socket
        assert fleet._gateway is not None and fleet._gateway.is_connected


def test_bastion_host_key_is_verified_too(sshd, tmp_path):
    known = sshd.known_hosts(tmp_path / "known_hosts", addresses=HOST_ADDRESSES)  # no bastion entry
    inv = load_inventory(write_inventory(
        tmp_path / "inv.yaml", sshd, default_hosts(1), known_hosts=known,
        ssh={"bastion": {"host": "127.0.0.1", "port": sshd.port}},
    ))
    with Fleet(inv) as fleet, pytest.raises(HostKeyMismatch, match="unknown host key: bastion root@127.0.0.1"):
        fleet.hosts("node1")[0].connect()


def test_bastion_reports_a_target_it_cannot_reach(sshd, tmp_path):
    hosts = [{"name": "node1", "address": "127.0.0.15", "roles": ["master", "etcd", "worker"]}]
    known = sshd.known_hosts(tmp_path / "known_hosts", addresses=["127.0.0.1", "127.0.0.15"])
    inv = load_inventory(write_inventory(
        tmp_path / "inv.yaml", sshd, hosts, known_hosts=known,
        ssh={"bastion": {"host": "127.0.0.1", "port": sshd.port}},
    ))
    with Fleet(inv, connect_timeout=3) as fleet, pytest.raises(UnreachableHost) as caught:
        fleet.hosts("node1")[0].connect()
    assert "bastion could not open a connection to root@127.0.0.15" in str(caught.value)


# --- results of step functions ---------------------------------------------------------------


def test_change_merge():
    assert Change.merge(Change(False, "a ok"), Change(True, "b written"), None, Change(True, "c")) == Change(
        True, "b written; c")
    assert Change.merge(Change(False, "up to date"), Change(False, "up to date"), Change(False, "x")) == Change(
        False, "up to date; x")
    assert Change.merge() == Change(False, "")


def test_step_accepts_results_and_data(fleet):
    from helpers.report import Result

    report = fleet.step("facts", lambda h: h.run("echo 42").stdout.strip() if h.name != "node2"
                        else Result("ignored", "skipped", "not needed"))
    assert report["node1"].status == "ok" and report.data()["node1"] == "42"
    assert report["node2"].status == "skipped" and report["node2"].host == "node2"
    assert report["node2"].seconds > 0


def test_probe_paths_makes_a_rerun_one_round_trip(h, tmp_path):
    from helpers.ensure import ensure_directory, probe_paths

    conf = tmp_path / "etc" / "demo"
    files = {conf / f"f{i}.conf": f"value {i}\n" for i in range(4)}
    paths = [str(conf), *map(str, files)]
    # fresh: the directory does not exist when probed; creating it must not leave stale "no parent" answers
    probe_paths(h, paths)
    assert ensure_directory(h, str(conf), mode=0o750).changed
    assert all(ensure_file(h, str(p), text).changed for p, text in files.items())
    assert all(p.read_text() == text for p, text in files.items())

    calls = []
    real_run = h.run

    def counting_run(cmd, *args, **kwargs):
        calls.append(cmd)
        return real_run(cmd, *args, **kwargs)

    h.run = counting_run
    try:
        probe_paths(h, paths)
        assert not ensure_directory(h, str(conf), mode=0o750).changed
        assert not any(ensure_file(h, str(p), text).changed for p, text in files.items())
        assert len(calls) == 1, f"a re-run that changes nothing should probe once, ran {len(calls)} commands"
        # each answer is used once: a second ensure of the same path asks the host again
        assert not ensure_file(h, str(next(iter(files))), "value 0\n").changed
        assert len(calls) == 2
        # a change drops the remaining answers (they may be stale)
        probe_paths(h, paths)
        (conf / "f1.conf").write_text("tampered\n")
        assert ensure_file(h, str(conf / "f0.conf"), "value 9\n").changed
        assert ensure_file(h, str(conf / "f1.conf"), "value 1\n").changed, "f1 was probed before it was tampered with"
    finally:
        h.run = real_run
