"""The kubelet: the agent on every node that registers it and runs its pods.

Each kubelet authenticates to the API server (through the VIP) with its own client
certificate (``CN=system:node:<name>``, ``O=system:nodes``), which the Node authorizer
and the NodeRestriction admission plugin use to limit it to its own node and the pods
bound to it. It serves its own HTTPS API (logs, exec, metrics) with a serving
certificate signed by the Kubernetes CA, and accepts only clients the API server
vouches for: anonymous access off, x509 client certificates from the Kubernetes CA,
and webhook authentication and authorization (it asks the API server, through
SubjectAccessReviews, whether a caller may do what it asks).

Masters register too, tainted ``node-role.kubernetes.io/control-plane:NoSchedule`` so
that ordinary pods stay on the workers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from helpers.constants import POD_PIDS_LIMIT, TLS_CIPHER_SUITES
from helpers.ensure import (
    ensure_binary,
    ensure_directory,
    ensure_file,
    ensure_unit_current,
    probe_paths,
    render_template,
)
from helpers.errors import HostError
from helpers.kube import api_client
from helpers.kubelet.layout import BINARY, CONFIG_FILE, INPUTS, KUBECONFIG, KUBELET_DIR, PKI, UNIT  # noqa: E402
from helpers.kubelet.rotation import ensure_client_rotation_rbac, verify_client_rotation  # noqa: F401
from helpers.node_facts import (  # noqa: F401
    NODE_UNITS,
    NodeFacts,
    check_node_units,
    gather_node_facts,
    restarted_units,
)
from helpers.node_pki import kubelet_client_name, kubelet_serving_name, node_hosts, node_kubeconfig
from helpers.remote import Change
from helpers.report import Report, Result
from helpers.tables import Table
from helpers.verdict import Verdict
from helpers.waiting import WaitTimeout, poll_until

CONTROL_PLANE_ROLE = "node-role.kubernetes.io/control-plane"
WORKER_ROLE = "node-role.kubernetes.io/worker"
MASTER_TAINT = {"key": CONTROL_PLANE_ROLE, "effect": "NoSchedule"}


@dataclass(frozen=True)
class KubeletSettings:
    """What one node's KubeletConfiguration says.

    Attributes:
        node_name: the node's name (its inventory name).
        facts: the node's facts (cgroup driver, cgroup v1, resolv.conf).
        cluster_dns: the cluster DNS Service address.
        cluster_domain: the cluster's DNS domain.
        taints: taints to register with (masters: control-plane NoSchedule).
        eviction_hard: the kubelet's hard eviction thresholds when they are not upstream's
            defaults (see :data:`LAB_EVICTION_HARD`); empty: the defaults.
    """

    node_name: str
    facts: NodeFacts
    cluster_dns: str
    cluster_domain: str
    taints: list[dict] = field(default_factory=list)
    eviction_hard: dict[str, str] = field(default_factory=dict)


#: Hard eviction thresholds on the lab's machines. Upstream's defaults are shares of the disk
#: (``nodefs.available<10%``, ``imagefs.available<15%``); a lab machine's root is a directory
#: on the operator's own file system, so those shares measure the operator's disk, not the
#: node's: a host with 15 % free put every node under disk pressure (tainted, no pod scheduled).
#: On the lab the thresholds are amounts of space, the same on any host.
LAB_EVICTION_HARD = {"memory.available": "100Mi", "nodefs.available": "1Gi", "nodefs.inodesFree": "5%",
                     "imagefs.available": "1Gi", "imagefs.inodesFree": "5%"}


def settings_for(inv, host, facts: NodeFacts) -> KubeletSettings:
    """The kubelet settings of one node, from the inventory and the node's facts."""
    from helpers.k8s_pki import cluster_domain  # noqa: PLC0415

    taints = [MASTER_TAINT] if "master" in host.roles else []
    eviction = dict(LAB_EVICTION_HARD) if inv.lab is not None else {}
    return KubeletSettings(host.name, facts, str(inv.network.cluster_dns), cluster_domain(inv), taints, eviction)


def render_config(s: KubeletSettings) -> str:
    """Render the KubeletConfiguration YAML for one node."""
    return render_template("kubelet/kubelet-config.yaml.j2", {
        "ca_file": f"{PKI}/ca.crt",
        "cgroup_driver": s.facts.cgroup_driver,
        "cgroup_v2": s.facts.cgroup_v2,
        "cluster_dns": s.cluster_dns,
        "cluster_domain": s.cluster_domain,
        "resolv_conf": s.facts.resolv_conf,
        "tls_cert_file": f"{PKI}/kubelet.crt",
        "tls_key_file": f"{PKI}/kubelet.key",
        "register_taints": s.taints,
        "local_storage_isolation": s.facts.local_storage_isolation,
        "kubelet_fs": s.facts.kubelet_fs,
        "tls_cipher_suites": TLS_CIPHER_SUITES, "pod_pids_limit": POD_PIDS_LIMIT,
        "eviction_hard": s.eviction_hard,
    })


