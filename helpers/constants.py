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
