"""07's two sites, and the same routing written twice: as an Ingress and as Gateway API routes.

Two Deployments, ``blue`` and ``green`` (agnhost ``serve-hostname``: every request answers
with the pod's name, so a reply says which Service it came through), each behind a
ClusterIP Service in ``kj-web``. The router sends them traffic by host name and by path:

==========================  =====================  ==========================
request                     Ingress ``kj-web``      HTTPRoutes
==========================  =====================  ==========================
``blue.<door>/…``           rule ``host: blue…``    route ``blue`` (hostnames)
``green.<door>/…``          rule ``host: green…``   route ``green``
``<door>/blue``             path ``/blue`` Prefix   route ``paths``, match /blue
``<door>/green``            path ``/green`` Prefix  route ``paths``, match /green
==========================  =====================  ==========================

with ``<door>`` ``ingress.apps.<domain>`` for the Ingress and ``gateway.apps.<domain>`` for
the routes, both over HTTPS with the series' certificate (:mod:`~helpers.routing.tls`).

Two differences the reader sees in the YAML. In an Ingress the host name belongs to the
rule; in Gateway API it belongs to the route, so host routing is one HTTPRoute per host.
And a redirect from HTTP to HTTPS has no field in the Ingress API (each controller has its
own annotation or CRD, Traefik a Middleware); the Gateway API has one, a ``RequestRedirect``
filter, on a route attached to the Gateway's plain-HTTP listener only. The Ingress here is
bound to the ``websecure`` entry point, so plain HTTP to its names finds no route (404).
"""

from __future__ import annotations

from typing import Any

from helpers.routing.router import (
    APPS_NS,
    GATEWAY_CLASS,
    GATEWAY_GROUP,
    INGRESS_CLASS,
    MANAGED,
    NAMESPACE,
    WEB,
    WEBSECURE,
)
from helpers.routing.tls import SECRET, site_names

SITES = ("blue", "green")
PORT = 8080
GATEWAY = "kj-gateway"
INGRESS = "kj-web"


def backend_documents() -> list[dict[str, Any]]:
    """The blue and green Deployments (two replicas each) and their Services."""
    from helpers.releases import bundle_image  # noqa: PLC0415

    docs: list[dict[str, Any]] = []
    for site in SITES:
        labels = {"app": site, **MANAGED}
        container = {
            "name": "serve-hostname", "image": bundle_image("agnhost"), "imagePullPolicy": "IfNotPresent",
            "args": ["serve-hostname", "--http", f"--port={PORT}"],
            "ports": [{"containerPort": PORT, "name": "http"}],
            "readinessProbe": {"tcpSocket": {"port": PORT}, "periodSeconds": 2},
            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                "runAsNonRoot": True, "runAsUser": 65532, "capabilities": {"drop": ["ALL"]},
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "resources": {"requests": {"cpu": "5m", "memory": "8Mi"}, "limits": {"memory": "32Mi"}},
        }
        docs += [
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": site, "namespace": APPS_NS, "labels": labels},
             "spec": {"replicas": 2, "selector": {"matchLabels": {"app": site}},
                      "template": {"metadata": {"labels": labels},
                                   "spec": {"containers": [container], "terminationGracePeriodSeconds": 2}}}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": site, "namespace": APPS_NS, "labels": labels},
             "spec": {"selector": {"app": site}, "ports": [{"name": "http", "port": 80, "targetPort": PORT}]}},
        ]
    return docs


