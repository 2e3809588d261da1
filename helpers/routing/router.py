"""Traefik as the cluster's HTTP router, and the Gateway API CRDs it serves.

One Traefik Deployment (two replicas, spread over the nodes) reads two APIs:

- **Ingress** (``networking.k8s.io/v1``, in Kubernetes since 1.1, GA in 1.19): rules of host
  and path to a Service, for the controller an IngressClass names;
- **Gateway API** (``gateway.networking.k8s.io/v1``, CRDs installed from the pinned
  release): a GatewayClass (which controller), a Gateway (listeners: ports, protocols,
  certificates; owned by whoever runs the router) and HTTPRoutes (owned by the
  applications) attached to a Gateway's listeners.

It listens on 8000 (``web``) and 8443 (``websecure``), unprivileged ports so it runs as a
non-root user with no capability; its Service, ``type: LoadBalancer``, asks MetalLB for a
fixed address of the pool (:func:`router_address`) and maps 80 and 443 to them. Gateway
listeners name those entry points by their port: a listener on port 8000 is ``web``.

Where we depart from Traefik's documented RBAC: it gives the router ``get/list/watch`` on
every Secret of the cluster. Here each provider is confined to the namespaces it serves
(``--providers.*.namespaces``) and the Secrets, Services and routes of those namespaces
come from namespaced Roles; only the cluster-scoped classes and the namespace list are in
the ClusterRole.
"""

from __future__ import annotations

import time
from ipaddress import IPv4Address
from typing import Any

from helpers.kube import api_client
from helpers.report import Report, Result
from helpers.topology import fixed_addresses

NAMESPACE = "kj-ingress"
APPS_NS = "kj-web"
NAME = "traefik"
INGRESS_CLASS = "traefik"
GATEWAY_CLASS = "traefik"
INGRESS_CONTROLLER = "traefik.io/ingress-controller"
GATEWAY_CONTROLLER = "traefik.io/gateway-controller"
WEB, WEBSECURE, PING = 8000, 8443, 8080
GATEWAY_GROUP = "gateway.networking.k8s.io"
MANAGED = {"app.kubernetes.io/managed-by": "kubernetes-journey", "app.kubernetes.io/part-of": "07-load-balancing"}


def router_address(inv) -> IPv4Address:
    """The router's LoadBalancer address: the fourth from the pool's end (07's other fixed ones follow it)."""
    return fixed_addresses(inv)["router"]


def crd_documents(inv) -> list[dict[str, Any]]:
    """The Gateway API standard-channel CRDs of the pinned release, from the mirror (sha256-verified)."""
    from helpers.kube_apply import mirror_documents  # noqa: PLC0415

    return mirror_documents(inv, "gateway-api-crds")


def _rbac() -> list[dict[str, Any]]:
    read = ["get", "list", "watch"]
    cluster_rules = [
        {"apiGroups": ["networking.k8s.io"], "resources": ["ingressclasses"], "verbs": read},
        {"apiGroups": [GATEWAY_GROUP], "resources": ["gatewayclasses"], "verbs": read},
        {"apiGroups": [GATEWAY_GROUP], "resources": ["gatewayclasses/status"], "verbs": ["update"]},
        # allowedRoutes may select namespaces by label
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]},
        # the Ingress provider waits for a node cache before it serves anything
        {"apiGroups": [""], "resources": ["nodes"], "verbs": read},
    ]
    routes = ["gateways", "httproutes", "grpcroutes", "referencegrants", "backendtlspolicies"]
    ns_rules = [
        {"apiGroups": [""], "resources": ["services", "secrets", "configmaps"], "verbs": read},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
        {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": read},
        {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses/status"], "verbs": ["update"]},
        {"apiGroups": [GATEWAY_GROUP], "resources": routes, "verbs": read},
        {"apiGroups": [GATEWAY_GROUP], "resources": [f"{r}/status" for r in routes], "verbs": ["update"]},
    ]
    subject = [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}]
    role_name = f"kj:{NAME}"
    docs: list[dict[str, Any]] = [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": role_name, "labels": MANAGED}, "rules": cluster_rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": role_name, "labels": MANAGED}, "subjects": subject,
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name}},
    ]
    for ns in (NAMESPACE, APPS_NS):
        docs += [
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
             "metadata": {"name": role_name, "namespace": ns, "labels": MANAGED}, "rules": ns_rules},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
             "metadata": {"name": role_name, "namespace": ns, "labels": MANAGED}, "subjects": subject,
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name}},
        ]
    return docs


