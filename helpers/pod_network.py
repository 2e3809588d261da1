"""Probe workloads and outside-in checks of the pod network, Services and cluster DNS.

The probes live in their own namespace (:data:`NAMESPACE`) and are applied with
server-side apply, so they stay in place between runs and a re-run changes nothing:

- one ``agnhost netexec`` pod per worker (an HTTP server that answers ``/hostname``
  with its pod name), pinned to that worker;
- a ``netexec`` Service of type NodePort in front of them;
- one ``busybox`` client pod on the first worker, to run ``wget`` and ``nslookup``
  from inside the pod network (through the exec API, as ``kubectl exec`` does).

The ``check_*`` functions only read and ask: they change nothing in the cluster.
"""

from __future__ import annotations

from helpers.kube import api_client, parse_nslookup, pod_exec  # also pod_network.parse_nslookup
from helpers.report import Report, Result
from helpers.verdict import Verdict
from helpers.waiting import WaitTimeout, settle

NAMESPACE = "kj-verify"
SERVICE = "netexec"
HTTP_PORT = 8080


def workers(inv) -> list:
    """The worker hosts (the probe pods run there; masters are tainted)."""
    return inv.hosts_with("worker")


def netexec_pod(worker: str) -> str:
    """Name of the netexec probe pod pinned to ``worker``."""
    return f"netexec-{worker}"


def manifests(inv) -> list[dict]:
    """The probe objects: namespace, netexec pods (one per worker), NodePort Service, client pod."""
    from helpers.artifacts import bundle_image as image_ref  # noqa: PLC0415

    policy = "Never" if inv.sources.images == "bundle" else "IfNotPresent"
    labels = {"app.kubernetes.io/managed-by": "kubernetes-journey"}
    security = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    docs: list[dict] = [{"apiVersion": "v1", "kind": "Namespace",
                         "metadata": {"name": NAMESPACE, "labels": labels}}]
    for host in workers(inv):
        docs.append({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": netexec_pod(host.name), "namespace": NAMESPACE,
                         "labels": {**labels, "app": "netexec"}},
            "spec": {
                "nodeSelector": {"kubernetes.io/hostname": host.name},
                "terminationGracePeriodSeconds": 2,
                "containers": [{
                    "name": "netexec", "image": image_ref("agnhost"), "imagePullPolicy": policy,
                    "args": ["netexec", f"--http-port={HTTP_PORT}"],
                    "ports": [{"containerPort": HTTP_PORT, "name": "http"}],
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": HTTP_PORT}},
                    "securityContext": security,
                }],
            },
        })
    docs.append({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": SERVICE, "namespace": NAMESPACE, "labels": labels},
        "spec": {"type": "NodePort", "selector": {"app": "netexec"},
                 "ports": [{"name": "http", "port": HTTP_PORT, "targetPort": HTTP_PORT}]},
    })
    docs.append({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "client", "namespace": NAMESPACE, "labels": {**labels, "app": "client"}},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": workers(inv)[0].name},
            "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "client", "image": image_ref("busybox"), "imagePullPolicy": policy,
                "command": ["sleep", "2147483647"], "securityContext": security,
            }],
        },
    })
    return docs


def ensure_probe_workloads(inv, timeout: float = 180.0) -> Report:
    """Apply the probe objects and wait until every probe pod is Ready.

    Returns:
        The apply report (one row per object), after the pods became Ready.

    Raises:
        StepFailed: an object could not be applied or a pod was not Ready in time
            (the row names the pod, its node and its state).
    """
    from kubernetes import client  # noqa: PLC0415

    from helpers.kube_apply import apply_objects  # noqa: PLC0415

    api = api_client(inv)
    report = apply_objects(api, manifests(inv), "probe workloads")
    core = client.CoreV1Api(api)
    expected = {p["metadata"]["name"] for p in manifests(inv) if p["kind"] == "Pod"}

    def waiting() -> dict[str, str]:
        pods = {p.metadata.name: p for p in core.list_namespaced_pod(NAMESPACE).items}
        state = {}
        for name in sorted(expected):
            pod = pods.get(name)
            if pod is None:
                state[name] = "not created yet"
            elif pod.metadata.deletion_timestamp:
                state[name] = "terminating (an older pod of that name)"
            elif _pod_state(pod) != "Ready":
                state[name] = _pod_state(pod)
        return state

    left = settle(waiting, lambda st: not st, within=timeout, interval=2.0).value
    for name, state in left.items():
        key = f"Pod/{NAMESPACE}/{name}"
        err = WaitTimeout(key, "probe pod Ready", timeout, state)
        report.results[key] = Result(key, "failed", str(err), error=err)
    return report.raise_for_failures()


