"""07's LoadBalancer Services: what they ask MetalLB for, what they got, and who announces them.

One Deployment (:data:`APP`, agnhost ``netexec``: ``/hostname`` answers with the pod's name)
in :data:`DEMO_NS` behind six Services, each showing one thing:

==================  ==========================================================================
``echo``            an address picked by MetalLB from the automatic pool
``echo-fixed``      a specific address, asked for (``metallb.io/loadBalancerIPs``)
``shared-http``     one address shared by two Services on different ports
``shared-alt``      (``metallb.io/allow-shared-ip`` with the same key on both)
``single-first``    the one address of the single-address pool (``metallb.io/address-pool``)
``single-second``   the same pool, now empty: stays ``<pending>``, with an AllocationFailed event
==================  ==========================================================================
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any

from helpers.kube import api_client, load_balancer_address
from helpers.metallb.install import GROUP, NAMESPACE, SINGLE
from helpers.report import Report
from helpers.topology import fixed_addresses
from helpers.waiting import poll_until

DEMO_NS = "kj-lb"
APP = "echo"
PORT = 8080
SHARE_KEY = "kj-shared"
MANAGED = {"app.kubernetes.io/managed-by": "kubernetes-journey", "app.kubernetes.io/part-of": "07-load-balancing"}


@dataclass(frozen=True)
class Wanted:
    """One demo Service: its name, its port, and what it asks MetalLB for (annotations)."""

    name: str
    port: int
    annotations: dict[str, str]
    gets_address: bool = True
    local: bool = False  # externalTrafficPolicy Local: announced only where a pod runs, no second hop


def wanted_services(inv) -> list[Wanted]:
    """The six Services, with addresses derived from the pool (first..last-1 automatic, last single)."""
    plan = fixed_addresses(inv)
    fixed, shared = plan["fixed"], plan["shared"]
    share = {"metallb.io/allow-shared-ip": SHARE_KEY, "metallb.io/loadBalancerIPs": str(shared)}
    return [
        Wanted("echo", 80, {}),
        Wanted("echo-fixed", 80, {"metallb.io/loadBalancerIPs": str(fixed)}),
        Wanted("shared-http", 80, share),
        Wanted("shared-alt", 8080, share),
        Wanted("single-first", 80, {"metallb.io/address-pool": SINGLE}),
        Wanted("single-second", 80, {"metallb.io/address-pool": SINGLE}, gets_address=False),
    ]


def app_documents(inv) -> list[dict[str, Any]]:
    """The namespace and the two-replica echo Deployment (pods spread over the workers)."""
    from helpers.releases import bundle_image  # noqa: PLC0415

    labels = {"app": APP, **MANAGED}
    container = {
        "name": "netexec", "image": bundle_image("agnhost"), "imagePullPolicy": "IfNotPresent",
        "args": ["netexec", f"--http-port={PORT}"], "ports": [{"containerPort": PORT, "name": "http"}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": PORT}, "periodSeconds": 2},
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True, "runAsUser": 65532,
                            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
    }
    spread = [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
               "labelSelector": {"matchLabels": {"app": APP}}, "matchLabelKeys": ["pod-template-hash"]}]
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": DEMO_NS, "labels": MANAGED}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": APP, "namespace": DEMO_NS, "labels": labels},
         "spec": {"replicas": 2, "selector": {"matchLabels": {"app": APP}},
                  "template": {"metadata": {"labels": labels},
                               "spec": {"containers": [container], "topologySpreadConstraints": spread,
                                        "terminationGracePeriodSeconds": 2}}}},
    ]


def service_document(w: Wanted) -> dict[str, Any]:
    """A LoadBalancer Service for :data:`APP` with ``w``'s port and annotations."""
    meta: dict[str, Any] = {"name": w.name, "namespace": DEMO_NS, "labels": MANAGED}
    if w.annotations:
        meta["annotations"] = w.annotations
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta,
            "spec": {"type": "LoadBalancer", "selector": {"app": APP},
                     "externalTrafficPolicy": "Local" if w.local else "Cluster",
                     "ports": [{"name": "http", "port": w.port, "targetPort": PORT, "protocol": "TCP"}]}}


def ensure_echo(inv) -> Report:
    """The namespace and the echo Deployment, rolled out."""
    from kubernetes import client  # noqa: PLC0415

    from helpers.kube_apply import apply_objects  # noqa: PLC0415
    from helpers.kube_wait import wait_rolled_out  # noqa: PLC0415

    api = api_client(inv)
    report = apply_objects(api, app_documents(inv), "the echo Deployment")
    wait_rolled_out(client.AppsV1Api(api), DEMO_NS, APP, timeout=180)
    return report


def ensure_services(inv, names: list[str] | None = None, extra: list[Wanted] = ()) -> Report:
    """Apply the demo Services (all, or those named), in order: ``single-first`` before ``single-second``.

    The two single-pool Services compete for one address; applying the first and waiting
    for its address before the second makes the winner the same on every run.
    """
    from helpers.kube_apply import apply_objects  # noqa: PLC0415

    api = api_client(inv)
    results: dict = {}
    started = time.monotonic()
    for w in [*wanted_services(inv), *extra]:
        if names is not None and w.name not in names and w not in extra:
            continue
        report = apply_objects(api, [service_document(w)], f"Service {w.name}")
        results.update(report.results)
        if w.gets_address:
            wait_address(inv, w.name)
    return Report("LoadBalancer Services", results, time.monotonic() - started)


def wait_address(inv, name: str, timeout: float = 60.0) -> IPv4Address:
    """Wait until Service ``name`` has its address; return it."""
    from kubernetes import client  # noqa: PLC0415

    core = client.CoreV1Api(api_client(inv))
    return load_balancer_address(poll_until(
        lambda: core.read_namespaced_service(name, DEMO_NS), lambda s: load_balancer_address(s) is not None,
        what=f"Service {name} to get an address from MetalLB", where=f"Service/{DEMO_NS}/{name}",
        timeout=timeout, interval=0.5, describe=lambda s: "still <pending>").value)


def service_addresses(inv) -> dict[str, IPv4Address | None]:
    """Every demo Service's address (None: pending)."""
    from kubernetes import client  # noqa: PLC0415

    core = client.CoreV1Api(api_client(inv))
    return {s.metadata.name: load_balancer_address(s) for s in core.list_namespaced_service(DEMO_NS).items}


def announcers(inv) -> dict[str, str]:
    """Service name -> the node whose speaker answers ARP for its address (ServiceL2Status)."""
    from kubernetes import client  # noqa: PLC0415

    custom = client.CustomObjectsApi(api_client(inv))
    found = {}
    for item in custom.list_namespaced_custom_object(GROUP, "v1beta1", NAMESPACE, "servicel2statuses")["items"]:
        status = item.get("status") or {}
        if status.get("serviceNamespace") == DEMO_NS and status.get("node"):
            found[status.get("serviceName", "?")] = status["node"]
    return found


def events_of(inv, name: str) -> list[tuple[str, str, str]]:
    """(reason, source, message) of the events about Service ``name``, oldest first."""
    from kubernetes import client  # noqa: PLC0415

    core = client.CoreV1Api(api_client(inv))
    events = core.list_namespaced_event(DEMO_NS, field_selector=f"involvedObject.name={name}").items
    events.sort(key=lambda e: e.last_timestamp or e.event_time or e.metadata.creation_timestamp)
    return [(e.reason, (e.source.component if e.source else "") or e.reporting_component or "", e.message)
            for e in events]