def render_unit(node_name: str, node_ip: str) -> str:
    """Render the kubelet's systemd unit."""
    return render_template("kubelet/kubelet.service.j2", {
        "binary": BINARY, "config_file": CONFIG_FILE, "kubeconfig": KUBECONFIG, "cert_dir": PKI,
        "node_name": node_name, "node_ip": node_ip,
    })


def ensure_kubelet(fleet) -> Report:
    """Install, configure and start the kubelet on every node (masters and workers).

    Uploads the binary (only when its sha256 differs), the CA, the serving certificate,
    the kubeconfig (client certificate, API server through the VIP), the
    KubeletConfiguration and the unit; restarts the kubelet only when one of them
    changed since it last started (:func:`~helpers.ensure.ensure_unit_current`).
    """
    from helpers import artifacts  # noqa: PLC0415
    from helpers.k8s_pki import pki_dir  # noqa: PLC0415

    inv = fleet.inventory
    binary = artifacts.fetch(inv, "kubelet")
    directory = pki_dir(inv.cluster_dir)
    ca_pem = (directory / "ca.crt").read_bytes()

    def apply(h) -> Change:
        host = h.host
        facts = gather_node_facts(h)
        serving = kubelet_serving_name(host.name)
        probe_paths(h, (KUBELET_DIR, PKI, *INPUTS))  # one round trip for every probe below
        changes = [
            ensure_directory(h, KUBELET_DIR, mode=0o700),
            ensure_directory(h, PKI, mode=0o700),
            ensure_binary(h, BINARY, binary),
            ensure_file(h, f"{PKI}/ca.crt", ca_pem, mode=0o644),
            ensure_file(h, f"{PKI}/kubelet.crt", (directory / f"{serving}.crt").read_bytes(), mode=0o644),
            ensure_file(h, f"{PKI}/kubelet.key", (directory / f"{serving}.key").read_bytes(), mode=0o600),
            ensure_file(h, KUBECONFIG, node_kubeconfig(inv, f"system:node:{host.name}",
                                                       kubelet_client_name(host.name)), mode=0o600),
            ensure_file(h, CONFIG_FILE, render_config(settings_for(inv, host, facts)), mode=0o600),
            ensure_file(h, UNIT, render_unit(host.name, str(host.address)), mode=0o600),  # CIS 4.1.1, 4.1.9
        ]
        inputs = Change.merge(*changes)
        service = ensure_unit_current(h, "kubelet", INPUTS)
        merged = Change.merge(inputs, service)
        detail = merged.detail or f"up to date ({facts.cgroup_driver} cgroup driver)"
        if service.changed:
            # when the new process started, by the host's clock: wait_nodes_ready then waits for
            # a Ready condition this kubelet posted, not the one its predecessor left behind
            started = h.run("systemctl show -p ExecMainStartTimestamp --timestamp=unix --value kubelet").stdout
            return Result(host.name, "changed", detail, data={"started_at": float(started.strip().lstrip("@"))})
        return Change(merged.changed, detail)

    return fleet.step("kubelet", apply, hosts=[h.name for h in node_hosts(inv)],
                      skip="not a Kubernetes node (no master or worker role)")


# ------------------------------------------------------------------ in-cluster state


def ensure_apiserver_kubelet_rbac(inv) -> Report:
    """Let the API server's kubelet-client identity reach the kubelet API (logs, exec, stats).

    The kubelets authorise every request through the API server (webhook mode); the API
    server itself calls them as ``kube-apiserver-kubelet-client`` (see
    :mod:`helpers.k8s_pki`), which needs this ClusterRole.
    """
    from helpers.k8s_pki import cert_specs  # noqa: PLC0415
    from helpers.kube_apply import apply_objects, load_documents  # noqa: PLC0415

    user = next(s.common_name for s in cert_specs(inv) if s.name == "apiserver-kubelet-client")
    docs = load_documents("kubelet/apiserver-to-kubelet-rbac.yaml.j2", {"apiserver_kubelet_client_user": user})
    return apply_objects(api_client(inv), docs, "API server to kubelet RBAC")


