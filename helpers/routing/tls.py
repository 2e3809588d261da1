"""The certificate the router serves: issued by the series' own ingress CA, kept as Secrets.

The cluster's CAs (Kubernetes, front proxy, etcd) sign what the cluster's components
present to each other; a certificate for web sites is another trust decision, so it gets
its own CA, ``ingress-ca`` in ``<cluster>/pki/ingress``: self-signed, or an intermediate of
the organisation's root when the inventory names ``pki.root_ca`` (then a browser that
trusts the root trusts the sites). The leaf ``web`` names the host names of 07's sites
(:func:`site_names`) with wildcards, lasts ``pki.leaf_validity``, and is re-issued by the
run that finds it close to its end (``helpers.pki.ensure_cert``); the Secrets follow it.

The key lives in the cluster directory (0600) and in two Secrets of type
``kubernetes.io/tls`` — the Ingress reads its Secret from its own namespace, the Gateway
from the Gateway's — which the API server stores encrypted (04's EncryptionConfiguration).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any, NamedTuple

from helpers.routing.router import APPS_NS, MANAGED, NAMESPACE

SECRET = "kj-web-tls"
CA_NAME = "ca"
CA_CN = "ingress-ca"
LEAF = "web"


def pki_dir(inv) -> Path:
    """Where the ingress CA and the sites' certificate live in the cluster directory."""
    return Path(inv.cluster_dir) / "pki" / "ingress"


def apps_domain(inv) -> str:
    """The DNS suffix of 07's sites: ``apps.<cluster.domain>`` (e.g. ``apps.kube.demo``)."""
    return f"apps.{inv.cluster.domain}"


def site_names(inv) -> dict[str, str]:
    """The two front doors: ``ingress`` (served from the Ingress) and ``gateway`` (from HTTPRoutes)."""
    apps = apps_domain(inv)
    return {"ingress": f"ingress.{apps}", "gateway": f"gateway.{apps}"}


def ensure_certificate(inv):
    """The ingress CA and the ``web`` certificate (``*.ingress.<apps>``, ``*.gateway.<apps>`` and both bare names).

    Returns:
        ``(ca, leaf, changed)``: the two pairs and whether either was written.
    """
    from helpers import pki  # noqa: PLC0415

    directory = pki_dir(inv)
    ca = pki.ensure_ca(directory, CA_NAME, CA_CN, root=pki.root_of(inv))
    sans = [n for base in site_names(inv).values() for n in (base, f"*.{base}")]
    leaf, changed = pki.ensure_cert(ca, directory, LEAF, sans[0], sans=sans, usages="server",
                                    validity=pki.validity_of(inv))
    return ca, leaf, changed or bool(getattr(ca, "changed", False))


def served_chain(ca, leaf) -> bytes:
    """What the router sends: the leaf, then the intermediate when the CA is one (never a self-signed root)."""
    from helpers.pki import is_intermediate  # noqa: PLC0415

    chain = Path(leaf.cert_path).read_bytes()
    ca_cert = Path(ca.cert_path)
    if is_intermediate(ca.cert):
        chain += ca_cert.read_bytes()
    return chain


def trust_anchor(inv) -> Path:
    """The file a client trusts the sites with: the organisation's root, or the ingress CA."""
    from helpers.pki import trust_file  # noqa: PLC0415

    return trust_file(pki_dir(inv), CA_NAME)


def secret_documents(ca, leaf) -> list[dict[str, Any]]:
    """The ``kubernetes.io/tls`` Secret, once for the Ingress's namespace and once for the Gateway's."""
    data = {"tls.crt": base64.b64encode(served_chain(ca, leaf)).decode(),
            "tls.key": base64.b64encode(Path(leaf.key_path).read_bytes()).decode()}
    return [{"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
             "metadata": {"name": SECRET, "namespace": ns, "labels": MANAGED}, "data": data}
            for ns in (APPS_NS, NAMESPACE)]


class TlsApplied(NamedTuple):
    """What :func:`ensure_tls` did (``report``) and the two pairs it served (``ca``, ``leaf``), to show."""

    report: Any
    ca: Any
    leaf: Any


def ensure_tls(inv) -> TlsApplied:
    """Issue (or reuse) the certificate and apply its two Secrets; the report never shows the key."""
    from helpers.kube import api_client  # noqa: PLC0415
    from helpers.kube_apply import apply_objects  # noqa: PLC0415
    from helpers.report import Report, Result  # noqa: PLC0415

    ca, leaf, changed = ensure_certificate(inv)
    applied = apply_objects(api_client(inv), secret_documents(ca, leaf), "the sites' certificate")
    results = {"certificate": Result("certificate", "changed" if changed else "ok",
                                     f"{leaf.cert_path.name}: {getattr(leaf, 'detail', '') or 'reused'}"),
               **applied.results}
    return TlsApplied(Report(applied.title, results, applied.seconds), ca, leaf)
