"""Certificate pairs on disk: loading ``<name>.crt`` / ``<name>.key``, writing them atomically.

Keys are written 0600 and certificates 0644, each through
:func:`helpers.localfiles.write_atomic` (mode set before the rename), in a directory kept at 0700.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from helpers.errors import ConfigError
from helpers.localfiles import ensure_private_dir, write_atomic
from helpers.pki.model import CertPair


def load_cert(path: str | Path) -> x509.Certificate:
    """Load one PEM certificate (the first of the file: a leaf's chain may follow it).

    Raises:
        ConfigError: the file is missing or is not a PEM certificate.
    """
    path = Path(path)
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        raise ConfigError(f"failed to load certificate {path}: file not found") from None
    except ValueError as err:
        raise ConfigError(f"failed to load certificate {path}: {err}") from None


def load_pair(directory: str | Path, name: str) -> CertPair:
    """Load ``<name>.crt`` and ``<name>.key`` from ``directory``.

    Raises:
        ConfigError: a file is missing or unreadable.
    """
    directory = Path(directory)
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert = load_cert(cert_path)
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except FileNotFoundError:
        raise ConfigError(f"failed to load key {key_path}: file not found") from None
    except (ValueError, TypeError) as err:
        raise ConfigError(f"failed to load key {key_path}: {err}") from None
    return CertPair(name, cert_path, key_path, cert, key)


_ensure_dir = ensure_private_dir


def _fix_key_mode(key_path: Path) -> str:
    mode = key_path.stat().st_mode & 0o777
    if mode != 0o600:
        key_path.chmod(0o600)
        return f"reused; key mode fixed {mode:o} -> 600"
    return ""


def _with(pair: CertPair, changed: bool, detail: str) -> CertPair:
    return CertPair(pair.name, pair.cert_path, pair.key_path, pair.cert, pair.key, changed, detail)


def _write_key(key_path: Path, key) -> None:
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_atomic(key_path, key_pem, 0o600, private=True)


def _write_pair(cert_path: Path, key_path: Path, cert: x509.Certificate, key,
                chain: list[x509.Certificate] = ()) -> None:
    """Write the key (0600), then the certificate followed by ``chain`` (the CAs above it, nearest first)."""
    _write_key(key_path, key)
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (cert, *chain))
    write_atomic(cert_path, pem, 0o644, private=True)