def wanted_roles(host) -> tuple[dict[str, str], list[dict]]:
    """The role labels and taints a node should carry: ``(labels, taints)``."""
    labels, taints = {}, []
    if "master" in host.roles:
        labels[CONTROL_PLANE_ROLE] = ""
        taints.append(MASTER_TAINT)
    if "worker" in host.roles:
        labels[WORKER_ROLE] = ""
    return labels, taints


def ensure_node_roles(inv, timeout: float = 180.0) -> Report:
    """Label every node with its role and make sure masters carry the NoSchedule taint.

    A kubelet may not set ``node-role.kubernetes.io/*`` labels on itself (the
    NodeRestriction admission plugin forbids it), so the operator sets them. Waits up to
    ``timeout`` seconds for each node to register first. Patches only what differs.
    """
    from kubernetes import client  # noqa: PLC0415
    from kubernetes.client.rest import ApiException  # noqa: PLC0415

    core = client.CoreV1Api(api_client(inv))
    results: dict[str, Result] = {}
    deadline = time.monotonic() + timeout
    for host in node_hosts(inv):
        t0 = time.monotonic()
        node = None
        while node is None:
            try:
                node = core.read_node(host.name)
            except ApiException as err:
                if err.status != 404 or time.monotonic() > deadline:
                    cause = (f"node not registered after {timeout:.0f}s (is the kubelet running? "
                             f"journalctl -u kubelet)" if err.status == 404 else
                             f"reading the node failed: HTTP {err.status} {err.reason}")
                    error = HostError(host.name, "label node", cause)
                    results[host.name] = Result(host.name, "failed", str(error), error=error)
                    break
                time.sleep(2)
        if node is None:
            continue
        labels, taints = wanted_roles(host)
        have_labels = node.metadata.labels or {}
        missing_labels = {k: v for k, v in labels.items() if have_labels.get(k) != v}
        have_taints = [{"key": t.key, "effect": t.effect, "value": t.value} for t in node.spec.taints or []]
        missing_taints = [t for t in taints if not any(
            h["key"] == t["key"] and h["effect"] == t["effect"] for h in have_taints)]
        body = {}
        if missing_labels:
            body["metadata"] = {"labels": missing_labels}
        if missing_taints:
            body["spec"] = {"taints": [{k: v for k, v in t.items() if v is not None}
                                       for t in have_taints] + missing_taints}
        if body:
            core.patch_node(host.name, body)
            what = [f"label {k}" for k in missing_labels] + [f"taint {t['key']}:{t['effect']}" for t in missing_taints]
            results[host.name] = Result(host.name, "changed", ", ".join(what), time.monotonic() - t0)
        else:
            results[host.name] = Result(host.name, "ok", "role labels and taints present", time.monotonic() - t0)
    return Report("node roles", results).raise_for_failures()


def _ready_condition(node) -> tuple[bool, str]:
    for cond in node.status.conditions or []:
        if cond.type == "Ready":
            return cond.status == "True", f"{cond.reason}: {cond.message}" if cond.status != "True" else "Ready"
    return False, "no Ready condition yet"


def check_nodes_ready(inv) -> dict[str, str]:
    """Read every node's Ready condition (no side effects).

    Returns:
        Node name to ``"Ready"`` or the reason it is not (``"NotReady: <reason>"``, or
        ``"not registered"`` for an inventory node the API server does not know).
    """
    from kubernetes import client  # noqa: PLC0415

    return _node_states(client.CoreV1Api(api_client(inv)), inv, {})


def _node_states(core, inv, since: dict[str, float]) -> dict[str, str]:
    """Each inventory node's state: Ready (posted after ``since[node]`` when given), NotReady or not registered."""
    nodes = {n.metadata.name: n for n in core.list_node().items}
    state = {}
    for host in node_hosts(inv):
        node = nodes.get(host.name)
        if node is None:
            state[host.name] = "not registered"
            continue
        ready, why = _fresh_ready(node, since.get(host.name))
        state[host.name] = "Ready" if ready else f"NotReady: {why}"
    return state


def check_master_taints(inv) -> dict[str, bool]:
    """Whether each master carries the control-plane NoSchedule taint (no side effects)."""
    from kubernetes import client  # noqa: PLC0415

    core = client.CoreV1Api(api_client(inv))
    return {
        h.name: any(t.key == CONTROL_PLANE_ROLE and t.effect == "NoSchedule"
                    for t in core.read_node(h.name).spec.taints or [])
        for h in inv.hosts_with("master")
    }


