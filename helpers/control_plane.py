"""The Kubernetes control plane: kube-apiserver, kube-controller-manager, kube-scheduler.

Each master runs all three as systemd services. The API servers are stateless and all
active behind the load balancers' VIP; the controller manager and scheduler run on every
master but only the holder of their Lease works (leader election), the others wait.

Steps (``ensure_*``) probe first and change only what differs. A component is
restarted only when one of its inputs (binary, certificates, configs, unit) changed:
the digest of all its inputs is recorded on the host after a successful (re)start, so
an interrupted run is finished by the next one. Restarts of running components happen
one master at a time, each waiting until that component is healthy again, so the
cluster stays available while a change rolls out.

Verifications (``check_*``) have no side effects and look from the outside.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import requests
from cryptography import x509

from helpers import k8s_pki, pki
from helpers.constants import API_PORT
from helpers.errors import CommandFailed, ConfigError, HostError
from helpers.kube import admin_kubeconfig, api_client  # api_client: 04 calls cp.api_client
from helpers.kubeconfig import KubeconfigSpec, ensure_kubeconfig
from helpers.remote import Change, render_template
from helpers.report import OPERATOR, Report, Result
from helpers.tables import Table
from helpers.waiting import WaitTimeout, poll_until, settle

KUBE_DIR = "/etc/kubernetes"
PKI_DIR = f"{KUBE_DIR}/pki"
CONFIG_DIR = f"{KUBE_DIR}/config"
BIN_DIR = "/usr/local/bin"
COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
#: where each component answers its health check on its master (loopback)
HEALTH_URLS = {
    "kube-apiserver": f"https://127.0.0.1:{API_PORT}/readyz",
    "kube-controller-manager": "https://127.0.0.1:10257/healthz",
    "kube-scheduler": "https://127.0.0.1:10259/healthz",
}
#: AuthenticationConfiguration API (structured authentication; GA since Kubernetes 1.34)
AUTHENTICATION_API_VERSION = "apiserver.config.k8s.io/v1"
TEMPLATES = "control-plane"


# ------------------------------------------------------------------ names and locations


def kubeconfig_dir(inv) -> Path:
    """Directory of the generated kubeconfigs in the cluster directory."""
    return Path(inv.cluster_dir) / "kubeconfigs"


def admin_kubeconfig_path(inv) -> Path:
    """The cluster-admin kubeconfig (points at the VIP, 0600): :func:`helpers.kube.admin_kubeconfig`."""
    return admin_kubeconfig(inv)


def api_endpoint(inv) -> str:
    """The address clients use: the VIP when there is one, else the first master."""
    vip = inv.network.vip
    return str(vip) if vip is not None else str(inv.hosts_with("master")[0].address)


def api_server_url(inv) -> str:
    """``https://<VIP>:6443``: the cluster's API through the load balancers."""
    return f"https://{api_endpoint(inv)}:{API_PORT}"


def etcd_servers(inv) -> list[str]:
    """Client URLs of every etcd member (the API server balances across them)."""
    return [f"https://{h.address}:2379" for h in inv.hosts_with("etcd")]


def etcd_pki_dir(inv) -> Path:
    """The etcd PKI of notebook 03 (its CA signs the API server's etcd client certificate)."""
    return Path(inv.cluster_dir) / "pki" / "etcd"


ETCD_CLIENT = "apiserver-etcd-client"  # issued by notebook 03 (helpers.etcd.APISERVER_CLIENT)


# ------------------------------------------------------------------ rendering (pure)


def unit_context(inv, host) -> dict:
    """The values the control-plane templates need for one master."""
    return {
        "advertise_address": str(host.address),
        "etcd_servers": etcd_servers(inv),
        "service_cidr": str(inv.network.service_cidr),
        "pod_cidr": str(inv.network.pod_cidr),
        "cluster_name": inv.cluster.name,
        "service_account_issuer": k8s_pki.service_account_issuer(inv),
        "pki_dir": PKI_DIR,
        "config_dir": CONFIG_DIR,
        "kube_dir": KUBE_DIR,
        "authentication_api_version": AUTHENTICATION_API_VERSION,
        "anonymous_paths": k8s_pki.ANONYMOUS_HEALTH_PATHS,
    }


