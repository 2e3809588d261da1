"""The fleet: one :class:`~helpers.remote.connection.HostConn` per inventory host, and the fan-out.

:meth:`Fleet.step` runs one function on every selected host in parallel (bounded by
``max_parallel``); every host runs, failures are collected and raised once at the end.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import fabric
import paramiko

from helpers.constants import ROLES
from helpers.errors import ConfigError, HostError
from helpers.remote.connection import HostConn, _config, _connect_error, _Connection
from helpers.remote.hostkeys import (
    _check_identity,
    _check_known_hosts,
    _hostkey_name,
    _RejectUnknown,
)
from helpers.remote.values import Change
from helpers.report import Report, Result

log = logging.getLogger("helpers")


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


def _as_result(host: str, value: Any) -> Result:
    if isinstance(value, Result):
        value.host = host
        return value
    if isinstance(value, Change):
        return Result(host, "changed" if value.changed else "ok", value.detail)
    if value is None:
        return Result(host, "ok")
    return Result(host, "ok", data=value)
