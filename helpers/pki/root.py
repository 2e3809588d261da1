"""An organisation's root CA above the cluster's CAs: they become its intermediates.

Real sites rarely want three new self-signed roots of trust. With ``pki.root_ca`` in the
inventory the Kubernetes CA, the front-proxy CA and the etcd CA are issued as
**intermediates** of the organisation's root (``pathlen:0``: they sign leaves, never
another CA), each written as ``<name>.crt`` (the intermediate alone: what components
trust) and ``<name>-chain.crt`` (intermediate then root: what a person verifies with).
Every leaf certificate under an intermediate carries it after itself in its ``.crt``,
so a server presents the whole chain and a client that trusts only the root accepts it.

The components keep trusting the **intermediate**, not the root: an API server that
trusted the root for client certificates would accept any certificate the organisation
ever issued, the etcd CA's included.

Two ways to sign:

- the root's key is given (``pki.root_ca.key``): the series signs the intermediates itself;
- only its certificate is: :func:`write_csr` leaves a request (``<name>.csr``, its key
  ``<name>.key`` 0600) for the organisation to sign, and :func:`helpers.pki.ensure_ca`
  stops with the command that would sign it until ``<name>.crt`` is there.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from helpers.errors import ConfigError
from helpers.localfiles import write_atomic
from helpers.pki.files import load_cert
from helpers.pki.model import BACKDATE, CA_VALIDITY, _now, is_ca
from helpers.pki.reuse import verify_chain

CA_USAGE = x509.KeyUsage(
    digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
    key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
)


@dataclass(frozen=True)
class RootCA:
    """The organisation's root: its certificate, and its key when the series may sign with it."""

    cert_path: Path
    cert: x509.Certificate
    key: object | None = None

    @property
    def name(self) -> str:
        """The root's subject, for messages."""
        return self.cert.subject.rfc4514_string()


def is_intermediate(cert: x509.Certificate) -> bool:
    """A CA certificate that another CA signed (its issuer is not itself)."""
    return is_ca(cert) and cert.issuer != cert.subject


def load_root(cert_path: Path, key_path: Path | None = None) -> RootCA:
    """Load and check the root: a CA certificate valid now, and a key that matches it.

    Raises:
        ConfigError: naming the file and what is wrong with it.
    """
    cert = load_cert(cert_path)
    where = f"pki.root_ca.cert ({cert_path})"
    if not is_ca(cert):
        raise ConfigError(f"{where} is not a CA certificate (no basicConstraints CA:TRUE)")
    now = dt.datetime.now(dt.UTC)
    if cert.not_valid_after_utc <= now:
        raise ConfigError(f"{where} expired {cert.not_valid_after_utc:%Y-%m-%d}")
    if cert.not_valid_before_utc > now + BACKDATE:
        raise ConfigError(f"{where} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    key = None
    if key_path is not None:
        try:
            key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
        except FileNotFoundError:
            raise ConfigError(f"pki.root_ca.key ({key_path}): file not found") from None
        except (ValueError, TypeError) as err:
            raise ConfigError(f"pki.root_ca.key ({key_path}) is not an unencrypted PEM private key: "
                              f"{str(err)[:200]}") from None
        if key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) \
                != cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
            raise ConfigError(f"pki.root_ca.key ({key_path}) does not belong to {where}")
    return RootCA(Path(cert_path), cert, key)


def root_of(inv) -> RootCA | None:
    """The inventory's root CA (``pki.root_ca``), loaded and checked; None when the CAs are self-signed."""
    settings = getattr(getattr(inv, "pki", None), "root_ca", None)
    if settings is None:
        return None
    return load_root(settings.cert, settings.key)


def intermediate_problem(cert: x509.Certificate, root: RootCA) -> str:
    """Why ``cert`` is not an intermediate of ``root`` (``""`` when it is)."""
    if not verify_chain(cert, root.cert):
        return f"issued by {cert.issuer.rfc4514_string()}, not by the root CA {root.name}"
    return ""


def issue_intermediate(root: RootCA, subject: x509.Name, key) -> x509.Certificate:
    """Sign a CA certificate for ``subject``/``key`` with the root's key (pathlen 0, within the root's life)."""
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(root.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + CA_VALIDITY, root.cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(CA_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root.cert.public_key()), critical=False)
        .sign(root.key, hashes.SHA256())
    )


def write_csr(path: Path, subject: x509.Name, key) -> bytes:
    """Write the signing request of an intermediate (asks for CA:TRUE, pathlen 0) and return it."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(CA_USAGE, critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = csr.public_bytes(serialization.Encoding.PEM)
    write_atomic(path, pem, 0o644, private=True)
    return pem


def signing_command(csr: Path, cert: Path, root: RootCA) -> str:
    """The ``openssl`` command an organisation could sign the request with (shown, never run by the series)."""
    return (f"openssl x509 -req -in {csr} -CA {root.cert_path} -CAkey <root key> -days 3650 -sha256 "
            f"-copy_extensions copyall -out {cert}")


def trust_file(directory: str | Path, name: str = "ca") -> Path:
    """The file a client on the operator's machine verifies servers with: the chain when there is one.

    Go (every component, kubectl) accepts an intermediate alone as a trust anchor; OpenSSL,
    and so Python before 3.13 and its ``requests``, builds the chain up to a self-signed
    root and needs the root in the file. ``<name>-chain.crt`` has both; without a root it
    does not exist and the CA itself is the anchor.
    """
    chain = Path(directory) / f"{name}-chain.crt"
    return chain if chain.exists() else Path(directory) / f"{name}.crt"


def write_chain(directory: Path, name: str, cert: x509.Certificate, root: RootCA) -> bool:
    """Write ``<name>-chain.crt`` (the intermediate, then the root); True when it changed."""
    pem = cert.public_bytes(serialization.Encoding.PEM) + root.cert.public_bytes(serialization.Encoding.PEM)
    path = Path(directory) / f"{name}-chain.crt"
    if path.exists() and path.read_bytes() == pem:
        return False
    write_atomic(path, pem, 0o644, private=True)
    return True
