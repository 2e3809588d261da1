"""Certificate authorities and certificates, on the operator's machine (``cryptography``).

Every certificate of the cluster is issued here, written under the cluster directory
(``inv.cluster_dir / "pki" / ...``, never in git) as ``<name>.crt`` and ``<name>.key``,
keys 0600 in a 0700 directory, and then uploaded to the hosts that need it.

Keys are ECDSA P-256: about as strong as RSA 3072, generated in a millisecond instead of
tens, with handshakes that are cheaper for the many short TLS connections a cluster
makes. Go's TLS stack (etcd, every Kubernetes component) and OpenSSL accept them.
CAs are valid for 10 years, leaf certificates for 1 year.

Everything is idempotent: an existing certificate is reused when it is still valid for
more than 30 days, is signed by the given CA, matches its key, and has the requested
subject, SANs and usages; otherwise it is re-issued and the reason is recorded in
``CertPair.detail``. A CA is never replaced silently: if an existing CA is unusable the
functions raise :class:`~helpers.errors.ConfigError` instead, because a new CA means
re-issuing every certificate and restarting every component that trusts it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from helpers.errors import ConfigError
from helpers.tables import Table

CA_VALIDITY = dt.timedelta(days=3650)
LEAF_VALIDITY = dt.timedelta(days=365)
RENEW_BEFORE = dt.timedelta(days=30)
BACKDATE = dt.timedelta(minutes=5)  # tolerate small clock skew between operator and hosts

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


# ---------------------------------------------------------------------------- public API


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
            problem = _leaf_problem(pair, ca, subject, wanted_sans, usages)
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
        .not_valid_after(min(now + LEAF_VALIDITY, ca.cert.not_valid_after_utc))
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


def load_cert(path: str | Path) -> x509.Certificate:
    """Load one PEM certificate.

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


def cert_sans(cert: x509.Certificate) -> list[str]:
    """The certificate's DNS and IP subject alternative names, as sorted strings."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    names = ext.get_values_for_type(x509.DNSName)
    ips = [str(ip) for ip in ext.get_values_for_type(x509.IPAddress)]
    return normalize_sans([*names, *ips])


def normalize_sans(sans: Iterable[str]) -> list[str]:
    """Deduplicate and sort SANs: DNS names lower-cased first, then IP addresses."""
    dns, ips = set(), set()
    for san in sans:
        san = str(san).strip()
        try:
            ips.add(ipaddress.ip_address(san))
        except ValueError:
            if not san:
                raise ValueError("empty subject alternative name") from None
            dns.add(san.lower())
    return sorted(dns) + [str(ip) for ip in sorted(ips, key=lambda a: (a.version, int(a)))]


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


def verify_chain(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """Whether ``cert`` names ``ca`` as issuer and carries a valid signature by its key."""
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


# ---------------------------------------------------------------------------- internals


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str, organization: str | Sequence[str] | None) -> x509.Name:
    orgs = [organization] if isinstance(organization, str) else list(organization or [])
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _general_name(san: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(san))
    except ValueError:
        return x509.DNSName(san)


def _validity_problem(cert: x509.Certificate) -> str:
    now = _now()
    if cert.not_valid_before_utc > now + BACKDATE:
        return f"not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
    left = cert.not_valid_after_utc - now
    if left <= RENEW_BEFORE:
        when = "expired" if left.total_seconds() <= 0 else "expires"
        return f"{when} {cert.not_valid_after_utc:%Y-%m-%d} (renewed within {RENEW_BEFORE.days} days)"
    return ""


def _key_matches(pair: CertPair) -> bool:
    return pair.cert.public_key().public_numbers() == pair.key.public_key().public_numbers()


def _ca_problem(pair: CertPair, subject: x509.Name) -> str:
    try:
        is_ca = pair.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        return "certificate is not a CA"
    if pair.cert.subject != subject:
        return f"subject is {pair.cert.subject.rfc4514_string()}, expected {subject.rfc4514_string()}"
    if not _key_matches(pair):
        return "key does not match certificate"
    return _validity_problem(pair.cert)


def _leaf_problem(pair: CertPair, ca: CertPair, subject: x509.Name, sans: list[str], usages: str) -> str:
    if not verify_chain(pair.cert, ca.cert):
        return "not signed by the current CA"
    if not _key_matches(pair):
        return "key does not match certificate"
    if pair.cert.subject != subject:
        return (
            f"subject changed ({pair.cert.subject.rfc4514_string()} -> {subject.rfc4514_string()})"
        )
    have = cert_sans(pair.cert)
    if have != sans:
        added = [s for s in sans if s not in have]
        removed = [s for s in have if s not in sans]
        diff = ", ".join([f"+{s}" for s in added] + [f"-{s}" for s in removed])
        return f"SANs changed ({diff})"
    try:
        eku = set(pair.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        eku = set()
    if eku != set(_EKU[usages]):
        return f"usage changed (now {usages})"
    return _validity_problem(pair.cert)


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


def _ensure_dir(directory: Path) -> Path:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if directory.stat().st_mode & 0o777 != 0o700:
        directory.chmod(0o700)
    return directory


def _fix_key_mode(key_path: Path) -> str:
    mode = key_path.stat().st_mode & 0o777
    if mode != 0o600:
        key_path.chmod(0o600)
        return f"reused; key mode fixed {mode:o} -> 600"
    return ""


def _with(pair: CertPair, changed: bool, detail: str) -> CertPair:
    return CertPair(pair.name, pair.cert_path, pair.key_path, pair.cert, pair.key, changed, detail)


def _atomic_write(path: Path, data: bytes, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_pair(cert_path: Path, key_path: Path, cert: x509.Certificate, key) -> None:
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _atomic_write(key_path, key_pem, 0o600)
    _atomic_write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
