"""Issuing: :func:`ensure_ca` (a self-signed CA) and :func:`ensure_cert` (a leaf signed by it).

Both reuse what is on disk when :mod:`~helpers.pki.reuse` finds nothing wrong with it; a
leaf is re-issued with the reason in :attr:`CertPair.detail`, a CA is never replaced
silently (:class:`~helpers.errors.ConfigError`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from helpers.errors import ConfigError
from helpers.pki.files import _ensure_dir, _fix_key_mode, _with, _write_pair, load_pair
from helpers.pki.model import (
    _EKU,
    BACKDATE,
    CA_VALIDITY,
    DEFAULT_VALIDITY,
    CertPair,
    Usage,
    Validity,
    _new_key,
    _now,
)
from helpers.pki.names import _general_name, _name, normalize_sans
from helpers.pki.reuse import _ca_problem, _leaf_problem


def ensure_ca(
    directory: str | Path, name: str, common_name: str, organization: str | Sequence[str] | None = None
) -> CertPair:
    """Create a self-signed CA in ``directory`` unless a usable one exists.

    Args:
        directory: where ``<name>.crt`` and ``<name>.key`` live (created 0700).
        name: file stem, e.g. ``"ca"``.
        common_name: subject CN, e.g. ``"etcd-ca"``.
        organization: optional subject O (one value or several).

    Returns:
        The CA pair; ``changed`` tells whether it was created by this call.

    Raises:
        ConfigError: an existing CA is expired, expiring, not a CA, has another subject
            or does not match its key: it is never replaced silently.
    """
    directory = _ensure_dir(Path(directory))
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    subject = _name(common_name, organization)
    if cert_path.exists() or key_path.exists():
        pair = load_pair(directory, name)
        problem = _ca_problem(pair, subject)
        if problem:
            raise ConfigError(
                f"failed to reuse CA {cert_path}: {problem}; refusing to replace a CA silently "
                f"(every certificate it signed would have to be re-issued). Move {directory} "
                "away to start a new PKI."
            )
        fixed = _fix_key_mode(key_path)
        return _with(pair, bool(fixed), fixed or "reused")

    key = _new_key()
    now = _now()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_pair(cert_path, key_path, cert, key)
    return CertPair(name, cert_path, key_path, cert, key, True, f"created CA {common_name}")


def ensure_cert(
    ca: CertPair,
    directory: str | Path,
    name: str,
    common_name: str,
    organization: str | Sequence[str] | None = None,
    sans: Iterable[str] = (),
    usages: Usage = "both",
    validity: Validity = DEFAULT_VALIDITY,
) -> tuple[CertPair, bool]:
    """Issue a leaf certificate signed by ``ca`` unless a matching valid one exists.

    Args:
        ca: the issuing CA (from :func:`ensure_ca`).
        directory: where ``<name>.crt`` and ``<name>.key`` live (created 0700).
        name: file stem, e.g. ``"kube-mast01-server"``.
        common_name: subject CN (Kubernetes reads it as the user name).
        organization: subject O, one value or several (Kubernetes reads them as groups).
        sans: DNS names and IP addresses, as strings; order does not matter.
        usages: ``"server"``, ``"client"`` or ``"both"`` (extended key usage).
        validity: how long a new certificate lasts, and how close to its end an existing
            one is renewed (:func:`helpers.pki.validity_of` reads the inventory's).

    Returns:
        ``(pair, changed)``; ``pair.detail`` says whether it was reused, issued or
        re-issued and why (e.g. "re-issued: SANs changed (+10.0.0.5)").
    """
    if usages not in _EKU:
        raise ValueError(f"usages must be one of {sorted(_EKU)}, not {usages!r}")
    directory = _ensure_dir(Path(directory))
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    subject = _name(common_name, organization)
    wanted_sans = normalize_sans(sans)

    reason = "issued"
    if cert_path.exists() and key_path.exists():
        try:
            pair = load_pair(directory, name)
        except (ValueError, ConfigError) as err:
            reason = f"re-issued: existing files unreadable ({err})"
        else:
            problem = _leaf_problem(pair, ca, subject, wanted_sans, usages, validity.renew_before)
            if not problem:
                fixed = _fix_key_mode(key_path)
                return _with(pair, bool(fixed), fixed or "reused"), bool(fixed)
            reason = f"re-issued: {problem}"
    elif cert_path.exists() or key_path.exists():
        reason = "re-issued: certificate or key file missing"

    key = _new_key()
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + validity.leaf, ca.cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(_EKU[usages]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    if wanted_sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(s) for s in wanted_sans]), critical=False
        )
    cert = builder.sign(ca.key, hashes.SHA256())
    _write_pair(cert_path, key_path, cert, key)
    return CertPair(name, cert_path, key_path, cert, key, True, reason), True
