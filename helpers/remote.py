"""Run steps on the cluster's hosts over SSH (Fabric), in parallel, and change only what differs.

:class:`Fleet` holds one Fabric connection per inventory host. Every connection
authenticates with the inventory's identity file and verifies the host key against the
inventory's ``known_hosts`` file only: an unknown or changed key is refused, never
accepted. :meth:`Fleet.step` runs one function on every selected host in parallel
(bounded by ``max_parallel``); every host runs, failures are collected, and one
:class:`~helpers.errors.StepFailed` is raised at the end naming all of them.

The ``ensure_*`` primitives (in :mod:`helpers.ensure`, re-exported here) probe the host first and change only what differs, each
returning a :class:`Change`. Commands run through ``sudo -n`` when the SSH user is not
root. One logger, ``helpers``, gets a line per host and step:
``[host] step: status (detail)``.
"""

from __future__ import annotations

import base64
import errno
import io
import logging
import posixpath
import shlex
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fabric
import paramiko
from fabric.runners import Remote
from invoke.exceptions import CommandTimedOut

from helpers.constants import ROLES
from helpers.errors import (
    CommandFailed,
    ConfigError,
    HostError,
    HostKeyMismatch,
    UnreachableHost,
)
from helpers.report import Report, Result

log = logging.getLogger("helpers")

TEMPLATES = Path(__file__).resolve().parent / "templates"



# --- values --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunResult:
    """The outcome of one remote command."""

    stdout: str
    stderr: str
    exit_code: int

    @property
    def ok(self) -> bool:
        """Whether the command exited 0."""
        return self.exit_code == 0


@dataclass(frozen=True)
class Change:
    """What an idempotent primitive did: ``changed`` and one line saying what or why not."""

    changed: bool
    detail: str = ""

    @classmethod
    def merge(cls, *changes: Change | None) -> Change:
        """Combine several changes: changed when any changed; the details of those that did.

        When nothing changed, the detail lists every (distinct) reason instead.
        """
        done = [c for c in changes if c is not None]
        changed = [c for c in done if c.changed]
        details = [c.detail for c in (changed or done) if c.detail]
        return cls(bool(changed), "; ".join(dict.fromkeys(details)))


# --- connections ---------------------------------------------------------------------------


class _UnknownHostKey(paramiko.SSHException):
    """The server presented a key for a host that known_hosts does not list."""

    def __init__(self, hostname: str, key: paramiko.PKey):
        super().__init__(hostname)
        self.hostname = hostname
        self.key = key


class _RejectUnknown(paramiko.MissingHostKeyPolicy):
    """Refuse every host that known_hosts does not list (paramiko's RejectPolicy, with the key kept)."""

    def missing_host_key(self, client, hostname, key):  # noqa: D102 - paramiko hook
        raise _UnknownHostKey(hostname, key)


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


def _hostkey_name(address: str, port: int) -> str:
    return address if port == 22 else f"[{address}]:{port}"


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

    def __init__(self, fleet: Fleet, host: Any):
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


