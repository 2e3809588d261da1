"""A real OpenSSH server on loopback for the SSH layer's tests.

``start_sshd`` generates a host key and a client key in a temporary directory (0600),
writes an sshd_config that listens on a free port of a few 127.0.0.x addresses only,
and runs ``/usr/sbin/sshd -D -e`` as a child process; ``SSHD.stop`` ends exactly that
process by its PID. Loopback covers all of 127.0.0.0/8 on Linux, so each test host gets
an address of its own without touching any interface.

Import the fixtures into a test module (``from sshd import sshd_fixture``); the
``sshd`` fixture (session scope) starts one server for the whole run; the
``sudo_user`` fixture adds a temporary non-root user with passwordless sudo through a
drop-in in /etc/sudoers.d/, removed again (with the user) at teardown.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

SSHD_BINARY = "/usr/sbin/sshd"
HOST_ADDRESSES = ["127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"]
BASTION_ADDRESS = "127.0.0.1"


def free_port(address: str = "127.0.0.1") -> int:
    """Return a TCP port that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def keygen(path: Path, comment: str = "kj-test") -> Path:
    """Generate an unencrypted ed25519 key pair at ``path`` (private key 0600)."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                   check=True, capture_output=True)
    path.chmod(0o600)
    return path


def fingerprint(pub: Path) -> str:
    """Return the SHA256 fingerprint ``ssh-keygen -l`` prints for a public key."""
    out = subprocess.run(["ssh-keygen", "-l", "-f", str(pub)], check=True, capture_output=True, text=True).stdout
    return out.split()[1]


@dataclass
class SSHD:
    """A running sshd and the files a client needs to reach it."""

    directory: Path
    port: int
    addresses: list[str]
    host_key: Path
    identity: Path
    authorized_keys: Path
    proc: subprocess.Popen | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.directory / "sshd.log"

    @property
    def host_pub(self) -> str:
        """The host public key line (``ssh-ed25519 AAAA...``)."""
        return " ".join(Path(f"{self.host_key}.pub").read_text().split()[:2])

    @property
    def host_fingerprint(self) -> str:
        """The SHA256 fingerprint of the host key."""
        return fingerprint(Path(f"{self.host_key}.pub"))

    def known_hosts(self, path: Path, addresses: Iterable[str] | None = None, key: str | None = None,
                    port: int | None = None) -> Path:
        """Write a known_hosts file listing ``addresses`` (default: all) with the host key."""
        port = port or self.port
        names = ",".join(f"[{a}]:{port}" for a in (self.addresses if addresses is None else addresses))
        path.write_text(f"{names} {key or self.host_pub}\n")
        return path

    def stop(self) -> None:
        """End the sshd this object started (by its PID)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)  # raises, naming sshd, if even SIGKILL does not end it
        self.proc = None


def start_sshd(directory: Path, addresses: list[str]) -> SSHD:
    """Generate keys and config in ``directory`` and start sshd listening on ``addresses``."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)  # the sudo test user reads authorized_keys from here
    host_key = keygen(directory / "ssh_host_ed25519_key", "kj-test-host")
    identity = keygen(directory / "id_ed25519", "kj-test-client")
    authorized = directory / "authorized_keys"
    shutil.copy(f"{identity}.pub", authorized)
    authorized.chmod(0o644)
    port = free_port()
    listen = "\n".join(f"ListenAddress {a}:{port}" for a in addresses)
    config = directory / "sshd_config"
    config.write_text(
        f"""{listen}
