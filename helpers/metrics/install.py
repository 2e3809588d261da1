"""metrics-server from the mirror, with TLS verified on both of its sides.

Upstream's ``components.yaml`` works anywhere because it trusts nothing and checks nothing:
metrics-server makes itself a self-signed certificate at every start, so its APIService
says ``insecureSkipTLSVerify: true`` (the API server believes whoever answers at the
Service's address), and the usual advice for hand-built clusters adds
``--kubelet-insecure-tls`` (metrics-server believes whoever answers at a node's address).
Here both are verified, with certificates the series already has:

- **metrics-server → kubelets.** Every kubelet serves a certificate 05 issued from the
  Kubernetes CA, naming the node, its FQDN and its address. metrics-server verifies it
  against that CA (``--kubelet-certificate-authority``), read from the ConfigMap
  ``kube-root-ca.crt`` the controller manager publishes in every namespace.
- **API server → metrics-server.** The series issues metrics-server a serving certificate
  from the Kubernetes CA (``metrics-server.kube-system.svc`` and its cluster-domain name),
  kept as the Secret ``metrics-server-tls``; the APIService carries that CA as its
  ``caBundle`` instead of ``insecureSkipTLSVerify``.

metrics-server authenticates the API server's proxied requests with the front-proxy CA
(``extension-apiserver-authentication``, 04's ``--requestheader-*`` flags) and asks the
kubelets with its ServiceAccount's token, which the kubelets' webhook authorizer checks
against ``nodes/metrics`` (upstream's RBAC). One replica, as upstream's
``components.yaml``; the HA variant (two, with a PodDisruptionBudget) is
``high-availability-1.21+.yaml`` of the same release. ``--kubelet-preferred-address-types``
becomes ``InternalIP`` alone: the address is what the kubelets' certificates name for sure
(a host name would need the pods' DNS to resolve node names, which CoreDNS does not).
"""

from __future__ import annotations

import base64
import copy
import hashlib
from pathlib import Path
from typing import Any

from helpers.kube import api_client
from helpers.verdict import Verdict

NAMESPACE = "kube-system"
NAME = "metrics-server"
SECRET = "metrics-server-tls"
APISERVICE = "v1beta1.metrics.k8s.io"
#: pod-template annotation holding the serving certificate's digest
CERT_ANNOTATION = "kubernetes-journey.dev/serving-certificate-sha256"
CERT_DIR = "/etc/metrics-server/tls"
KUBELET_CA = "/etc/metrics-server/kubelet-ca/ca.crt"
ARGS_ADDED = [f"--tls-cert-file={CERT_DIR}/tls.crt", f"--tls-private-key-file={CERT_DIR}/tls.key",
              f"--kubelet-certificate-authority={KUBELET_CA}", "--kubelet-preferred-address-types=InternalIP"]


def upstream_documents(inv) -> list[dict[str, Any]]:
    """``components.yaml`` of the pinned release, as the mirror serves it (sha256-verified)."""
    from helpers.kube_apply import mirror_documents  # noqa: PLC0415

    return mirror_documents(inv, "metrics-server-manifest")


def service_names(inv) -> list[str]:
    """The names the API server reaches metrics-server by: ``<svc>.<ns>.svc`` and with the cluster domain."""
    from helpers.k8s_pki import cluster_domain  # noqa: PLC0415

    return [f"{NAME}.{NAMESPACE}.svc", f"{NAME}.{NAMESPACE}.svc.{cluster_domain(inv)}"]


def ensure_certificate(inv):
    """metrics-server's serving certificate from the Kubernetes CA; returns ``(ca, pair, changed)``."""
    from helpers import pki  # noqa: PLC0415
    from helpers.k8s_pki import pki_dir  # noqa: PLC0415
    from helpers.node_pki import kubernetes_ca  # noqa: PLC0415

    ca = kubernetes_ca(inv)
    names = service_names(inv)
    pair, changed = pki.ensure_cert(ca, pki_dir(inv.cluster_dir), NAME, names[0], sans=names, usages="server",
                                    validity=pki.validity_of(inv))
    return ca, pair, changed