def render(name: str, inv, host) -> str:
    """Render ``helpers/templates/control-plane/<name>.j2`` for ``host``."""
    return render_template(f"{TEMPLATES}/{name}.j2", unit_context(inv, host))


def unit_flags(unit_text: str) -> dict[str, str]:
    """Parse the ``--flag=value`` arguments of a rendered unit's ExecStart (for tests and prose)."""
    flags = {}
    for line in unit_text.splitlines():
        line = line.strip().rstrip("\\").strip()
        if line.startswith("--"):
            key, _, value = line[2:].partition("=")
            flags[key] = value
    return flags


@dataclass(frozen=True)
class RemoteFile:
    """A file a component needs on a master: path, content and mode."""

    path: str
    content: bytes
    mode: int = 0o644


def _read(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"failed to read {what}: {path} does not exist (run the earlier steps)") from None


def component_files(inv, host, component: str) -> list[RemoteFile]:
    """Every file (except the binary) ``component`` needs on ``host``, read from the cluster dir."""
    kp = k8s_pki.pki_dir(inv.cluster_dir)
    kc = kubeconfig_dir(inv)

    def pem(name: str, key: bool = False) -> RemoteFile:
        suffix = "key" if key else "crt"
        return RemoteFile(f"{PKI_DIR}/{name}.{suffix}", _read(kp / f"{name}.{suffix}", f"{name}.{suffix}"),
                          0o600 if key else 0o644)

    unit = RemoteFile(f"/etc/systemd/system/{component}.service", render(f"{component}.service", inv, host).encode())
    if component == "kube-apiserver":
        ep = etcd_pki_dir(inv)
        return [
            pem("ca"), pem("apiserver"), pem("apiserver", key=True),
            pem("apiserver-kubelet-client"), pem("apiserver-kubelet-client", key=True),
            pem("front-proxy-ca"), pem("front-proxy-client"), pem("front-proxy-client", key=True),
            RemoteFile(f"{PKI_DIR}/sa.key", _read(kp / "sa.key", "service-account key"), 0o600),
            RemoteFile(f"{PKI_DIR}/sa.pub", _read(kp / "sa.pub", "service-account public key")),
            RemoteFile(f"{PKI_DIR}/etcd-ca.crt", _read(ep / "ca.crt", "etcd CA (notebook 03)")),
            RemoteFile(f"{PKI_DIR}/apiserver-etcd-client.crt",
                       _read(ep / f"{ETCD_CLIENT}.crt", "API server etcd client cert (notebook 03)")),
            RemoteFile(f"{PKI_DIR}/apiserver-etcd-client.key",
                       _read(ep / f"{ETCD_CLIENT}.key", "API server etcd client key (notebook 03)"), 0o600),
            RemoteFile(f"{CONFIG_DIR}/encryption-config.yaml",
                       _read(k8s_pki.encryption_config_path(inv.cluster_dir), "encryption config"), 0o600),
            RemoteFile(f"{CONFIG_DIR}/authentication-config.yaml",
                       render("authentication-config.yaml", inv, host).encode()),
            unit,
        ]
    if component == "kube-controller-manager":
        return [
            pem("ca"), pem("ca", key=True),
            RemoteFile(f"{PKI_DIR}/sa.key", _read(kp / "sa.key", "service-account key"), 0o600),
            RemoteFile(f"{KUBE_DIR}/controller-manager.kubeconfig",
                       _read(kc / "controller-manager.kubeconfig", "controller-manager kubeconfig"), 0o600),
            unit,
        ]
    if component == "kube-scheduler":
        return [
            RemoteFile(f"{KUBE_DIR}/scheduler.kubeconfig",
                       _read(kc / "scheduler.kubeconfig", "scheduler kubeconfig"), 0o600),
            RemoteFile(f"{CONFIG_DIR}/kube-scheduler.yaml", render("kube-scheduler.yaml", inv, host).encode()),
            unit,
        ]
    raise ValueError(f"unknown control-plane component {component!r}")


