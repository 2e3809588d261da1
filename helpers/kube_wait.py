"""Waiting on the Kubernetes API: list, then watch from that list, with a deadline.

A deletion in Kubernetes is a request, not an event: the object gets a deletion
timestamp and stays until its finalizers have run (``kubernetes.io/pv-protection`` on a
PersistentVolume, the namespace controller's ``kubernetes`` finalizer, a pod's graceful
termination). A check that lists right after ``delete`` sees it still there. These
helpers list once, follow a watch from that list's ``resourceVersion`` and return when
the object is gone, or raise :class:`~helpers.waiting.WaitTimeout` naming the object and
its last state.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from helpers.waiting import WaitTimeout, shorten


def object_state(obj) -> str:
    """One line about an object for a timeout message: phase, deletion timestamp, finalizers."""
    if obj is None:
        return "gone"
    meta = obj.metadata
    parts = []
    phase = getattr(getattr(obj, "status", None), "phase", None)
    if phase:
        parts.append(f"phase {phase}")
    if meta.deletion_timestamp:
        parts.append(f"deleting since {meta.deletion_timestamp:%H:%M:%S}")
    if meta.finalizers:
        parts.append("finalizers " + ", ".join(meta.finalizers))
    return "; ".join(parts) or "present"


def wait_deleted(list_fn: Callable, name: str, *, kind: str, namespace: str | None = None,
                 timeout: float = 120.0) -> float:
    """Wait until the object ``name`` that ``list_fn`` lists no longer exists; return the seconds waited.

    Args:
        list_fn: the client's list call for the kind (``CoreV1Api.list_persistent_volume``,
            ``CoreV1Api.list_namespaced_pod``, ...); called with a field selector on the name.
        name: the object's name.
        kind: the kind, for the message.
        namespace: for namespaced kinds, passed as the list call's first argument.
        timeout: the deadline in seconds.

    Raises:
        WaitTimeout: still present at the deadline; names the object, its phase, deletion
            timestamp and finalizers as last seen.
    """
    from kubernetes import watch  # noqa: PLC0415
    from kubernetes.client.exceptions import ApiException  # noqa: PLC0415

    args = (namespace,) if namespace is not None else ()
    where = f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"
    field = f"metadata.name={name}"
    t0 = time.monotonic()
    version = None
    last = None
    while True:
        if version is None:
            listing = list_fn(*args, field_selector=field)
            if not listing.items:
                return time.monotonic() - t0
            last = listing.items[0]
            version = listing.metadata.resource_version
        remaining = timeout - (time.monotonic() - t0)
        if remaining <= 0:
            raise WaitTimeout(where, f"{kind} {name} to be deleted", time.monotonic() - t0,
                              shorten(object_state(last)))
        w = watch.Watch()
        try:
            for event in w.stream(list_fn, *args, field_selector=field, resource_version=version,
                                  timeout_seconds=max(1, int(min(remaining, 30)))):
                obj = event["object"]
                version = obj.metadata.resource_version
                if event["type"] == "DELETED":
                    w.stop()
                    return time.monotonic() - t0
                last = obj
        except ApiException as err:
            if err.status != 410:
                raise
            version = None              # history expired: list again
        else:
            version = None              # the watch timed out: list again (cheap, and catches a missed event)


def rolled_out(dep) -> bool:
    """Whether a Deployment's status says its rollout is complete (as ``kubectl rollout status``).

    The controller has seen the latest spec, and every replica is updated, ready, and the
    only one there (no pod of an older ReplicaSet left).
    """
    want = dep.spec.replicas
    st = dep.status
    return ((st.observed_generation or 0) >= (dep.metadata.generation or 0) and (st.updated_replicas or 0) == want
            and (st.ready_replicas or 0) == want and (st.available_replicas or 0) == want
            and (st.replicas or 0) == want)


def rollout_state(dep) -> str:
    """The replica counts of a Deployment, for a timeout message."""
    st = dep.status
    return (f"want {dep.spec.replicas}, updated {st.updated_replicas or 0}, ready {st.ready_replicas or 0}, "
            f"available {st.available_replicas or 0}, total {st.replicas or 0}; generation "
            f"{dep.metadata.generation}, observed {st.observed_generation}")


def wait_rolled_out(apps, namespace: str, name: str, timeout: float = 180.0) -> float:
    """Poll Deployment ``namespace/name`` until its rollout is complete; return the seconds waited.

    Args:
        apps: an ``AppsV1Api``.
        namespace: the Deployment's namespace.
        name: the Deployment's name.
        timeout: the deadline in seconds.

    Raises:
        WaitTimeout: not rolled out at the deadline, with the replica counts last seen.
    """
    from helpers.waiting import poll_until  # noqa: PLC0415

    return poll_until(lambda: apps.read_namespaced_deployment(name, namespace), rolled_out,
                      what=f"Deployment {name} rolled out", where=f"Deployment/{namespace}/{name}",
                      timeout=timeout, interval=1.0, describe=rollout_state).seconds