HostKey {host_key}
PidFile {directory}/sshd.pid
AuthorizedKeysFile {authorized}
UsePAM no
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowTcpForwarding yes
MaxStartups 100:30:200
MaxSessions 50
Subsystem sftp internal-sftp
LogLevel VERBOSE
# Debian's bash sources ~/.bashrc for commands sshd runs unless SHLVL says it is nested;
# this box's root .bashrc takes ~0.7 s (pyenv), which would dominate every command.
SetEnv SHLVL=1
"""
    )
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    server = SSHD(directory, port, list(addresses), host_key, identity, authorized)
    log = server.log.open("wb")
    server.proc = subprocess.Popen([SSHD_BINARY, "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    pending = list(addresses)
    while pending:
        if server.proc.poll() is not None:
            raise RuntimeError(f"sshd exited {server.proc.returncode}:\n{server.log.read_text()}")
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"sshd did not listen on {pending} within 10s:\n{server.log.read_text()}")
        try:
            socket.create_connection((pending[0], port), timeout=0.5).close()
            pending.pop(0)
        except OSError:
            time.sleep(0.05)
    return server


def write_inventory(path: Path, server: SSHD, hosts: list[dict], *, known_hosts: Path | None = None,
                    identity: Path | None = None, ssh: dict | None = None, sources: dict | None = None) -> Path:
    """Write an inventory YAML whose hosts are loopback addresses served by ``server``.

    Args:
        path: the YAML file to write.
        server: the running sshd.
        hosts: host entries (name, address, roles, optional ssh overrides).
        known_hosts: the known_hosts file (default: one listing every sshd address).
        identity: the private key (default: the sshd fixture's client key).
        ssh: extra keys of the ``ssh`` section (user, bastion, ...).
        sources: the ``sources`` section.
    """
    if known_hosts is None:
        known_hosts = server.known_hosts(path.parent / "known_hosts")
    data = {
        "cluster": {"name": "kj-test", "domain": "kj.test", "kubernetes_version": "pinned"},
        "network": {
            "node_subnet": "127.0.0.0/24",
            "gateway": "127.0.0.1",
            "pod_cidr": "10.244.0.0/16",
            "service_cidr": "10.96.0.0/16",
            "cluster_dns": "10.96.0.10",
        },
        "ssh": {"user": "root", "port": server.port, "identity_file": str(identity or server.identity),
                "known_hosts": str(known_hosts), **(ssh or {})},
        "sources": sources or {"release_mirror": "upstream", "images": "registry"},
        "hosts": hosts,
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def default_hosts(count: int = 4) -> list[dict]:
    """``count`` hosts on 127.0.0.11.. with roles that make a valid inventory."""
    roles = [["master", "etcd"] if count > 1 else ["master", "etcd", "worker"], ["worker"], ["worker"], ["worker"]]
    return [{"name": f"node{i + 1}", "address": HOST_ADDRESSES[i], "roles": roles[i]} for i in range(count)]


def _unavailable(reason: str) -> None:
    """Skip, or fail under KJ_REQUIRE_ALL=1 (CI never passes by skipping; see conftest.py)."""
    if os.environ.get("KJ_REQUIRE_ALL") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session", name="sshd")
def sshd_fixture() -> Iterator[SSHD]:
    """One OpenSSH server for the whole test session, on 127.0.0.1 and 127.0.0.11-14."""
    if not Path(SSHD_BINARY).exists():
        _unavailable(f"{SSHD_BINARY} is not installed (Debian package openssh-server; ci/setup.sh installs it)")
    if os.geteuid() != 0:
        _unavailable("the sshd tests run sshd as root (they log in as root and create a sudo user)")
    # not under pytest's 0700 tmp root: sshd reads authorized_keys as the test users
    directory = Path(tempfile.mkdtemp(prefix="kj-sshd-"))
    try:
        server = start_sshd(directory, [BASTION_ADDRESS, *HOST_ADDRESSES])
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class TestUser:
    """A temporary local user that logs in with the sshd fixture's key."""

    name: str
    home: Path
    sudoers: Path | None


def _add_user(home: Path, sudo: bool) -> TestUser:
    name = f"kj{secrets.token_hex(3)}"
    subprocess.run(["useradd", "--home-dir", str(home), "--no-create-home", "--shell", "/bin/sh",
                    "--user-group", name], check=True, capture_output=True)
    # a "*" password is disabled but not "locked" ("!"), which sshd refuses without PAM
    subprocess.run(["usermod", "-p", "*", name], check=True, capture_output=True)
    home.mkdir(parents=True, exist_ok=True)
    shutil.chown(home, name, name)
    sudoers = None
    if sudo:
        sudoers = Path("/etc/sudoers.d") / f"kj-test-{name}"
        sudoers.write_text(f"{name} ALL=(ALL) NOPASSWD: ALL\n")
        sudoers.chmod(0o440)
    return TestUser(name, home, sudoers)


def _remove_user(user: TestUser) -> None:
    if user.sudoers is not None:
        user.sudoers.unlink(missing_ok=True)
    subprocess.run(["userdel", user.name], check=False, capture_output=True)
    shutil.rmtree(user.home, ignore_errors=True)


@pytest.fixture(scope="session", name="sudo_user")
def sudo_user_fixture(sshd: SSHD) -> Iterator[TestUser]:
    """A temporary non-root user allowed passwordless sudo (drop-in removed at teardown)."""
    if not shutil.which("sudo"):
        _unavailable("sudo is not installed (Debian package sudo; ci/setup.sh installs it)")
    user = _add_user(sshd.directory / "home-sudo", sudo=True)
    try:
        yield user
    finally:
        _remove_user(user)


@pytest.fixture(scope="session", name="plain_user")
def plain_user_fixture(sshd: SSHD) -> Iterator[TestUser]:
    """A temporary non-root user without sudo rights."""
    if not shutil.which("sudo"):
        _unavailable("sudo is not installed (Debian package sudo; ci/setup.sh installs it)")
    user = _add_user(sshd.directory / "home-plain", sudo=False)
    try:
        yield user
    finally:
        _remove_user(user)
