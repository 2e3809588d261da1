"""One host's SSH connection (:class:`HostConn`): commands through sudo, files over SFTP.

The connection opens on first use, with the fleet's settings; a failure to connect is
translated into :class:`~helpers.errors.UnreachableHost` or
:class:`~helpers.errors.HostKeyMismatch` by :func:`_connect_error`.
"""

from __future__ import annotations

import base64
import errno
import io
import logging
import shlex
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

import fabric
import paramiko
from fabric.runners import Remote
from invoke.exceptions import CommandTimedOut

from helpers.errors import CommandFailed, HostError, HostKeyMismatch, UnreachableHost
from helpers.remote.hostkeys import _UnknownHostKey
from helpers.remote.values import RunResult, _absolute, _joined

log = logging.getLogger("helpers")


class _Remote(Remote):
    """Fabric's remote runner, reading ``input=`` in 64 KiB chunks instead of byte by byte."""

    def read_our_stdin(self, input_):  # noqa: D102 - invoke hook
        data = input_.read(65536)
        return data.decode("utf-8") if isinstance(data, bytes) else data


class _Connection(fabric.Connection):
    """A Fabric connection whose gateway channel obeys the connect timeout."""

    def open_gateway(self):  # noqa: D102 - Fabric hook
        self.gateway.open()
        return self.gateway.transport.open_channel(
            kind="direct-tcpip",
            dest_addr=(self.host, int(self.port)),
            src_addr=("", 0),
            timeout=self.connect_timeout,
        )


def _config() -> fabric.Config:
    # lazy + an explicit empty SSHConfig: no ~/.ssh/config, /etc/ssh/ssh_config or
    # fabric.yml changes how we connect; the inventory is the only source.
    config = fabric.Config(lazy=True, ssh_config=paramiko.SSHConfig())
    config.runners.remote = _Remote
    config.load_ssh_configs = False
    return config



