"""09's guestbook as objects: a Redis leader on a volume, two followers, three frontends, one address.

Everything lives in the namespace ``kj-guestbook`` (Pod Security ``restricted``: every
container non-root, no capability, no privilege escalation, RuntimeDefault seccomp):

==================  ===========================================================================
``redis-auth``      Secret: the Redis password (``password``) and the lines that make Redis ask
                    for it (``auth.conf``: ``requirepass``, ``masterauth``). Generated once;
                    a re-run reuses it, so nothing restarts.
``redis-config``    ConfigMap: ``leader.conf`` (append-only file in ``/data``) and
                    ``follower.conf`` (``replicaof redis-leader 6379``, read-only).
``redis-leader``    StatefulSet of one; its ``/data`` is a claim from 08's default StorageClass,
                    so the guestbook survives the pod. Service ``redis-leader``.
``redis-follower``  StatefulSet of two, spread over nodes, ``/data`` an emptyDir (a follower
                    re-syncs from the leader when it starts). Service ``redis-follower``.
``frontend``        Deployment of three (``apps/guestbook``): writes go to ``redis-leader``,
                    reads to ``redis-follower``. Service ``frontend``, ``type: LoadBalancer``
                    on the pool address :func:`helpers.topology.fixed_addresses` names
                    ``guestbook``, port 80.
==================  ===========================================================================

Departures from the upstream guestbook (``kubernetes/examples``, ``guestbook/``): the
leader keeps its data on a volume (upstream's runs on the container's disk), Redis asks
for a password (upstream's answers anyone), the followers are Redis's own replicas of
one version (upstream's use a separate image with a start script), and the frontend is
this project's (upstream's is PHP).
"""

from __future__ import annotations

import secrets
from ipaddress import IPv4Address
from typing import Any

NAMESPACE = "kj-guestbook"
SECRET = "redis-auth"
CONFIG = "redis-config"
LEADER = "redis-leader"
FOLLOWER = "redis-follower"
FRONTEND = "frontend"
REPLICAS = {LEADER: 1, FOLLOWER: 2, FRONTEND: 3}
PORT = 6379
MANAGED = {"app.kubernetes.io/managed-by": "kubernetes-journey", "app.kubernetes.io/part-of": "09-applications"}
REDIS_UID = 999
FRONTEND_UID = 65532


def address(inv) -> IPv4Address:
    """The pool address the guestbook's Service asks for (``fixed_addresses(inv)["guestbook"]``)."""
    from helpers.topology import fixed_addresses  # noqa: PLC0415

    return fixed_addresses(inv)["guestbook"]


def security(uid: int) -> dict[str, Any]:
    """The container security context the ``restricted`` level asks for, as user ``uid``, read-only root."""
    return {"allowPrivilegeEscalation": False, "runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid,
            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"}}


def namespace_document() -> dict[str, Any]:
    """``kj-guestbook``, enforcing ``restricted``."""
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": NAMESPACE, "labels": {**MANAGED, "pod-security.kubernetes.io/enforce": "restricted"}}}


def new_password() -> str:
    """32 random URL-safe characters (192 bits)."""
    return secrets.token_urlsafe(24)


def secret_document(password: str) -> dict[str, Any]:
    """The password, and the Redis configuration lines that require it (never shown)."""
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": SECRET, "namespace": NAMESPACE, "labels": MANAGED},
            "stringData": {"password": password, "auth.conf": f"requirepass {password}\nmasterauth {password}\n"}}


def redis_config() -> dict[str, str]:
    """The two Redis configurations; each includes the password's file from the Secret."""
    common = ("bind * -::*\nport 6379\nprotected-mode no\ndir /data\n"
              "include /etc/redis/auth/auth.conf\n")
    leader = common + "appendonly yes\nappendfsync everysec\n"
    follower = common + f"replicaof {LEADER} {PORT}\nreplica-read-only yes\nappendonly no\nsave \"\"\n"
    return {"leader.conf": leader, "follower.conf": follower}


def config_document() -> dict[str, Any]:
    """``redis-config``: ``leader.conf`` and ``follower.conf``."""
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": CONFIG, "namespace": NAMESPACE, "labels": MANAGED},
            "data": redis_config()}


def _labels(role: str) -> dict[str, str]:
    return {"app": "guestbook", "role": role}


