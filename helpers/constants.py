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

API_HOSTNAME = "kube-api"
"""The API endpoint's host name (``kube-api.<cluster domain>``), resolving to the VIP."""

NODE_CIDR_MASK = 24
"""The prefix length of each node's pod range (the controller manager's default for IPv4)."""

CERT_CN_MAX = 64
"""The longest a certificate's common name may be (RFC 5280's ub-common-name)."""

LAB_BRIDGE_PREFIX = "kjbr-"
"""Lab bridges are named with this prefix, so the lab never adopts (or deletes) a bridge it does not own."""
