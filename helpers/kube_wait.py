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


def watch_until(list_fn: Callable, *args, done: Callable[[dict], bool], what: str, where: str,
                timeout: float, describe: Callable[[dict], str], **selectors) -> tuple[dict, float]:
    """List what ``list_fn(*args, **selectors)`` returns, follow a watch from that list, until ``done``.

    The one list-then-watch loop: ``done`` sees the objects by name as they are now and
    is re-evaluated on every event; a watch that ends (its server-side timeout) is followed
    by a fresh list, and so is ``410 Gone`` (the history expired).

    Returns:
        ``(objects by name, seconds waited)`` once ``done`` holds.

    Raises:
        WaitTimeout: not reached within ``timeout``; the message shows ``describe(objects)``.
    """
    from kubernetes import watch  # noqa: PLC0415
    from kubernetes.client.exceptions import ApiException  # noqa: PLC0415

    t0 = time.monotonic()
    objects: dict = {}
    version = None
    while True:
        if version is None:
            listing = list_fn(*args, **selectors)
            objects = {o.metadata.name: o for o in listing.items}
            version = listing.metadata.resource_version
        if done(objects):
            return objects, time.monotonic() - t0
        remaining = timeout - (time.monotonic() - t0)
        if remaining <= 0:
            raise WaitTimeout(where, what, time.monotonic() - t0, shorten(describe(objects), 600))
        w = watch.Watch()
        try:
            for event in w.stream(list_fn, *args, resource_version=version,
                                  timeout_seconds=max(1, int(min(remaining, 30))), **selectors):
                obj = event["object"]
                version = obj.metadata.resource_version
                if event["type"] == "DELETED":
                    objects.pop(obj.metadata.name, None)
                else:
                    objects[obj.metadata.name] = obj
                if done(objects):
                    w.stop()
                    return objects, time.monotonic() - t0
        except ApiException as err:
            if err.status != 410:
                raise
        version = None                  # history expired, or the watch ended: list again


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
    args = (namespace,) if namespace is not None else ()
    return watch_until(list_fn, *args, done=lambda objs: name not in objs, what=f"{kind} {name} to be deleted",
                       where=f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}", timeout=timeout,
                       describe=lambda objs: object_state(objs.get(name)),
                       field_selector=f"metadata.name={name}")[1]


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

    started = time.monotonic()
    last_look = [started]

    def read():
        dep = apps.read_namespaced_deployment(name, namespace)
        now = time.monotonic()
        if not rolled_out(dep) and now - last_look[0] >= 10 and now - started >= PULL_GRACE:
            last_look[0] = now
            stuck = unpullable(apps, namespace, name)
            if stuck:
                raise WaitTimeout(f"Deployment/{namespace}/{name}", f"Deployment {name} rolled out", now - started,
                                  f"{rollout_state(dep)}; gave up early: {stuck} (an image that node does not hold and no "
                                  "registry serves: is it in the image bundle 05 loads?)")
        return dep

    try:
        return poll_until(read, rolled_out, what=f"Deployment {name} rolled out", where=f"Deployment/{namespace}/{name}",
                          timeout=timeout, interval=1.0, describe=rollout_state).seconds
    except WaitTimeout as err:
        if "gave up early" in err.last:
            raise
        # the counts say that it is stuck; its pods say why (not scheduled, image, CNI, probe)
        raise WaitTimeout(f"Deployment/{namespace}/{name}", err.what, err.seconds,
                          f"{err.last}; pods: {pods_state(apps, namespace, name)}") from None


def pod_ready(pod) -> bool:
    """Whether a pod's ``Ready`` condition is ``True`` (a pod being deleted may still say so)."""
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


#: reasons a container waits for an image that it will not get by waiting longer
UNPULLABLE = ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName")
#: seconds a rollout is given before an unpullable image ends the wait
PULL_GRACE = 30.0


def unpullable(apps, namespace: str, name: str) -> str:
    """The pods of Deployment ``name`` waiting for an image they cannot pull, named ("" when none)."""
    from kubernetes import client  # noqa: PLC0415

    try:
        dep = apps.read_namespaced_deployment(name, namespace)
        selector = ",".join(f"{k}={v}" for k, v in (dep.spec.selector.match_labels or {}).items())
        pods = client.CoreV1Api(apps.api_client).list_namespaced_pod(namespace, label_selector=selector).items
    except Exception:  # noqa: BLE001 - no verdict is no reason to stop waiting
        return ""
    stuck = []
    for pod in pods:
        for cs in pod.status.container_statuses or []:
            waiting = cs.state.waiting if cs.state else None
            if waiting and waiting.reason in UNPULLABLE:
                stuck.append(f"{pod.metadata.name} on {pod.spec.node_name}: {waiting.reason} {cs.image}")
    return "; ".join(stuck[:3])


