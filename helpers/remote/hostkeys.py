"""Host keys and identity files: only the inventory's known_hosts vouches for a host.

:class:`_RejectUnknown` refuses every host that file does not list (keeping the key for
the message); :func:`_check_known_hosts` and :func:`_check_identity` check the
configuration before any connection.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import paramiko

from helpers.errors import ConfigError


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


def _hostkey_name(address: str, port: int) -> str:
    return address if port == 22 else f"[{address}]:{port}"



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
