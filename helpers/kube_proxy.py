"""kube-proxy: Service virtual IPs and NodePorts, as iptables rules on every node.

A Service's ClusterIP is not an address any machine owns: kube-proxy watches Services
and their EndpointSlices and writes NAT rules so that a packet sent to
``ClusterIP:port`` (or to ``<any node>:NodePort``) is rewritten to one ready pod's
address. It runs on every node as a systemd service (it needs the host's iptables) with
its own client certificate (``CN=system:kube-proxy``, which the built-in
``system:node-proxier`` role already binds).

``conntrack.maxPerCore`` is decided from a fact: by default kube-proxy raises the
kernel's connection-tracking table to 32768 entries per core, writing
``/sys/module/nf_conntrack/parameters/hashsize``. Where ``/sys`` is read-only (a
container, such as a lab machine) that write fails and kube-proxy exits, so there the
setting is ``0`` ("leave the kernel's value alone"); on a real host the default stays,
because a busy node does need the larger table.
"""

from __future__ import annotations

from helpers.ensure import render_template
from helpers.node_facts import NodeFacts, gather_node_facts
from helpers.node_pki import KUBE_PROXY_USER, node_hosts
from helpers.remote import Change
from helpers.report import Report
from helpers.verdict import Verdict

BINARY = "/usr/local/bin/kube-proxy"
PROXY_DIR = "/var/lib/kube-proxy"
CONFIG_FILE = f"{PROXY_DIR}/config.yaml"
KUBECONFIG = f"{PROXY_DIR}/kubeconfig"
UNIT = "/etc/systemd/system/kube-proxy.service"


def conntrack_setting(facts: NodeFacts) -> tuple[int | None, str]:
    """``(maxPerCore, reason)``: 0 where sysfs is read-only, else None (kube-proxy's default)."""
    if facts.sysfs_writable:
        return None, "sysfs writable: kube-proxy sizes the conntrack table itself"
    return 0, "/sys is read-only here: leave the kernel's conntrack table size alone"


def render_config(node_name: str, cluster_cidr: str, facts: NodeFacts) -> str:
    """Render the KubeProxyConfiguration for one node."""
    per_core, reason = conntrack_setting(facts)
    return render_template("kube-proxy/kube-proxy-config.yaml.j2", {
        "kubeconfig": KUBECONFIG, "cluster_cidr": cluster_cidr, "node_name": node_name,
        "conntrack_max_per_core": per_core, "conntrack_reason": reason,
    })


def render_unit() -> str:
    """Render kube-proxy's systemd unit."""
    return render_template("kube-proxy/kube-proxy.service.j2", {"binary": BINARY, "config_file": CONFIG_FILE})


def ensure_kube_proxy(fleet) -> Report:
    """Install, configure and start kube-proxy (iptables mode) on every node.

    Restarts it only when its binary, kubeconfig, configuration or unit changed.
    """
    from helpers import artifacts  # noqa: PLC0415
    from helpers.ensure import (  # noqa: PLC0415
        ensure_binary,
        ensure_directory,
        ensure_file,
        ensure_unit_current,
        probe_paths,
    )
    from helpers.node_pki import node_kubeconfig  # noqa: PLC0415

    inv = fleet.inventory
    binary = artifacts.fetch(inv, "kube-proxy")
    kubeconfig = node_kubeconfig(inv, KUBE_PROXY_USER, "kube-proxy")

    def apply(h) -> Change:
        facts = gather_node_facts(h)
        probe_paths(h, (PROXY_DIR, BINARY, KUBECONFIG, CONFIG_FILE, UNIT))
        changes = [
            ensure_directory(h, PROXY_DIR, mode=0o700),
            ensure_binary(h, BINARY, binary),
            ensure_file(h, KUBECONFIG, kubeconfig, mode=0o600),
            ensure_file(h, CONFIG_FILE, render_config(h.name, str(inv.network.pod_cidr), facts)),
            ensure_file(h, UNIT, render_unit()),
        ]
        inputs = Change.merge(*changes)
        merged = Change.merge(inputs, ensure_unit_current(h, "kube-proxy", (BINARY, KUBECONFIG, CONFIG_FILE, UNIT)))
        per_core, _ = conntrack_setting(facts)
        mode = "iptables" + (", conntrack.maxPerCore 0" if per_core == 0 else "")
        return Change(merged.changed, merged.detail or f"up to date ({mode})")

    return fleet.step("kube-proxy", apply, hosts=[h.name for h in node_hosts(inv)],
                      skip="not a Kubernetes node (no master or worker role)")


def check_nodeport(inv, port: int, path: str = "/hostname", timeout: float = 5.0,
                   within: float = 30.0) -> dict[str, str]:
    """GET ``http://<node>:<port><path>`` on every node from the operator's machine.

    No side effects. Asks again (for up to ``within`` seconds) while a node does not
    answer: a kube-proxy that just restarted needs a moment to write its rules.
    Returns node name to the answer body, or ``"error: ..."``.
    """
    import requests  # noqa: PLC0415

    from helpers.waiting import settle  # noqa: PLC0415

    session = requests.Session()
    session.trust_env = False  # straight to the node, never through a proxy from the environment

    def ask() -> dict[str, str]:
        answers = {}
        for host in node_hosts(inv):
            try:
                resp = session.get(f"http://{host.address}:{port}{path}", timeout=timeout)
                answers[host.name] = resp.text.strip() if resp.ok else f"error: HTTP {resp.status_code}"
            except requests.RequestException as err:
                answers[host.name] = f"error: {type(err).__name__}: {err}"
        return answers

    return settle(ask, lambda a: not any(v.startswith("error") for v in a.values()), within=within).value


def verify_nodeport(inv, port: int, answer_prefix: str, path: str = "/hostname") -> Verdict:
    """Every node forwards its NodePort ``port``: each answers with a body starting ``answer_prefix``.

    Returns:
        A :class:`~helpers.verdict.Verdict`: one row per node with its answer, one problem
        per node that did not answer as expected.
    """
    answers = check_nodeport(inv, port, path)
    problems = [f"NodePort {port} on {node} answered {answer!r}, not a {answer_prefix}* pod name"
                for node, answer in answers.items() if not answer.startswith(answer_prefix)]
    return Verdict(f"NodePort {port} from the operator's machine", ["node", f"GET :{port}{path}"],
                   answers.items(), problems)
