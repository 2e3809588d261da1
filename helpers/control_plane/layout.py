"""Names and locations of the control plane: directories on the masters, components, URLs.

Pure values and small lookups on the inventory; nothing here touches a host or a file.
"""

from __future__ import annotations

from pathlib import Path

from helpers.constants import API_PORT
from helpers.kube import admin_kubeconfig
from helpers.topology import api_endpoint, api_server_url  # noqa: F401 - shared by the chapters, re-exported

KUBE_DIR = "/etc/kubernetes"
PKI_DIR = f"{KUBE_DIR}/pki"
CONFIG_DIR = f"{KUBE_DIR}/config"
AUDIT_DIR = "/var/log/kubernetes/audit"
AUDIT_LOG = f"{AUDIT_DIR}/audit.log"
BIN_DIR = "/usr/local/bin"
COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
#: where each component answers its health check on its master (loopback)
HEALTH_URLS = {
    "kube-apiserver": f"https://127.0.0.1:{API_PORT}/readyz",
    "kube-controller-manager": "https://127.0.0.1:10257/healthz",
    "kube-scheduler": "https://127.0.0.1:10259/healthz",
}
#: AuthenticationConfiguration API (structured authentication; GA since Kubernetes 1.34)
AUTHENTICATION_API_VERSION = "apiserver.config.k8s.io/v1"
TEMPLATES = "control-plane"

# ------------------------------------------------------------------ names and locations


def kubeconfig_dir(inv) -> Path:
    """Directory of the generated kubeconfigs in the cluster directory."""
    return Path(inv.cluster_dir) / "kubeconfigs"


def admin_kubeconfig_path(inv) -> Path:
    """The cluster-admin kubeconfig (points at the VIP, 0600): :func:`helpers.kube.admin_kubeconfig`."""
    return admin_kubeconfig(inv)


def etcd_servers(inv, host=None) -> list[str]:
    """The etcd client URLs the API server on ``host`` uses (every member's when ``host`` is None).

    A master that is an etcd member itself (stacked etcd, as kubeadm builds it) talks to its
    own member only, on loopback: its API server then lives and dies with that member, and
    HAProxy's ``/readyz`` check takes both out together. Given all three, each API server's
    etcd client balances requests over them and keeps sending a third of them to a member
    whose machine is lost (its TCP connection never sees a reset) until they time out - 11's
    master drill measured 16 of 600 reads failing that way, and every API server failing
    ``/readyz`` now and then, so that HAProxy marked healthy masters DOWN. With external etcd
    (masters that are not members) every member is listed.
    """
    if host is not None and "etcd" in host.roles:
        return ["https://127.0.0.1:2379"]
    return [f"https://{h.address}:2379" for h in inv.hosts_with("etcd")]


def etcd_pki_dir(inv) -> Path:
    """The etcd PKI of notebook 03 (its CA signs the API server's etcd client certificate)."""
    return Path(inv.cluster_dir) / "pki" / "etcd"


ETCD_CLIENT = "apiserver-etcd-client"  # issued by notebook 03 (helpers.etcd.APISERVER_CLIENT)


#: the Secret :func:`~helpers.control_plane.ensure_probe_secret` creates and
#: :func:`~helpers.control_plane.check_secret_encrypted` reads back from etcd
PROBE_SECRET = ("default", "kj-encryption-probe")
