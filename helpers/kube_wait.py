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
