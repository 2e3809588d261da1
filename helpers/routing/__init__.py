"""HTTP routing into the cluster (the second half of notebook 07): Traefik, Ingress and Gateway API.

A LoadBalancer Service gives one address per Service, and routes by port alone (layer 4).
Web sites share an address and are told apart by what the request says (layer 7): the
host name (``Host`` header, or the TLS server name) and the path. A router reads those
and forwards to the right Service; it terminates TLS on the way, so the sites need not.

- :mod:`~helpers.routing.router`: Traefik (built from its Go module into the bundle), its
  RBAC confined to the namespaces it serves, its Service on a fixed MetalLB address, the
  IngressClass and GatewayClass; the Gateway API CRDs from the pinned release;
- :mod:`~helpers.routing.tls`: the ingress CA and the sites' certificate, as Secrets;
- :mod:`~helpers.routing.sites`: the ``blue`` and ``green`` sites, the Ingress, the Gateway
  and the HTTPRoutes;
- :mod:`~helpers.routing.checks`: requests from the operator's machine, and the status the
  router wrote back;
- :mod:`~helpers.routing.figure`: the routing graph drawn from the live objects.
"""

from helpers.routing.checks import (
    expected,
    fetch,
    served_certificate,
    settle_status,
    verify_routing,
    verify_served_certificate,
    verify_status,
)
from helpers.routing.figure import live_routes, plot_routes
from helpers.routing.router import (
    APPS_NS,
    NAMESPACE,
    crd_documents,
    ensure_gateway_api,
    ensure_router,
    router_address,
    router_documents,
    traefik_args,
)
from helpers.routing.sites import (
    backend_documents,
    ensure_sites,
    gateway_document,
    ingress_document,
    route_documents,
    site_documents,
)
from helpers.routing.tls import (
    apps_domain,
    ensure_certificate,
    ensure_tls,
    site_names,
    trust_anchor,
)

__all__ = [
    "APPS_NS", "NAMESPACE",
    "apps_domain", "backend_documents", "crd_documents", "ensure_certificate", "ensure_gateway_api", "ensure_router",
    "ensure_sites", "ensure_tls", "expected", "fetch", "gateway_document", "ingress_document", "live_routes",
    "plot_routes", "route_documents",
    "router_address", "router_documents", "served_certificate", "settle_status", "site_documents", "site_names", "traefik_args",
    "trust_anchor", "verify_routing", "verify_served_certificate", "verify_status",
]