def statefulset_ready(sts) -> bool:
    """Whether a StatefulSet's controller has seen its spec and every replica is Ready and of the current revision."""
    st = sts.status
    return ((st.observed_generation or 0) >= (sts.metadata.generation or 0)
            and (st.ready_replicas or 0) == sts.spec.replicas and (st.replicas or 0) == sts.spec.replicas
            and st.current_revision == st.update_revision)


def wait_statefulset_ready(apps, namespace: str, name: str, timeout: float = 180.0) -> float:
    """Poll StatefulSet ``namespace/name`` until :func:`statefulset_ready`; return the seconds waited.

    Raises:
        WaitTimeout: not ready at the deadline, with the counts last seen.
    """
    from helpers.waiting import poll_until  # noqa: PLC0415

    return poll_until(lambda: apps.read_namespaced_stateful_set(name, namespace), statefulset_ready,
                      what=f"StatefulSet {name} ready", where=f"StatefulSet/{namespace}/{name}", timeout=timeout,
                      interval=1.0, describe=lambda s: f"ready {s.status.ready_replicas or 0} of {s.spec.replicas}, "
                      f"revision {s.status.current_revision} -> {s.status.update_revision}").seconds


def pods_state(apps, namespace: str, name: str, limit: int = 4) -> str:
    """Each pod of Deployment ``name``: node, phase, and why a container is not ready, with its latest events."""
    from kubernetes import client  # noqa: PLC0415

    try:
        return _pods_state(apps, client.CoreV1Api(apps.api_client), namespace, name, limit)
    except Exception as err:  # noqa: BLE001 - a diagnosis must not hide the timeout it explains
        return f"(could not read them: {shorten(err, 200)})"


def _pods_state(apps, core, namespace: str, name: str, limit: int) -> str:
    dep = apps.read_namespaced_deployment(name, namespace)
    selector = ",".join(f"{k}={v}" for k, v in (dep.spec.selector.match_labels or {}).items())
    pods = core.list_namespaced_pod(namespace, label_selector=selector).items
    parts = []
    for pod in pods[:limit]:
        why = []
        for cs in pod.status.container_statuses or []:
            state = cs.state
            if state and state.waiting:
                why.append(f"{cs.name} waiting {state.waiting.reason}: {shorten(state.waiting.message or '', 120)}")
            elif not cs.ready:
                why.append(f"{cs.name} running, not ready (restarts {cs.restart_count})")
        events = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={pod.metadata.name}").items
        latest = sorted(events, key=lambda e: e.last_timestamp or e.event_time or e.metadata.creation_timestamp)[-2:]
        why += [f"{e.reason}: {shorten(e.message or '', 120)}" for e in latest if e.type == "Warning"]
        parts.append(f"{pod.metadata.name} on {pod.spec.node_name or 'no node'} {pod.status.phase}"
                     + (f" ({'; '.join(why)})" if why else ""))
    return " | ".join(parts) or "none"


def wait_crds_established(api, names: list[str], timeout: float = 60.0) -> float:
    """Poll until every CustomResourceDefinition in ``names`` is ``Established`` (served); return seconds.

    A CRD just applied is accepted before the API server serves its resource: objects of
    its kind applied in that moment fail with "no matches for kind".

    Raises:
        WaitTimeout: some are not established at the deadline; they are named.
    """
    from kubernetes import client  # noqa: PLC0415

    from helpers.waiting import poll_until  # noqa: PLC0415

    ext = client.ApiextensionsV1Api(api)

    def pending() -> list[str]:
        established = set()
        for crd in ext.list_custom_resource_definition().items:
            if any(c.type == "Established" and c.status == "True" for c in (crd.status.conditions or [])):
                established.add(crd.metadata.name)
        return [n for n in names if n not in established]

    return poll_until(pending, lambda left: not left, what="CRDs established", where="CustomResourceDefinitions",
                      timeout=timeout, interval=0.5, describe=lambda left: f"not yet: {', '.join(left)}").seconds