def started_kubelets(report: Report | None) -> dict[str, float]:
    """Node name to the host time just before its kubelet (re)started, from :func:`ensure_kubelet`'s report."""
    if report is None:
        return {}
    return {name: r.data["started_at"] for name, r in report.results.items()
            if isinstance(r.data, dict) and "started_at" in r.data}


def _fresh_ready(node, since: float | None) -> tuple[bool, str]:
    """Ready, and (when ``since`` is given) posted by a kubelet that started after ``since``.

    After a restart the API server still holds the Ready condition the old kubelet posted:
    it stays ``True`` until the node monitor's grace period runs out, so reading it says
    nothing about the new kubelet. A kubelet posts its node status when it starts; the
    condition's heartbeat (whole seconds) at or after ``since`` is that post.
    """
    ready, why = _ready_condition(node)
    if not ready or since is None:
        return ready, why
    beat = next((c.last_heartbeat_time for c in node.status.conditions or [] if c.type == "Ready"), None)
    if beat is None or beat.timestamp() < int(since):
        seen = f"{beat:%H:%M:%S}" if beat else "none"
        return False, f"Ready posted before the kubelet restarted (last heartbeat {seen})"
    return True, "Ready"


def wait_nodes_ready(inv, timeout: float = 240.0, restarted: Report | None = None) -> Report:
    """Wait until every node reports Ready; one report row per node with how long it took.

    Args:
        inv: the inventory.
        timeout: the deadline for all nodes together.
        restarted: :func:`ensure_kubelet`'s report of this run; a node whose kubelet it
            (re)started counts only once the new kubelet has posted its status.
    """
    from kubernetes import client  # noqa: PLC0415

    core = client.CoreV1Api(api_client(inv))
    since = started_kubelets(restarted)
    start = time.monotonic()
    first_ready: dict[str, float] = {}

    def probe() -> dict[str, str]:
        state = _node_states(core, inv, since)
        for name, status in state.items():
            if status == "Ready" and name not in first_ready:
                first_ready[name] = time.monotonic() - start
        return state

    try:
        state = poll_until(probe, lambda st: all(s == "Ready" for s in st.values()), what="every node Ready",
                           where=inv.cluster.name, timeout=timeout, interval=2.0).value
    except WaitTimeout:
        state = probe()
    results = {}
    for name, status in state.items():
        if status == "Ready":
            took = first_ready[name]
            results[name] = Result(name, "ok", "Ready" if took < 1 else f"Ready after {took:.0f}s", took)
        else:
            err = WaitTimeout(name, "node Ready", time.monotonic() - start, status)
            results[name] = Result(name, "failed", str(err), time.monotonic() - start, error=err)
    return Report("nodes Ready", results).raise_for_failures()


def node_table(inv) -> Table:
    """A table of the nodes: name, roles, kubelet version, runtime, pod CIDR, internal IP, status."""
    from kubernetes import client  # noqa: PLC0415

    rows = []
    for node in client.CoreV1Api(api_client(inv)).list_node().items:
        labels = node.metadata.labels or {}
        roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/"))
        ip = next((a.address for a in node.status.addresses or [] if a.type == "InternalIP"), "")
        ready, _ = _ready_condition(node)
        taints = ", ".join(f"{t.key.rsplit('/', 1)[-1]}:{t.effect}" for t in node.spec.taints or []) or "-"
        rows.append([node.metadata.name, ",".join(roles) or "-", node.status.node_info.kubelet_version,
                     node.status.node_info.container_runtime_version, node.spec.pod_cidr or "-", ip,
                     taints, "Ready" if ready else "NotReady"])
    return Table(["name", "roles", "version", "runtime", "pod CIDR", "internal IP", "taints", "status"],
                 rows, "Nodes")


def verify_nodes(inv) -> Verdict:
    """Every inventory node is registered and Ready, and every master carries its NoSchedule taint.

    Returns:
        A :class:`~helpers.verdict.Verdict` over :func:`node_table`'s rows; one problem
        per node that is missing, not Ready (with the kubelet's reason) or an untainted master.
    """
    table = node_table(inv)
    problems = [f"node {name} is {state}" for name, state in check_nodes_ready(inv).items() if state != "Ready"]
    problems += [f"master {name} lacks the {CONTROL_PLANE_ROLE}:NoSchedule taint (pods could land on it)"
                 for name, tainted in check_master_taints(inv).items() if not tainted]
    return Verdict(table.title, table.columns, table.rows, problems)


def verify_cis(fleet) -> Verdict:
    """The kubelet on every node against the CIS Benchmark (see :mod:`helpers.kubelet.hardening`)."""
    from helpers.kubelet.hardening import verify_node_cis  # noqa: PLC0415

    return verify_node_cis(fleet)