def _pod_state(pod) -> str:
    from helpers.kube_wait import pod_ready  # noqa: PLC0415

    if pod_ready(pod):
        return "Ready"
    reasons = [s.state.waiting.reason for s in pod.status.container_statuses or []
               if s.state and s.state.waiting]
    return f"{pod.status.phase} on {pod.spec.node_name or '(unscheduled)'}" + (
        f" ({', '.join(r for r in reasons if r)})" if any(reasons) else "")


def probe_exec(inv, pod: str, command: list[str], timeout: float = 30.0) -> tuple[int, str]:
    """Run ``command`` in the probe pod ``pod`` (namespace :data:`NAMESPACE`); ``(exit code, output)``.

    :func:`helpers.kube.pod_exec` with the admin client: the code is the exec'd process's
    own, from the exec protocol's status channel; the output (stdout and stderr) is stripped.
    An exec the kubelet refuses (the pod's sandbox is being re-created, say after a
    runtime change: "pod does not exist") is an answer too, code 1, so the checks that
    ask again treat it like any other failed attempt.
    """
    from kubernetes.client.exceptions import ApiException  # noqa: PLC0415

    try:
        code, out = pod_exec(api_client(inv), NAMESPACE, pod, command, timeout=timeout)
    except ApiException as err:
        return 1, f"exec into {pod} refused: {err.status} {str(err.reason)[-200:]}".strip()
    return code, out.strip()


def http_get_from_client(inv, address: str, path: str = "/hostname") -> tuple[int, str]:
    """HTTP GET ``http://<address>:8080<path>`` from the client pod with busybox ``nc``; body or error.

    ``nc`` speaks to an IP address directly (no name lookup), which is what a
    pod-to-pod check by pod IP needs.
    """
    request = f"GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n"
    # the code is the shell's, i.e. nc's (the pipeline's last command), as with any ``sh -c``
    code, out = probe_exec(inv, "client", ["sh", "-c", f"printf '{request}' | nc -w 5 {address} {HTTP_PORT}"])
    head, sep, body = out.replace("\r\n", "\n").partition("\n\n")
    if code != 0 or not sep or " 200 " not in head.splitlines()[0]:
        return code or 1, out
    return 0, body.strip()


def probe_pods(inv) -> dict[str, dict]:
    """The netexec probe pods: pod name to ``{"node": ..., "ip": ...}`` (read-only)."""
    from kubernetes import client  # noqa: PLC0415

    pods = client.CoreV1Api(api_client(inv)).list_namespaced_pod(NAMESPACE, label_selector="app=netexec").items
    return {p.metadata.name: {"node": p.spec.node_name, "ip": p.status.pod_ip} for p in pods}


def all_answered(answers: dict[str, str]) -> bool:
    """No answer of a check is an ``error: ...``."""
    return bool(answers) and not any(a.startswith("error") for a in answers.values())


def check_pod_to_pod(inv, within: float = 30.0) -> dict[str, str]:
    """From the client pod, fetch ``/hostname`` from every netexec pod by pod IP.

    Asks again (for up to ``within`` seconds) while a pod does not answer: right after
    flanneld restarted, a route may take a moment to come back.

    Returns:
        ``"<pod> on <node> (<ip>)"`` to the answer (the pod's own name when it worked)
        or ``"error: ..."``. Pods on other workers than the client's are reached across
        the VXLAN overlay.
    """
    def ask() -> dict[str, str]:
        answers = {}
        for name, pod in sorted(probe_pods(inv).items()):
            code, out = http_get_from_client(inv, pod["ip"])
            answers[f"{name} on {pod['node']} ({pod['ip']})"] = out if code == 0 else f"error: exit {code}: {out}"
        return answers

    return settle(ask, all_answered, within=within).value


