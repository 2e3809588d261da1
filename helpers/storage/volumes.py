"""08's volumes: claims that provision themselves, kept across pods, and a StatefulSet's own volumes.

Objects that stay (a re-run finds them ``ok``), in the namespace ``kj-storage``:

- the claim ``kj-data`` and the pod ``kj-writer`` that mounts it at ``/data`` and writes
  ``/data/first-writer`` once (its own name and the time), so a later pod can tell it
  reads data an earlier one wrote;
- the StatefulSet ``kj-sts`` (two replicas, a ``volumeClaimTemplates`` entry ``data``): each
  replica writes ``/data/identity`` once, so after a restart each shows whose volume it got.

The demonstrations (:mod:`~helpers.storage.drills`) create and delete their own objects and
leave nothing behind.
"""

from __future__ import annotations

from typing import Any

from helpers.kube import api_client

DEMO_NS = "kj-storage"
CLAIM = "kj-data"
WRITER = "kj-writer"
STS = "kj-sts"
MANAGED = {"app.kubernetes.io/managed-by": "kubernetes-journey", "app.kubernetes.io/part-of": "08-storage"}
#: what 08's pods run as: the cluster's default Pod Security level is baseline, and restricted warns
SECURITY = {"allowPrivilegeEscalation": False, "runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532,
            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}


def claim_document(name: str, size: str = "64Mi", namespace: str = DEMO_NS) -> dict[str, Any]:
    """A ReadWriteOnce claim that names no StorageClass: the default one (``local-path``) serves it."""
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": namespace, "labels": MANAGED},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}}


def writer_script(file: str) -> str:
    """Write ``file`` once (pod name and time), then stay up; a restarted pod keeps what was there."""
    return (f'[ -s {file} ] || echo "$(hostname) $(date -u +%Y-%m-%dT%H:%M:%SZ)" > {file}; '
            f'cat {file}; exec sleep 2147483647')


def pod_document(name: str, claim: str, file: str = "/data/first-writer", namespace: str = DEMO_NS,
                 labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A busybox pod mounting ``claim`` at /data and writing ``file`` once."""
    from helpers.releases import bundle_image  # noqa: PLC0415

    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app": name, **MANAGED, **(labels or {})}},
            "spec": {"containers": [{"name": "writer", "image": bundle_image("busybox"), "imagePullPolicy": "IfNotPresent",
                                     "command": ["sh", "-c", writer_script(file)], "securityContext": SECURITY,
                                     "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                                     "resources": {"requests": {"cpu": "5m", "memory": "8Mi"},
                                                   "limits": {"memory": "16Mi"}}}],
                     "securityContext": {"fsGroup": 65532},
                     "terminationGracePeriodSeconds": 1,
                     "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]}}


def statefulset_document() -> dict[str, Any]:
    """``kj-sts``: two replicas, each with its own claim ``data-kj-sts-<n>`` from the template."""
    from helpers.releases import bundle_image  # noqa: PLC0415

    labels = {"app": STS, **MANAGED}
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": STS, "namespace": DEMO_NS, "labels": labels},
            "spec": {"serviceName": STS, "replicas": 2, "selector": {"matchLabels": {"app": STS}},
                     "podManagementPolicy": "Parallel",
                     "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Retain"},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "containers": [{"name": "writer", "image": bundle_image("busybox"),
                                         "imagePullPolicy": "IfNotPresent",
                                         "command": ["sh", "-c", writer_script("/data/identity")],
                                         "securityContext": SECURITY,
                                         "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                                         "resources": {"requests": {"cpu": "5m", "memory": "8Mi"},
                                                       "limits": {"memory": "16Mi"}}}],
                         "securityContext": {"fsGroup": 65532}, "terminationGracePeriodSeconds": 1}},
                     "volumeClaimTemplates": [{"metadata": {"name": "data", "labels": MANAGED},
                                               "spec": claim_document("data")["spec"]}]}}


def headless_service() -> dict[str, Any]:
    """The StatefulSet's governing Service (headless: each pod gets a stable DNS name)."""
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": STS, "namespace": DEMO_NS, "labels": MANAGED},
            "spec": {"clusterIP": "None", "selector": {"app": STS}, "ports": [{"name": "none", "port": 80}]}}


