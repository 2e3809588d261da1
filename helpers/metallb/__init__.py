"""MetalLB in layer-2 mode: LoadBalancer Services with addresses of the node subnet (notebook 07).

On a cloud, ``type: LoadBalancer`` gets an address from the provider; out of the cloud it
stays ``<pending>`` until something hands out addresses. MetalLB does: its **controller**
allocates an address from an IPAddressPool and writes it into the Service's status; its
**speaker** (a DaemonSet on the host network) makes the address reachable. In layer-2 mode
exactly one speaker answers ARP requests for each address (the others stay quiet), chosen
by hashing the node and the address among the speakers that are alive (memberlist); when
that node goes away, another speaker takes over and announces the address with a
gratuitous ARP. Traffic for the address arrives at that one node, and kube-proxy there
spreads it over the Service's pods: MetalLB L2 gives failover, not load balancing across
nodes.

The package:

- :mod:`~helpers.metallb.install`: the release manifest, readiness, the address pools;
- :mod:`~helpers.metallb.services`: the demo Deployment and Services, their addresses,
  announcers and events;
- :mod:`~helpers.metallb.checks`: the checks from the operator's machine (HTTP, ARP).
"""

from helpers.metallb.checks import http_get, neighbour_mac, node_macs, verify_services
from helpers.metallb.install import (
    L2,
    NAMESPACE,
    POOL,
    SINGLE,
    ensure_address_pools,
    ensure_metallb,
    manifest_documents,
    pool_documents,
    pool_of,
    wait_metallb_ready,
)
from helpers.metallb.services import (
    DEMO_NS,
    announcers,
    app_documents,
    ensure_echo,
    ensure_services,
    events_of,
    service_addresses,
    service_document,
    wanted_services,
)

__all__ = [
    "DEMO_NS", "L2", "NAMESPACE", "POOL", "SINGLE",
    "announcers", "app_documents", "ensure_address_pools", "ensure_echo", "ensure_metallb", "ensure_services",
    "events_of", "http_get", "manifest_documents", "neighbour_mac", "node_macs", "pool_documents", "pool_of",
    "service_addresses", "service_document", "verify_services", "wait_metallb_ready", "wanted_services",
]