def traefik_args() -> list[str]:
    """Traefik's static configuration, as command-line flags (shown in 07)."""
    return [
        f"--entryPoints.web.address=:{WEB}",
        f"--entryPoints.websecure.address=:{WEBSECURE}",
        f"--entryPoints.traefik.address=:{PING}",
        "--ping=true",
        "--ping.entryPoint=traefik",
        "--providers.kubernetesIngress=true",
        # its own namespace too: the address it publishes into Ingress status is read from its Service
        f"--providers.kubernetesIngress.namespaces={NAMESPACE},{APPS_NS}",
        f"--providers.kubernetesIngress.ingressEndpoint.publishedService={NAMESPACE}/{NAME}",
        # a Service with no ready pod keeps its route and answers 503, as the Gateway provider does
        # (by default the Ingress provider drops the route and a site that is down answers 404)
        "--providers.kubernetesIngress.allowEmptyServices=true",
        "--providers.kubernetesGateway=true",
        f"--providers.kubernetesGateway.namespaces={NAMESPACE},{APPS_NS}",
        f"--providers.kubernetesGateway.statusAddress.service.name={NAME}",
        f"--providers.kubernetesGateway.statusAddress.service.namespace={NAMESPACE}",
        "--global.checkNewVersion=false",
        "--global.sendAnonymousUsage=false",
        "--log.level=INFO",
        "--accesslog=true",
    ]


def router_documents(inv) -> list[dict[str, Any]]:
    """Namespaces, RBAC, the Traefik Deployment and Service, the IngressClass and the GatewayClass."""
    from helpers.releases import bundle_image  # noqa: PLC0415

    labels = {"app": NAME, **MANAGED}
    restricted = {"pod-security.kubernetes.io/enforce": "restricted"}
    container = {
        "name": NAME, "image": bundle_image("traefik"), "imagePullPolicy": "IfNotPresent", "args": traefik_args(),
        "ports": [{"name": "web", "containerPort": WEB}, {"name": "websecure", "containerPort": WEBSECURE},
                  {"name": "ping", "containerPort": PING}],
        "readinessProbe": {"httpGet": {"path": "/ping", "port": PING}, "periodSeconds": 2, "failureThreshold": 2},
        "livenessProbe": {"httpGet": {"path": "/ping", "port": PING}, "periodSeconds": 10, "failureThreshold": 3},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
                            "runAsUser": 65532, "runAsGroup": 65532, "capabilities": {"drop": ["ALL"]},
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    spread = [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
               "labelSelector": {"matchLabels": {"app": NAME}}, "matchLabelKeys": ["pod-template-hash"]}]
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels,
                     "annotations": {"metallb.io/loadBalancerIPs": str(router_address(inv))}},
        "spec": {"type": "LoadBalancer", "selector": {"app": NAME}, "externalTrafficPolicy": "Cluster",
                 "ports": [{"name": "web", "port": 80, "targetPort": "web", "protocol": "TCP"},
                           {"name": "websecure", "port": 443, "targetPort": "websecure", "protocol": "TCP"}]},
    }
    return [
        *({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {**MANAGED, **restricted}}}
          for ns in (NAMESPACE, APPS_NS)),
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": NAME, "namespace": NAMESPACE,
                                                                     "labels": labels}},
        *_rbac(),
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels},
         "spec": {"replicas": 2, "selector": {"matchLabels": {"app": NAME}},
                  "template": {"metadata": {"labels": labels},
                               "spec": {"serviceAccountName": NAME, "containers": [container],
                                        "topologySpreadConstraints": spread, "terminationGracePeriodSeconds": 10,
                                        "volumes": [{"name": "tmp", "emptyDir": {}}]}}}},
        service,
        {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": INGRESS_CLASS, "labels": MANAGED},
         "spec": {"controller": INGRESS_CONTROLLER}},
        {"apiVersion": f"{GATEWAY_GROUP}/v1", "kind": "GatewayClass", "metadata": {"name": GATEWAY_CLASS, "labels": MANAGED},
         "spec": {"controllerName": GATEWAY_CONTROLLER}},
    ]


def ensure_gateway_api(inv) -> Report:
    """Apply the Gateway API CRDs (server-side apply: a re-run changes nothing) and wait until served."""
    from helpers.kube_apply import apply_objects  # noqa: PLC0415
    from helpers.kube_wait import wait_crds_established  # noqa: PLC0415

    docs = crd_documents(inv)
    report = apply_objects(api_client(inv), docs, "Gateway API CRDs (standard-install.yaml)")
    wait_crds_established(api_client(inv), [d["metadata"]["name"] for d in docs if d["kind"] == "CustomResourceDefinition"])
    return report


def ensure_router(inv, timeout: float = 180.0) -> Report:
    """Apply Traefik's objects and wait for its rollout and its address."""
    from kubernetes import client  # noqa: PLC0415

    from helpers.kube import load_balancer_address  # noqa: PLC0415
    from helpers.kube_apply import apply_and_roll_out  # noqa: PLC0415
    from helpers.waiting import poll_until  # noqa: PLC0415

    api = api_client(inv)
    started = time.monotonic()
    report = apply_and_roll_out(api, router_documents(inv), "Traefik (the HTTP router)", NAMESPACE, NAME, timeout)
    core = client.CoreV1Api(api)
    want = router_address(inv)
    got = poll_until(lambda: load_balancer_address(core.read_namespaced_service(NAME, NAMESPACE)), lambda a: a == want,
                     what=f"address {want}", where=f"Service/{NAMESPACE}/{NAME}", timeout=60, interval=1.0,
                     describe=lambda a: f"status shows {a or '<pending>'}")
    results = {**report.results, "address": Result("address", "ok", f"{got.value} (waited {got.seconds:.1f} s)",
                                                   got.seconds)}
    return Report(report.title, results, time.monotonic() - started)
