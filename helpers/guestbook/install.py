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
    address,
    documents,
    new_password,
)
from helpers.kube import api_client


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
        ``frontend``, ``replication``, ``address``); a second run reports every object ``ok``.
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
             "replication": lambda: wait_replicated(inv, timeout=90),
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


def replication_state(inv) -> dict[str, str]:
    """Per Redis pod: the leader's followers connected, each follower's link to it (from ``INFO replication``)."""
    from helpers.guestbook.objects import REPLICAS  # noqa: PLC0415
    from helpers.guestbook.redis import replication  # noqa: PLC0415

    def ask(pod: str, key: str) -> str:
        try:
            return replication(inv, pod).get(key, "?")
        except Exception as err:  # noqa: BLE001 - a pod not there yet is a state, not an error
            return f"unreachable ({str(err).splitlines()[0][:80]})"

    state = {f"{LEADER}-0": f"{ask(f'{LEADER}-0', 'connected_slaves')} connected"}
    for n in range(REPLICAS[FOLLOWER]):
        state[f"{FOLLOWER}-{n}"] = f"link {ask(f'{FOLLOWER}-{n}', 'master_link_status')}"
    return state


def wait_replicated(inv, timeout: float = 90.0) -> float:
    """Poll until the leader has every follower connected and each follower's link is up; return the seconds.

    A follower answers (and its pod is Ready) before it has the leader's data: it connects,
    the leader waits ``repl-diskless-sync-delay`` (5 s) for other followers to start one
    transfer for all, then streams its dataset. Until then a read there finds nothing.
    """
    from helpers.guestbook.objects import REPLICAS  # noqa: PLC0415
    from helpers.waiting import poll_until  # noqa: PLC0415

    want = {f"{LEADER}-0": f"{REPLICAS[FOLLOWER]} connected",
            **{f"{FOLLOWER}-{n}": "link up" for n in range(REPLICAS[FOLLOWER])}}
    return poll_until(lambda: replication_state(inv), lambda got: got == want, what="every follower replicating",
                      where=f"{NAMESPACE}/{LEADER}", timeout=timeout, interval=1.0,
                      describe=lambda got: ", ".join(f"{k} {v}" for k, v in got.items())).seconds
