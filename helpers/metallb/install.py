"""MetalLB installed from its own release manifest, and the address pools the inventory names.

``metallb-native.yaml`` (from the mirror, sha256-verified) is applied as it is, with
server-side apply: the ``metallb-system`` namespace (Pod Security ``privileged``: the
speaker runs on the host network with ``NET_RAW``), the CRDs, RBAC, the controller
Deployment, the speaker DaemonSet and the validating webhook. Its image references are
the bundle's, which every node imported in 05.

The inventory's ``network.loadbalancer_pool`` becomes two IPAddressPools: :data:`POOL`
(every address but the last; Services get addresses from it automatically) and
:data:`SINGLE` (the last address alone, ``autoAssign: false``: a Service must ask for it
by name, which lets 07 show a pool running out without exhausting the main one). One
L2Advertisement announces both.
"""

from __future__ import annotations

from typing import Any

from helpers.kube import api_client
from helpers.report import Report
from helpers.topology import MIN_POOL, pool_of  # noqa: F401 - re-exported
from helpers.waiting import poll_until

NAMESPACE = "metallb-system"
CONTROLLER = "controller"
SPEAKER = "speaker"
POOL = "kj-pool"
SINGLE = "kj-single"
L2 = "kj-l2"
GROUP = "metallb.io"


def manifest_documents(inv) -> list[dict[str, Any]]:
    """The objects of the pinned ``metallb-native.yaml``, from the mirror (sha256-verified)."""
    from helpers.kube_apply import mirror_documents  # noqa: PLC0415

    return mirror_documents(inv, "metallb-manifest")


def ensure_metallb(inv) -> Report:
    """Apply MetalLB's release manifest (server-side apply: a re-run changes nothing)."""
    from helpers.kube_apply import apply_objects  # noqa: PLC0415

    return apply_objects(api_client(inv), manifest_documents(inv), "MetalLB (metallb-native.yaml)")


def _daemonset_ready(ds) -> bool:
    st = ds.status
    want = st.desired_number_scheduled or 0
    return (want > 0 and (st.observed_generation or 0) >= (ds.metadata.generation or 0)
            and (st.updated_number_scheduled or 0) == want and (st.number_ready or 0) == want)


def wait_metallb_ready(inv, timeout: float = 240.0) -> Report:
    """Wait for the controller to roll out and a speaker to be ready on every node."""
    import time  # noqa: PLC0415

    from kubernetes import client  # noqa: PLC0415

    from helpers.kube_wait import wait_rolled_out  # noqa: PLC0415
    from helpers.report import Result  # noqa: PLC0415

    apps = client.AppsV1Api(api_client(inv))
    started = time.monotonic()
    controller_s = wait_rolled_out(apps, NAMESPACE, CONTROLLER, timeout=timeout)
    waited = poll_until(lambda: apps.read_namespaced_daemon_set(SPEAKER, NAMESPACE), _daemonset_ready,
                        what="every speaker ready", where=f"DaemonSet/{NAMESPACE}/{SPEAKER}", timeout=timeout,
                        interval=1.0, describe=lambda ds: f"desired {ds.status.desired_number_scheduled}, "
                                                           f"ready {ds.status.number_ready}")
    ds = waited.value
    results = {
        "controller": Result("controller", "ok", f"rolled out (waited {controller_s:.1f} s)", controller_s),
        "speaker": Result("speaker", "ok", f"{ds.status.number_ready} of {ds.status.desired_number_scheduled} ready "
                          f"(waited {waited.seconds:.1f} s)", waited.seconds),
    }
    return Report("MetalLB ready", results, time.monotonic() - started)


def pool_documents(inv) -> list[dict[str, Any]]:
    """The IPAddressPools (automatic and single-address) and their L2Advertisement."""
    first, last = pool_of(inv)
    meta = {"namespace": NAMESPACE, "labels": {"app.kubernetes.io/managed-by": "kubernetes-journey"}}

    def pool(name: str, addresses: str, auto: bool) -> dict[str, Any]:
        return {"apiVersion": f"{GROUP}/v1beta1", "kind": "IPAddressPool", "metadata": {"name": name, **meta},
                "spec": {"addresses": [addresses], "autoAssign": auto, "avoidBuggyIPs": False}}

    return [
        pool(POOL, f"{first}-{last - 1}", True),
        pool(SINGLE, f"{last}/32", False),
        {"apiVersion": f"{GROUP}/v1beta1", "kind": "L2Advertisement", "metadata": {"name": L2, **meta},
         "spec": {"ipAddressPools": [POOL, SINGLE]}},
    ]


def ensure_address_pools(inv, timeout: float = 120.0) -> Report:
    """Apply the pools, retrying while MetalLB's validating webhook is not serving yet.

    The webhook (in the controller pod) checks every IPAddressPool; right after the
    controller starts, its certificate may not be in place yet and the API server's call
    fails ("connection refused", "x509"). Those answers are retried until ``timeout``;
    any other failure is raised at once.
    """
    from helpers.errors import StepFailed  # noqa: PLC0415
    from helpers.kube_apply import apply_objects  # noqa: PLC0415

    docs = pool_documents(inv)
    transient = ("failed calling webhook", "connection refused", "no endpoints available", "x509")
    last: list[str] = []

    def attempt() -> Report | None:
        try:
            return apply_objects(api_client(inv), docs, "MetalLB address pools")
        except StepFailed as err:
            text = str(err)
            if not any(t in text for t in transient):
                raise
            last[:] = [text[:300]]
            return None

    return poll_until(attempt, lambda r: r is not None, what="MetalLB's webhook to accept the address pools",
                      where=f"{NAMESPACE}/{POOL}", timeout=timeout, interval=2.0,
                      describe=lambda _: last[0] if last else "no answer yet").value
