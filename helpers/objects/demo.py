"""The client side of 06: :class:`Demo`, one admin API client that creates, changes and deletes the demo.

:meth:`Demo.apply` sends the manifests of :mod:`helpers.objects.manifests` with
server-side apply (:func:`helpers.kube_apply.apply_objects`), so applying the same
manifest twice changes nothing; :meth:`Demo.scale` and :meth:`Demo.rollback` change the
Deployment as ``kubectl scale`` / ``kubectl rollout undo`` do; :meth:`Demo.delete_namespace`
removes it all. Demo's waits come from :class:`~helpers.objects.waits.DemoWaits`, its
exec and listings from :class:`~helpers.objects.looking.DemoLooking`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from helpers.errors import HostError
from helpers.kube import api_client
from helpers.objects.checks import pods_per_node
from helpers.objects.looking import DemoLooking
from helpers.objects.manifests import (
    APP,
    NAMESPACE,
    PV_NAME,
    _image,
    persistent_volume_claim_manifest,
    persistent_volume_manifest,
    pull_policy,
)
from helpers.objects.record import DemoRecord
from helpers.objects.waits import DemoWaits
from helpers.report import Report


@dataclass
class Deletion:
    """How long the demo's clean-up took: the namespace (and all in it), then the PersistentVolume."""

    namespace_seconds: float
    volume_seconds: float


