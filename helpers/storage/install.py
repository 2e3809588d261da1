"""The local-path provisioner from its release manifest, and the default StorageClass.

``local-path-storage.yaml`` (from the mirror, sha256-verified) holds the namespace, RBAC,
the provisioner Deployment, the StorageClass ``local-path`` (``WaitForFirstConsumer``,
reclaim ``Delete``) and the ConfigMap with the node paths and the helper pod. It is
applied server-side with three changes, each listed by :func:`departures` and shown in 08:

- the namespace allows privileged pods: the helper pods that create and remove a volume's
  directory mount the node's ``/opt/local-path-provisioner`` (a ``hostPath``), which the
  cluster-wide ``baseline`` Pod Security level (04) refuses;
- the helper pod's image is the bundle's pinned busybox, not ``busybox`` (``:latest``, which
  no air-gapped node has and which would change under the cluster);
- the StorageClass is the cluster's default (``storageclass.kubernetes.io/is-default-class``),
  so a claim that names no class gets a volume from it.
"""

from __future__ import annotations

from typing import Any

import yaml

from helpers.kube import api_client
from helpers.report import Report
from helpers.verdict import Verdict

NAMESPACE = "local-path-storage"
DEPLOYMENT = "local-path-provisioner"
CLASS = "local-path"
PROVISIONER = "rancher.io/local-path"
CONFIGMAP = "local-path-config"
BASE_PATH = "/opt/local-path-provisioner"
DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"


def upstream_documents(inv) -> list[dict[str, Any]]:
    """The objects of the pinned ``local-path-storage.yaml``, unchanged, from the mirror (sha256-verified)."""
    from helpers.kube_apply import mirror_documents  # noqa: PLC0415

    return mirror_documents(inv, "local-path-manifest")


def _helper_pod(text: str, image: str) -> str:
    pod = yaml.safe_load(text)
    for container in pod["spec"]["containers"]:
        container["image"] = image
    return yaml.safe_dump(pod, sort_keys=False)


def manifest_documents(inv) -> list[dict[str, Any]]:
    """The manifest's objects with 08's three changes (see the module's docstring)."""
    from helpers.releases import bundle_image  # noqa: PLC0415

    docs = upstream_documents(inv)
    for doc in docs:
        meta = doc["metadata"]
        if doc["kind"] == "Namespace" and meta["name"] == NAMESPACE:
            meta.setdefault("labels", {})["pod-security.kubernetes.io/enforce"] = "privileged"
        elif doc["kind"] == "ConfigMap" and meta["name"] == CONFIGMAP:
            doc["data"]["helperPod.yaml"] = _helper_pod(doc["data"]["helperPod.yaml"], bundle_image("busybox"))
        elif doc["kind"] == "StorageClass" and meta["name"] == CLASS:
            meta.setdefault("annotations", {})[DEFAULT_CLASS] = "true"
    return docs


def departures(inv) -> Verdict:
    """Where the applied objects differ from upstream's file, field by field, with why.

    A problem when one of the three changes found nothing to change (upstream renamed an
    object, say): 08 would then apply something it does not describe.
    """
    from helpers.releases import bundle_image  # noqa: PLC0415

    upstream = {(d["kind"], d["metadata"]["name"]): d for d in upstream_documents(inv)}
    ours = {(d["kind"], d["metadata"]["name"]): d for d in manifest_documents(inv)}
    why = {
        ("Namespace", NAMESPACE): "helper pods mount the node's volume directory (hostPath); 04 enforces baseline",
        ("ConfigMap", CONFIGMAP): f"{bundle_image('busybox')} is in every node's bundle; busybox:latest is nowhere",
        ("StorageClass", CLASS): "a claim without storageClassName gets a local-path volume",
    }
    rows = [[f"{kind}/{name}", _changed_field(upstream[(kind, name)], doc), why.get((kind, name), "?")]
            for (kind, name), doc in ours.items() if doc != upstream[(kind, name)]]
    changed = {r[0] for r in rows}
    problems = [f"{kind}/{name}: not in the manifest, or nothing to change" for kind, name in why
                if f"{kind}/{name}" not in changed]
    return Verdict("what 08 changes in local-path-storage.yaml", ["object", "field", "why"], rows, problems)


def _changed_field(a: Any, b: Any, path: str = "") -> str:
    """The first path where ``a`` and ``b`` differ, e.g. ``metadata.labels.x``."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return _changed_field(a.get(k), b.get(k), f"{path}.{k}" if path else k)
    return path


def ensure_local_path(inv, timeout: float = 180.0) -> Report:
    """Apply the provisioner's objects and wait for it to roll out."""
    from helpers.kube_apply import apply_and_roll_out  # noqa: PLC0415

    return apply_and_roll_out(api_client(inv), manifest_documents(inv), "local-path provisioner (local-path-storage.yaml)",
                              NAMESPACE, DEPLOYMENT, timeout)


def verify_default_class(inv) -> Verdict:
    """Exactly one default StorageClass, ``local-path``, binding on first consumer, reclaiming with Delete."""
    from kubernetes import client  # noqa: PLC0415

    rows, problems = [], []
    defaults = []
    for sc in client.StorageV1Api(api_client(inv)).list_storage_class().items:
        default = (sc.metadata.annotations or {}).get(DEFAULT_CLASS) == "true"
        if default:
            defaults.append(sc.metadata.name)
        rows.append([sc.metadata.name, sc.provisioner, sc.volume_binding_mode, sc.reclaim_policy,
                     "yes" if default else "no"])
    if defaults != [CLASS]:
        problems.append(f"default StorageClass(es): {defaults or 'none'}; expected exactly {CLASS}")
    local = [r for r in rows if r[0] == CLASS]
    if not local:
        problems.append(f"StorageClass {CLASS} missing")
    elif local[0][1:4] != [PROVISIONER, "WaitForFirstConsumer", "Delete"]:
        problems.append(f"StorageClass {CLASS}: {local[0][1:4]}, expected {PROVISIONER}, WaitForFirstConsumer, Delete")
    return Verdict("StorageClasses", ["name", "provisioner", "binding", "reclaim", "default"], rows, problems)
