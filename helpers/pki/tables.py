"""Certificates as a table: name, subject, SANs, issuer, not-after, usage and key type."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from helpers.pki.files import load_cert
from helpers.pki.model import CertPair
from helpers.pki.names import cert_sans
from helpers.tables import Table


def cert_table(paths: Iterable[str | Path | CertPair], title: str = "Certificates") -> Table:
    """A table of certificates: name, subject, SANs, issuer, not-after, usages, key.

    Args:
        paths: certificate files (or :class:`CertPair` objects).
        title: table caption.
    """
    rows = []
    for item in paths:
        path = item.cert_path if isinstance(item, CertPair) else Path(item)
        cert = load_cert(path)
        rows.append([
            path.stem,
            cert.subject.rfc4514_string(),
            ", ".join(cert_sans(cert)) or "-",
            cert.issuer.rfc4514_string(),
            cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M UTC"),
            _usage_text(cert),
            _key_text(cert),
        ])
    return Table(["name", "subject", "SANs", "issuer", "not after", "usage", "key"], rows, title)


def _usage_text(cert: x509.Certificate) -> str:
    try:
        if cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return "CA"
    except x509.ExtensionNotFound:
        pass
    try:
        eku = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return "-"
    parts = []
    if ExtendedKeyUsageOID.SERVER_AUTH in eku:
        parts.append("server")
    if ExtendedKeyUsageOID.CLIENT_AUTH in eku:
        parts.append("client")
    return "+".join(parts) or "-"


def _key_text(cert: x509.Certificate) -> str:
    public = cert.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        return f"ECDSA {public.curve.name}"
    size = getattr(public, "key_size", None)
    return f"{type(public).__name__.removesuffix('PublicKey')} {size or ''}".strip()
