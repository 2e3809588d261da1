"""The demo objects of notebook 06 and the small tools to create, wait for and check them.

Everything the demo creates lives in one namespace (:data:`NAMESPACE`), except the
PersistentVolume, which is cluster-scoped. The manifest builders are pure functions that
return plain dictionaries (unit-tested); :func:`apply` sends them with server-side apply
(:func:`helpers.kube_apply.apply_objects`), so applying the same manifest twice changes
nothing. Waiting is done with list-then-watch and a deadline, never with fixed sleeps;
commands run inside pods through the exec API (:func:`helpers.kube.pod_exec`), as ``kubectl exec``.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from helpers.errors import HostError
from helpers.kube import api_client, parse_nslookup, pod_exec
from helpers.kube_wait import rolled_out  # noqa: F401 - part of this module's API (06 uses it)
from helpers.report import Report
from helpers.waiting import WaitTimeout, poll_until, settle, shorten

NAMESPACE = "kj-demo"
MANAGED = {"app.kubernetes.io/managed-by": "kubernetes-journey", "app.kubernetes.io/part-of": "kj-demo"}
SERVE_PORT = 9376                       # agnhost serve-hostname's default port
APP = "hostnames"                       # the Deployment, its label and its Services
STORAGE_CLASS = "kj-demo-manual"        # a class name only: no provisioner, static binding
PV_NAME = "kj-demo-pv"
PV_PATH = "/var/lib/kj-demo/pv"
SECURITY = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


# --------------------------------------------------------------------------- manifests


def pull_policy(inv) -> str:
    """``Never`` when images come from the air-gap bundle (imported, never pulled), else ``IfNotPresent``."""
    return "Never" if inv.sources.images == "bundle" else "IfNotPresent"


def _image(name: str) -> str:
    from helpers import artifacts  # noqa: PLC0415

    return artifacts.image_ref(name, artifacts.load_versions())


def _meta(name: str, labels: dict | None = None, namespace: str | None = NAMESPACE) -> dict:
    meta = {"name": name, "labels": {**MANAGED, **(labels or {})}}
    if namespace:
        meta["namespace"] = namespace
    return meta


def _container(name: str, image: str, policy: str, command: list[str] | None = None,
               args: list[str] | None = None, **extra) -> dict:
    c = {"name": name, "image": image, "imagePullPolicy": policy, "securityContext": SECURITY}
    if command:
        c["command"] = command
    if args:
        c["args"] = args
    c.update(extra)
    return c


def namespace_manifest() -> dict:
    """The demo Namespace."""
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(NAMESPACE, namespace=None)}


def shell_pod(name: str, busybox: str, policy: str, node: str | None = None, **spec) -> dict:
    """A busybox pod that sleeps forever: a shell to exec into (``node`` pins it)."""
    pod_spec = {"terminationGracePeriodSeconds": 1,
                "containers": [_container("shell", busybox, policy, command=["sleep", "2147483647"])]}
    if node:
        pod_spec["nodeSelector"] = {"kubernetes.io/hostname": node}
    for key, value in spec.items():
        if key == "container":
            pod_spec["containers"][0].update(value)
        else:
            pod_spec[key] = value
    return {"apiVersion": "v1", "kind": "Pod", "metadata": _meta(name, {"app": name}), "spec": pod_spec}


def sidecar_pod(busybox: str, policy: str) -> dict:
    """A pod of two containers sharing an ``emptyDir``: ``writer`` appends, ``reader`` tails.

    The writer appends ``message <n> from writer`` every second to ``/shared/messages.log``;
    the reader runs ``tail -F`` on the same file, so its log shows what the writer wrote.
    """
    writer = ('i=0; while true; do i=$((i+1)); echo "message $i from writer at $(date +%T)" '
              '>> /shared/messages.log; sleep 1; done')
    mount = [{"name": "shared", "mountPath": "/shared"}]
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": _meta("sidecar-demo", {"app": "sidecar-demo"}),
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "volumes": [{"name": "shared", "emptyDir": {"sizeLimit": "16Mi"}}],
            "containers": [
                _container("writer", busybox, policy, command=["sh", "-c", writer], volumeMounts=mount),
                _container("reader", busybox, policy, volumeMounts=mount,
                           command=["sh", "-c", "touch /shared/messages.log; exec tail -F /shared/messages.log"]),
            ],
        },
    }


def serve_args(version: int) -> list[str]:
    """The agnhost arguments of the Deployment's *version*: v1 plain, v2 closes each HTTP connection."""
    args = ["serve-hostname", "--http=true", f"--port={SERVE_PORT}"]
    return args if version == 1 else [*args, "--close=true"]


