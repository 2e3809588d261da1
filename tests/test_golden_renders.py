"""Golden renders: the sha256 of every file the series writes, per host, pinned before a refactor.

For ``inventories/lab.yaml`` and ``inventories/small.yaml`` this test runs every step of
notebooks 02-05 that writes files to hosts, collects every file each host would get,
hashes it, and compares the result with ``tests/golden/<inventory>.json``
(``host -> remote path -> sha256``). A refactor that changes one byte of one file, moves
a file to another path, or gives it to another host fails here, naming each
``host:path`` that changed, appeared or vanished.

Regenerate the goldens deliberately (after a change that is *meant* to alter what the
hosts get) with::

    KJ_UPDATE_GOLDEN=1 .venv/bin/python -m pytest -q tests/test_golden_renders.py

which rewrites the JSON files (the tests then report "skipped: rewrote ..."); review
``git diff tests/golden`` before committing them.

How the files are produced, without SSH, network or the lab's release mirror:

- Every host step runs for real (``hostprep.ensure_*``, ``loadbalancer.ensure_haproxy``
  and ``ensure_keepalived``, ``etcd.ensure_etcd_binaries`` / ``_config`` / ``_running``,
  ``control_plane.ensure_apiserver`` / ``_controller_manager`` / ``_scheduler``,
  ``containerd.ensure_containerd`` / ``ensure_images``, ``kubelet.ensure_kubelet``,
  ``flannel.ensure_flannel``, ``kube_proxy.ensure_kube_proxy``) against :class:`FakeFleet`,
  whose :class:`FakeHost` answers each command the way a fresh lab machine does (a
  container; every file absent until written, every package installed, every kernel
  feature a loaded module, every unit starting and healthy) and records what the
  primitives move into place, including the ``<unit>.inputs`` fingerprints of
  ``ensure_unit_current``. A command it has no answer for fails the test, naming it.
- Objects applied through the API server are rendered as their steps render them and
  hashed as canonical JSON under the pseudo-host ``(cluster)`` (05: kubelet and flannel
  RBAC, CoreDNS, probe workloads; 06: the demo objects in the notebook's order, with
  ``Demo``'s images and pull policy). Files written on the operator's machine
  (kubeconfigs, encryption config; paths relative to the cluster directory) are under
  ``(operator)``.
- Node facts are those of a lab machine (:data:`LAB_NODE_FACTS`: cgroup v1, read-only
  /sys, overlayfs root, no CAP_SYS_RESOURCE), its interface is ``eth0``
  (:data:`LAB_INTERFACE`) and its containerd the pinned 2.4.2 from the mirror
  (:data:`CONTAINERD_VERSION`).

Secrets, keys and binaries are fixed, clearly fake inputs fed through the same
functions (the cluster directory and download cache are temporary: ``KJ_CLUSTER_DIR``,
``KJ_CACHE_DIR``):

- every certificate and private key the steps copy verbatim (etcd, Kubernetes and
  front-proxy PKI, kubelet serving pairs, ``sa.key``/``sa.pub``) is the placeholder text
  ``FAKE <path> ...`` (:func:`_fake_bytes`): the hash pins which local file lands at
  which remote path, not key material. ``ensure_etcd_pki``, ``ensure_kubernetes_pki`` and
  ``ensure_node_certificates`` are therefore not run (they would generate random keys);
- the certificates ``node_pki.node_kubeconfig`` parses (``kubelet-<node>``, ``kube-proxy``,
  ``flannel``) are deterministic self-signed Ed25519 certificates ``CN=FAKE <name>``
  (:func:`_fake_pem_pair`); the kubeconfigs embedding them are rendered for real, and
  the admin, controller-manager and scheduler kubeconfigs are written by
  ``control_plane.ensure_kubeconfigs`` from the placeholder PEMs;
- the encryption-at-rest key is 32 fixed bytes (:data:`FAKE_ENCRYPTION_KEY`) rendered by
  ``k8s_pki.render_encryption_config`` (``ensure_encryption_config`` then keeps it);
- the load-balancer credentials (stats password, VRRP auth password) are a fixed
  :class:`~helpers.loadbalancer.LBCredentials` (:data:`FAKE_LB_CREDENTIALS`), which
  ``ensure_lb_credentials`` then reuses;
- the release mirror is a temporary ``file://`` mirror (``sources.release_mirror`` is
  pointed at it; no rendered file contains that value) holding, for every artifact the
  pins in helpers/versions.yaml name, the placeholder text ``placeholder for release
  artifact <upstream path>`` (:func:`_artifact_placeholder`; the etcd and CNI plugin
  tarballs hold such placeholders as their binaries). Binary paths are pinned, their
  bytes are not, and the ``.inputs`` fingerprints that include a binary hash that
  placeholder;
- the current ``/etc/hosts`` and ``/etc/fstab`` the steps merge into are fixed
  (:data:`CURRENT_HOSTS`, :data:`CURRENT_FSTAB`; the fstab has one swap line so that its
  rewrite is pinned too).

Not covered: ``/etc/containerd/certs.d/<registry>/hosts.toml`` (written only with
``sources.images: registry`` and a registry mirror, which neither inventory sets), the
files of hosts in other states (a kernel feature built in writes no modules-load.d file;
a non-container host gets no chrony drop-in), and the lab's own machine files
(``helpers/lab``, written by ``make lab-up``, not by the series).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import posixpath
import re
import shlex
import tarfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

from helpers import (
    artifacts,
    containerd,
    control_plane,
    coredns,
    etcd,
    flannel,
    hostprep,
    k8s_pki,
    kube_apply,
    kube_proxy,
    kubelet,
    node_facts,
    node_pki,
    objects,
    pod_network,
)
from helpers import loadbalancer as lb
from helpers.inventory import load_inventory
from helpers.report import Report, Result

REPO = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
INVENTORIES = ("lab", "small")
UPDATE = os.environ.get("KJ_UPDATE_GOLDEN") == "1"

CLUSTER = "(cluster)"
OPERATOR = "(operator)"

#: What ``node_facts.PROBE`` prints on a lab machine (a systemd-nspawn container).
LAB_PROBE_OUTPUT = (
    "cgroupfs=tmpfs\ninit=systemd\nsysfs=ro\nresolv=/etc/resolv.conf\n"
    "capbnd=000001fffeffffff\nkubeletfs=overlayfs\n"
)
#: The facts that output parses to (checked in :func:`test_fake_inputs_are_the_lab_facts`).
LAB_NODE_FACTS = node_facts.NodeFacts(
    cgroup_v2=False, systemd_init=True, sysfs_writable=False, resolv_conf="/etc/resolv.conf",
    kubelet_fs="overlayfs", sys_resource=False,
)
LAB_INTERFACE = "eth0"
CONTAINERD_VERSION = "containerd github.com/containerd/containerd/v2 v2.4.2 0123456789abcdef"

FAKE_ENCRYPTION_KEY = b"FAKE-golden-test-encryption-key!"  # 32 bytes, clearly not a secret
FAKE_LB_CREDENTIALS = lb.LBCredentials(
    stats_user=lb.STATS_USER,
    stats_password="FAKE-golden-stats-password",
    vrrp_auth_pass="FAKEvrrp",
)

#: The ``/etc/hosts`` a fresh Debian machine has (``{name}`` is the host's name).
CURRENT_HOSTS = (
    "127.0.0.1\tlocalhost\n"
    "127.0.1.1\t{name}\n"
    "\n"
    "# The following lines are desirable for IPv6 capable hosts\n"
    "::1     localhost ip6-localhost ip6-loopback\n"
    "ff02::1 ip6-allnodes\n"
    "ff02::2 ip6-allrouters\n"
)
#: An ``/etc/fstab`` with a swap partition, as a VM installer writes it.
CURRENT_FSTAB = (
    "# /etc/fstab: static file system information.\n"
    "UUID=00000000-0000-0000-0000-000000000001 /    ext4 errors=remount-ro 0 1\n"
    "UUID=00000000-0000-0000-0000-000000000002 none swap sw                0 0\n"
)


# --- fake inputs ---------------------------------------------------------------------------


def _fake_bytes(relpath: str) -> bytes:
    """Placeholder content of a secret or certificate file copied to hosts verbatim."""
    return f"FAKE {relpath} (kubernetes-journey golden-test placeholder, not key material)\n".encode()


def _fake_pem_pair(name: str) -> tuple[bytes, bytes]:
    """A deterministic, self-signed Ed25519 certificate and key (``CN=FAKE <name>``).

    Ed25519 signatures are deterministic and the key comes from a fixed seed, so the PEM
    bytes are the same on every run: ``pki.load_pair`` parses them, and the kubeconfigs
    embedding them hash the same every time.
    """
    key = ed25519.Ed25519PrivateKey.from_private_bytes(hashlib.sha256(f"fake {name}".encode()).digest())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"FAKE {name}")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2000, 1, 2, tzinfo=dt.UTC))
        .sign(key, None)
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _artifact_placeholder(path: str) -> bytes:
    """Placeholder content of a release artifact (or a tarball member ``path#member``)."""
    return f"placeholder for release artifact {path}\n".encode()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def build_mirror(root: Path) -> str:
    """A ``file://`` release mirror with a placeholder for every pinned artifact; returns its URL.

    The layout is the upstream one ``artifacts.fetch`` reads (``<path>`` and
    ``<path>.sha256``); tarballs hold placeholder binaries under the member names
    ``artifacts.archive_members`` expects.
    """
    versions = artifacts.load_versions()
    for name in artifacts.artifact_names(versions):
        rel = artifacts.release(name, versions)
        if name in ("etcd", "flannel-cni-plugin", "containerd", "cni-plugins", "crictl"):
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
                for member in artifacts.archive_members(name, rel.version).values():
                    data = _artifact_placeholder(f"{rel.path}#{member}")
                    info = tarfile.TarInfo(member)
                    info.size, info.mode = len(data), 0o755
                    tar.addfile(info, io.BytesIO(data))
            data = buffer.getvalue()
        else:
            data = _artifact_placeholder(rel.path)
        _write(root / rel.path, data)
        _write(root / f"{rel.path}.sha256", f"{hashlib.sha256(data).hexdigest()}  {rel.filename}\n".encode())
    return root.resolve().as_uri()


def build_cluster_dir(inv: Any) -> None:
    """Fill ``inv.cluster_dir`` with what the local steps of notebooks 02-05 leave there, from fake inputs.

    The PKI stems are the ones ``etcd.etcd_cert_pairs``, ``k8s_pki.issue_kubernetes_pki``
    and ``node_pki.ensure_node_certificates`` write; the kubeconfigs are then written by
    ``control_plane.ensure_kubeconfigs`` itself, and the encryption config and the
    load-balancer credentials are kept by their own steps.
    """
    etcd_dir = etcd.pki_dir(inv)
    etcd_stems = ["ca", etcd.APISERVER_CLIENT, etcd.HEALTHCHECK]
    etcd_stems += [f"{h.name}-{kind}" for h in etcd.members(inv) for kind in ("server", "peer")]
    for stem in etcd_stems:
        for suffix in ("crt", "key"):
            _write(etcd_dir / f"{stem}.{suffix}", _fake_bytes(f"pki/etcd/{stem}.{suffix}"))
    kube_dir = k8s_pki.pki_dir(inv.cluster_dir)
    kube_stems = [*k8s_pki.CA_SPECS, *(s.name for s in k8s_pki.cert_specs(inv))]
    kube_stems += [node_pki.kubelet_serving_name(h.name) for h in node_pki.node_hosts(inv)]
    for stem in kube_stems:
        for suffix in ("crt", "key"):
            _write(kube_dir / f"{stem}.{suffix}", _fake_bytes(f"pki/kubernetes/{stem}.{suffix}"))
    for name in ("sa.key", "sa.pub"):
        _write(kube_dir / name, _fake_bytes(f"pki/kubernetes/{name}"))
    parsed = [node_pki.kubelet_client_name(h.name) for h in node_pki.node_hosts(inv)] + ["kube-proxy", "flannel"]
    for stem in parsed:
        cert, key = _fake_pem_pair(stem)
        _write(kube_dir / f"{stem}.crt", cert)
        _write(kube_dir / f"{stem}.key", key)
    _write(k8s_pki.encryption_config_path(inv.cluster_dir),
           k8s_pki.render_encryption_config(FAKE_ENCRYPTION_KEY).encode())
    _write(lb.credentials_path(inv), json.dumps(asdict(FAKE_LB_CREDENTIALS), indent=1).encode())


# --- a fleet that answers like fresh lab machines and records every file -------------------


@dataclass(frozen=True)
class _Ran:
    """What :meth:`FakeHost.run` returns (the shape of ``helpers.remote.RunResult``)."""

    stdout: str = ""
    stderr: str = ""
    exit_code: int = 0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class FakeHost:
    """A stand-in for ``helpers.remote.HostConn``: a fresh lab machine, reached as root.

    Every remote path is absent until a primitive moves a file there; :attr:`written`
    maps each remote path to the bytes last moved there.
    """

    def __init__(self, fleet: FakeFleet, host: Any):
        self.fleet = fleet
        self.host = host
        self.inventory = fleet.inventory
        self.name = host.name
        self.address = str(host.address)
        self.user = "root"
        self.port = 22
        self.sudo = False
        self.step = ""
        self.current = {
            "/etc/hosts": CURRENT_HOSTS.format(name=host.name).encode(),
            "/etc/fstab": CURRENT_FSTAB.encode(),
        }
        self.written: dict[str, bytes] = {}
        self.images: set[str] = set()
        self._staged: dict[str, bytes] = {}

    def _step(self, fallback: str) -> str:
        return self.step or fallback

    def connect(self) -> None:
        return None

    def close(self) -> None:
        return None

    def read_file(self, path: str) -> bytes | None:
        return self.written.get(path, self.current.get(path))

    def exists(self, path: str) -> bool:
        return self.read_file(path) is not None

    def upload(self, source: bytes | Path, remote_path: str) -> None:
        data = bytes(source) if isinstance(source, bytes | bytearray) else Path(source).read_bytes()
        self._staged[remote_path] = data

    def run(self, cmd: str, check: bool = True, timeout: float | None = None, input: Any = None,
            hide: bool = True) -> _Ran:
        result = self._answer(cmd)
        if check and not result.ok:
            raise AssertionError(f"[{self.name}] `{cmd}` exited {result.exit_code} on the fake host")
        return result

    def _answer(self, cmd: str) -> _Ran:
        ctr = f"{containerd.BIN_DIR}/ctr -a {containerd.SOCKET} -n {containerd.NAMESPACE} "
        vip = self.inventory.network.vip
        if cmd.startswith("if [ -e ") and "stat -c" in cmd:
            return _Ran("absent\n")  # ensure._stat: nothing exists yet (parents do)
        if cmd.startswith("echo ==kj-probe:") and "stat -c" in cmd:  # ensure.probe_paths: the same, batched
            marks = re.findall(r"echo (==kj-probe:\d+);", cmd)
            return _Ran("".join(f"{m}\nabsent\n" for m in marks))
        if " mv -f -- " in cmd:
            self._move(cmd)
            return _Ran()
        if cmd.startswith("sha256sum -- ") and cmd.endswith(" 2>&1 | sha256sum"):
            return _Ran(self._fingerprint(shlex.split(cmd[len("sha256sum -- "):-len(" 2>&1 | sha256sum")])))
        if cmd.startswith("sha256sum -- ") and cmd.endswith(" | cut -d' ' -f1"):
            staged = shlex.split(cmd[len("sha256sum -- "):-len(" | cut -d' ' -f1")])[0]
            return _Ran(hashlib.sha256(self._staged[staged]).hexdigest() + "\n")
        if cmd.startswith(("mkdir -p -- ", "chown ", "sysctl -w ", "useradd ", "rm -f ", "cat > ",
                           "haproxy -c ", "keepalived -t ", "systemctl restart -- ", "systemctl start -- ",
                           "systemctl daemon-reload")):
            return _Ran()
        if cmd == "hostname":
            return _Ran(f"{self.name}\n")
        if cmd == "systemd-detect-virt --container":
            return _Ran("systemd-nspawn\n")
        if cmd.startswith("id -u "):
            return _Ran("", "no such user", 1)
        if cmd.startswith("dpkg-query "):
            names = cmd.split(" -- ", 1)[1].split(" 2>/dev/null", 1)[0]
            # a fresh machine: every package asked for is there, Debian's runtime is not
            return _Ran("".join(f"{n}\t1.0\tii \n" for n in shlex.split(names)
                                if n not in containerd.DEBIAN_RUNTIME))
        if cmd.startswith("for k in ") and "sysctl -n" in cmd:
            keys = cmd[len("for k in "):].split("; do", 1)[0].split()
            return _Ran("".join(f"{k}=0\n" for k in keys))
        if cmd.startswith("if [ -r /proc/modules ]"):  # ensure.kernel_feature_state
            return _Ran("loaded /proc/modules\n")
        if cmd.startswith("cat /proc/swaps"):
            return _Ran("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n")
        if cmd.startswith("systemctl list-units --type=swap"):
            return _Ran("")
        if cmd.startswith("systemctl show -p LoadState "):
            return _Ran("LoadState=loaded\nActiveState=active\nUnitFileState=enabled\nNeedDaemonReload=no\n")
        if cmd.startswith("sleep ") and "systemctl is-active" in cmd:  # ensure._settled_state
            return _Ran("ActiveState=active\nSubState=running\nResult=success\nType=notify\n")
        if cmd.startswith("chronyc "):
            return _Ran("")
        if cmd == node_facts.PROBE:
            return _Ran(LAB_PROBE_OUTPUT)
        if cmd == f"{containerd.BIN_DIR}/containerd --version":
            return _Ran(CONTAINERD_VERSION + "\n")
        if cmd == "systemctl show -p ExecMainStartTimestamp --timestamp=unix --value kubelet":
            return _Ran("@946684800\n")
        if cmd.startswith("mktemp "):
            return _Ran("/tmp/kj-config.golden\n")
        if cmd == f"ip -o -4 addr show to {vip}/32":
            held = self.name == self.inventory.hosts_with("lb")[0].name
            return _Ran(f"2: {LAB_INTERFACE}    inet {vip}/24 scope global {LAB_INTERFACE}\n" if held else "")
        if cmd.startswith(f"ip -o -4 addr show to {self.address} "):
            return _Ran(f"{LAB_INTERFACE}\n")
        if cmd.startswith(f"{etcd.BIN_DIR}/etcdctl ") and cmd.endswith(" endpoint health"):
            return _Ran("https://127.0.0.1:2379 is healthy: successfully committed proposal\n")
        if cmd.startswith("if command -v curl >/dev/null; then curl "):  # control_plane._probe_health
            return _Ran("200")
        if cmd.startswith(ctr):
            return self._ctr(cmd[len(ctr):])
        raise AssertionError(
            f"[{self.name}] the golden test's FakeHost has no answer for `{cmd}`; "
            "teach FakeHost._answer in tests/test_golden_renders.py what a fresh lab machine prints"
        )

    def _ctr(self, args: str) -> _Ran:
        if args == "images ls -q":
            return _Ran("".join(f"{ref}\n" for ref in sorted(self.images)))
        if args.startswith("images import "):
            archive = shlex.split(args)[2]
            self.images.add(containerd.image_ref(posixpath.basename(archive).removesuffix(".tar")))
            return _Ran()
        if args == "images ls":
            # as ctr prints it: a header, then REF TYPE DIGEST SIZE PLATFORMS LABELS
            header = "REF TYPE DIGEST SIZE PLATFORMS LABELS\n"
            return _Ran(header + "".join(f"{ref} application/vnd.oci.image.index.v1+json sha256:0 1.0 MiB "
                                         f"linux/amd64 io.cri-containerd.image=managed\n" for ref in sorted(self.images)))
        if args.startswith(("images ls name==", "images label ")):
            return _Ran()
        raise AssertionError(f"[{self.name}] the golden test's FakeHost does not know `ctr {args}`")

    def _move(self, cmd: str) -> None:
        words = list(shlex.shlex(cmd, posix=True, punctuation_chars=True))
        i = words.index("mv")
        assert words[i + 1:i + 3] == ["-f", "--"], cmd
        source, target = words[i + 3], words[i + 4]
        self.written[posixpath.normpath(target)] = self._staged.pop(source)

    def _fingerprint(self, paths: list[str]) -> str:
        """What ``sha256sum -- PATHS 2>&1 | sha256sum`` prints when every path exists."""
        lines = []
        for path in paths:
            data = self.read_file(path)
            assert data is not None, f"[{self.name}] fingerprint of {path}, which no step wrote"
            lines.append(f"{hashlib.sha256(data).hexdigest()}  {path}\n")
        return hashlib.sha256("".join(lines).encode()).hexdigest() + "  -\n"


class FakeFleet:
    """A stand-in for ``helpers.remote.Fleet``: runs each step's function on every selected host, in order."""

    def __init__(self, inv: Any):
        self.inventory = inv
        self.inv = inv
        self._hosts = {h.name: FakeHost(self, h) for h in inv.hosts}

    def hosts(self, selector: Any = None) -> list[FakeHost]:
        if selector is None:
            return list(self._hosts.values())
        if isinstance(selector, str):
            if selector in ("lb", "etcd", "master", "worker"):
                return [h for h in self._hosts.values() if selector in h.host.roles]
            selector = [selector]
        wanted = {getattr(s, "name", s) for s in selector}
        return [h for name, h in self._hosts.items() if name in wanted]

    def step(self, title: str, fn: Any, hosts: Any = None, raise_on_failure: bool = True,
             skip: str | None = None) -> Report:
        results = {}
        for h in self.hosts(hosts):
            h.step = title
            try:
                value = fn(h)
            finally:
                h.step = ""
            if isinstance(value, Result):
                results[h.name] = value
            elif hasattr(value, "changed") and hasattr(value, "detail"):
                results[h.name] = Result(h.name, "changed" if value.changed else "ok", value.detail)
            else:
                results[h.name] = Result(h.name, "ok", data=value)
        return Report(title, results)

    def close(self) -> None:
        return None


# --- the series, notebook by notebook ------------------------------------------------------


def render_series(inv: Any) -> dict[str, dict[str, bytes]]:
    """Every file the notebooks write, ``host -> remote path -> content``, in notebook order.

    Needs ``KJ_CLUSTER_DIR`` and ``KJ_CACHE_DIR`` pointing at fresh directories.
    """
    build_cluster_dir(inv)
    inv.sources.release_mirror = build_mirror(Path(inv.cluster_dir).parent / "mirror")
    fleet = FakeFleet(inv)
    cluster: dict[str, bytes] = {}

    def apply(title: str, docs: list[dict]) -> None:
        for i, doc in enumerate(docs):
            text = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
            cluster[f"{title}/{i:02d} {kube_apply.object_key(doc)}"] = text.encode()

    # 02-network
    hostprep.ensure_hostname(fleet)
    hostprep.ensure_hosts_file(fleet)
    hostprep.ensure_apt_proxy(fleet)
    hostprep.ensure_base_packages(fleet)
    hostprep.ensure_kernel_features(fleet)
    hostprep.ensure_sysctls(fleet)
    hostprep.ensure_swap_off(fleet)
    hostprep.ensure_time_sync(fleet)
    lb.ensure_lb_credentials(inv)
    lb.ensure_haproxy(fleet)
    lb.ensure_keepalived(fleet)

    # 03-etcd (the PKI is the fake one of build_cluster_dir)
    etcd.ensure_etcd_binaries(fleet)
    etcd.ensure_etcd_config(fleet)
    etcd.ensure_etcd_running(fleet)

    # 04-masters (the PKI is the fake one of build_cluster_dir)
    control_plane.ensure_encryption_config(inv)
    control_plane.ensure_kubeconfigs(inv)
    control_plane.ensure_apiserver(fleet)
    control_plane.ensure_controller_manager(fleet)
    control_plane.ensure_scheduler(fleet)

    # 05-workers (node certificates are the fake ones of build_cluster_dir)
    containerd.ensure_containerd(fleet)
    containerd.ensure_images(fleet)
    kubelet.ensure_kubelet(fleet)
    user = next(s.common_name for s in k8s_pki.cert_specs(inv) if s.name == "apiserver-kubelet-client")
    apply("API server to kubelet RBAC", kube_apply.load_documents(  # as kubelet.ensure_apiserver_kubelet_rbac
        "kubelet/apiserver-to-kubelet-rbac.yaml.j2", {"apiserver_kubelet_client_user": user}))
    apply("flannel RBAC", kube_apply.load_documents(  # as flannel.ensure_flannel_rbac
        "flannel/flannel-rbac.yaml.j2", {"user": node_pki.FLANNEL_USER}))
    flannel.ensure_flannel(fleet)
    kube_proxy.ensure_kube_proxy(fleet)
    apply("CoreDNS", coredns.manifests(inv))  # as coredns.ensure_coredns
    apply("probe workloads", pod_network.manifests(inv))  # as pod_network.ensure_probe_workloads

    # 06-objects: what the notebook applies, in its order, with Demo's images and pull policy
    busybox, agnhost, policy = objects._image("busybox"), objects._image("agnhost"), objects.pull_policy(inv)
    workers = [h.name for h in inv.hosts_with("worker")]
    apply("06-objects", [
        objects.namespace_manifest(),
        objects.sidecar_pod(busybox, policy),
        objects.deployment_manifest(agnhost, policy, 4),
        objects.deployment_manifest(agnhost, policy, 4, version=2),
        objects.service_manifest("ClusterIP"),
        objects.service_manifest("NodePort"),
        objects.service_manifest("Headless"),
        objects.shell_pod("client", busybox, policy),
        objects.persistent_volume_manifest(workers[0]),  # Demo.ensure_volume
        objects.persistent_volume_claim_manifest(),
        objects.pvc_pod("pv-writer", busybox, policy),
        objects.pvc_pod("pv-reader", busybox, policy),
        objects.configmap_manifest(),
        objects.secret_manifest(),
        objects.config_pod(busybox, policy),
    ])

    out = {h.name: dict(h.written) for h in fleet.hosts()}
    out[CLUSTER] = cluster
    root = Path(inv.cluster_dir)
    local = sorted(control_plane.kubeconfig_dir(inv).glob("*.kubeconfig"))
    local.append(k8s_pki.encryption_config_path(inv.cluster_dir))
    out[OPERATOR] = {str(p.relative_to(root)): p.read_bytes() for p in local}
    return out


def digests(files: dict[str, dict[str, bytes]]) -> dict[str, dict[str, str]]:
    """``host -> path -> sha256`` with hosts and paths sorted (the golden file's form)."""
    return {host: {path: hashlib.sha256(files[host][path]).hexdigest() for path in sorted(files[host])}
            for host in sorted(files)}


def differences(want: dict[str, dict[str, str]], got: dict[str, dict[str, str]]) -> list[str]:
    """One line per ``host:path`` whose digest changed, that is new, or that is gone."""
    lines = []
    for host in sorted(set(want) | set(got)):
        w, g = want.get(host, {}), got.get(host, {})
        for path in sorted(set(w) | set(g)):
            if path not in g:
                lines.append(f"gone     {host}:{path}")
            elif path not in w:
                lines.append(f"new      {host}:{path}")
            elif w[path] != g[path]:
                lines.append(f"changed  {host}:{path}")
    return lines


# --- tests ---------------------------------------------------------------------------------


@pytest.fixture
def load(tmp_path, monkeypatch):
    """Load an inventory whose cluster directory and download cache are fresh temporary ones."""

    def _load(name: str, run: str = "first") -> Any:
        monkeypatch.setenv("KJ_CLUSTER_DIR", str(tmp_path / run / name / "cluster"))
        monkeypatch.setenv("KJ_CACHE_DIR", str(tmp_path / run / name / "cache"))
        return load_inventory(REPO / "inventories" / f"{name}.yaml")

    return _load


def test_fake_inputs_are_the_lab_facts():
    assert node_facts.parse_facts(LAB_PROBE_OUTPUT) == LAB_NODE_FACTS
    assert containerd.parse_version(CONTAINERD_VERSION) == "2.4.2"
    assert len(FAKE_ENCRYPTION_KEY) == 32
    assert re.fullmatch(r"[A-Za-z0-9]{1,8}", FAKE_LB_CREDENTIALS.vrrp_auth_pass)


def test_fake_inputs_are_deterministic():
    assert _fake_pem_pair("flannel") == _fake_pem_pair("flannel")
    assert _fake_pem_pair("flannel") != _fake_pem_pair("kube-proxy")


@pytest.mark.parametrize("name", INVENTORIES)
def test_rendered_files_match_golden(name, load):
    got = digests(render_series(load(name)))
    path = GOLDEN / f"{name}.json"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
        pytest.skip(f"KJ_UPDATE_GOLDEN=1: rewrote {path.relative_to(REPO)}; review git diff tests/golden")
    assert path.exists(), f"no golden {path}: run with KJ_UPDATE_GOLDEN=1 to create it"
    want = json.loads(path.read_text())
    diff = differences(want, got)
    total = sum(len(v) for v in got.values())
    assert not diff, (
        f"{len(diff)} of {total} rendered files differ from {path.relative_to(REPO)}:\n  "
        + "\n  ".join(diff)
        + "\nIf the change is intended: KJ_UPDATE_GOLDEN=1 .venv/bin/python -m pytest -q "
        "tests/test_golden_renders.py, then review git diff tests/golden"
    )


@pytest.mark.parametrize("name", INVENTORIES)
def test_renders_are_repeatable(name, load):
    first = digests(render_series(load(name)))
    second = digests(render_series(load(name, run="again")))
    assert differences(first, second) == []
