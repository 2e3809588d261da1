"""The node identities: client and serving certificates for kubelet, kube-proxy and flannel.

Every node component talks to the API server with a client certificate of its own,
signed by the Kubernetes CA of notebook 04 (``pki/kubernetes/ca``), and the API server
reads the certificate's CN as the user name and its O fields as the groups:

=================================  =====================================  ==================
file (``pki/kubernetes/``)         subject                                why
=================================  =====================================  ==================
``kubelet-<node>``                 CN=system:node:<node>, O=system:nodes  the Node authorizer
                                                                          lets a kubelet touch
                                                                          only its own node
                                                                          and pods
``kubelet-<node>-serving``         CN=<node> (SANs: name, FQDN, address)  the kubelet's HTTPS
                                                                          API (logs, exec)
``kube-proxy``                     CN=system:kube-proxy                   bound by the default
                                                                          system:node-proxier
                                                                          role
``flannel``                        CN=system:flannel                      bound to the
                                                                          flannel ClusterRole
=================================  =====================================  ==================

Everything is generated once on the operator's machine with :mod:`helpers.pki`; a re-run
finds valid files and writes nothing.
"""

from __future__ import annotations

from helpers import pki
from helpers.k8s_pki import pki_dir
from helpers.report import Report, Result

KUBE_PROXY_USER = "system:kube-proxy"
FLANNEL_USER = "system:flannel"


def node_hosts(inv) -> list:
    """The hosts that run a kubelet: masters (tainted) and workers, in file order."""
    return [h for h in inv.hosts if "master" in h.roles or "worker" in h.roles]


def kubelet_client_name(node: str) -> str:
    """File stem of a node's kubelet client certificate."""
    return f"kubelet-{node}"


def kubelet_serving_name(node: str) -> str:
    """File stem of a node's kubelet serving certificate."""
    return f"kubelet-{node}-serving"


def kubernetes_ca(inv) -> pki.CertPair:
    """Load the Kubernetes CA that notebook 04 created (never creates one).

    Raises:
        ConfigError: the CA is missing: run 04-masters first.
    """
    return pki.load_pair(pki_dir(inv.cluster_dir), "ca")


def ensure_node_certificates(inv) -> Report:
    """Issue (once) every node-side certificate, signed by the Kubernetes CA.

    One row per node (its kubelet client and serving certificates), plus one row each
    for kube-proxy and flannel, which share one identity across nodes.

    Returns:
        A report keyed by node (and ``kube-proxy`` / ``flannel``): ``changed`` when a
        certificate was issued or re-issued, with the reason.
    """
    ca = kubernetes_ca(inv)
    directory = pki_dir(inv.cluster_dir)
    results: dict[str, Result] = {}

    def record(key: str, *issued: tuple[pki.CertPair, bool]) -> None:
        changed = [f"{pair.name}: {pair.detail}" for pair, was in issued if was]
        results[key] = Result(
            key,
            "changed" if changed else "ok",
            "; ".join(changed) or "valid certificates reused",
            data=[pair.cert_path for pair, _ in issued],
        )

    validity = pki.validity_of(inv)
    for host in node_hosts(inv):
        client = pki.ensure_cert(
            ca, directory, kubelet_client_name(host.name), f"system:node:{host.name}",
            organization="system:nodes", usages="client", validity=validity,
        )
        serving = pki.ensure_cert(
            ca, directory, kubelet_serving_name(host.name), host.name,
            sans=[host.name, host.fqdn, str(host.address)], usages="server", validity=validity,
        )
        record(host.name, client, serving)
    record("kube-proxy", pki.ensure_cert(ca, directory, "kube-proxy", KUBE_PROXY_USER, usages="client",
                                               validity=validity))
    record("flannel", pki.ensure_cert(ca, directory, "flannel", FLANNEL_USER, usages="client",
                                            validity=validity))
    return Report("node certificates", results)


def node_kubeconfig(inv, user: str, cert_name: str) -> str:
    """Render a kubeconfig for ``user`` (certificate ``cert_name``) pointing at the VIP.

    The kubelet, kube-proxy and flanneld each authenticate with one of these.
    """
    from helpers.kubeconfig import KubeconfigSpec, render_kubeconfig  # noqa: PLC0415
    from helpers.topology import api_server_url  # noqa: PLC0415

    directory = pki_dir(inv.cluster_dir)
    pair = pki.load_pair(directory, cert_name)
    return render_kubeconfig(KubeconfigSpec(
        cluster=inv.cluster.name, server=api_server_url(inv), user=user,
        ca_pem=(directory / "ca.crt").read_bytes(), cert_pem=pair.cert_pem, key_pem=pair.key_pem,
    ))
