"""Apply the guestbook and wait for it: Redis first (leader, then followers), then the frontend and its address."""

from __future__ import annotations

import base64
import time
from ipaddress import IPv4Address

from helpers.guestbook.objects import (
    FOLLOWER,
    FRONTEND,
    LEADER,
    NAMESPACE,
    SECRET,
    documents,
    new_password,
)
from helpers.kube import api_client


def address(inv) -> IPv4Address:
    """The pool address the guestbook's Service asks for (``fixed_addresses(inv)["guestbook"]``)."""
    from helpers.topology import fixed_addresses  # noqa: PLC0415

    return fixed_addresses(inv)["guestbook"]


def current_password(inv) -> str | None:
    """The password in the live Secret, or ``None`` when there is none yet (then one is made)."""
    from kubernetes import client  # noqa: PLC0415
    from kubernetes.client.exceptions import ApiException  # noqa: PLC0415

    try:
        secret = client.CoreV1Api(api_client(inv)).read_namespaced_secret(SECRET, NAMESPACE)
    except ApiException as err:
        if err.status == 404:
            return None
        raise
    raw = (secret.data or {}).get("password")
    return base64.b64decode(raw).decode() if raw else None


def ensure_guestbook(inv, timeout: float = 240.0):
    """Every guestbook object applied, Redis and frontends Ready, the Service on its address.

    Returns:
        A report with a row per object and one per wait (``leader``, ``followers``,
        ``frontend``, ``address``); a second run reports every object ``ok``.
    """
    from kubernetes import client  # noqa: PLC0415

    from helpers.kube_apply import apply_objects  # noqa: PLC0415
    from helpers.kube_wait import wait_rolled_out, wait_statefulset_ready  # noqa: PLC0415
    from helpers.report import Report, Result  # noqa: PLC0415

    started = time.monotonic()
    api = api_client(inv)
    want = address(inv)
    report = apply_objects(api, documents(str(want), current_password(inv) or new_password()), "the guestbook")
    apps = client.AppsV1Api(api)
    waits = {"leader": lambda: wait_statefulset_ready(apps, NAMESPACE, LEADER, timeout),
             "followers": lambda: wait_statefulset_ready(apps, NAMESPACE, FOLLOWER, timeout),
             "frontend": lambda: wait_rolled_out(apps, NAMESPACE, FRONTEND, timeout),
             "address": lambda: wait_address(inv, want, timeout=60)}
    results = dict(report.results)
    for name, wait in waits.items():
        seconds = wait()
        results[name] = Result(name, "ok", f"ready (waited {seconds:.1f} s)", seconds)
    return Report(report.title, results, time.monotonic() - started)


def wait_address(inv, want: IPv4Address, timeout: float = 60.0) -> float:
    """Poll until the frontend's Service has ``want`` as its LoadBalancer address; return the seconds waited."""
    from kubernetes import client  # noqa: PLC0415

    from helpers.kube import load_balancer_address  # noqa: PLC0415
    from helpers.waiting import poll_until  # noqa: PLC0415

    core = client.CoreV1Api(api_client(inv))
    return poll_until(lambda: load_balancer_address(core.read_namespaced_service(FRONTEND, NAMESPACE)),
                      lambda got: got == want, what=f"address {want}", where=f"Service/{NAMESPACE}/{FRONTEND}",
                      timeout=timeout, interval=1.0, describe=lambda got: f"address {got or 'pending'}").seconds