def deployment_manifest(agnhost: str, policy: str, replicas: int, version: int = 1) -> dict:
    """The ``hostnames`` Deployment: agnhost ``serve-hostname`` spread evenly over the nodes.

    ``topologySpreadConstraints`` keeps the per-node pod counts within one of each other
    (tainted masters are not counted: ``nodeTaintsPolicy: Honor``), counting the pods of
    each ReplicaSet apart (``matchLabelKeys: [pod-template-hash]``), so the pods of a
    rolling update or a rollback spread evenly too; the rolling update starts one new pod
    before it stops an old one (``maxSurge: 1, maxUnavailable: 0``).
    """
    labels = {"app": APP}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {**_meta(APP, labels),
                     "annotations": {"kubernetes.io/change-cause": f"serve-hostname v{version}: "
                                     + " ".join(serve_args(version)[1:])}},
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": {**MANAGED, **labels}},
                "spec": {
                    "terminationGracePeriodSeconds": 2,
                    "topologySpreadConstraints": [{
                        "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                        "whenUnsatisfiable": "DoNotSchedule", "nodeTaintsPolicy": "Honor",
                        "labelSelector": {"matchLabels": labels},
                        # count each ReplicaSet's pods on their own: a rolling update then
                        # spreads the new pods evenly, whatever the old ones left behind
                        "matchLabelKeys": ["pod-template-hash"],
                    }],
                    "containers": [_container(
                        "serve-hostname", agnhost, policy, args=serve_args(version),
                        ports=[{"containerPort": SERVE_PORT, "name": "http"}],
                        readinessProbe={"httpGet": {"path": "/", "port": SERVE_PORT}, "periodSeconds": 2},
                    )],
                },
            },
        },
    }


def service_manifest(kind: str) -> dict:
    """A Service in front of the ``hostnames`` pods: ``ClusterIP``, ``NodePort`` or ``Headless``.

    Names: ``hostnames`` (ClusterIP, port 80), ``hostnames-nodeport``, ``hostnames-headless``
    (``clusterIP: None``: no virtual IP, DNS answers with the pod addresses).
    """
    ports = [{"name": "http", "port": 80, "targetPort": SERVE_PORT, "protocol": "TCP"}]
    spec: dict = {"selector": {"app": APP}, "ports": ports}
    if kind == "ClusterIP":
        name, spec["type"] = APP, "ClusterIP"
    elif kind == "NodePort":
        name, spec["type"] = f"{APP}-nodeport", "NodePort"
    elif kind == "Headless":
        name, spec["clusterIP"] = f"{APP}-headless", "None"
    else:
        raise ValueError(f"unknown Service kind {kind!r} (ClusterIP, NodePort or Headless)")
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(name, {"app": APP}), "spec": spec}


def persistent_volume_manifest(node: str, capacity: str = "64Mi") -> dict:
    """A ``hostPath`` PersistentVolume on ``node`` (node affinity pins every user to it)."""
    return {
        "apiVersion": "v1", "kind": "PersistentVolume", "metadata": _meta(PV_NAME, namespace=None),
        "spec": {
            "capacity": {"storage": capacity},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": STORAGE_CLASS,
            "hostPath": {"path": PV_PATH, "type": "DirectoryOrCreate"},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}},
        },
    }


def persistent_volume_claim_manifest(request: str = "32Mi") -> dict:
    """A claim for ``request`` of the demo storage class, bound to :data:`PV_NAME` by name."""
    return {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": _meta("demo-data"),
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": STORAGE_CLASS,
                 "volumeName": PV_NAME, "resources": {"requests": {"storage": request}}},
    }


