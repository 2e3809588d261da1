"""Demo's looking: exec in the demo pods, list pods and ReplicaSets, ask DNS and HTTP.

:class:`DemoLooking` is a mixin of :class:`helpers.objects.demo.Demo` (its methods use the
Demo's ``self.core`` and ``self.apps``); commands run through the exec API
(:func:`helpers.kube.pod_exec`), as ``kubectl exec``. :func:`http_from_here` asks from
this machine instead.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterable
from typing import Any

from helpers.errors import HostError
from helpers.kube import parse_nslookup, pod_exec
from helpers.objects.manifests import APP, NAMESPACE
from helpers.waiting import settle


class DemoLooking:
    """Looking into the demo's objects from inside the cluster (a mixin of ``Demo``)."""

    core: Any
    apps: Any

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

    def http_from_pod(self, pod: str, url: str, count: int) -> list[str]:
        """GET ``url`` ``count`` times from ``pod`` (busybox ``wget``, one exec); the bodies, or ``error``.

        Each request is bounded by busybox ``timeout`` (its ``wget -T`` crashes in the static
        Debian build the bundle ships).
        """
        # the shell's own notice about a request that timeout killed ("Terminated") goes to
        # stderr with the loop's: one line of output per request, nothing else
        script = (f'for i in $(seq {count}); do r=$(timeout 5 wget -q -O - "{url}" 2>/dev/null) || r=error; '
                  'echo "$r"; done 2>/dev/null')
        return [line.strip() for line in self.run_checked(pod, ["sh", "-c", script]).splitlines() if line.strip()]

    def wait_serving(self, pod: str, url: str, replicas: Iterable[str], within: float = 30.0,
                     batch: int = 12) -> list[str]:
        """Send batches of requests from ``pod`` until one batch is answered by ``replicas`` only; return it.

        The EndpointSlices can already list exactly the Ready pods while kube-proxy on the
        client's node has not yet rewritten its rules: for a moment a connection may still
        go to a pod that was just replaced, and hang. A measurement waits here first, for
        the data path, instead of counting those stragglers. Returns the last batch either
        way after ``within`` seconds; the caller judges.
        """
        names = set(replicas)
        return settle(lambda: self.http_from_pod(pod, url, batch), lambda got: bool(got) and set(got) <= names,
                      within=within).value

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


def http_from_here(address: str, port: int, count: int, timeout: float = 3.0,
                   expect: Iterable[str] | None = None, within: float = 30.0) -> list[str]:
    """GET ``http://address:port/`` ``count`` times from this machine; the bodies or ``error: ...``.

    With ``expect`` (the replicas' names), asks again for up to ``within`` seconds until
    every answer is one of them (kube-proxy on that node may still be catching up with a
    rollout), then returns the last round either way.
    """
    if expect is not None:
        names = set(expect)
        return settle(lambda: http_from_here(address, port, count, timeout), lambda got: set(got) <= names,
                      within=within).value
    answers = []
    for _ in range(count):
        try:
            with urllib.request.urlopen(f"http://{address}:{port}/", timeout=timeout) as resp:  # noqa: S310
                answers.append(resp.read().decode().strip())
        except OSError as err:
            answers.append(f"error: {err}")
    return answers
