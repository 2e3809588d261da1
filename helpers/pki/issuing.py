"""Issuing: :func:`ensure_ca` (a self-signed CA, or an intermediate of the organisation's root) and :func:`ensure_cert` (a leaf signed by it).

Both reuse what is on disk when :mod:`~helpers.pki.reuse` finds nothing wrong with it; a
leaf is re-issued with the reason in :attr:`CertPair.detail`, a CA is never replaced
silently (:class:`~helpers.errors.ConfigError`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from helpers.errors import ConfigError
from helpers.pki.files import _ensure_dir, _fix_key_mode, _with, _write_key, _write_pair, load_pair
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
from helpers.pki.root import (
    RootCA,
    intermediate_problem,
    is_intermediate,
    issue_intermediate,
    signing_command,
    write_chain,
    write_csr,
)


def ensure_ca(
    directory: str | Path, name: str, common_name: str, organization: str | Sequence[str] | None = None,
    root: RootCA | None = None,
) -> CertPair:
    """Create a CA in ``directory`` unless a usable one exists: self-signed, or an intermediate of ``root``.

    Args:
        directory: where ``<name>.crt`` and ``<name>.key`` live (created 0700).
        name: file stem, e.g. ``"ca"``.
        common_name: subject CN, e.g. ``"etcd-ca"``.
        organization: optional subject O (one value or several).
        root: the organisation's root CA (:func:`helpers.pki.root.root_of`); the CA is then
            its intermediate, with ``<name>-chain.crt`` beside it.

    Returns:
        The CA pair; ``changed`` tells whether it was created by this call.

    Raises:
        ConfigError: an existing CA is expired, expiring, not a CA, has another subject,
            does not match its key or is not the root's: it is never replaced silently.
            With a root but no root key, also while the intermediate waits for the
            organisation's signature (the message says what to sign and how).
    """
    directory = _ensure_dir(Path(directory))
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    subject = _name(common_name, organization)
    if cert_path.exists() or (key_path.exists() and root is None):
        pair = load_pair(directory, name)
        problem = _ca_problem(pair, subject) or (root and intermediate_problem(pair.cert, root))
        if problem:
            raise ConfigError(
                f"failed to reuse CA {cert_path}: {problem}; refusing to replace a CA silently "
                f"(every certificate it signed would have to be re-issued). Move {directory} "
                "away to start a new PKI."
            )
        fixed = _fix_key_mode(key_path)
        chained = bool(root) and write_chain(directory, name, pair.cert, root)
        detail = fixed or ("reused; wrote its chain" if chained else "reused")
        return _with(pair, bool(fixed) or chained, detail)
    if root is not None:
        return _intermediate(directory, name, subject, root)

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


def _intermediate(directory: Path, name: str, subject: x509.Name, root: RootCA) -> CertPair:
    """Issue the CA as the root's intermediate, or leave its request for the organisation to sign."""
    cert_path, key_path, csr_path = (directory / f"{name}{ext}" for ext in (".crt", ".key", ".csr"))
    if key_path.exists():  # a request was written earlier: keep the key it was made for
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    else:
        key = _new_key()
        _write_key(key_path, key)
    if root.key is None:
        write_csr(csr_path, subject, key)
        raise ConfigError(
            f"CA {subject.rfc4514_string()} waits for the root CA's signature (pki.root_ca has no key): "
            f"sign {csr_path} with {root.name} and save the certificate as {cert_path}, e.g. "
            f"{signing_command(csr_path, cert_path, root)}; then run again")
    cert = issue_intermediate(root, subject, key)
    _write_pair(cert_path, key_path, cert, key)
    write_chain(directory, name, cert, root)
    return CertPair(name, cert_path, key_path, cert, key, True,
                    f"created CA {subject.rfc4514_string()}, an intermediate of {root.name}")


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
    # under an intermediate, the leaf's file carries it too: servers then present the whole
    # chain, and a client that trusts only the organisation's root accepts them
    _write_pair(cert_path, key_path, cert, key, chain=[ca.cert] if is_intermediate(ca.cert) else [])
    return CertPair(name, cert_path, key_path, cert, key, True, reason), True
