"""Subject names and subject alternative names (SANs): building, reading, normalising."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from cryptography import x509
from cryptography.x509.oid import NameOID


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


def common_name(name: x509.Name) -> str:
    """The CN of a subject or issuer, or the whole name when it has none."""
    values = name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(values[0].value) if values else name.rfc4514_string()
