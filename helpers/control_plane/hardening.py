"""The control plane against the CIS Kubernetes Benchmark (v1.12, section 1), and its audit log.

:data:`RECOMMENDATIONS` are the benchmark's checks for the API server, controller manager
and scheduler, pointed at this series' layout: where CIS names kubeadm's static-pod
manifests (``/etc/kubernetes/manifests/kube-apiserver.yaml``) our systemd unit files play
that role, and ``scheduler.conf``/``controller-manager.conf`` are our
``/etc/kubernetes/*.kubeconfig``. :func:`verify_cis` reads every master once and judges
them; :func:`audit_entries` and :func:`verify_audit` read the API server's audit log.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from helpers.constants import TLS_CIPHER_SUITES
from helpers.control_plane.layout import AUDIT_LOG, BIN_DIR, CONFIG_DIR, KUBE_DIR, PKI_DIR
from helpers.facts.hardening import Recommendation, check_hosts, is_set, verdict
from helpers.remote import Change
from helpers.tables import Table
from helpers.verdict import Verdict

API = f"{BIN_DIR}/kube-apiserver"
CM = f"{BIN_DIR}/kube-controller-manager"
SCHED = f"{BIN_DIR}/kube-scheduler"


def _includes(*modes: str):
    return lambda value: bool(value) and all(m in value.split(",") for m in modes)


def _strong_ciphers(value: str | None) -> bool:
    return bool(value) and set(value.split(",")) <= set(TLS_CIPHER_SUITES)


def _at_least(n: int):
    return lambda value: value is not None and value.isdigit() and int(value) >= n


def _file(ref: str, path: str, what: str, mode: int = 0o600) -> Recommendation:
    return Recommendation(ref, f"{what} is {mode:o} or stricter, root:root", path=path, want=mode)


RECOMMENDATIONS: tuple[Recommendation, ...] = (
    _file("1.1.1", "/etc/systemd/system/kube-apiserver.service", "the API server's unit (our static-pod manifest)"),
    _file("1.1.3", "/etc/systemd/system/kube-controller-manager.service", "the controller manager's unit"),
    _file("1.1.5", "/etc/systemd/system/kube-scheduler.service", "the scheduler's unit"),
    _file("1.1.15", f"{KUBE_DIR}/scheduler.kubeconfig", "scheduler.conf (our scheduler.kubeconfig)"),
    _file("1.1.17", f"{KUBE_DIR}/controller-manager.kubeconfig", "controller-manager.conf (ours)"),
    _file("1.1.19", PKI_DIR, "the PKI directory", mode=0o700),
    _file("1.1.20", f"{PKI_DIR}/apiserver.crt", "the API server's certificate", mode=0o644),
    _file("1.1.21", f"{PKI_DIR}/apiserver.key", "the API server's key"),
    _file("1.1.21", f"{PKI_DIR}/ca.key", "the Kubernetes CA's key"),
    _file("1.1.21", f"{PKI_DIR}/sa.key", "the service-account signing key"),
    _file("1.2.27", f"{CONFIG_DIR}/encryption-config.yaml", "the encryption configuration (holds the key)"),
    # anonymous is off except /livez, /readyz, /healthz, in the AuthenticationConfiguration
    # (--anonymous-auth=false would also lock out the load balancers' health checks)
    Recommendation("1.2.1", "anonymous requests limited to the health paths", API, "authentication-config", judge=is_set),
    Recommendation("1.2.5", "kubelet serving certificates verified", API, "kubelet-certificate-authority", judge=is_set),
    Recommendation("1.2.7", "authorization includes Node", API, "authorization-mode", judge=_includes("Node")),
    Recommendation("1.2.8", "authorization includes RBAC", API, "authorization-mode", judge=_includes("RBAC")),
    Recommendation("1.2.14", "NodeRestriction admission", API, "enable-admission-plugins",
                   judge=_includes("NodeRestriction")),
    Recommendation("1.2.15", "profiling off", API, "profiling", "false"),
    Recommendation("1.2.16", "an audit log", API, "audit-log-path", AUDIT_LOG),
    Recommendation("1.2.17", "audit logs kept 30 days", API, "audit-log-maxage", judge=_at_least(30)),
    Recommendation("1.2.18", "10 audit log files kept", API, "audit-log-maxbackup", judge=_at_least(10)),
    Recommendation("1.2.19", "audit logs rotated at 100 MB", API, "audit-log-maxsize", judge=_at_least(100)),
    Recommendation("1.2.21", "service-account lookup on", API, "service-account-lookup",
                   judge=lambda v: v in (None, "true")),
    Recommendation("1.2.22", "service-account verification key", API, "service-account-key-file", judge=is_set),
    Recommendation("1.2.23", "etcd client certificate", API, "etcd-certfile", judge=is_set),
    Recommendation("1.2.24", "TLS serving certificate", API, "tls-cert-file", judge=is_set),
    Recommendation("1.2.25", "client CA", API, "client-ca-file", judge=is_set),
    Recommendation("1.2.26", "etcd CA", API, "etcd-cafile", judge=is_set),
    Recommendation("1.2.27", "encryption at rest configured", API, "encryption-provider-config", judge=is_set),
    Recommendation("1.2.29", "strong TLS cipher suites only", API, "tls-cipher-suites", judge=_strong_ciphers),
    Recommendation("1.2.30", "service-account tokens not extended", API, "service-account-extend-token-expiration",
                   "false"),
    Recommendation("1.3.1", "terminated pods garbage-collected", CM, "terminated-pod-gc-threshold", judge=is_set),
    Recommendation("1.3.2", "profiling off", CM, "profiling", "false"),
    Recommendation("1.3.3", "per-controller service-account credentials", CM, "use-service-account-credentials",
                   "true"),
    Recommendation("1.3.4", "service-account signing key", CM, "service-account-private-key-file", judge=is_set),
    Recommendation("1.3.5", "root CA handed to pods", CM, "root-ca-file", judge=is_set),
    Recommendation("1.3.7", "controller manager on loopback only", CM, "bind-address", "127.0.0.1"),
    Recommendation("1.4.1", "scheduler profiling off (in its configuration file)", path=f"{CONFIG_DIR}/kube-scheduler.yaml",
                   contains="enableProfiling: false"),
    Recommendation("1.4.2", "scheduler on loopback only", SCHED, "bind-address", "127.0.0.1"),
)


def verify_cis(fleet) -> Verdict:
    """Every master against :data:`RECOMMENDATIONS`, read from the host (running flags, file modes)."""
    results = check_hosts(fleet, RECOMMENDATIONS, hosts="master", skip="not a master")
    return verdict("CIS Kubernetes Benchmark v1.12, control plane (section 1)", results)


# --- the audit log ----------------------------------------------------------------------


def read_audit(fleet, lines: int = 3000) -> list[dict[str, Any]]:
    """The last ``lines`` events of every master's audit log, oldest first (read-only)."""
    events: list[dict[str, Any]] = []

    def read(h) -> Change:
        out = h.run(f"tail -n {int(lines)} {shlex.quote(AUDIT_LOG)} 2>/dev/null; true").stdout
        for line in out.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue          # a line cut by rotation
            event["_master"] = h.name
            events.append(event)
        return Change(False, f"{len(out.splitlines())} lines")

    fleet.step("read the audit log", read, hosts="master", skip="not a master")
    return sorted(events, key=lambda e: e.get("requestReceivedTimestamp", ""))