def ingress_document(inv) -> dict[str, Any]:
    """The Ingress: host rules and path rules on ``ingress.<apps>``, HTTPS only."""
    door = site_names(inv)["ingress"]

    def backend(site: str) -> dict[str, Any]:
        return {"service": {"name": site, "port": {"number": 80}}}

    rules = [{"host": f"{site}.{door}", "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend(site)}]}}
             for site in SITES]
    rules.append({"host": door, "http": {"paths": [{"path": f"/{site}", "pathType": "Prefix", "backend": backend(site)}
                                                   for site in SITES]}})
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": INGRESS, "namespace": APPS_NS, "labels": MANAGED,
                     "annotations": {"traefik.ingress.kubernetes.io/router.entrypoints": "websecure",
                                     "traefik.ingress.kubernetes.io/router.tls": "true"}},
        "spec": {"ingressClassName": INGRESS_CLASS,
                 "tls": [{"hosts": [door, *(f"{s}.{door}" for s in SITES)], "secretName": SECRET}],
                 "rules": rules},
    }


def gateway_document() -> dict[str, Any]:
    """The Gateway (the router's side): an HTTP and an HTTPS listener, routes allowed from ``kj-web`` only."""
    def allowed() -> dict[str, Any]:  # a new dict per listener: YAML shows it twice, not as an alias
        return {"namespaces": {"from": "Selector", "selector": {"matchLabels": {"kubernetes.io/metadata.name": APPS_NS}}}}

    return {
        "apiVersion": f"{GATEWAY_GROUP}/v1", "kind": "Gateway",
        "metadata": {"name": GATEWAY, "namespace": NAMESPACE, "labels": MANAGED},
        "spec": {"gatewayClassName": GATEWAY_CLASS, "listeners": [
            {"name": "http", "port": WEB, "protocol": "HTTP", "allowedRoutes": allowed()},
            {"name": "https", "port": WEBSECURE, "protocol": "HTTPS", "allowedRoutes": allowed(),
             "tls": {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": SECRET}]}},
        ]},
    }


def route_documents(inv) -> list[dict[str, Any]]:
    """The HTTPRoutes (the applications' side): one per host name, one for the paths, one redirect."""
    door = site_names(inv)["gateway"]

    def parent(section: str) -> list[dict[str, Any]]:
        return [{"name": GATEWAY, "namespace": NAMESPACE, "sectionName": section}]

    def to(site: str) -> list[dict[str, Any]]:
        return [{"name": site, "port": 80}]

    def route(name: str, hostnames: list[str], section: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
        return {"apiVersion": f"{GATEWAY_GROUP}/v1", "kind": "HTTPRoute",
                "metadata": {"name": name, "namespace": APPS_NS, "labels": MANAGED},
                "spec": {"parentRefs": parent(section), "hostnames": hostnames, "rules": rules}}

    routes = [route(site, [f"{site}.{door}"], "https", [{"backendRefs": to(site)}]) for site in SITES]
    routes.append(route("paths", [door], "https",
                        [{"matches": [{"path": {"type": "PathPrefix", "value": f"/{site}"}}], "backendRefs": to(site)}
                         for site in SITES]))
    routes.append(route("to-https", [door, f"*.{door}"], "http",
                        [{"filters": [{"type": "RequestRedirect",
                                       "requestRedirect": {"scheme": "https", "statusCode": 301}}]}]))
    return routes


def site_documents(inv) -> list[dict[str, Any]]:
    """Everything of the two sites, in apply order: backends, Ingress, Gateway, routes."""
    return [*backend_documents(), ingress_document(inv), gateway_document(), *route_documents(inv)]


def ensure_sites(inv, timeout: float = 120.0):
    """Apply the sites and their routing; wait for the backends to roll out."""
    from kubernetes import client  # noqa: PLC0415

    from helpers.kube import api_client  # noqa: PLC0415
    from helpers.kube_apply import apply_objects  # noqa: PLC0415
    from helpers.kube_wait import wait_rolled_out  # noqa: PLC0415

    api = api_client(inv)
    report = apply_objects(api, site_documents(inv), "the blue and green sites, an Ingress, a Gateway, HTTPRoutes")
    apps = client.AppsV1Api(api)
    for site in SITES:
        wait_rolled_out(apps, APPS_NS, site, timeout=timeout)
    return report
