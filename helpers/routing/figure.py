"""The routing as a picture, read from the live API: request → rule → Service → pods on their nodes.

Four columns, left to right: what a client asks for (host and path), the object that
routes it (a rule of the Ingress, or an HTTPRoute), the Service it names, and the pods
behind that Service with the node each runs on (from the Service's EndpointSlices — what
Traefik itself forwards to: it sends to the pods directly, not through the ClusterIP).
"""

from __future__ import annotations

from typing import Any

from helpers.routing.router import APPS_NS, GATEWAY_GROUP


def live_routes(inv) -> list[tuple[str, str, str]]:
    """(request, routed by, Service) for every rule of every Ingress and HTTPRoute in ``kj-web``."""
    from kubernetes import client  # noqa: PLC0415
    from kubernetes.dynamic import DynamicClient  # noqa: PLC0415

    from helpers.kube import api_client  # noqa: PLC0415

    api = api_client(inv)
    rows = []
    for ing in client.NetworkingV1Api(api).list_namespaced_ingress(APPS_NS).items:
        for rule in ing.spec.rules or []:
            for path in rule.http.paths:
                rows.append((f"{rule.host}{path.path}", f"Ingress {ing.metadata.name}", path.backend.service.name))
    routes = DynamicClient(api).resources.get(api_version=f"{GATEWAY_GROUP}/v1", kind="HTTPRoute")
    for route in routes.get(namespace=APPS_NS).to_dict()["items"]:
        spec = route["spec"]
        for host in spec.get("hostnames") or ["*"]:
            for rule in spec.get("rules") or []:
                paths = [m.get("path", {}).get("value", "/") for m in rule.get("matches") or [{}]]
                for path in paths:
                    for ref in rule.get("backendRefs") or []:
                        rows.append((f"{host}{path}", f"HTTPRoute {route['metadata']['name']}", ref["name"]))
    return rows


def live_endpoints(inv, services: set[str]) -> dict[str, list[tuple[str, str]]]:
    """Service → [(pod, node)] from its EndpointSlices (ready endpoints only)."""
    from kubernetes import client  # noqa: PLC0415

    from helpers.kube import api_client  # noqa: PLC0415

    out: dict[str, list[tuple[str, str]]] = {s: [] for s in services}
    for eps in client.DiscoveryV1Api(api_client(inv)).list_namespaced_endpoint_slice(APPS_NS).items:
        svc = (eps.metadata.labels or {}).get("kubernetes.io/service-name")
        if svc not in out:
            continue
        for ep in eps.endpoints or []:
            if ep.conditions and ep.conditions.ready is False:
                continue
            pod = ep.target_ref.name if ep.target_ref else ",".join(ep.addresses)
            out[svc].append((pod, ep.node_name or "?"))
    return {s: sorted(v) for s, v in out.items()}


def plot_routes(inv, routes: list[tuple[str, str, str]] | None = None,
                endpoints: dict[str, list[tuple[str, str]]] | None = None) -> Any:
    """Draw the routing graph; returns the matplotlib figure."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    routes = routes if routes is not None else live_routes(inv)
    services = sorted({svc for _, _, svc in routes})
    endpoints = endpoints if endpoints is not None else live_endpoints(inv, set(services))
    requests = [r for r, _, _ in routes]
    objects = list(dict.fromkeys(o for _, o, _ in routes))  # first-seen order: fewer crossing lines
    pods = [(svc, pod, node) for svc in services for pod, node in endpoints.get(svc, [])]
    height = max(len(requests), len(pods), 4)
    fig, ax = plt.subplots(figsize=(15, 0.42 * height + 1.2))
    ax.set_xlim(-0.05, 3.9)
    ax.set_ylim(-0.3, height + 0.6)
    ax.axis("off")

    def ys(n: int) -> list[float]:
        step = height / max(n, 1)
        return [height - step * (i + 0.5) for i in range(n)]

    colours = {"blue": "#3b7dd8", "green": "#3aa655"}
    y_req, y_obj, y_svc, y_pod = ys(len(requests)), ys(len(objects)), ys(len(services)), ys(len(pods))
    for title, x in (("request (host + path)", 0), ("routed by", 1.15), ("Service", 2.25), ("pod @ node", 2.85)):
        ax.text(x, height + 0.25, title, fontweight="bold", ha="left")
    for (req, obj, svc), y in zip(routes, y_req, strict=True):
        colour = colours.get(svc, "#555555")
        ax.text(0, y, req, va="center", fontsize=9, family="monospace")
        oy, sy = y_obj[objects.index(obj)], y_svc[services.index(svc)]
        ax.plot([0.74, 1.13], [y, oy], color=colour, alpha=0.6)
        ax.plot([1.55, 2.23], [oy, sy], color=colour, alpha=0.6)
    for obj, y in zip(objects, y_obj, strict=True):
        ax.text(1.15, y, obj, va="center", fontsize=9, bbox={"boxstyle": "round", "fc": "#f3f3f3", "ec": "#999999"})
    for svc, y in zip(services, y_svc, strict=True):
        ax.text(2.25, y, svc, va="center", fontsize=10, color="white",
                bbox={"boxstyle": "round", "fc": colours.get(svc, "#555555"), "ec": "none"})
    for (svc, pod, node), y in zip(pods, y_pod, strict=True):
        ax.plot([2.45, 2.83], [y_svc[services.index(svc)], y], color=colours.get(svc, "#555555"), alpha=0.6)
        ax.text(2.85, y, f"{pod} @ {node}", va="center", fontsize=8, family="monospace")
    ax.set_title(f"HTTP routing in {APPS_NS}, as the API has it now (Traefik forwards to the pods' addresses)", pad=14)
    fig.tight_layout()
    return fig