def manifest_documents(inv, ca, pair) -> list[dict[str, Any]]:
    """Upstream's objects with the changes above: verified TLS both ways, and nothing else."""
    docs = copy.deepcopy(upstream_documents(inv))
    for doc in docs:
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] == NAME:
            spec = doc["spec"]["template"]["spec"]
            container = spec["containers"][0]
            container["args"] = [a for a in container["args"] if not a.startswith("--kubelet-preferred-address-types")]
            container["args"] += ARGS_ADDED
            container["volumeMounts"] += [{"name": "tls", "mountPath": CERT_DIR, "readOnly": True},
                                          {"name": "kubelet-ca", "mountPath": str(Path(KUBELET_CA).parent),
                                           "readOnly": True}]
            spec["volumes"] += [{"name": "tls", "secret": {"secretName": SECRET}},
                                {"name": "kubelet-ca", "configMap": {"name": "kube-root-ca.crt"}}]
            # a renewed certificate rolls the pod (the same certificate changes nothing)
            meta = doc["spec"]["template"].setdefault("metadata", {})
            meta.setdefault("annotations", {})[CERT_ANNOTATION] = hashlib.sha256(
                Path(pair.cert_path).read_bytes()).hexdigest()[:16]
        if doc["kind"] == "APIService" and doc["metadata"]["name"] == APISERVICE:
            doc["spec"].pop("insecureSkipTLSVerify", None)
            doc["spec"]["caBundle"] = base64.b64encode(Path(ca.cert_path).read_bytes()).decode()
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
              "metadata": {"name": SECRET, "namespace": NAMESPACE, "labels": {"k8s-app": NAME}},
              "data": {"tls.crt": base64.b64encode(Path(pair.cert_path).read_bytes()).decode(),
                       "tls.key": base64.b64encode(Path(pair.key_path).read_bytes()).decode()}}
    return [secret, *docs]


def departures(inv) -> Verdict:
    """Every field in which the applied objects differ from upstream's ``components.yaml``, one row each."""
    ca, pair, _ = ensure_certificate(inv)
    ours = {(d["kind"], d["metadata"]["name"]): d for d in manifest_documents(inv, ca, pair)}
    rows = []
    for doc in upstream_documents(inv):
        key = (doc["kind"], doc["metadata"]["name"])
        mine = ours.pop(key)
        if doc["kind"] == "Deployment":
            theirs, new = doc["spec"]["template"]["spec"], mine["spec"]["template"]["spec"]
            args_up, args_new = theirs["containers"][0]["args"], new["containers"][0]["args"]
            rows += [(f"{key[0]}/{key[1]}", "args", a, "removed") for a in args_up if a not in args_new]
            rows += [(f"{key[0]}/{key[1]}", "args", a, "added") for a in args_new if a not in args_up]
            rows += [(f"{key[0]}/{key[1]}", "volumes", v["name"], "added") for v in new["volumes"]
                     if v not in theirs["volumes"]]
            rows.append((f"{key[0]}/{key[1]}", "template annotation", CERT_ANNOTATION, "added"))
        elif doc != mine:
            changed = sorted(set(doc["spec"]) ^ set(mine["spec"]))
            rows += [(f"{key[0]}/{key[1]}", "spec", f, "removed" if f in doc["spec"] else "added") for f in changed]
    rows += [(f"{k}/{n}", "-", "the serving certificate and key", "added") for k, n in ours]
    problems = [f"{what} is not in components.yaml, or has nothing to change" for what, found in (
        (f"Deployment/{NAME}", any(r[0] == f"Deployment/{NAME}" and r[3] == "added" for r in rows)),
        (f"APIService/{APISERVICE}", any(r[0] == f"APIService/{APISERVICE}" for r in rows)))
        if not found]
    return Verdict("what 09 changes in metrics-server's components.yaml", ["object", "field", "value", "change"], rows,
                   problems)


def ensure_metrics_server(inv, timeout: float = 240.0):
    """Issue the certificate, apply the objects, wait for the rollout and for the APIService to be Available."""
    import time  # noqa: PLC0415

    from helpers.kube_apply import apply_and_roll_out  # noqa: PLC0415
    from helpers.report import Report, Result  # noqa: PLC0415

    started = time.monotonic()
    ca, pair, changed = ensure_certificate(inv)
    api = api_client(inv)
    report = apply_and_roll_out(api, manifest_documents(inv, ca, pair), "metrics-server", NAMESPACE, NAME, timeout)
    waited = wait_available(inv, timeout=120)
    results = {"certificate": Result("certificate", "changed" if changed else "ok",
                                     f"{pair.cert_path.name}: {getattr(pair, 'detail', '') or 'reused'}"),
               **report.results, "apiservice": Result("apiservice", "ok", f"Available (waited {waited:.1f} s)", waited)}
    return Report(report.title, results, time.monotonic() - started)


def apiservice_condition(inv) -> tuple[str, str]:
    """The APIService's ``Available`` condition: (status, reason and message)."""
    from kubernetes import client  # noqa: PLC0415

    svc = client.ApiregistrationV1Api(api_client(inv)).read_api_service(APISERVICE)
    for cond in (svc.status.conditions or []) if svc.status else []:
        if cond.type == "Available":
            return cond.status, f"{cond.reason}: {cond.message or ''}".strip(": ")
    return "Unknown", "no Available condition yet"


def wait_available(inv, timeout: float = 120.0) -> float:
    """Poll until the API server says ``v1beta1.metrics.k8s.io`` is Available; return the seconds waited."""
    from helpers.waiting import poll_until  # noqa: PLC0415

    return poll_until(lambda: apiservice_condition(inv), lambda c: c[0] == "True", what="Available",
                      where=f"APIService/{APISERVICE}", timeout=timeout, interval=2.0,
                      describe=lambda c: f"{c[0]} ({c[1]})").seconds
