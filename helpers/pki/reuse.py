"""The reuse rules: whether an existing CA or certificate is still good, and if not, why.

Each ``_*_problem`` function returns ``""`` for a reusable pair, otherwise the reason
(it ends up in :attr:`CertPair.detail` or in the :class:`~helpers.errors.ConfigError`).
"""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from helpers.pki.model import _EKU, BACKDATE, RENEW_BEFORE, CertPair, _now, is_ca
from helpers.pki.names import cert_sans


def verify_chain(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """Whether ``cert`` names ``ca`` as issuer and carries a valid signature by its key."""
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _validity_problem(cert: x509.Certificate, renew_before=RENEW_BEFORE) -> str:
    now = _now()
    if cert.not_valid_before_utc > now + BACKDATE:
        return f"not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
    left = cert.not_valid_after_utc - now
    if left <= renew_before:
        when = "expired" if left.total_seconds() <= 0 else "expires"
        return f"{when} {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC (renewed within {_span(renew_before)} of its end)"
    return ""


def _span(delta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0:
        return f"{seconds // 86400} days"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hours"
    return f"{seconds // 60} minutes"


def _key_matches(pair: CertPair) -> bool:
    return pair.cert.public_key().public_numbers() == pair.key.public_key().public_numbers()


def _ca_problem(pair: CertPair, subject: x509.Name) -> str:
    if not is_ca(pair.cert):
        return "certificate is not a CA"
    if pair.cert.subject != subject:
        return f"subject is {pair.cert.subject.rfc4514_string()}, expected {subject.rfc4514_string()}"
    if not _key_matches(pair):
        return "key does not match certificate"
    return _validity_problem(pair.cert)


def _leaf_problem(pair: CertPair, ca: CertPair, subject: x509.Name, sans: list[str], usages: str,
                  renew_before=RENEW_BEFORE) -> str:
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
    return _validity_problem(pair.cert, renew_before)