class HostConn:
    """One inventory host and its SSH connection (opened on first use).

    Attributes:
        name: the inventory host name.
        address: its address (as a string).
        host: the inventory ``Host``.
        inventory: the whole inventory.
        user, port, identity_file: the effective SSH settings (host overrides applied).
        sudo: whether commands run through ``sudo -n`` (the SSH user is not root).
        step: the title of the step running on this host now ("" outside a step).
    """

    def __init__(self, fleet: Any, host: Any):  # fleet: the helpers.remote.fleet.Fleet (not imported: it imports this)
        ssh, over = fleet.inventory.ssh, getattr(host, "ssh", None)
        self.fleet = fleet
        self.host = host
        self.inventory = fleet.inventory
        self.name: str = host.name
        self.address = str(host.address)
        self.user: str = getattr(over, "user", None) or ssh.user
        self.port: int = int(getattr(over, "port", None) or ssh.port)
        identity = getattr(over, "identity_file", None) or ssh.identity_file
        self.identity_file = Path(identity) if identity else None
        self.sudo = self.user != "root"
        self.step = ""
        self._conn: fabric.Connection | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<HostConn {self.name} {self.user}@{self.address}:{self.port}>"

    @property
    def where(self) -> str:
        """``user@address:port`` for messages."""
        return f"{self.user}@{self.address}:{self.port}"

    def _step(self, fallback: str) -> str:
        return self.step or fallback

    # connection -------------------------------------------------------------------

    def connect(self) -> fabric.Connection:
        """Return the open connection, connecting (and checking sudo) when needed.

        Raises:
            UnreachableHost: refused, timed out, no route, or authentication failed.
            HostKeyMismatch: the host's key is unknown to, or differs from, known_hosts.
            CommandFailed: the SSH user is not root and cannot ``sudo`` without a password.
        """
        with self._lock:
            if self._conn is not None and self._conn.is_connected:
                return self._conn
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            conn = self.fleet._connection_for(self)
            started = time.monotonic()
            try:
                if conn.gateway:
                    self.fleet._open_gateway(self)
                conn.open()
            except HostError:
                conn.close()
                raise
            except Exception as err:
                conn.close()
                raise _connect_error(self, err, self.where, self.fleet.known_hosts) from err
            log.debug("[%s] connected to %s in %.2fs", self.name, self.where, time.monotonic() - started)
            if self.sudo:
                self._check_sudo(conn)
            self._conn = conn
            return conn

    def _check_sudo(self, conn: fabric.Connection) -> None:
        try:
            res = conn.run("sudo -n true", hide=True, warn=True, in_stream=False,
                           timeout=self.fleet.connect_timeout)
        except Exception as err:
            conn.close()
            raise UnreachableHost(self.name, self._step("use sudo"),
                                  f"{self.where}: `sudo -n true` did not complete: {err}") from err
        if res.exited != 0:
            conn.close()
            raise CommandFailed(
                self.name, self._step("use sudo"), "sudo -n true", res.exited,
                f"{res.stderr.strip()}\nthe SSH user {self.user!r} is not root, so every command runs "
                "through sudo; it must be allowed to without a password "
                f"(e.g. '{self.user} ALL=(ALL) NOPASSWD: ALL' in /etc/sudoers.d/)",
            )

    def close(self) -> None:
        """Close the connection (it reopens on next use)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # commands ---------------------------------------------------------------------

    def run(
        self,
        cmd: str,
        check: bool = True,
        timeout: float | None = None,
        input: str | bytes | None = None,  # noqa: A002 - the contract's name
        hide: bool = True,
    ) -> RunResult:
        """Run a shell command on the host (through ``sudo -n`` when the SSH user is not root).

        Args:
            cmd: a POSIX shell command line.
            check: raise :class:`~helpers.errors.CommandFailed` when it exits non-zero.
            timeout: seconds before it is abandoned; default the fleet's command timeout.
            input: text fed to the command's stdin.
            hide: do not echo output locally.

        Returns:
            The command's stdout, stderr and exit code.

        Raises:
            CommandFailed: ``check`` and the exit code is not 0, or the command timed out
                (exit code 124, like coreutils' timeout).
            UnreachableHost: the connection could not be made or was lost.
        """
        conn = self.connect()
        line = f"sudo -n -- sh -c {shlex.quote(cmd)}" if self.sudo else cmd
        limit = timeout if timeout is not None else self.fleet.command_timeout
        stdin = io.StringIO(input.decode() if isinstance(input, bytes) else input) if input is not None else False
        log.debug("[%s] $ %s", self.name, cmd)
        started = time.monotonic()
        try:
            res = conn.run(line, hide=hide, warn=True, timeout=limit, in_stream=stdin, pty=False)
        except CommandTimedOut as err:
            out = _joined(err.result.stdout, err.result.stderr)
            raise CommandFailed(self.name, self._step("run a command"), cmd, 124,
                                f"{out}\n(timed out after {limit:g}s)") from err
        except (paramiko.SSHException, OSError, EOFError) as err:
            self.close()
            raise UnreachableHost(self.name, self._step("run a command"),
                                  f"connection to {self.where} lost while running `{cmd}`: {err}") from err
        if res.exited == -1 and time.monotonic() - started >= limit:
            # invoke's timer closed the channel but lost the race to flag the timeout
            raise CommandFailed(self.name, self._step("run a command"), cmd, 124,
                                f"{_joined(res.stdout, res.stderr)}\n(timed out after {limit:g}s)")
        result = RunResult(res.stdout, res.stderr, res.exited)
        if check and not result.ok:
            raise CommandFailed(self.name, self._step("run a command"), cmd, result.exit_code,
                                _joined(result.stdout, result.stderr))
        return result

    def read_file(self, path: str) -> bytes | None:
        """Return the content of a remote file, or None when it does not exist."""
        q = shlex.quote(_absolute(path))
        res = self.run(f"if [ -e {q} ]; then base64 -w0 -- {q}; else exit 44; fi", check=False)
        if res.exit_code == 44:
            return None
        if not res.ok:
            raise CommandFailed(self.name, self._step(f"read {path}"), f"base64 -w0 -- {q}", res.exit_code,
                                res.stderr)
        return base64.b64decode(res.stdout.strip())

    def exists(self, path: str) -> bool:
        """Whether a path exists on the host (a dangling symlink counts)."""
        q = shlex.quote(_absolute(path))
        return self.run(f"[ -e {q} ] || [ -L {q} ]", check=False).ok

    def upload(self, source: bytes | Path, remote_path: str) -> None:
        """Copy bytes or a local file to ``remote_path`` over SFTP, as the SSH user, mode 0600.

        The primitives use this for staging; to install a file use :func:`ensure_file`.
        """
        sftp = self.connect().sftp()
        try:
            with sftp.open(remote_path, "wb") as remote:
                sftp.chmod(remote_path, 0o600)
                remote.set_pipelined(True)
                if isinstance(source, bytes | bytearray):
                    remote.write(bytes(source))
                else:
                    with open(source, "rb") as local:
                        shutil.copyfileobj(local, remote, 1 << 20)
        except OSError as err:
            raise HostError(self.name, self._step(f"upload {remote_path}"),
                            f"SFTP write to {remote_path} failed: {err}") from err



def _connect_error(h: HostConn, err: BaseException, where: str, known_hosts: Path) -> HostError:
    """Translate a connection failure into UnreachableHost or HostKeyMismatch."""
    step = h._step("connect")
    t = h.fleet.connect_timeout
    if isinstance(err, _UnknownHostKey):
        return HostKeyMismatch(
            h.name, step,
            f"unknown host key: {where} presented {err.key.get_name()} {err.key.fingerprint}, "
            f"but {known_hosts} has no entry for {err.hostname}; check that fingerprint out of band "
            "and add the key to known_hosts (it is never accepted automatically)",
        )
    if isinstance(err, paramiko.BadHostKeyException):
        return HostKeyMismatch(
            h.name, step,
            f"host key changed: {where} presented {err.key.get_name()} {err.key.fingerprint}, "
            f"but {known_hosts} lists {err.expected_key.get_name()} {err.expected_key.fingerprint} "
            f"for {err.hostname}; the host was reinstalled or someone is in the middle",
        )
    if isinstance(err, paramiko.AuthenticationException):
        return UnreachableHost(h.name, step, f"authentication failed for {where} with key {h.identity_file}: {err}")
    if isinstance(err, paramiko.ChannelException):
        return UnreachableHost(h.name, step, f"the bastion could not open a connection to {where}: {err.text}")
    if isinstance(err, paramiko.ssh_exception.NoValidConnectionsError):
        inner = next(iter(err.errors.values()), err)
        return UnreachableHost(h.name, step, f"{where}: {_socket_reason(inner, t)}")
    if isinstance(err, OSError | EOFError):
        return UnreachableHost(h.name, step, f"{where}: {_socket_reason(err, t)}")
    if isinstance(err, paramiko.SSHException):
        text = str(err)
        if "banner" in text.lower() or text in ("No existing session", "Negotiation failed."):
            # paramiko reports a silent port as a banner error or, when its overall
            # timeout wins the race, as a session that never came to be
            text = f"no SSH handshake within {t:g}s (the port accepts connections but does not speak SSH)"
        return UnreachableHost(h.name, step, f"{where}: SSH handshake failed: {text}")
    return UnreachableHost(h.name, step, f"{where}: {type(err).__name__}: {err}")


def _socket_reason(err: BaseException, timeout: float) -> str:
    if isinstance(err, socket.timeout | TimeoutError):
        return f"connection timed out after {timeout:g}s"
    if isinstance(err, EOFError):
        return "connection closed by the remote side during the handshake"
    code = getattr(err, "errno", None)
    reasons = {
        errno.ECONNREFUSED: "connection refused (is sshd running on that port?)",
        errno.EHOSTUNREACH: "no route to host",
        errno.ENETUNREACH: "network unreachable",
        errno.ECONNRESET: "connection reset",
        errno.ETIMEDOUT: f"connection timed out after {timeout:g}s",
    }
    return reasons.get(code, str(err) or type(err).__name__)