def _resource(event: dict[str, Any]) -> str:
    ref = event.get("objectRef") or {}
    if not ref:
        return event.get("requestURI", "")
    where = f"{ref.get('namespace')}/" if ref.get("namespace") else ""
    name = f"/{ref['name']}" if ref.get("name") else ""
    return f"{ref.get('resource', '')}{'/' + ref['subresource'] if ref.get('subresource') else ''} {where}{name.lstrip('/')}".strip()


def audit_entries(events: list[dict[str, Any]], user: str, limit: int = 8) -> Table:
    """The newest ``limit`` events of ``user``: when, which master, verb, resource, answer code."""
    mine = [e for e in events if (e.get("user") or {}).get("username") == user][-limit:]
    rows = [[e.get("requestReceivedTimestamp", "")[11:23], e["_master"], e.get("verb", ""), _resource(e),
             (e.get("responseStatus") or {}).get("code", ""), e.get("level", "")] for e in mine]
    return Table(["time (UTC)", "master", "verb", "resource", "code", "level"], rows,
                 f"audit log: the last requests of {user}")


def verify_audit(events: list[dict[str, Any]], user: str, masters: list[str]) -> Verdict:
    """The audit log records ``user``'s requests, and never a Secret's body."""
    problems = []
    if not any((e.get("user") or {}).get("username") == user for e in events):
        problems.append(f"no audit event of {user} in the last lines of any master's log")
    silent = sorted(set(masters) - {e["_master"] for e in events})
    if silent:
        problems.append(f"no audit events at all on {', '.join(silent)}")
    leaked = [e for e in events if (e.get("objectRef") or {}).get("resource") == "secrets"
              and ("requestObject" in e or "responseObject" in e)]
    if leaked:
        problems.append(f"{len(leaked)} event(s) about Secrets carry a request or response body")
    secrets = [e for e in events if (e.get("objectRef") or {}).get("resource") == "secrets"]
    rows = [["events read", len(events)], ["events of " + user, sum((e.get("user") or {}).get("username") == user
                                                                   for e in events)],
            ["events about Secrets", len(secrets)], ["of those with a body", len(leaked)],
            ["levels seen", ", ".join(sorted({e.get("level", "") for e in events}))]]
    return Verdict("the API server's audit log", ["what", "value"], rows, problems)