# ------------------------------------------------------------------ local steps


def _local_step(title: str, fn) -> Report:
    """Run ``fn() -> (changed, detail, data)`` on the operator's machine as a one-row Report."""
    start = time.monotonic()
    try:
        changed, detail, data = fn()
        result = Result(OPERATOR, "changed" if changed else "ok", detail,
                        time.monotonic() - start, data)
    except Exception as err:  # noqa: BLE001 - reported and raised below
        result = Result(OPERATOR, "failed", str(err), time.monotonic() - start, error=err)
    report = Report(title, {OPERATOR: result})
    report.raise_for_failures()
    return report


def ensure_kubernetes_pki(inv) -> Report:
    """Create (once) the Kubernetes CAs, certificates and service-account key pair.

    ``report.data()["operator"]`` is the certificate table.
    """
    def run():
        table, changed = k8s_pki.ensure_kubernetes_pki(inv)
        actions = table.column("action")
        issued = sum(1 for a in actions if a not in ("reused", "-"))
        return changed, f"{len(actions)} items, {issued} written", table
    return _local_step("Kubernetes PKI", run)


def ensure_encryption_config(inv) -> Report:
    """Generate the encryption-at-rest key and EncryptionConfiguration once (never rotated)."""
    def run():
        path, changed = k8s_pki.ensure_encryption_config(inv.cluster_dir)
        return changed, ("generated " if changed else "kept ") + str(path), path
    return _local_step("encryption-at-rest config", run)


def kubeconfig_specs(inv) -> dict[str, KubeconfigSpec]:
    """The kubeconfigs of 04: admin (via the VIP), controller-manager and scheduler (via 127.0.0.1)."""
    kp = k8s_pki.pki_dir(inv.cluster_dir)
    ca = _read(kp / "ca.crt", "Kubernetes CA")
    local = f"https://127.0.0.1:{API_PORT}"
    plan = {
        "admin": ("admin", "admin", api_server_url(inv)),
        "controller-manager": ("kube-controller-manager", "system:kube-controller-manager", local),
        "scheduler": ("kube-scheduler", "system:kube-scheduler", local),
    }
    return {
        name: KubeconfigSpec(inv.cluster.name, server, user, ca,
                             _read(kp / f"{stem}.crt", f"{stem} certificate"),
                             _read(kp / f"{stem}.key", f"{stem} key"))
        for name, (stem, user, server) in plan.items()
    }


def ensure_kubeconfigs(inv) -> Report:
    """Write the admin, controller-manager and scheduler kubeconfigs (0600) when they differ.

    ``report.data()["operator"]`` is a table of file, user, server and action.
    """
    def run():
        rows, changed = [], False
        for name, spec in kubeconfig_specs(inv).items():
            path = kubeconfig_dir(inv) / f"{name}.kubeconfig"
            wrote = ensure_kubeconfig(path, spec)
            changed |= wrote
            rows.append([str(path), spec.user, spec.server, "written" if wrote else "unchanged"])
        table = Table(["file", "user", "server", "action"], rows, "kubeconfigs")
        return changed, f"{sum(r[3] == 'written' for r in rows)} of {len(rows)} written", table
    return _local_step("kubeconfigs", run)


# ------------------------------------------------------------------ remote steps

_restart_locks = {c: threading.Lock() for c in COMPONENTS}