def namespace_document() -> dict[str, Any]:
    """``kj-storage``, enforcing the ``restricted`` Pod Security level."""
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": DEMO_NS, "labels": {**MANAGED, "pod-security.kubernetes.io/enforce": "restricted"}}}


def ensure_data(inv, timeout: float = 120.0):
    """The namespace, the claim ``kj-data`` and the pod ``kj-writer``, Ready."""
    from helpers.kube_apply import apply_objects  # noqa: PLC0415

    report = apply_objects(api_client(inv), [namespace_document(), claim_document(CLAIM), pod_document(WRITER, CLAIM)],
                           "a claim and a pod that writes to it")
    wait_pod_ready(inv, WRITER, timeout)
    return report


def ensure_statefulset(inv, timeout: float = 180.0):
    """The StatefulSet and its Service; waits until both replicas are Ready."""
    from kubernetes import client  # noqa: PLC0415

    from helpers.kube_apply import apply_objects  # noqa: PLC0415
    from helpers.kube_wait import wait_statefulset_ready  # noqa: PLC0415

    api = api_client(inv)
    report = apply_objects(api, [namespace_document(), headless_service(), statefulset_document()],
                           "a StatefulSet with a claim per replica")
    wait_statefulset_ready(client.AppsV1Api(api), DEMO_NS, STS, timeout)
    return report


def wait_pod_ready(inv, name: str, timeout: float = 120.0, namespace: str = DEMO_NS):
    """Poll until pod ``name`` is Ready (and not being deleted); return it."""
    from kubernetes import client  # noqa: PLC0415

    from helpers.kube_wait import pod_ready  # noqa: PLC0415
    from helpers.waiting import poll_until  # noqa: PLC0415

    core = client.CoreV1Api(api_client(inv))

    def ready(pod) -> bool:
        return pod is not None and not pod.metadata.deletion_timestamp and pod_ready(pod)

    def read():
        found = core.list_namespaced_pod(namespace, field_selector=f"metadata.name={name}").items
        return found[0] if found else None

    return poll_until(read, ready, what=f"pod {name} Ready", where=f"Pod/{namespace}/{name}", timeout=timeout,
                      interval=0.5, describe=lambda p: p.status.phase if p else "absent").value


def read_file(inv, pod: str, path: str, namespace: str = DEMO_NS) -> str:
    """``cat path`` in ``pod`` through the exec API; the file's text, stripped."""
    from helpers.errors import StepFailed  # noqa: PLC0415
    from helpers.kube import pod_exec  # noqa: PLC0415

    code, out = pod_exec(api_client(inv), namespace, pod, ["cat", path], timeout=30)
    if code != 0:
        raise StepFailed(f"failed to read {path} in pod {namespace}/{pod}: exit {code}: {out.strip()[:200]}")
    return out.strip()


def volume_of(inv, claim: str, namespace: str = DEMO_NS) -> dict[str, Any]:
    """What a claim is bound to: phase, the PV, its node (node affinity), its path on that node, its class."""
    from kubernetes import client  # noqa: PLC0415

    core = client.CoreV1Api(api_client(inv))
    pvc = core.read_namespaced_persistent_volume_claim(claim, namespace)
    out: dict[str, Any] = {"claim": claim, "phase": pvc.status.phase, "pv": pvc.spec.volume_name or "",
                           "class": pvc.spec.storage_class_name or "", "node": "", "path": "", "reclaim": ""}
    if out["pv"]:
        pv = core.read_persistent_volume(out["pv"])
        out["node"] = affinity_node(pv)
        source = pv.spec.host_path or pv.spec.local
        out["path"] = source.path if source else ""
        out["reclaim"] = pv.spec.persistent_volume_reclaim_policy
    return out


def affinity_node(pv) -> str:
    """The node a PV's required node affinity names (``kubernetes.io/hostname In [node]``), or ""."""
    required = pv.spec.node_affinity.required if pv.spec.node_affinity else None
    for term in (required.node_selector_terms if required else []) or []:
        for expr in term.match_expressions or []:
            if expr.key == "kubernetes.io/hostname" and expr.operator == "In" and expr.values:
                return expr.values[0]
    return ""
