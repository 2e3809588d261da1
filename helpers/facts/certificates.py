"""CA certificate fingerprints: of a PEM read from a host, and of the cluster directory's CAs."""

from __future__ import annotations

import hashlib
from pathlib import Path


def _cert_fingerprint(pem: bytes) -> str:
    """Return the sha256 of the first certificate's DER in ``pem`` ("" when none parses)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        return ""
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def local_ca_fingerprints(cluster_dir: Path) -> dict[str, str]:
    """Return sha256 of DER -> file for every CA certificate under ``cluster_dir/pki``."""
    from cryptography import x509

    found: dict[str, str] = {}
    pki = Path(cluster_dir) / "pki"
    if not pki.is_dir():
        return found
    for path in sorted(pki.rglob("*.crt")):
        try:
            cert = x509.load_pem_x509_certificate(path.read_bytes())
            is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except (ValueError, x509.ExtensionNotFound):
            continue
        if is_ca:
            found[_cert_fingerprint(path.read_bytes())] = str(path)
    return found