def pvc_pod(name: str, busybox: str, policy: str) -> dict:
    """A shell pod with the demo claim mounted at ``/data``."""
    return shell_pod(name, busybox, policy,
                     volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "demo-data"}}],
                     container={"volumeMounts": [{"name": "data", "mountPath": "/data"}]})


CONFIG = {"GREETING": "hello from a ConfigMap", "app.properties": "color=blue\nreplicas=3\n"}
SECRET = {"DB_PASSWORD": "s3cr3t-for-the-demo"}


def configmap_manifest(data: dict[str, str] | None = None) -> dict:
    """The ``demo-config`` ConfigMap (:data:`CONFIG` by default)."""
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta("demo-config"),
            "data": dict(data or CONFIG)}


def secret_manifest(data: dict[str, str] | None = None) -> dict:
    """The ``demo-secret`` Secret; values go base64-encoded in ``data`` (stable under apply)."""
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in (data or SECRET).items()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": _meta("demo-secret"),
            "type": "Opaque", "data": encoded}


def config_pod(busybox: str, policy: str) -> dict:
    """A shell pod that gets the ConfigMap and the Secret both as environment and as files."""
    env = [
        {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "demo-config", "key": "GREETING"}}},
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "demo-secret", "key": "DB_PASSWORD"}}},
    ]
    mounts = [{"name": "config", "mountPath": "/etc/demo/config", "readOnly": True},
              {"name": "secret", "mountPath": "/etc/demo/secret", "readOnly": True}]
    volumes = [{"name": "config", "configMap": {"name": "demo-config"}},
               {"name": "secret", "secret": {"secretName": "demo-secret", "defaultMode": 0o400}}]
    return shell_pod("config-demo", busybox, policy, volumes=volumes,
                     container={"env": env, "volumeMounts": mounts})


# --------------------------------------------------------------------------- client side


class DemoRecord:
    """What the demonstrations of 06 measured, kept in the cluster directory between runs.

    The demo's objects stay in the cluster after a run (like 05's probe workloads), so a
    re-run changes nothing. The demonstrations that *are* changes — scaling, the rolling
    update and the rollback, writing data into the volume — run when the demo is built
    (or when asked) and record what they saw here; a re-run shows the record, says when
    it was taken, and checks the live objects against it. The file is
    ``cluster_dir/objects/demo.json``; deleting the demo namespace deletes it too.
    """

    def __init__(self, inv):
        self.path = inv.cluster_dir / "objects" / "demo.json"
        try:
            self.data = json.loads(self.path.read_text()) if self.path.exists() else {}
        except ValueError:
            self.data = {}                  # a damaged record is a missing one: the demo runs again

    def has(self, key: str) -> bool:
        """Whether ``key`` was recorded."""
        return key in self.data

    def get(self, key: str) -> Any:
        """The recorded value of ``key``."""
        return self.data[key]["value"]

    def when(self, key: str) -> str:
        """When ``key`` was recorded (UTC)."""
        return self.data[key]["at"]

    def put(self, key: str, value: Any) -> Any:
        """Record ``value`` under ``key`` now (written at once, atomically); return it."""
        import datetime as dt  # noqa: PLC0415

        self.data[key] = {"at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"), "value": value}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=str))
        tmp.replace(self.path)
        return value

    def clear(self) -> None:
        """Forget everything (the demo namespace was deleted)."""
        self.data = {}
        self.path.unlink(missing_ok=True)


@dataclass
class Deletion:
    """How long the demo's clean-up took: the namespace (and all in it), then the PersistentVolume."""

    namespace_seconds: float
    volume_seconds: float

    @property
    def seconds(self) -> float:
        """Both together."""
        return self.namespace_seconds + self.volume_seconds


