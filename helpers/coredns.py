"""CoreDNS: the cluster's DNS, so pods find Services by name.

Every pod's ``/etc/resolv.conf`` names the cluster DNS address (the kubelet's
``clusterDNS``), which is the ClusterIP of the ``kube-dns`` Service in front of two
CoreDNS pods. CoreDNS answers ``<service>.<namespace>.svc.<cluster domain>`` from the
API server (the ``kubernetes`` plugin, which is why it needs to list Services,
EndpointSlices, Pods and Namespaces) and forwards every other name to the name servers
of the node it runs on (``forward . /etc/resolv.conf``; the pods use
``dnsPolicy: Default``, so that file is the node's). In the air-gapped lab that is the
site's dnsmasq, which knows the lab's host names and nothing else.

The cluster's domain (``cluster.dns_domain``, ``cluster.local`` by default) is not the
hosts' domain (``cluster.domain``): names under the hosts' domain are forwarded to the site
DNS like any other. An inventory may still set both to the same domain; the ``kubernetes``
plugin then *falls through* for names it does not know, so a host name such as
``kube-node01.<domain>`` is forwarded instead of being answered NXDOMAIN.
"""

from __future__ import annotations

import hashlib

from helpers.ensure import render_template
from helpers.kube import api_client
from helpers.kube_wait import pod_ready
from helpers.report import Report

REPLICAS = 2


def render_corefile(cluster_domain: str) -> str:
    """Render the Corefile for ``cluster_domain``."""
    return render_template("coredns/Corefile.j2", {"cluster_domain": cluster_domain})


def manifests(inv) -> list[dict]:
    """The CoreDNS objects: ServiceAccount, RBAC, ConfigMap, Deployment and Service."""
    from helpers.artifacts import bundle_image as image_ref  # noqa: PLC0415
    from helpers.k8s_pki import cluster_domain  # noqa: PLC0415
    from helpers.kube_apply import load_documents  # noqa: PLC0415

    corefile = render_corefile(cluster_domain(inv))
    return load_documents("coredns/coredns.yaml.j2", {
        "corefile": corefile.rstrip("\n"),
        "corefile_sha256": hashlib.sha256(corefile.encode()).hexdigest()[:16],
        "replicas": REPLICAS,
        "image": image_ref("coredns"),
        "pull_policy": "Never" if inv.sources.images == "bundle" else "IfNotPresent",
        "cluster_dns": str(inv.network.cluster_dns),
    })


def ensure_coredns(inv, timeout: float = 180.0) -> Report:
    """Apply the CoreDNS objects (server-side apply; a re-run changes nothing), then wait for the rollout.

    A changed Corefile changes the pod template's checksum annotation, so the Deployment
    rolls its pods; the step returns once every replica runs the new template and is
    Ready, so the DNS checks that follow do not ask a pod that is going away.

    Raises:
        StepFailed: an object was not applied, or the rollout did not complete within
            ``timeout`` (the row names the replica counts last seen).
    """
    from kubernetes import client  # noqa: PLC0415

    from helpers.kube_apply import apply_objects  # noqa: PLC0415
    from helpers.kube_wait import wait_rolled_out  # noqa: PLC0415
    from helpers.report import Result  # noqa: PLC0415
    from helpers.waiting import WaitTimeout  # noqa: PLC0415

    api = api_client(inv)
    report = apply_objects(api, manifests(inv), "CoreDNS")
    try:
        wait_rolled_out(client.AppsV1Api(api), "kube-system", "coredns", timeout)
    except WaitTimeout as err:
        key = "Deployment/kube-system/coredns rollout"
        report.results[key] = Result(key, "failed", str(err), error=err)
    return report.raise_for_failures()


def check_coredns(inv) -> dict[str, str]:
    """The CoreDNS pods and their state: pod name to ``"<node>: Ready"`` or what is wrong."""
    from kubernetes import client  # noqa: PLC0415

    pods = client.CoreV1Api(api_client(inv)).list_namespaced_pod(
        "kube-system", label_selector="k8s-app=kube-dns").items
    state = {}
    for pod in pods:
        state[pod.metadata.name] = f"{pod.spec.node_name}: {'Ready' if pod_ready(pod) else pod.status.phase}"
    return state