class Fleet:
    """The inventory's hosts, reachable over SSH, and the one place steps fan out.

    Configuration is checked when the fleet is created, before any connection: the
    ``known_hosts`` file and every identity file must exist (keys must not be readable
    by others, as OpenSSH insists), else :class:`~helpers.errors.ConfigError`.

    Args:
        inv: the inventory (``helpers.inventory.load_inventory``).
        max_parallel: at most this many hosts work at once.
        connect_timeout: seconds for each connection phase (TCP, banner, key exchange, auth).
        command_timeout: default seconds a command may run.
    """

    def __init__(self, inv: Any, max_parallel: int = 8, connect_timeout: float = 10,
                 command_timeout: float = 600):
        if max_parallel < 1:
            raise ValueError("max_parallel must be at least 1")
        self.inventory = inv
        self.inv = inv
        self.max_parallel = max_parallel
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.known_hosts = _check_known_hosts(inv)
        self._hosts = {h.name: HostConn(self, h) for h in inv.hosts}
        bastion = getattr(inv.ssh, "bastion", None)
        self.bastion = bastion
        keys = {inv.ssh.identity_file: "ssh.identity_file"}
        for i, h in enumerate(inv.hosts):
            if getattr(getattr(h, "ssh", None), "identity_file", None):
                keys.setdefault(h.ssh.identity_file, f"hosts[{i}].ssh.identity_file")
        for path, field in keys.items():
            _check_identity(path, field)
        self._gateway: fabric.Connection | None = None
        self._gateway_lock = threading.Lock()

    # selection --------------------------------------------------------------------

    def hosts(self, selector: str | Iterable[str | HostConn] | None = None) -> list[HostConn]:
        """Return the selected hosts in inventory order.

        Args:
            selector: None (all hosts), a role (``lb``, ``etcd``, ``master``, ``worker``),
                a host name, or a list of host names (or ``HostConn`` objects).

        Raises:
            ConfigError: a name that is no host of the inventory.
        """
        if selector is None:
            return list(self._hosts.values())
        if isinstance(selector, HostConn):
            return [selector]
        if isinstance(selector, str):
            if selector in ROLES:
                return [h for h in self._hosts.values() if selector in h.host.roles]
            selector = [selector]
        wanted = [s.name if isinstance(s, HostConn) else s for s in selector]
        unknown = [n for n in wanted if n not in self._hosts]
        if unknown:
            raise ConfigError(
                f"no host {', '.join(map(repr, unknown))} in inventory {getattr(self.inventory, 'path', '')}; "
                f"hosts are {', '.join(self._hosts)}; roles are {', '.join(ROLES)}"
            )
        return [h for name, h in self._hosts.items() if name in wanted]

    # fan-out ----------------------------------------------------------------------

    def step(
        self,
        title: str,
        fn: Callable[[HostConn], Any],
        hosts: str | Iterable[str | HostConn] | None = None,
        raise_on_failure: bool = True,
        skip: str | None = None,
    ) -> Report:
        """Run ``fn(h)`` on every selected host in parallel and report per host.

        Every host runs even when others fail. ``fn`` returns a :class:`Change`, a
        :class:`~helpers.report.Result`, None (ok), or any other value (ok, kept as the
        result's ``data``); an exception makes that host's result ``failed``.

        Args:
            title: what the step does; shown in logs, reports and errors.
            fn: the work for one host.
            hosts: a selector as for :meth:`hosts`.
            raise_on_failure: raise :class:`~helpers.errors.StepFailed` once at the end
                when any host failed.
            skip: why the step does not apply to the hosts ``hosts`` leaves out (``"not
                a node"``); they are then reported ``skipped`` with that reason instead of
                being absent from the report.

        Returns:
            The step's :class:`~helpers.report.Report`.
        """
        targets = self.hosts(hosts)
        started = time.monotonic()
        results: dict[str, Result] = {}
        if targets:
            workers = min(self.max_parallel, len(targets))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kj-step") as pool:
                futures = [pool.submit(self._run_on, title, fn, h) for h in targets]
                for h, future in zip(targets, futures, strict=True):
                    results[h.name] = future.result()
        if skip:
            chosen = {h.name for h in targets}
            for name in self._hosts:
                if name not in chosen:
                    results[name] = Result(name, "skipped", skip)
                    log.info("[%s] %s: skipped (%s)", name, title, skip)
            results = {name: results[name] for name in self._hosts if name in results}  # inventory order
        report = Report(title, results, seconds=time.monotonic() - started)
        log.info("%s: %s", title, report.totals())
        if raise_on_failure:
            report.raise_for_failures()
        return report

    def _run_on(self, title: str, fn: Callable[[HostConn], Any], h: HostConn) -> Result:
        started = time.monotonic()
        h.step = title
        try:
            h.connect()
            result = _as_result(h.name, fn(h))
        except Exception as err:  # noqa: BLE001 - every host's failure is collected, raised once
            log.debug("[%s] %s failed", h.name, title, exc_info=True)
            cause = err.cause if isinstance(err, HostError) else f"{type(err).__name__}: {err}"
            result = Result(h.name, "failed", cause, error=err)
        finally:
            h.step = ""
        result.seconds = time.monotonic() - started
        first = result.detail.strip().splitlines()[0] if result.detail.strip() else ""
        level = logging.ERROR if result.status == "failed" else logging.INFO
        log.log(level, "[%s] %s: %s%s", h.name, title, result.status, f" ({first})" if first else "")
        return result

    def run(self, title: str, command: str, hosts: str | Iterable[str] | None = None,
            raise_on_failure: bool = True) -> Report:
        """Run one command on the selected hosts; the report's data is each host's stdout."""

        def one(h: HostConn) -> Result:
            out = h.run(command).stdout
            lines = out.strip().splitlines()
            return Result(h.name, "ok", lines[-1][:120] if lines else "", data=out)

        return self.step(title, one, hosts=hosts, raise_on_failure=raise_on_failure)

    # connections ------------------------------------------------------------------

    def _connect_kwargs(self, identity: Path | None) -> dict[str, Any]:
        return {
            "key_filename": [str(identity)] if identity else [],
            "look_for_keys": False,
            "allow_agent": False,
            "banner_timeout": self.connect_timeout,
            "auth_timeout": self.connect_timeout,
            "channel_timeout": self.connect_timeout,
        }

    def _client(self, lookup: str, aliases: Iterable[str] = ()) -> paramiko.SSHClient:
        """An SSH client that knows only the inventory's known_hosts and refuses the rest."""
        client = paramiko.SSHClient()
        keys = client.get_host_keys()
        keys.load(str(self.known_hosts))
        if keys.lookup(lookup) is None:
            # known_hosts may name the host instead of its address; the inventory vouches
            # that this name is this address, as an ssh_config HostName line would.
            for alias in aliases:
                entry = keys.lookup(alias)
                if entry is not None:
                    for key in entry.values():
                        keys.add(lookup, key.get_name(), key)
                    break
        client.set_missing_host_key_policy(_RejectUnknown())
        return client

    def _connection_for(self, h: HostConn) -> fabric.Connection:
        gateway = self._gateway_connection() if self.bastion else None
        conn = _Connection(
            host=h.address, user=h.user, port=h.port, config=_config(), gateway=gateway or False,
            connect_timeout=self.connect_timeout, connect_kwargs=self._connect_kwargs(h.identity_file),
        )
        fqdn = getattr(h.host, "fqdn", h.name)
        aliases = [_hostkey_name(n, h.port) for n in (h.name, fqdn)]
        conn.client = self._client(_hostkey_name(h.address, h.port), aliases)
        return conn

    def _gateway_connection(self) -> fabric.Connection:
        with self._gateway_lock:
            if self._gateway is None:
                b = self.bastion
                user = b.user or self.inventory.ssh.user
                gw = _Connection(
                    host=b.host, user=user, port=int(b.port), config=_config(), gateway=False,
                    connect_timeout=self.connect_timeout,
                    connect_kwargs=self._connect_kwargs(self.inventory.ssh.identity_file),
                )
                gw.client = self._client(_hostkey_name(b.host, int(b.port)))
                self._gateway = gw
            return self._gateway

    def _open_gateway(self, h: HostConn) -> None:
        gw = self._gateway_connection()
        with self._gateway_lock:
            if gw.is_connected:
                return
            where = f"bastion {gw.user}@{gw.host}:{gw.port}"
            try:
                gw.open()
            except Exception as err:
                raise _connect_error(h, err, where, self.known_hosts) from err

    def close(self) -> None:
        """Close every connection (each reopens on next use)."""
        for h in self._hosts.values():
            h.close()
        with self._gateway_lock:
            if self._gateway is not None:
                self._gateway.close()
                self._gateway = None

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Fleet {len(self._hosts)} hosts, max_parallel={self.max_parallel}>"


