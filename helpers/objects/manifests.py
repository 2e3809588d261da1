"""The demo's manifests: pure functions that return the objects of notebook 06 as dictionaries.

Everything namespaced lives in :data:`NAMESPACE`; the PersistentVolume is cluster-scoped.
Every object carries the :data:`MANAGED` labels and every container the :data:`SECURITY`
context; :func:`pull_policy` picks ``Never`` for the air-gap bundle's images. Nothing here
talks to a cluster (unit-tested; the golden renders hash what they return).
"""

from __future__ import annotations

import base64

NAMESPACE = "kj-demo"
MANAGED = {"app.kubernetes.io/managed-by": "kubernetes-journey", "app.kubernetes.io/part-of": "kj-demo"}
SERVE_PORT = 9376                       # agnhost serve-hostname's default port
APP = "hostnames"                       # the Deployment, its label and its Services
STORAGE_CLASS = "kj-demo-manual"        # a class name only: no provisioner, static binding
PV_NAME = "kj-demo-pv"
PV_PATH = "/var/lib/kj-demo/pv"
SECURITY = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


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