def check_dns(inv, within: float = 30.0) -> dict[str, str]:
    """Resolve names from the client pod through CoreDNS.

    Checks ``kubernetes.default`` and the probe Service by full name (``nslookup`` in the
    client pod), then the Service by its *short* name through a pod's search path: the
    netexec pod on the first worker is asked (through the API server's pod proxy) to
    dial ``http://netexec.kj-verify:8080/hostname`` and report who answered.

    Asks again (for up to ``within`` seconds) while a name does not resolve: CoreDNS
    may still be rolling out its new pods after a configuration change.

    Returns:
        Query to the address or answer it got, or ``"error: ..."``.
    """
    from helpers.k8s_pki import cluster_domain  # noqa: PLC0415

    domain = cluster_domain(inv)

    def ask() -> dict[str, str]:
        results = {}
        for name in (f"kubernetes.default.svc.{domain}", f"{SERVICE}.{NAMESPACE}.svc.{domain}"):
            code, out = probe_exec(inv, "client", ["nslookup", name])
            addresses = parse_nslookup(out)
            results[f"nslookup {name}"] = ", ".join(addresses) if code == 0 and addresses else f"error: {out}"
        results[f"dial http://{SERVICE}.{NAMESPACE}:{HTTP_PORT} from a pod"] = dial_from_pod(
            inv, netexec_pod(workers(inv)[0].name), f"{SERVICE}.{NAMESPACE}")
        return results

    return settle(ask, all_answered, within=within).value


def dial_from_pod(inv, pod: str, host: str) -> str:
    """Ask netexec in ``pod`` to GET ``http://<host>:8080/hostname``; return who answered or an error.

    The request reaches ``pod`` through the API server's pod proxy; netexec then resolves
    ``host`` itself (the pod's resolv.conf and search path) and dials it.
    """
    import json  # noqa: PLC0415
    from urllib.parse import urlencode  # noqa: PLC0415

    api = api_client(inv)
    query = [("request", "hostname"), ("protocol", "http"), ("host", host), ("port", str(HTTP_PORT)),
             ("tries", "1")]
    url = (f"{api.configuration.host}/api/v1/namespaces/{NAMESPACE}/pods/{pod}:{HTTP_PORT}"
           f"/proxy/dial?{urlencode(query)}")
    try:
        resp = api.call_api("GET", url, header_params={"Accept": "application/json"}, _request_timeout=30)
        resp.read()
        answer = json.loads(resp.data)
    except Exception as err:  # noqa: BLE001 - reported as the answer
        return f"error: {err}"
    responses = answer.get("responses") or []
    return responses[0] if responses else f"error: {answer.get('errors') or answer}"


def nodeport(inv) -> int:
    """The NodePort the API server allocated to the probe Service (read-only)."""
    from kubernetes import client  # noqa: PLC0415

    svc = client.CoreV1Api(api_client(inv)).read_namespaced_service(SERVICE, NAMESPACE)
    return svc.spec.ports[0].node_port


def check_logs(inv) -> dict[str, str]:
    """The last log line of every netexec pod, read through the API server (kubelet API)."""
    from kubernetes import client  # noqa: PLC0415

    core = client.CoreV1Api(api_client(inv))
    logs = {}
    for name in sorted(probe_pods(inv)):
        try:
            text = core.read_namespaced_pod_log(name, NAMESPACE, tail_lines=1)
            logs[name] = text.strip() or "error: empty log"
        except Exception as err:  # noqa: BLE001 - reported per pod
            logs[name] = f"error: {err}"
    return logs