def _check_known_hosts(inv: Any) -> Path:
    path = getattr(inv.ssh, "known_hosts", None)
    if not path:
        raise ConfigError("ssh.known_hosts is not set: host keys must be verified against a known_hosts file")
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"ssh.known_hosts {path} does not exist: host keys are never accepted blindly; "
            "collect them (ssh-keyscan), check the fingerprints out of band, and write that file"
        )
    try:
        path.read_bytes()
    except OSError as err:
        raise ConfigError(f"ssh.known_hosts {path} cannot be read: {err}") from err
    return path


def _check_identity(path: Path | None, field: str) -> None:
    if not path:
        raise ConfigError(f"{field} is not set: the SSH private key to log in with")
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{field} {path} does not exist")
    if path.stat().st_mode & 0o077:
        raise ConfigError(
            f"{field} {path} is readable by other users (mode {path.stat().st_mode & 0o777:04o}); "
            f"make it private: chmod 600 {path}"
        )
    try:
        paramiko.PKey.from_path(path)
    except paramiko.PasswordRequiredException as err:
        raise ConfigError(f"{field} {path} is encrypted; the runbook needs an unencrypted key") from err
    except (paramiko.SSHException, OSError, ValueError) as err:
        raise ConfigError(f"{field} {path} is not a usable SSH private key: {err}") from err


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


def _as_result(host: str, value: Any) -> Result:
    if isinstance(value, Result):
        value.host = host
        return value
    if isinstance(value, Change):
        return Result(host, "changed" if value.changed else "ok", value.detail)
    if value is None:
        return Result(host, "ok")
    return Result(host, "ok", data=value)


def _joined(stdout: str, stderr: str) -> str:
    text = "\n".join(s.rstrip() for s in (stdout, stderr) if s and s.strip())
    return text[-8000:]


def _absolute(path: str) -> str:
    path = str(path)
    if not path.startswith("/") or "\0" in path:
        raise ValueError(f"remote paths must be absolute, got {path!r}")
    return posixpath.normpath(path)



# --- the idempotent primitives live in helpers.ensure; re-exported here ---------------------

_ENSURE_NAMES = frozenset({"ensure_file", "ensure_template", "ensure_directory", "ensure_absent", "ensure_binary", "ensure_packages", "ensure_service", "ensure_unit_current", "inputs_fingerprint", "read_sysctl", "ensure_sysctl", "kernel_feature_state", "ensure_kernel_feature", "render_template"})


def __getattr__(name: str) -> Any:
    """Re-export the primitives of :mod:`helpers.ensure` (``from helpers.remote import ensure_file``)."""
    if name in _ENSURE_NAMES:
        from helpers import ensure

        return getattr(ensure, name)
    raise AttributeError(f"module 'helpers.remote' has no attribute {name!r}")