class Demo:
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

    # ---- waiting

    def wait_pods(self, selector: str, predicate: Callable[[list], bool], what: str,
                  timeout: float = 120.0, namespace: str = NAMESPACE) -> list:
        """Watch the pods matching ``selector`` until ``predicate(pods)`` holds; return them.

        Lists once, then follows a watch from that list's resourceVersion, re-evaluating on
        every event; the watch is re-opened (re-listing on ``410 Gone``) until the deadline.

        Raises:
            WaitTimeout: not reached within ``timeout``; names ``what`` and each pod's state.
        """
        from kubernetes import watch  # noqa: PLC0415
        from kubernetes.client.exceptions import ApiException  # noqa: PLC0415

        deadline = time.monotonic() + timeout
        pods: dict[str, object] = {}
        version = None
        while True:
            if version is None:
                listing = self.core.list_namespaced_pod(namespace, label_selector=selector)
                pods = {p.metadata.name: p for p in listing.items}
                version = listing.metadata.resource_version
            if predicate(list(pods.values())):
                return sorted(pods.values(), key=lambda p: p.metadata.name)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                states = "; ".join(f"{n}: {pod_state(p)}" for n, p in sorted(pods.items())) or "no pods"
                raise WaitTimeout(f"{namespace}/{selector}", what, timeout, shorten(states, 600))
            w = watch.Watch()
            try:
                for event in w.stream(self.core.list_namespaced_pod, namespace, label_selector=selector,
                                      resource_version=version, timeout_seconds=max(1, int(min(remaining, 30)))):
                    pod = event["object"]
                    version = pod.metadata.resource_version
                    if event["type"] == "DELETED":
                        pods.pop(pod.metadata.name, None)
                    else:
                        pods[pod.metadata.name] = pod
                    if predicate(list(pods.values())):
                        w.stop()
                        break
            except ApiException as err:
                if err.status != 410:
                    raise
                version = None              # history expired: list again

    def wait_pod_ready(self, name: str, timeout: float = 120.0):
        """Wait until pod ``name`` is Ready; return it."""
        return self.wait_pods(f"app={name}", lambda ps: any(p.metadata.name == name and is_ready(p) for p in ps),
                              f"pod {name} Ready", timeout)[0]

    def wait_rollout(self, name: str = APP, timeout: float = 180.0):
        """Wait until Deployment ``name`` has rolled out: every replica updated and Ready, no old pod left.

        Polls the Deployment status (the controller's own bookkeeping), then watches its
        pods until exactly ``replicas`` remain and none is terminating. Returns the pods.
        """
        deadline = time.monotonic() + timeout
        self.rollout_timeline(name, timeout)
        dep = self.apps.read_namespaced_deployment(name, NAMESPACE)
        want = dep.spec.replicas
        selector = ",".join(f"{k}={v}" for k, v in dep.spec.selector.match_labels.items())
        return self.wait_pods(selector, lambda ps: len(ps) == want and all(
            is_ready(p) and not p.metadata.deletion_timestamp for p in ps),
            f"{want} Ready pods of {name}, none terminating", max(10.0, deadline - time.monotonic()))

    def rollout_timeline(self, name: str = APP, timeout: float = 180.0,
                         interval: float = 0.5) -> list[tuple[float, dict[str, int]]]:
        """Poll Deployment ``name`` until it has rolled out; sample its ReplicaSets on the way.

        Returns:
            ``(seconds since the call, {ReplicaSet name: ready pods})`` samples, one per poll.

        Raises:
            HostError: not rolled out within ``timeout``, with the replica counts.
        """
        t0 = time.monotonic()
        samples = []
        while True:
            ready = {rs.metadata.name: rs.status.ready_replicas or 0 for rs in
                     self.apps.list_namespaced_replica_set(NAMESPACE, label_selector=f"app={name}").items}
            samples.append((time.monotonic() - t0, ready))
            dep = self.apps.read_namespaced_deployment(name, NAMESPACE)
            if rolled_out(dep):
                return samples
            if time.monotonic() - t0 > timeout:
                st = dep.status
                raise WaitTimeout(f"Deployment/{NAMESPACE}/{name}", "the rollout", time.monotonic() - t0,
                                  f"want {dep.spec.replicas}, updated {st.updated_replicas}, "
                                  f"ready {st.ready_replicas}, total {st.replicas}")
            time.sleep(interval)

    def scale(self, replicas: int, name: str = APP) -> int:
        """Set the Deployment's replicas through its ``scale`` subresource (``kubectl scale``); return the old count."""
        before = self.apps.read_namespaced_deployment_scale(name, NAMESPACE).spec.replicas
        if before != replicas:
            self.apps.patch_namespaced_deployment_scale(name, NAMESPACE, {"spec": {"replicas": replicas}})
        return before

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

    def wait_pvc_bound(self, name: str = "demo-data", timeout: float = 60.0):
        """Poll the claim until the PV controller has bound it; return it."""
        return poll_until(lambda: self.core.read_namespaced_persistent_volume_claim(name, NAMESPACE),
                          lambda pvc: pvc.status.phase == "Bound", what=f"claim {name} Bound",
                          where=f"PersistentVolumeClaim/{NAMESPACE}/{name}", timeout=timeout, interval=1.0,
                          describe=lambda pvc: f"phase {pvc.status.phase}").value

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

    # ---- looking

    def exec(self, pod: str, command: list[str], container: str | None = None,
             timeout: float = 60.0) -> tuple[int, str]:
        """Run ``command`` in ``pod`` through the exec API; return ``(exit code, stdout+stderr)``.

        :func:`helpers.kube.pod_exec` in the demo namespace: the exit code comes from the
        exec protocol's status channel (as ``kubectl exec``); when the command could not
        even start (no such binary), the code is 126 and the runtime's message is appended
        to the output.
        """
        return pod_exec(self.core, NAMESPACE, pod, command, container=container, timeout=timeout)

    def run_checked(self, pod: str, command: list[str], container: str | None = None) -> str:
        """:meth:`exec`, raising ``HostError`` naming the pod and command when it fails."""
        code, out = self.exec(pod, command, container)
        if code != 0:
            raise HostError(f"Pod/{NAMESPACE}/{pod}", "exec " + " ".join(command)[:80],
                            f"exit {code}: {out.strip()[-300:]}")
        return out

    def pods(self, selector: str | None = None) -> list:
        """The demo's live pods (terminating ones left out), sorted by name."""
        items = self.core.list_namespaced_pod(NAMESPACE, label_selector=selector).items
        return sorted((p for p in items if not p.metadata.deletion_timestamp), key=lambda p: p.metadata.name)

    def replica_sets(self, name: str = APP) -> list[dict]:
        """The Deployment's ReplicaSets, oldest revision first: revision, name, replicas, args."""
        rows = []
        for rs in self.apps.list_namespaced_replica_set(NAMESPACE, label_selector=f"app={name}").items:
            ann = rs.metadata.annotations or {}
            rows.append({"revision": int(ann.get("deployment.kubernetes.io/revision", 0)),
                         "name": rs.metadata.name, "desired": rs.spec.replicas or 0,
                         "ready": rs.status.ready_replicas or 0,
                         "args": " ".join(rs.spec.template.spec.containers[0].args or []),
                         "change-cause": ann.get("kubernetes.io/change-cause", "")})
        return sorted(rows, key=lambda r: r["revision"])

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

    def http_from_pod(self, pod: str, url: str, count: int) -> list[str]:
        """GET ``url`` ``count`` times from ``pod`` (busybox ``wget``, one exec); the bodies, or ``error``.

        Each request is bounded by busybox ``timeout`` (its ``wget -T`` crashes in the static
        Debian build the bundle ships).
        """
        script = (f'for i in $(seq {count}); do r=$(timeout 5 wget -q -O - "{url}" 2>/dev/null) || r=error; '
                  'echo "$r"; done')
        return [line.strip() for line in self.run_checked(pod, ["sh", "-c", script]).splitlines() if line.strip()]

    def wait_log(self, pod: str, container: str, lines: Iterable[str], within: float = 30.0) -> list[str]:
        """Read the container's log (``kubectl logs -c``) until it contains every one of ``lines``; return the last read.

        Returns the log's lines either way after ``within`` seconds: the caller shows what
        was there and judges.
        """
        want = set(lines)
        return settle(lambda: self.core.read_namespaced_pod_log(pod, NAMESPACE, container=container).splitlines(),
                      lambda seen: want <= set(seen), within=within).value

    def nslookup(self, pod: str, name: str, expect: Iterable[str] | None = None, within: float = 30.0) -> list[str]:
        """The addresses busybox ``nslookup`` in ``pod`` returns for ``name`` (empty when none), sorted.

        With ``expect``, asks again for up to ``within`` seconds until the answer is exactly
        those addresses (CoreDNS learns a new Service or endpoint from its watch a moment
        after the API server stored it), then returns the last answer either way.
        """
        def ask() -> list[str]:
            code, out = self.exec(pod, ["nslookup", name])
            return parse_nslookup(out) if code == 0 else []

        if expect is None:
            return ask()
        want = sorted(expect)
        return settle(ask, lambda got: got == want, within=within).value

    def wait_endpoints(self, service: str, timeout: float = 60.0) -> list[str]:
        """Wait until the EndpointSlices of ``service`` list exactly the Ready pods its selector picks.

        The EndpointSlice controller writes a pod's address after the pod turned Ready (and
        removes it when the pod goes); kube-proxy and CoreDNS follow the slices. Checks that
        send traffic to a Service wait here first, instead of racing that chain.

        Returns:
            The Ready addresses, sorted.

        Raises:
            WaitTimeout: they still differ at the deadline; names both lists as last seen.
        """
        from kubernetes import client  # noqa: PLC0415

        svc = self.core.read_namespaced_service(service, NAMESPACE)
        selector = ",".join(f"{k}={v}" for k, v in (svc.spec.selector or {}).items())
        discovery = client.DiscoveryV1Api(self.api)

        def probe() -> tuple[list[str], list[str]]:
            pods = sorted(p.status.pod_ip for p in self.pods(selector)
                          if is_ready(p) and not p.metadata.deletion_timestamp)
            slices = discovery.list_namespaced_endpoint_slice(
                NAMESPACE, label_selector=f"kubernetes.io/service-name={service}").items
            ready = sorted(a for sl in slices for e in sl.endpoints or []
                           if e.conditions is None or e.conditions.ready is not False for a in e.addresses)
            return pods, ready

        return poll_until(probe, lambda v: bool(v[0]) and v[0] == v[1], what=f"endpoints of {service} = its Ready pods",
                          where=f"Service/{NAMESPACE}/{service}", timeout=timeout,
                          describe=lambda v: f"Ready pods {v[0]}, endpoints {v[1]}").value[1]