def network_figure(inv):
    """Draw the pod network from live data: nodes, their pod CIDRs, the probe pods, the overlay.

    Each node is a box with its name, address and pod CIDR (``node.spec.podCIDR``) and
    the probe pods it runs with their IPs; underneath, the node network they share;
    above, the VXLAN overlay (``flannel.1``) that carries pod traffic between them.
    """
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from kubernetes import client  # noqa: PLC0415
    from matplotlib.patches import FancyBboxPatch  # noqa: PLC0415

    from helpers.constants import FLANNEL_PUBLIC_IP_ANNOTATION as PUBLIC_IP_ANNOTATION  # noqa: PLC0415
    from helpers.constants import FLANNEL_VNI as VNI  # noqa: PLC0415
    from helpers.constants import FLANNEL_VXLAN_PORT as VXLAN_PORT  # noqa: PLC0415

    core = client.CoreV1Api(api_client(inv))
    nodes = sorted(core.list_node().items, key=lambda n: n.metadata.name)
    pods = [p for p in core.list_pod_for_all_namespaces().items
            if p.status.pod_ip and not p.spec.host_network and p.status.phase == "Running"]
    width = 2.6
    fig, ax = plt.subplots(figsize=(max(8.0, 2.9 * len(nodes)), 5.2))
    for i, node in enumerate(nodes):
        x = i * (width + 0.4)
        role = "master" if "node-role.kubernetes.io/control-plane" in (node.metadata.labels or {}) else "worker"
        colour = "#e3f2fd" if role == "worker" else "#f3e5f5"
        ax.add_patch(FancyBboxPatch((x, 0.9), width, 2.6, boxstyle="round,pad=0.05", fc=colour, ec="#555"))
        ip = next((a.address for a in node.status.addresses or [] if a.type == "InternalIP"), "?")
        vtep = (node.metadata.annotations or {}).get(PUBLIC_IP_ANNOTATION, "no VTEP yet")
        ax.text(x + width / 2, 3.25, node.metadata.name, ha="center", weight="bold", fontsize=9)
        ax.text(x + width / 2, 2.98, f"{role} · {ip}", ha="center", fontsize=8)
        ax.text(x + width / 2, 2.71, f"pods {node.spec.pod_cidr or '-'}", ha="center", fontsize=8, color="#1565c0")
        mine = [p for p in pods if p.spec.node_name == node.metadata.name]
        for j, pod in enumerate(mine[:6]):
            label = f"{pod.metadata.name[:20]} {pod.status.pod_ip}"
            ax.text(x + 0.1, 2.4 - j * 0.24, "● " + label, fontsize=6.5, family="monospace")
        if len(mine) > 6:
            ax.text(x + 0.1, 2.4 - 6 * 0.24, f"  … {len(mine) - 6} more", fontsize=6.5)
        ax.plot([x + width / 2, x + width / 2], [3.55, 4.1], color="#ef6c00", lw=1.5)
        ax.text(x + width / 2 + 0.05, 3.7, f"flannel.1 → {vtep}", fontsize=6.5, color="#ef6c00")
        ax.plot([x + width / 2, x + width / 2], [0.85, 0.45], color="#555", lw=1.5)
    right = len(nodes) * (width + 0.4) - 0.4
    ax.plot([0, right], [4.1, 4.1], color="#ef6c00", lw=4, solid_capstyle="round")
    ax.text(0, 4.25, f"VXLAN overlay (VNI {VNI}, UDP {VXLAN_PORT}): pod network {inv.network.pod_cidr}",
            fontsize=9, color="#ef6c00")
    ax.plot([0, right], [0.45, 0.45], color="#555", lw=4, solid_capstyle="round")
    ax.text(0, 0.15, f"node network {inv.network.node_subnet} (VXLAN packets travel here)", fontsize=9)
    ax.set_xlim(-0.3, right + 0.3)
    ax.set_ylim(0, 4.6)
    ax.axis("off")
    ax.set_title("The pod network: one pod CIDR per node, joined by the VXLAN overlay")
    fig.tight_layout()
    return fig


def verify_pod_to_pod(inv, within: float = 30.0) -> Verdict:
    """The client pod reaches every netexec probe pod by pod IP, across the overlay.

    Returns:
        A :class:`~helpers.verdict.Verdict`: target and answer per probe pod; problems for
        a worker without its probe pod and for every probe that did not answer its own name.
    """
    answers = check_pod_to_pod(inv, within=within)
    problems = []
    if len(answers) != len(workers(inv)):
        problems.append(f"expected one netexec pod per worker ({len(workers(inv))}), found {list(answers)}")
    problems += [f"{target}: {answer}" for target, answer in answers.items() if answer != target.split(" ", 1)[0]]
    return Verdict("client pod -> netexec pods (by pod IP)", ["target", "answer"], answers.items(), problems)


def verify_dns(inv, within: float = 30.0) -> Verdict:
    """Cluster DNS answers: ``kubernetes.default`` is the service range's first address, the probe Service resolves.

    Returns:
        A :class:`~helpers.verdict.Verdict`: query and answer; problems for every name not
        resolved and for a wrong ``kubernetes.default`` address.
    """
    answers = check_dns(inv, within=within)
    problems = [f"{query}: {answer}" for query, answer in answers.items() if answer.startswith("error")]
    kubernetes_ip = str(inv.network.service_cidr.network_address + 1)
    first_query, first = next(iter(answers.items()))
    if not first.startswith("error") and first != kubernetes_ip:
        problems.append(f"{first_query} answered {first}, expected {kubernetes_ip} (the kubernetes Service)")
    return Verdict("resolved through CoreDNS", ["query", "answer"], answers.items(), problems)
