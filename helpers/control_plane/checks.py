"""Verifications (no side effects): readiness, Leases, anonymous access, HAProxy, etcd, restarts.

They look from the outside: through the VIP, each master's own address, the load
balancers' stats pages, or read-only commands on the masters.
"""

from __future__ import annotations

import requests

from helpers import k8s_pki
from helpers.constants import ADMIN_GROUP, API_PORT
from helpers.control_plane.layout import (
    BIN_DIR,
    COMPONENTS,
    PKI_DIR,
    PROBE_SECRET,
    api_endpoint,
    api_server_url,
    etcd_servers,
)
from helpers.kube import api_client
from helpers.pki import trust_file
from helpers.tables import Table
from helpers.verdict import Verdict
from helpers.waiting import settle

# ------------------------------------------------------------------ verification


def _admin_cert(inv) -> tuple[str, str, str]:
    kp = k8s_pki.pki_dir(inv.cluster_dir)
    return str(trust_file(kp)), str(kp / "admin.crt"), str(kp / "admin.key")


def check_readyz(inv, address: str | None = None, timeout: float = 10.0) -> tuple[int, str]:
    """GET ``/readyz?verbose`` as admin at ``address`` (default: the VIP); return (status, body)."""
    ca, cert, key = _admin_cert(inv)
    url = f"https://{address or api_endpoint(inv)}:{API_PORT}/readyz?verbose"
    try:
        r = requests.get(url, verify=ca, cert=(cert, key), timeout=timeout)
    except requests.RequestException as err:
        return 0, f"{url}: {err}"
    return r.status_code, r.text


def check_apiservers(inv) -> Table:
    """Each master's API server, asked on its own address: /readyz status and /version."""
    ca, cert, key = _admin_cert(inv)
    rows = []
    for host in inv.hosts_with("master"):
        base = f"https://{host.address}:{API_PORT}"
        try:
            ready = requests.get(f"{base}/readyz", verify=ca, cert=(cert, key), timeout=10)
            version = requests.get(f"{base}/version", verify=ca, cert=(cert, key), timeout=10).json()
            rows.append([host.name, str(host.address), ready.status_code, ready.text.strip(),
                         version.get("gitVersion", "?")])
        except (requests.RequestException, ValueError) as err:
            rows.append([host.name, str(host.address), 0, str(err)[:200], "-"])
    return Table(["master", "address", "status", "readyz", "version"], rows, "API servers, each on its own address")


def check_leases(inv, within: float = 60.0) -> Table:
    """Holder of the controller-manager and scheduler Leases (kube-system) and when renewed.

    Reads again (for up to ``within`` seconds) while a Lease does not exist yet or has no
    holder: right after the components (re)started, an election may be under way.
    A missing Lease shows as a row with holder ``""`` and renewed ``"missing"``.
    """
    from kubernetes import client  # noqa: PLC0415
    from kubernetes.client.exceptions import ApiException  # noqa: PLC0415

    coord = client.CoordinationV1Api(api_client(inv))

    def read() -> list[list]:
        rows = []
        for name in ("kube-controller-manager", "kube-scheduler"):
            try:
                spec = coord.read_namespaced_lease(name, "kube-system").spec
            except ApiException as err:
                if err.status != 404:
                    raise
                rows.append([name, "", None, "missing", None])
                continue
            rows.append([name, spec.holder_identity or "", spec.lease_duration_seconds,
                         str(spec.renew_time), spec.lease_transitions])
        return rows

    rows = settle(read, lambda rs: all(r[1] for r in rs), within=within, interval=1.0).value
    return Table(["lease", "holder", "duration (s)", "renewed", "transitions"], rows, "leader election")


def check_anonymous(inv) -> dict[str, int]:
    """HTTP status of requests WITHOUT credentials through the VIP: health vs. resources."""
    ca = _admin_cert(inv)[0]
    out = {}
    for path in ("/readyz", "/livez", "/api/v1/namespaces", "/version"):
        try:
            out[path] = requests.get(f"{api_server_url(inv)}{path}", verify=ca, timeout=10).status_code
        except requests.RequestException:
            out[path] = 0
    return out


def check_haproxy_backends(inv) -> Table:
    """Every load balancer's view of the API backend (its stats page CSV): one row per master.

    HAProxy marks a master ``UP`` only while its ``/readyz`` health check passes, so
    all rows ``UP`` means every API server is reachable and ready through every LB.
    """
    from helpers import loadbalancer  # noqa: PLC0415

    rows = []
    masters = {h.name for h in inv.hosts_with("master")}
    for lb in inv.hosts_with("lb"):
        try:
            status, stats = loadbalancer.check_stats(inv, lb)
        except requests.RequestException as err:
            status, stats = 0, []
            rows.append([lb.name, "-", f"stats page unreachable: {err}", "", ""])
            continue
        seen = {r["svname"]: r for r in stats if r.get("pxname") == "kube-apiserver"}
        for name in sorted(masters):
            r = seen.get(name)
            if r is None:
                rows.append([lb.name, name, f"not in backend (stats HTTP {status})", "", ""])
            else:
                rows.append([lb.name, name, r.get("status", ""), r.get("check_status", ""), r.get("stot", "")])
    return Table(["load balancer", "master", "status", "last check", "sessions"], rows,
                 "HAProxy backend kube-apiserver")


