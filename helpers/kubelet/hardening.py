"""The nodes against the CIS Kubernetes Benchmark (v1.12, section 4): the kubelet's files and running configuration.

Files are read on each node (one SSH round trip: mode and owner). The kubelet's settings
are read from the running kubelet itself, through the API server's node proxy
(``/api/v1/nodes/<node>/proxy/configz``): what the process runs with, not what a file on
disk says it should.
"""

from __future__ import annotations

import json
from typing import Any

from helpers.constants import TLS_CIPHER_SUITES
from helpers.facts.hardening import Recommendation, check_hosts, verdict
from helpers.kube import api_client
from helpers.kubelet.layout import CONFIG_FILE, KUBECONFIG, PKI, UNIT
from helpers.node_pki import node_hosts
from helpers.verdict import Verdict


def file_recommendations() -> tuple[Recommendation, ...]:
    """The kubelet's files (4.1.x): unit, kubeconfig, configuration, CA and key."""
    def f(ref: str, path: str, what: str, mode: int = 0o600) -> Recommendation:
        return Recommendation(ref, f"{what} is {mode:o} or stricter, root:root", path=path, want=mode)

    return (
        f("4.1.1", UNIT, "the kubelet's unit file"),
        f("4.1.5", KUBECONFIG, "kubelet.conf (our kubelet kubeconfig)"),
        f("4.1.7", f"{PKI}/ca.crt", "the client CA file", mode=0o644),
        f("4.1.9", CONFIG_FILE, "the kubelet's configuration file"),
        f("4.2.9", f"{PKI}/kubelet.key", "the kubelet's serving key"),
    )


def _get(config: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        config = config.get(part) if isinstance(config, dict) else None
    return config


#: (CIS number, recommendation, configz field, test of its value, deviation when the series departs)
SETTINGS: tuple[tuple[str, str, str, Any, str], ...] = (
    ("4.2.1", "anonymous requests refused", "authentication.anonymous.enabled", lambda v: v is False, ""),
    ("4.2.2", "authorization by the API server (Webhook)", "authorization.mode", lambda v: v == "Webhook", ""),
    ("4.2.3", "client certificates checked against the CA", "authentication.x509.clientCAFile", bool, ""),
    ("4.2.4", "no read-only port", "readOnlyPort", lambda v: v in (0, None), ""),
    ("4.2.5", "idle streaming connections time out", "streamingConnectionIdleTimeout",
     lambda v: v not in ("0", "0s", None), ""),
    ("4.2.6", "the kubelet manages its iptables chains", "makeIPTablesUtilChains", lambda v: v is not False, ""),
    ("4.2.8", "events are recorded", "eventRecordQPS", lambda v: v is None or v > 0, ""),
    ("4.2.9", "a TLS serving certificate of our CA", "tlsCertFile", bool, ""),
    ("4.2.10", "client certificate rotation", "rotateCertificates", lambda v: v is True, ""),
    ("4.2.11", "serving certificate rotation", "serverTLSBootstrap", lambda v: v is True,
     "off: serving certificates carry the node's addresses and are issued and renewed by the series; "
     "bootstrapped ones would wait for a person to approve each CSR (no upstream controller approves them)"),
    ("4.2.12", "strong TLS cipher suites only", "tlsCipherSuites",
     lambda v: bool(v) and set(v) <= set(TLS_CIPHER_SUITES), ""),
    ("4.2.13", "a limit on processes per pod", "podPidsLimit", lambda v: isinstance(v, int) and v > 0, ""),
    ("4.2.14", "the runtime's default seccomp profile for every pod", "seccompDefault", lambda v: v is True, ""),
)


def running_config(inv, node: str) -> dict[str, Any]:
    """The running kubelet's configuration, from ``/configz`` through the API server."""
    from kubernetes import client  # noqa: PLC0415

    resp = client.CoreV1Api(api_client(inv)).connect_get_node_proxy_with_path(
        node, "configz", _preload_content=False)
    return json.loads(resp.data).get("kubeletconfig", {})


def verify_node_cis(fleet) -> Verdict:
    """Every node's kubelet files (read on the node) and running settings (read from the kubelet)."""
    inv = fleet.inventory
    recs = file_recommendations()
    results = check_hosts(fleet, recs, hosts=[h.name for h in node_hosts(inv)],
                          skip="not a Kubernetes node (no master or worker role)")
    for name in list(results):
        try:
            config = running_config(inv, name)
        except Exception as err:  # noqa: BLE001 - the row says what went wrong
            config, failure = {}, f"configz unreadable: {type(err).__name__}"
        else:
            failure = ""
        for ref, title, field, test, deviation in SETTINGS:
            value = _get(config, field)
            ok = not failure and bool(test(value))
            rec = Recommendation(ref, title, deviation=deviation)
            results[name].append((rec, ok, failure or f"{field}: {json.dumps(value)}"))
    return verdict("CIS Kubernetes Benchmark v1.12, worker nodes (section 4): the kubelet", results)
