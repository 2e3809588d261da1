"""The vocabulary of the PKI: validity periods, usages, the key type, the clock, :class:`CertPair`.

Keys are ECDSA P-256; CAs are valid for :data:`CA_VALIDITY` (10 years), leaf certificates
for :data:`LEAF_VALIDITY` (1 year), and a certificate is renewed when fewer than
:data:`RENEW_BEFORE` (30 days) remain. :data:`BACKDATE` tolerates small clock skew.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

CA_VALIDITY = dt.timedelta(days=3650)
LEAF_VALIDITY = dt.timedelta(days=365)
RENEW_BEFORE = dt.timedelta(days=30)
BACKDATE = dt.timedelta(minutes=5)  # tolerate small clock skew between operator and hosts


@dataclass(frozen=True)
class Validity:
    """How long a leaf certificate lasts, and how long before its end a run renews it.

    The inventory's ``pki`` section sets both (:func:`validity_of`); the defaults are a
    year and 30 days.
    """

    leaf: dt.timedelta = LEAF_VALIDITY
    renew_before: dt.timedelta = RENEW_BEFORE


DEFAULT_VALIDITY = Validity()


def validity_of(inv) -> Validity:
    """The inventory's certificate validity (``pki.leaf_validity``, ``pki.renew_before``), or the defaults."""
    settings = getattr(inv, "pki", None)
    if settings is None:
        return DEFAULT_VALIDITY
    return Validity(settings.leaf_validity, settings.renew_before)

Usage = Literal["server", "client", "both"]
_EKU = {
    "server": [ExtendedKeyUsageOID.SERVER_AUTH],
    "client": [ExtendedKeyUsageOID.CLIENT_AUTH],
    "both": [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
}


@dataclass(frozen=True)
class CertPair:
    """A certificate and its private key, as loaded from (or just written to) disk.

    Attributes:
        name: the file stem (``<name>.crt`` / ``<name>.key``).
        cert_path: path of the PEM certificate.
        key_path: path of the PEM private key (0600).
        cert: the parsed certificate.
        key: the private key.
        changed: whether the call that returned this pair wrote anything.
        detail: what that call did and why ("reused", "issued", "re-issued: SANs changed ...").
    """

    name: str
    cert_path: Path
    key_path: Path
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    changed: bool = False
    detail: str = ""

    @property
    def cert_pem(self) -> bytes:
        """The certificate as PEM bytes (what gets uploaded)."""
        return self.cert_path.read_bytes()

    @property
    def key_pem(self) -> bytes:
        """The private key as PEM bytes (what gets uploaded, 0600)."""
        return self.key_path.read_bytes()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def is_ca(cert: x509.Certificate) -> bool:
    """Whether the certificate says it is a CA (basicConstraints CA:TRUE)."""
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False
