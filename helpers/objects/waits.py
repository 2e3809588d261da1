"""Demo's waits: list-then-watch and polling with a deadline, never a fixed sleep.

:class:`DemoWaits` is a mixin of :class:`helpers.objects.demo.Demo`: its methods use the
Demo's API clients (``self.core``, ``self.apps``, ``self.api``) and, for
:meth:`~DemoWaits.wait_endpoints`, :meth:`helpers.objects.looking.DemoLooking.pods`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from helpers.kube_wait import rolled_out, rollout_state, watch_until
from helpers.objects.checks import is_ready, pod_state
from helpers.objects.manifests import APP, NAMESPACE
from helpers.waiting import WaitTimeout, poll_until, settle


class DemoWaits:
    """Waiting for the demo's pods, rollouts, claim, logs and endpoints (a mixin of ``Demo``)."""

    api: Any
    core: Any
    apps: Any

    def wait_pods(self, selector: str, predicate: Callable[[list], bool], what: str,
                  timeout: float = 120.0, namespace: str = NAMESPACE) -> list:
        """Watch the pods matching ``selector`` until ``predicate(pods)`` holds; return them.

        Lists once, then follows a watch from that list's resourceVersion, re-evaluating on
        every event; the watch is re-opened (re-listing on ``410 Gone``) until the deadline.

        Raises:
            WaitTimeout: not reached within ``timeout``; names ``what`` and each pod's state.
        """
        def states(pods: dict) -> str:
            return "; ".join(f"{n}: {pod_state(p)}" for n, p in sorted(pods.items())) or "no pods"

        pods, _ = watch_until(self.core.list_namespaced_pod, namespace,
                              done=lambda objs: predicate(list(objs.values())), what=what,
                              where=f"{namespace}/{selector}", timeout=timeout, describe=states,
                              label_selector=selector)
        return sorted(pods.values(), key=lambda p: p.metadata.name)

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
                raise WaitTimeout(f"Deployment/{NAMESPACE}/{name}", "the rollout", time.monotonic() - t0,
                                  rollout_state(dep))
            time.sleep(interval)

    def wait_pvc_bound(self, name: str = "demo-data", timeout: float = 60.0):
        """Poll the claim until the PV controller has bound it; return it."""
        return poll_until(lambda: self.core.read_namespaced_persistent_volume_claim(name, NAMESPACE),
                          lambda pvc: pvc.status.phase == "Bound", what=f"claim {name} Bound",
                          where=f"PersistentVolumeClaim/{NAMESPACE}/{name}", timeout=timeout, interval=1.0,
                          describe=lambda pvc: f"phase {pvc.status.phase}").value

    def wait_log(self, pod: str, container: str, lines: Iterable[str], within: float = 30.0) -> list[str]:
        """Read the container's log (``kubectl logs -c``) until it contains every one of ``lines``; return the last read.

        Returns the log's lines either way after ``within`` seconds: the caller shows what
        was there and judges.
        """
        want = set(lines)
        return settle(lambda: self.core.read_namespaced_pod_log(pod, NAMESPACE, container=container).splitlines(),
                      lambda seen: want <= set(seen), within=within).value

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