def _probe_health(h, component: str) -> tuple[bool, str]:
    """Ask ``component`` on ``h`` for its health over loopback (curl, or python3 without it)."""
    url = HEALTH_URLS[component]
    if component == "kube-apiserver":
        curl_tls, py_ctx = f"--cacert {PKI_DIR}/ca.crt", f"ssl.create_default_context(cafile='{PKI_DIR}/ca.crt')"
    else:  # self-signed serving cert on loopback: only liveness is asked, nothing sent
        curl_tls, py_ctx = "-k", "ssl._create_unverified_context()"
    cmd = (
        f"if command -v curl >/dev/null; then curl -s -o /dev/null -w '%{{http_code}}' -m 5 {curl_tls} {url}; "
        f"else python3 -c \"import ssl,urllib.request as u; "
        f"print(u.urlopen('{url}', context={py_ctx}, timeout=5).status, end='')\"; fi"
    )
    res = h.run(cmd, check=False)
    code = res.stdout.strip()
    return code == "200", code or res.stderr.strip()[-200:]


def _wait_healthy(h, component: str, timeout: float = 120.0, step: str = "") -> float:
    """Poll the component's health endpoint on the master until it answers 200; return the seconds waited.

    Raises:
        HostError: not healthy at the deadline; names the URL, the last answer and the
            unit's journal tail.
    """
    try:
        return poll_until(lambda: _probe_health(h, component), lambda r: r[0], what=f"{component} healthy",
                          where=h.name, timeout=timeout, interval=1.0,
                          describe=lambda r: f"answer {r[1]}").seconds
    except WaitTimeout as err:
        logs = h.run(f"journalctl -u {component} -n 25 --no-pager", check=False).stdout
        raise HostError(h.name, step or f"start {component}",
                        f"not healthy at {HEALTH_URLS[component]} after {timeout:.0f}s "
                        f"(last {err.last})\n{logs}") from err


def ensure_component(fleet, component: str) -> Report:
    """Install and run one control-plane component on every master.

    Uploads the binary (sha256-verified, only when it differs), the component's
    certificates, configs and systemd unit; starts it when stopped; restarts it,
    one master at a time and waiting for health, only when an input changed.
    """
    from helpers import artifacts  # noqa: PLC0415 - imported late: heavy, and only for remote steps
    from helpers.remote import ensure_binary, ensure_directory, ensure_file, ensure_unit_current

    inv = fleet.inventory if hasattr(fleet, "inventory") else fleet.inv
    artifact = artifacts.fetch(inv, component)

    def apply(h) -> Change:
        files = component_files(inv, h.host, component)
        binary = f"{BIN_DIR}/{component}"
        changes = [ensure_directory(h, d, mode=m) for d, m in
                   ((KUBE_DIR, 0o755), (PKI_DIR, 0o700), (CONFIG_DIR, 0o700))]
        changes.append(ensure_binary(h, binary, artifact))
        changes += [ensure_file(h, f.path, f.content, mode=f.mode) for f in files]
        written = [c for c in changes if c.changed]
        waited: list[float] = []
        service = ensure_unit_current(h, component, [binary] + [f.path for f in files],
                                      lock=_restart_locks[component],  # roll: one master at a time
                                      after_start=lambda: waited.append(_wait_healthy(h, component)))
        if not service.changed:
            # running with the right inputs: healthy now, or soon (just booted, restarted by hand)
            _wait_healthy(h, component, timeout=30.0, step=f"check {component}")
            if written:  # e.g. a file mode put right: no restart needed
                return Change(True, "; ".join(c.detail for c in written) + " (inputs unchanged, not restarted)")
            return Change(False, "up to date, running, healthy")
        what = f"{len(written)} item(s) written; " if written else ""
        health = f", healthy after {waited[0]:.1f}s" if waited else ""
        return Change(True, what + service.detail + health)

    return fleet.step(f"{component}", apply, hosts="master", skip="not a master")


def ensure_apiserver(fleet) -> Report:
    """kube-apiserver on every master (see :func:`ensure_component`)."""
    return ensure_component(fleet, "kube-apiserver")