class Demo(DemoLooking, DemoWaits):
    """The connection and images the demo uses: one admin API client for the whole notebook.

    Args:
        inv: the inventory (its cluster directory holds the admin kubeconfig of 04).
    """

    def __init__(self, inv):
        from kubernetes import client  # noqa: PLC0415

        self.inv = inv
        self.api = api_client(inv)
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.policy = pull_policy(inv)
        self.busybox = _image("busybox")
        self.agnhost = _image("agnhost")

    def exists(self, kind: str, name: str) -> bool:
        """Whether the demo object ``kind`` (``deployment``, ``pod``, ``namespace``) named ``name`` exists now."""
        from kubernetes.client.exceptions import ApiException  # noqa: PLC0415

        read = {"deployment": lambda: self.apps.read_namespaced_deployment(name, NAMESPACE),
                "pod": lambda: self.core.read_namespaced_pod(name, NAMESPACE),
                "namespace": lambda: self.core.read_namespace(name)}[kind]
        try:
            read()
        except ApiException as err:
            if err.status == 404:
                return False
            raise
        return True

    def apply(self, docs: dict | Iterable[dict], title: str) -> Report:
        """Server-side apply ``docs`` (one or several); ``changed`` rows are creates/updates."""
        from helpers.kube_apply import apply_objects  # noqa: PLC0415

        return apply_objects(self.api, [docs] if isinstance(docs, dict) else list(docs), title)

    def scale(self, replicas: int, name: str = APP) -> int:
        """Set the Deployment's replicas through its ``scale`` subresource (``kubectl scale``); return the old count."""
        before = self.apps.read_namespaced_deployment_scale(name, NAMESPACE).spec.replicas
        if before != replicas:
            self.apps.patch_namespaced_deployment_scale(name, NAMESPACE, {"spec": {"replicas": replicas}})
        return before

    def scale_through(self, steps: Iterable[int], nodes: Iterable[str], name: str = APP) -> dict[str, dict[str, int]]:
        """Scale the Deployment to each count in ``steps`` in turn; after each, wait and count Ready pods per node.

        Returns:
            ``{"4": {node: pods}, "6": ..., "2": ..., "4 again": ...}`` in step order.
        """
        nodes = list(nodes)
        seen: dict[str, dict[str, int]] = {}
        for replicas in steps:
            self.scale(replicas, name)
            pods = self.wait_rollout(name)
            key = str(replicas) if str(replicas) not in seen else f"{replicas} again"
            seen[key] = pods_per_node(pods, nodes)
        return seen

    def rolling_update(self, manifest: dict, title: str, name: str = APP) -> tuple[Report, dict]:
        """Apply a changed pod template and follow the rollout; return the apply report and what was seen.

        What was seen: ``before`` (the ReplicaSets that existed), ``timeline`` (Ready pods
        per ReplicaSet over time, see :meth:`rollout_timeline`) and ``replica_sets`` after.
        """
        before = sorted(r["name"] for r in self.replica_sets(name))
        report = self.apply(manifest, title)
        timeline = self.rollout_timeline(name)
        self.wait_rollout(name)
        return report, {"before": before, "timeline": timeline, "replica_sets": self.replica_sets(name)}

    def ensure_volume(self, node: str) -> Report:
        """Apply the demo PV (on ``node``) and its claim; wait until the claim is bound.

        A PV left ``Released`` by an earlier run (its claim was deleted, policy Retain) still
        names the old claim and would never bind again: it is deleted and recreated (so is
        one an interrupted run left being deleted), waiting until it is gone. The
        data under its ``hostPath`` stays on the node either way.
        """
        from kubernetes.client.exceptions import ApiException  # noqa: PLC0415

        try:
            pv = self.core.read_persistent_volume(PV_NAME)
        except ApiException as err:
            if err.status != 404:
                raise
            pv = None
        if pv is not None and (pv.metadata.deletion_timestamp or pv.status.phase in ("Released", "Failed")):
            from helpers.kube_wait import wait_deleted  # noqa: PLC0415

            self.core.delete_persistent_volume(PV_NAME)
            wait_deleted(self.core.list_persistent_volume, PV_NAME, kind="PersistentVolume", timeout=60.0)
        report = self.apply([persistent_volume_manifest(node), persistent_volume_claim_manifest()],
                            "PersistentVolume and claim")
        self.wait_pvc_bound()
        return report

    def delete_pod(self, name: str, timeout: float = 60.0) -> bool:
        """Delete pod ``name`` and wait until it is gone; ``False`` when there was none."""
        from kubernetes.client.exceptions import ApiException  # noqa: PLC0415

        try:
            self.core.delete_namespaced_pod(name, NAMESPACE)
        except ApiException as err:
            if err.status == 404:
                return False
            raise
        self.wait_pods(f"app={name}", lambda ps: not any(p.metadata.name == name for p in ps),
                       f"pod {name} deleted", timeout)
        return True

    def delete_namespace(self, timeout: float = 180.0) -> Deletion:
        """Delete the demo Namespace, then the cluster-scoped PV, and wait until each is gone.

        Both deletions are requests that finalizers carry out: the namespace controller
        empties the namespace before its ``kubernetes`` finalizer lets it go, and
        ``kubernetes.io/pv-protection`` holds the PV until no claim uses it. Each is watched
        until the API server reports it deleted.

        Returns:
            :class:`Deletion`: seconds each took.

        Raises:
            WaitTimeout: one of them still exists at the deadline (with its phase and finalizers).
        """
        from kubernetes.client.exceptions import ApiException  # noqa: PLC0415

        from helpers.kube_wait import wait_deleted  # noqa: PLC0415

        try:
            self.core.delete_namespace(NAMESPACE)
        except ApiException as err:
            if err.status != 404:
                raise
        ns_seconds = wait_deleted(self.core.list_namespace, NAMESPACE, kind="Namespace", timeout=timeout)
        try:
            self.core.delete_persistent_volume(PV_NAME)
        except ApiException as err:
            if err.status != 404:
                raise
        pv_seconds = wait_deleted(self.core.list_persistent_volume, PV_NAME, kind="PersistentVolume",
                                  timeout=60.0)
        DemoRecord(self.inv).clear()        # what was measured on those objects is gone with them
        return Deletion(ns_seconds, pv_seconds)

    def rollback(self, name: str = APP, to_revision: int | None = None) -> int:
        """Roll Deployment ``name`` back, as ``kubectl rollout undo`` does; return the revision used.

        Copies the pod template of the ReplicaSet of ``to_revision`` (default: the one before
        the current) back into the Deployment with a JSON patch. The controller recognises
        the template (same hash), scales that ReplicaSet up again and gives it a new revision.
        """
        revs = {int((rs.metadata.annotations or {}).get("deployment.kubernetes.io/revision", 0)): rs
                for rs in self.apps.list_namespaced_replica_set(NAMESPACE, label_selector=f"app={name}").items}
        current = max(revs)
        target = to_revision if to_revision is not None else max((r for r in revs if r < current), default=None)
        if target is None or target not in revs:
            raise HostError(f"Deployment/{NAMESPACE}/{name}", "roll back",
                            f"no revision {to_revision or 'before ' + str(current)} (have {sorted(revs)})")
        template = self.api.sanitize_for_serialization(revs[target].spec.template)
        template["metadata"]["labels"].pop("pod-template-hash", None)
        cause = (revs[target].metadata.annotations or {}).get("kubernetes.io/change-cause", "")
        patch = [{"op": "replace", "path": "/spec/template", "value": template}]
        if cause:
            patch.append({"op": "replace", "path": "/metadata/annotations/kubernetes.io~1change-cause",
                          "value": cause})
        self.apps.patch_namespaced_deployment(name, NAMESPACE, body=patch,
                                              _content_type="application/json-patch+json")
        return target
