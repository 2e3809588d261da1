"""Names and numbers the whole series agrees on, defined once."""

from __future__ import annotations

ROLES = ("lb", "etcd", "master", "worker")
"""The roles a host can have in the inventory."""

API_PORT = 6443
"""The API server's port: on every master, and on the VIP where HAProxy listens for it."""

FLANNEL_VNI = 1
"""The VXLAN network identifier flannel's overlay uses (``flannel.1``)."""

FLANNEL_VXLAN_PORT = 8472
"""The UDP port of flannel's VXLAN traffic between nodes."""

FLANNEL_PUBLIC_IP_ANNOTATION = "flannel.alpha.coreos.com/public-ip"
"""The node annotation where flanneld publishes the address its VXLAN endpoint uses."""

ADMIN_GROUP = "kj:cluster-admins"
"""The group of the admin kubeconfig's certificate, bound to ``cluster-admin`` by a ClusterRoleBinding
(kubeadm's ``kubeadm:cluster-admins``): deleting the binding revokes it. The break-glass
``super-admin`` is in ``system:masters``, which RBAC cannot revoke."""

API_HOSTNAME = "kube-api"
"""The API endpoint's host name (``kube-api.<cluster domain>``), resolving to the VIP."""

NODE_CIDR_MASK = 24
"""The prefix length of each node's pod range (the controller manager's default for IPv4)."""

CERT_CN_MAX = 64
"""The longest a certificate's common name may be (RFC 5280's ub-common-name)."""

LAB_BRIDGE_PREFIX = "kjbr-"
"""Lab bridges are named with this prefix, so the lab never adopts (or deletes) a bridge it does not own."""

TLS_CIPHER_SUITES = (
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
)
"""The TLS 1.2 cipher suites the API server and the kubelets accept (CIS 1.2.x / 4.2.x): forward
secret AEAD suites only. TLS 1.3's suites are Go's fixed, strong set and need no list."""

POD_PIDS_LIMIT = 4096
"""The most processes (threads included) one pod may run (the kubelet's ``podPidsLimit``)."""