def ensure_controller_manager(fleet) -> Report:
    """kube-controller-manager on every master (see :func:`ensure_component`)."""
    return ensure_component(fleet, "kube-controller-manager")


def ensure_scheduler(fleet) -> Report:
    """kube-scheduler on every master (see :func:`ensure_component`)."""
    return ensure_component(fleet, "kube-scheduler")


def wait_for_api(inv, timeout: float = 90.0) -> Report:
    """Wait until the API answers ready through the VIP and every LB sees every master UP.

    HAProxy takes a master back only after consecutive passing health checks, so the
    VIP lags a freshly started API server by a few seconds. Changes nothing.
    """
    def run():
        start = time.monotonic()
        status, down = 0, ["(not asked yet)"]
        while time.monotonic() - start < timeout:
            status, _ = check_readyz(inv, timeout=5)
            backends = check_haproxy_backends(inv) if inv.hosts_with("lb") else Table([], [])
            down = [f"{r['master']}@{r['load balancer']}: {r['status']}" for r in backends.as_dicts()
                    if r["status"] != "UP"]
            if status == 200 and not down:
                return False, f"ready through {api_server_url(inv)}, all masters UP after {time.monotonic() - start:.1f}s", None
            time.sleep(1.0)
        raise HostError("operator", f"reach the API through {api_server_url(inv)}",
                        f"after {timeout:.0f}s: /readyz HTTP {status}; not UP in HAProxy: {', '.join(down) or '-'}")
    return _local_step("API ready through the VIP", run)


# ------------------------------------------------------------------ in-cluster objects


PROBE_SECRET = ("default", "kj-encryption-probe")


def ensure_probe_secret(inv) -> Report:
    """Create (once) a small Secret whose stored form in etcd the verification inspects."""
    def run():
        from kubernetes import client  # noqa: PLC0415
        from kubernetes.client.rest import ApiException  # noqa: PLC0415

        core = client.CoreV1Api(api_client(inv))
        ns, name = PROBE_SECRET
        try:
            core.read_namespaced_secret(name, ns)
            return False, f"Secret {ns}/{name} present", None
        except ApiException as err:
            if err.status != 404:
                raise
        core.create_namespaced_secret(ns, client.V1Secret(
            metadata=client.V1ObjectMeta(name=name), string_data={"probe": "encrypted at rest?"}))
        return True, f"created Secret {ns}/{name}", None
    return _local_step("encryption probe Secret", run)


# ------------------------------------------------------------------ verification


def _admin_cert(inv) -> tuple[str, str, str]:
    kp = k8s_pki.pki_dir(inv.cluster_dir)
    return str(kp / "ca.crt"), str(kp / "admin.crt"), str(kp / "admin.key")


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

    inv = fleet.inventory if hasattr(fleet, "inventory") else fleet.inv
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


# ------------------------------------------------------------------ certificate check


def apiserver_endpoints(inv) -> list[tuple[str, str]]:
    """``(label, address)`` of every place an API server certificate is presented."""
    ends = [(h.name, str(h.address)) for h in inv.hosts_with("master")]
    if inv.network.vip is not None:
        ends.append(("VIP", str(inv.network.vip)))
    return ends


def fetch_server_certificate(address: str, port: int, ca_file: str, timeout: float = 10.0) -> tuple[x509.Certificate | None, str]:
    """TLS-connect to ``address:port`` trusting only ``ca_file``; return (leaf cert, chain problem).

    The handshake validates the chain against the CA; a failure there is returned as
    the problem, and the presented certificate is fetched again without validation so
    it can still be shown.
    """
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.check_hostname = False  # names are checked by the caller, against the full list
    problem = ""
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock, \
                ctx.wrap_socket(sock) as tls:
            der = tls.getpeercert(binary_form=True)
            return x509.load_der_x509_certificate(der), ""
    except ssl.SSLCertVerificationError as err:
        problem = f"not trusted by the cluster CA ({err.verify_message})"
    except OSError as err:
        return None, f"cannot connect: {err}"
    raw = ssl.create_default_context()
    raw.check_hostname, raw.verify_mode = False, ssl.CERT_NONE
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock, raw.wrap_socket(sock) as tls:
            return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True)), problem
    except OSError as err:
        return None, f"{problem}; cannot fetch it: {err}"


