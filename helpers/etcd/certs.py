"""etcd's PKI on the operator's machine: the etcd CA, member and client certificates.

Step :func:`ensure_etcd_pki` (and :func:`cert_table` to show the result); everything
lives under ``cluster_dir/pki/etcd``, nothing reaches a host here.
"""

from __future__ import annotations

import time
from pathlib import Path

from helpers import pki
from helpers.etcd.config import APISERVER_CLIENT, HEALTHCHECK, members
from helpers.report import OPERATOR, Report, Result
from helpers.tables import Table


def pki_dir(inv) -> Path:
    """The etcd PKI directory on the operator's machine: ``cluster_dir/pki/etcd``."""
    return Path(inv.cluster_dir) / "pki" / "etcd"


def server_sans(host) -> list[str]:
    """A member's serving certificate names: name, FQDN, address, 127.0.0.1, localhost."""
    return [host.name, host.fqdn, str(host.address), "127.0.0.1", "localhost"]


def peer_sans(host) -> list[str]:
    """A member's peer certificate names: name, FQDN, address."""
    return [host.name, host.fqdn, str(host.address)]


def etcd_cert_pairs(inv) -> list[pki.CertPair]:
    """Ensure the etcd CA and every certificate; return the pairs (CA first).

    Server and peer certificates carry both server and client usage: peers are each
    other's clients, and etcd's own gRPC gateway dials the local member with the server
    certificate, which ``--client-cert-auth`` then checks as a client certificate.
    """
    directory = pki_dir(inv)
    ca = pki.ensure_ca(directory, "ca", "etcd-ca", root=pki.root_of(inv))
    validity = pki.validity_of(inv)
    pairs = [ca]
    for host in members(inv):
        pairs.append(pki.ensure_cert(ca, directory, f"{host.name}-server", host.name,
                                     sans=server_sans(host), usages="both", validity=validity)[0])
        pairs.append(pki.ensure_cert(ca, directory, f"{host.name}-peer", host.name,
                                     sans=peer_sans(host), usages="both", validity=validity)[0])
    pairs.append(pki.ensure_cert(ca, directory, APISERVER_CLIENT, "kube-apiserver-etcd-client",
                                 usages="client", validity=validity)[0])
    pairs.append(pki.ensure_cert(ca, directory, HEALTHCHECK, "etcd-healthcheck-client",
                                 usages="client", validity=validity)[0])
    return pairs


def ensure_etcd_pki(inv) -> Report:
    """Create or reuse the etcd CA and certificates under ``cluster_dir/pki/etcd``.

    Returns:
        A report with one ``operator`` row per certificate: ``ok`` when reused, ``changed``
        when issued or re-issued (with the reason). ``report.data()`` maps each row to
        its :class:`~helpers.pki.CertPair`.
    """
    started = time.monotonic()
    pairs = etcd_cert_pairs(inv)
    elapsed = time.monotonic() - started
    results = {
        f"{OPERATOR}:{p.name}": Result(OPERATOR, "changed" if p.changed else "ok",
                                  f"{p.name}: {p.detail}", elapsed / len(pairs), data=p)
        for p in pairs
    }
    return Report(f"etcd PKI in {pki_dir(inv)}", results, seconds=elapsed)


def cert_table(inv) -> Table:
    """The etcd certificates on the operator's machine: subject, SANs, issuer, expiry."""
    directory = pki_dir(inv)
    names = ["ca"] + [f"{h.name}-{kind}" for h in members(inv) for kind in ("server", "peer")]
    names += [APISERVER_CLIENT, HEALTHCHECK]
    return pki.cert_table([directory / f"{n}.crt" for n in names], title=f"etcd certificates ({directory})")


def verify_chains(inv):
    """``openssl verify`` of every etcd leaf against the root of trust (the organisation's, or the etcd CA)."""
    from helpers.pki.chains import verify_chains as verify  # noqa: PLC0415

    root = pki.root_of(inv)
    return verify(pki_dir(inv), root, f"etcd certificates, verified by OpenSSL against {root.name if root else 'the etcd CA'}")