def check_secret_encrypted(fleet, namespace: str = PROBE_SECRET[0], name: str = PROBE_SECRET[1]) -> dict:
    """Read a Secret's raw value from etcd on the first master; return its first bytes.

    Uses ``etcdctl`` with the API server's etcd client certificate (already on every
    master), so the bytes are exactly what the API server stored.
    """
    import base64  # noqa: PLC0415
    import json  # noqa: PLC0415

    inv = fleet.inventory
    h = fleet.hosts("master")[0]
    key = f"/registry/secrets/{namespace}/{name}"
    cmd = (f"{BIN_DIR}/etcdctl --endpoints={','.join(etcd_servers(inv))} "
           f"--cacert={PKI_DIR}/etcd-ca.crt --cert={PKI_DIR}/apiserver-etcd-client.crt "
           f"--key={PKI_DIR}/apiserver-etcd-client.key get {key} -w json")
    res = h.run(cmd)
    kvs = json.loads(res.stdout).get("kvs") or []
    if not kvs:
        return {"host": h.name, "key": key, "found": False, "prefix": b""}
    value = base64.b64decode(kvs[0]["value"])
    return {"host": h.name, "key": key, "found": True, "prefix": value[:48], "length": len(value)}


def check_unit_timestamps(fleet) -> dict[str, dict[str, str]]:
    """``ActiveEnterTimestamp`` of each control-plane unit on each master (restart detector)."""
    out: dict[str, dict[str, str]] = {}

    def read(h):
        cmd = " ; ".join(f"systemctl show -p ActiveEnterTimestamp --value {c}" for c in COMPONENTS)
        stamps = h.run(cmd).stdout.splitlines()
        out[h.name] = dict(zip(COMPONENTS, (s.strip() for s in stamps), strict=False))
    fleet.step("read unit start times", read, hosts="master")
    return out


def timestamps_table(stamps: dict[str, dict[str, str]], before: dict | None = None) -> Table:
    """A table of unit start times; with ``before``, a column saying whether each is unchanged."""
    rows = []
    for host, units in sorted(stamps.items()):
        for unit, when in units.items():
            row = [host, unit, when or "(not started)"]
            if before is not None:
                was = before.get(host, {}).get(unit)
                row.append("unchanged" if was == when else ("started" if not was else "RESTARTED"))
            rows.append(row)
    cols = ["master", "unit", "active since"] + (["during this run"] if before is not None else [])
    return Table(cols, rows, "control-plane units")


def verify_admin_identities(inv) -> Verdict:
    """Who the two admin kubeconfigs are, as the API server sees them (SelfSubjectReview).

    ``admin`` must be in :data:`~helpers.constants.ADMIN_GROUP` and *not* in
    ``system:masters`` (so RBAC can revoke it), and may do anything through its binding;
    ``super-admin`` is ``system:masters``.
    """
    from kubernetes import client  # noqa: PLC0415

    rows, problems = [], []
    for name, super_admin in (("admin", False), ("super-admin", True)):
        api = api_client(inv, super_admin=super_admin)
        info = client.AuthenticationV1Api(api).create_self_subject_review(client.V1SelfSubjectReview()).status.user_info
        groups = sorted(info.groups or [])
        review = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=client.V1ResourceAttributes(verb="*", group="*", resource="*")))
        allowed = client.AuthorizationV1Api(api).create_self_subject_access_review(review).status.allowed
        rows.append([f"{name}.kubeconfig", info.username, ", ".join(groups), "yes" if allowed else "no"])
        if not allowed:
            problems.append(f"{name} may not do everything ({info.username} in {groups})")
        if super_admin and "system:masters" not in groups:
            problems.append(f"super-admin is not in system:masters ({groups})")
        if not super_admin and ("system:masters" in groups or ADMIN_GROUP not in groups):
            problems.append(f"admin should be in {ADMIN_GROUP} and not system:masters, is in {groups}")
    return Verdict("who the admin kubeconfigs are", ["kubeconfig", "user", "groups", "may do everything"],
                   rows, problems)


def verify_pod_security(inv, namespace: str = "default") -> Verdict:
    """Pod Security Admission enforces ``baseline`` by default: a privileged pod is refused, a plain one admitted.

    Both are server-side dry runs (nothing is created): the API server runs admission and
    answers as if it would create the pod.
    """
    from kubernetes import client  # noqa: PLC0415
    from kubernetes.client.rest import ApiException  # noqa: PLC0415

    core = client.CoreV1Api(api_client(inv))
    from helpers.releases import bundle_image  # noqa: PLC0415

    image = bundle_image("pause")
    cases = {
        "privileged container": ({"privileged": True}, False),
        "hostPath volume": (None, False),
        "plain container (baseline)": ({"allowPrivilegeEscalation": False}, True),
    }
    rows, problems = [], []
    for what, (security, should_pass) in cases.items():
        spec = {"containers": [{"name": "c", "image": image, **({"securityContext": security} if security else {})}]}
        if what == "hostPath volume":
            spec["volumes"] = [{"name": "h", "hostPath": {"path": "/etc"}}]
            spec["containers"][0]["volumeMounts"] = [{"name": "h", "mountPath": "/host-etc"}]
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "kj-psa-probe-"}, "spec": spec}
        try:
            core.create_namespaced_pod(namespace, body, dry_run="All")
            admitted, answer = True, "admitted (dry run)"
        except ApiException as err:
            admitted = False
            answer = f"{err.status}: " + (err.body or "").split('"message":"', 1)[-1].split('",', 1)[0][:160]
        rows.append([what, "admit" if should_pass else "refuse", answer])
        if admitted != should_pass:
            problems.append(f"{what} in {namespace}: expected {'admitted' if should_pass else 'refused'}, got {answer}")
    return Verdict(f"Pod Security Admission in namespace {namespace}", ["pod", "expected", "answer"], rows, problems)