def check_apiserver_certificate(inv, expected: list[str] | None = None,
                                endpoints: list[tuple[str, str]] | None = None,
                                ca_file: str | Path | None = None, port: int = API_PORT) -> Table:
    """Validate the certificate each API server address (and the VIP) presents.

    For each endpoint: the chain must verify against the Kubernetes CA, the
    certificate must be a currently valid serving certificate, the address connected to
    must be among its SANs, and every expected name and address must be too.

    Args:
        inv: the inventory.
        expected: required SANs (default: :func:`helpers.k8s_pki.apiserver_sans`).
        endpoints: ``(label, address)`` pairs (default: every master and the VIP).
        ca_file: the CA to trust (default: the cluster's Kubernetes CA).
        port: TLS port.

    Returns:
        A table endpoint / address / SANs presented / problems ("" when fine); assert on
        ``all(not p for p in table.column("problems"))``.
    """
    import datetime as dt  # noqa: PLC0415

    expected = pki.normalize_sans(expected if expected is not None else k8s_pki.apiserver_sans(inv))
    ca_file = str(ca_file or k8s_pki.pki_dir(inv.cluster_dir) / "ca.crt")
    rows = []
    for label, address in endpoints or apiserver_endpoints(inv):
        cert, problem = fetch_server_certificate(address, port, ca_file)
        problems = [problem] if problem else []
        sans: list[str] = []
        if cert is not None:
            sans = pki.cert_sans(cert)
            now = dt.datetime.now(dt.UTC)
            if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
                problems.append(f"outside its validity ({cert.not_valid_before_utc:%F} .. {cert.not_valid_after_utc:%F})")
            if pki.normalize_sans([address])[0] not in sans:
                problems.append(f"address {address} it was reached on is not a SAN")
            missing = [s for s in expected if s not in sans]
            if missing:
                problems.append("missing SANs: " + ", ".join(missing))
        rows.append([label, address, f"{len(sans)} SANs", "; ".join(problems)])
    return Table(["endpoint", "address", "presented", "problems"], rows, "API server certificates")


# ------------------------------------------------------------------ kubectl (operator side)


def local_kubectl(inv) -> Path:
    """Return kubectl for the operator's machine, from the release mirror (sha256-verified), cached."""
    from helpers import artifacts  # noqa: PLC0415

    art = artifacts.fetch(inv, "kubectl")
    path = Path(art.path)
    if not path.stat().st_mode & 0o100:
        path.chmod(0o755)
    return path


def kubectl(inv, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run the cached kubectl locally with the admin kubeconfig; raises on a non-zero exit."""
    cmd = [str(local_kubectl(inv)), "--kubeconfig", str(admin_kubeconfig_path(inv)), *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise CommandFailed("operator", "run kubectl", " ".join(cmd[1:]), res.returncode, res.stdout + res.stderr)
    return res


# ------------------------------------------------------------------ records and pictures


def steps_table(reports: list[Report]) -> Table:
    """One row per step: ok / changed / failed / skipped counts and wall time."""
    rows = [[r.title, r.ok, r.changed, r.failed, r.skipped, f"{r.seconds:.1f}"] for r in reports]
    return Table(["step", "ok", "changed", "failed", "skipped", "seconds"], rows, "steps of this run")


def steps_figure(reports: list[Report]):
    """A horizontal bar chart of each step's wall time, coloured by whether it changed anything."""
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(8, 0.4 * len(reports) + 1))
    titles = [r.title for r in reports][::-1]
    seconds = [r.seconds for r in reports][::-1]
    colours = ["#ef6c00" if r.changed else "#2e7d32" for r in reports][::-1]
    ax.barh(titles, seconds, color=colours)
    ax.set_xlabel("seconds (orange: changed something, green: nothing to do)")
    ax.set_title("04-masters: time per step")
    fig.tight_layout()
    return fig


