"""The API server certificate check: what each master and the VIP present over TLS.

Connects to every API server address, validates the chain against the Kubernetes CA,
and compares validity and SANs with what :mod:`helpers.k8s_pki` issued.
"""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

from cryptography import x509

from helpers import k8s_pki, pki
from helpers.constants import API_PORT
from helpers.tables import Table

# ------------------------------------------------------------------ certificate check


def apiserver_endpoints(inv) -> list[tuple[str, str]]:
    """``(label, address)`` of every place an API server certificate is presented."""
    ends = [(h.name, str(h.address)) for h in inv.hosts_with("master")]
    if inv.network.vip is not None:
        ends.append(("VIP", str(inv.network.vip)))
    return ends


def fetch_server_certificate(address: str, port: int, ca_file: str, timeout: float = 10.0) -> tuple[x509.Certificate | None, str]:
    """TLS-connect to ``address:port`` trusting only ``ca_file``; return (leaf cert, chain problem).

    The handshake validates the chain against the CA; a failure there is returned as
    the problem, and the presented certificate is fetched again without validation so
    it can still be shown.
    """
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.check_hostname = False  # names are checked by the caller, against the full list
    problem = ""
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock, \
                ctx.wrap_socket(sock) as tls:
            der = tls.getpeercert(binary_form=True)
            return x509.load_der_x509_certificate(der), ""
    except ssl.SSLCertVerificationError as err:
        problem = f"not trusted by the cluster CA ({err.verify_message})"
    except OSError as err:
        return None, f"cannot connect: {err}"
    raw = ssl.create_default_context()
    raw.check_hostname, raw.verify_mode = False, ssl.CERT_NONE
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock, raw.wrap_socket(sock) as tls:
            return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True)), problem
    except OSError as err:
        return None, f"{problem}; cannot fetch it: {err}"


def check_apiserver_certificate(inv, expected: list[str] | None = None,
                                endpoints: list[tuple[str, str]] | None = None,
                                ca_file: str | Path | None = None, port: int = API_PORT) -> Table:
    """Validate the certificate each API server address (and the VIP) presents.

    For each endpoint: the chain must verify against the Kubernetes CA, the
    certificate must be a currently valid serving certificate, the address connected to
    must be among its SANs, and every expected name and address must be too.

    Args:
        inv: the inventory.
        expected: required SANs (default: :func:`helpers.k8s_pki.apiserver_sans`).
        endpoints: ``(label, address)`` pairs (default: every master and the VIP).
        ca_file: the CA to trust (default: the cluster's Kubernetes CA, with the organisation's
            root above it when there is one: :func:`helpers.pki.trust_file`).
        port: TLS port.

    Returns:
        A table endpoint / address / SANs presented / problems ("" when fine); assert on
        ``all(not p for p in table.column("problems"))``.
    """
    import datetime as dt  # noqa: PLC0415

    expected = pki.normalize_sans(expected if expected is not None else k8s_pki.apiserver_sans(inv))
    ca_file = str(ca_file or pki.trust_file(k8s_pki.pki_dir(inv.cluster_dir)))
    rows = []
    for label, address in endpoints or apiserver_endpoints(inv):
        cert, problem = fetch_server_certificate(address, port, ca_file)
        problems = [problem] if problem else []
        sans: list[str] = []
        if cert is not None:
            sans = pki.cert_sans(cert)
            now = dt.datetime.now(dt.UTC)
            if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
                problems.append(f"outside its validity ({cert.not_valid_before_utc:%F} .. {cert.not_valid_after_utc:%F})")
            if pki.normalize_sans([address])[0] not in sans:
                problems.append(f"address {address} it was reached on is not a SAN")
            missing = [s for s in expected if s not in sans]
            if missing:
                problems.append("missing SANs: " + ", ".join(missing))
        rows.append([label, address, f"{len(sans)} SANs", "; ".join(problems)])
    return Table(["endpoint", "address", "presented", "problems"], rows, "API server certificates")


def verify_chains(inv, port: int = API_PORT):
    """``openssl verify`` of every Kubernetes leaf against the root of trust; with an organisation's root, also what the API servers present.

    Under ``pki.root_ca`` a client that trusts only the organisation's root must accept
    every API server, on its own address and through the VIP: that proves each one
    presents its chain (leaf, then the Kubernetes CA), not the leaf alone.
    """
    from helpers.pki.chains import verify_chains as verify  # noqa: PLC0415

    root = pki.root_of(inv)
    table = verify(k8s_pki.pki_dir(inv.cluster_dir), root,
                   f"Kubernetes certificates, verified by OpenSSL against {root.name if root else 'their own CAs'}")
    if root is None:
        return table
    for label, address in apiserver_endpoints(inv):
        cert, problem = fetch_server_certificate(address, port, str(root.cert_path))
        rows_name = f"served on {label} ({address}:{port})"
        table.rows.append([rows_name, "presented chain → " + root.name, root.cert_path.name, problem or "OK"])
        if problem or cert is None:
            table.problems.append(f"{rows_name}: {problem or 'no certificate'} (trusting only the root)")
    return table