def _redis_container(role: str) -> dict[str, Any]:
    from helpers.releases import bundle_image  # noqa: PLC0415

    conf = "leader.conf" if role == LEADER else "follower.conf"
    probe = {"tcpSocket": {"port": "redis"}, "periodSeconds": 5}
    return {"name": "redis", "image": bundle_image("redis"), "imagePullPolicy": "IfNotPresent",
            "command": ["redis-server", f"/etc/redis/{conf}"],
            "env": [{"name": "REDISCLI_AUTH", "valueFrom": {"secretKeyRef": {"name": SECRET, "key": "password"}}}],
            "ports": [{"name": "redis", "containerPort": PORT}],
            "readinessProbe": probe, "livenessProbe": {**probe, "initialDelaySeconds": 10},
            "securityContext": security(REDIS_UID),
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "128Mi"}},
            "volumeMounts": [{"name": "data", "mountPath": "/data"},
                             {"name": "config", "mountPath": "/etc/redis", "readOnly": True},
                             {"name": "auth", "mountPath": "/etc/redis/auth", "readOnly": True}]}


def _spread(role: str) -> list[dict[str, Any]]:
    return [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
             "labelSelector": {"matchLabels": _labels(role)}}]


def redis_statefulset(role: str) -> dict[str, Any]:
    """The leader (one replica, ``/data`` a claim) or the followers (two, ``/data`` an emptyDir)."""
    labels = _labels(role)
    volumes: list[dict[str, Any]] = [{"name": "config", "configMap": {"name": CONFIG}},
                                     {"name": "auth", "secret": {"secretName": SECRET, "items": [
                                         {"key": "auth.conf", "path": "auth.conf"}]}}]
    spec: dict[str, Any] = {"serviceName": role, "replicas": REPLICAS[role], "selector": {"matchLabels": labels},
                            "podManagementPolicy": "Parallel"}
    if role == LEADER:
        spec["volumeClaimTemplates"] = [{"metadata": {"name": "data", "labels": MANAGED},
                                         "spec": {"accessModes": ["ReadWriteOnce"],
                                                  "resources": {"requests": {"storage": "256Mi"}}}}]
        spec["persistentVolumeClaimRetentionPolicy"] = {"whenDeleted": "Retain", "whenScaled": "Retain"}
    else:
        volumes.append({"name": "data", "emptyDir": {"sizeLimit": "256Mi"}})
    spec["template"] = {"metadata": {"labels": {**labels, **MANAGED}}, "spec": {
        "containers": [_redis_container(role)], "volumes": volumes, "enableServiceLinks": False,
        "securityContext": {"fsGroup": REDIS_UID}, "terminationGracePeriodSeconds": 10,
        "topologySpreadConstraints": _spread(role)}}
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": role, "namespace": NAMESPACE, "labels": {**labels, **MANAGED}}, "spec": spec}


def service_document(name: str, port: int, target: str, *, address: str = "") -> dict[str, Any]:
    """A ClusterIP Service for ``name``'s pods, or (``address``) a LoadBalancer on that pool address."""
    spec: dict[str, Any] = {"selector": _labels(name), "ports": [{"name": target, "port": port, "targetPort": target}]}
    meta: dict[str, Any] = {"name": name, "namespace": NAMESPACE, "labels": MANAGED}
    if address:
        spec["type"] = "LoadBalancer"
        meta["annotations"] = {"metallb.io/loadBalancerIPs": address}
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}


def frontend_deployment(replicas: int = REPLICAS[FRONTEND]) -> dict[str, Any]:
    """Three frontends; ready when they can read (``/readyz`` pings a follower)."""
    from helpers.releases import bundle_image  # noqa: PLC0415

    labels = _labels(FRONTEND)
    env = [{"name": "REDIS_LEADER", "value": f"{LEADER}:{PORT}"},
           {"name": "REDIS_FOLLOWER", "value": f"{FOLLOWER}:{PORT}"},
           {"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": SECRET, "key": "password"}}},
           {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    container = {"name": "frontend", "image": bundle_image("guestbook"), "imagePullPolicy": "IfNotPresent",
                 "env": env, "ports": [{"name": "http", "containerPort": 8080}],
                 "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 2,
                                    "failureThreshold": 2},
                 "livenessProbe": {"httpGet": {"path": "/livez", "port": "http"}, "periodSeconds": 10},
                 "securityContext": security(FRONTEND_UID),
                 "resources": {"requests": {"cpu": "20m", "memory": "16Mi"},
                               "limits": {"cpu": "200m", "memory": "64Mi"}}}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": FRONTEND, "namespace": NAMESPACE, "labels": {**labels, **MANAGED}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "strategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                     "template": {"metadata": {"labels": {**labels, **MANAGED}}, "spec": {
                         "containers": [container], "enableServiceLinks": False,
                         "terminationGracePeriodSeconds": 15, "topologySpreadConstraints": _spread(FRONTEND)}}}}


def documents(address: str, password: str) -> list[dict[str, Any]]:
    """Every object of the guestbook, in the order they are applied."""
    return [namespace_document(), secret_document(password), config_document(),
            service_document(LEADER, PORT, "redis"), redis_statefulset(LEADER),
            service_document(FOLLOWER, PORT, "redis"), redis_statefulset(FOLLOWER),
            service_document(FRONTEND, 80, "http", address=address), frontend_deployment()]