def request_flow_figure(inv):
    """Draw how a request reaches etcd: client -> VIP -> HAProxy -> API servers -> etcd.

    Also draws each master's controller manager and scheduler talking to their local
    API server on 127.0.0.1.
    """
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from matplotlib.patches import FancyBboxPatch  # noqa: PLC0415

    lbs, masters, members = inv.hosts_with("lb"), inv.hosts_with("master"), inv.hosts_with("etcd")
    fig, ax = plt.subplots(figsize=(11, 6.5))
    ax.set_xlim(0, 11)
    ax.set_ylim(0, 7)
    ax.axis("off")

    def box(x, y, w, h, text, colour):
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.05",
                                    fc=colour, ec="#333333", lw=1, zorder=3))
        ax.text(x, y, text, ha="center", va="center", fontsize=8.5, zorder=4)

    def arrow(x1, y1, x2, y2, text="", colour="#333333", style="-|>"):
        ax.annotate("", xy=(x2, y2), xytext=(x1, y1),
                    arrowprops={"arrowstyle": style, "color": colour, "lw": 1.2}, zorder=2)
        if text:
            ax.text((x1 + x2) / 2 + 0.05, (y1 + y2) / 2, text, fontsize=7.5, color=colour)

    def spread(n):
        return [11 * (i + 1) / (n + 1) for i in range(n)]

    box(5.5, 6.5, 3.2, 0.5, "client: kubectl / Python client / kubelet\n(admin.kubeconfig)", "#eeeeee")
    vip = api_endpoint(inv)
    box(5.5, 5.5, 3.2, 0.5, f"VIP {vip}:{API_PORT} (keepalived)", "#fde0c5")
    arrow(5.5, 6.22, 5.5, 5.78, "TLS to the VIP")
    lb_x = spread(len(lbs)) if lbs else []
    for x, h in zip(lb_x, lbs, strict=True):
        box(x, 4.4, 2.2, 0.55, f"HAProxy\n{h.name}", "#f4a259")
        arrow(5.5, 5.22, x, 4.7, "", "#999999")
    m_x = spread(len(masters))
    for x, h in zip(m_x, masters, strict=True):
        box(x, 3.0, 2.4, 0.7, f"kube-apiserver\n{h.name} {h.address}", "#5b8def")
        box(x - 0.6, 1.9, 1.05, 0.45, "controller-\nmanager", "#aac4f6")
        box(x + 0.6, 1.9, 1.05, 0.45, "scheduler", "#aac4f6")
        arrow(x - 0.62, 2.17, x - 0.45, 2.63, "", "#1f4e9c")
        arrow(x + 0.62, 2.17, x + 0.45, 2.63, "", "#1f4e9c")
        for lx in lb_x:
            arrow(lx, 4.12, x, 3.37, "", "#c07a30")
    ax.text(0.15, 2.3, "127.0.0.1:6443\n(no load balancer)", fontsize=7.5, color="#1f4e9c")
    ax.text(0.15, 3.8, "TCP passthrough,\nhealth-checked", fontsize=7.5, color="#c07a30")
    e_x = spread(len(members))
    for x, h in zip(e_x, members, strict=True):
        box(x, 0.6, 2.0, 0.5, f"etcd {h.name}", "#9d6ad1")
    for mx in m_x:
        for ex in e_x:
            arrow(mx, 2.63, ex, 0.87, "", "#6a3d9a")
    ax.text(0.15, 1.1, "mutual TLS, etcd CA\n(Secrets encrypted)", fontsize=7.5, color="#6a3d9a")
    ax.set_title(f"{inv.cluster.name}: how a request reaches the API and etcd")
    fig.tight_layout()
    return fig