def http_from_here(address: str, port: int, count: int, timeout: float = 3.0) -> list[str]:
    """GET ``http://address:port/`` ``count`` times from this machine; the bodies or ``error: ...``."""
    answers = []
    for _ in range(count):
        try:
            with urllib.request.urlopen(f"http://{address}:{port}/", timeout=timeout) as resp:  # noqa: S310
                answers.append(resp.read().decode().strip())
        except OSError as err:
            answers.append(f"error: {err}")
    return answers


# --------------------------------------------------------------------------- pure helpers


def is_ready(pod) -> bool:
    """Whether the pod's Ready condition is True."""
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def pod_state(pod) -> str:
    """One phrase for a pod's state: ``Ready on node``, or its phase and waiting reasons."""
    node = pod.spec.node_name or "(unscheduled)"
    if pod.metadata.deletion_timestamp:
        return f"Terminating on {node}"
    if is_ready(pod):
        return f"Ready on {node}"
    reasons = [s.state.waiting.reason for s in pod.status.container_statuses or []
               if s.state and s.state.waiting and s.state.waiting.reason]
    return f"{pod.status.phase} on {node}" + (f" ({', '.join(reasons)})" if reasons else "")


def pods_per_node(pods: Iterable, nodes: Iterable[str] = ()) -> dict[str, int]:
    """Count pods by node; nodes in ``nodes`` appear even with zero pods."""
    counts = Counter({n: 0 for n in nodes})
    counts.update(p.spec.node_name or "(unscheduled)" for p in pods)
    return dict(sorted(counts.items()))


def spread_ok(counts: dict[str, int], max_skew: int = 1) -> bool:
    """Whether the largest and smallest per-node counts differ by at most ``max_skew``."""
    return bool(counts) and max(counts.values()) - min(counts.values()) <= max_skew
