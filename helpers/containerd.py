"""The container runtime on every node: containerd 2.x with runc, the CNI base plugins and crictl.

The kubelet does not run containers itself: it asks a runtime over the CRI socket
(``/run/containerd/containerd.sock``). containerd pulls or holds images, creates each
pod's network namespace through the CNI plugins, and starts containers with runc.

Kubernetes 1.36 and later need containerd 2.0 or later, which Debian 13 does not package
(it has 1.7.24). So the runtime comes from release files, as upstream's "getting started"
installs it: containerd's tarball into ``/usr/local/bin`` with upstream's systemd unit in
``/usr/local/lib/systemd/system``, ``runc.amd64`` as ``/usr/local/sbin/runc``, the CNI
base plugins into ``/opt/cni/bin`` and crictl into ``/usr/local/bin``. They are fetched
from ``sources.release_mirror`` (the lab mirror, or upstream on a real site: the same
code) and sha256-verified. A node that still has Debian's containerd, runc and
containernetworking-plugins from an earlier run is converted: the packages are purged
(``/var/lib/containerd``, and with it every imported image, stays), then the release
files are installed.

In an air-gapped site the images reach the nodes as an *image bundle*: OCI archives
fetched from the release mirror, uploaded and imported with ``ctr -n k8s.io images
import`` (the ``k8s.io`` namespace is the one the CRI plugin reads). The pod sandbox
("pause") image is pinned in containerd's configuration to the imported reference, so
containerd never tries to pull it.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from helpers.ensure import render_template
from helpers.errors import HostError
from helpers.node_facts import NodeFacts, gather_node_facts
from helpers.remote import Change
from helpers.report import Report
from helpers.verdict import Verdict

PACKAGES = ["iptables", "conntrack"]          # from Debian: what kube-proxy and CNI call
DEBIAN_RUNTIME = ("containerd", "runc", "containernetworking-plugins")   # replaced, purged
BIN_DIR = "/usr/local/bin"
RUNC = "/usr/local/sbin/runc"
UNIT = "/usr/local/lib/systemd/system/containerd.service"
CONFIG_PATH = "/etc/containerd/config.toml"
CNI_BIN_DIR = "/opt/cni/bin"
#: The base plugins a node installs: flannel's conflist delegates to bridge and
#: host-local and chains portmap; containerd sets up each pod's lo with loopback.
CNI_INSTALLED = ("bridge", "host-local", "loopback", "portmap")
CNI_CONF_DIR = "/etc/cni/net.d"
CRICTL_CONFIG = "/etc/crictl.yaml"
SOCKET = "/run/containerd/containerd.sock"
IMAGE_DIR = "/var/lib/kubernetes-journey/images"
NAMESPACE = "k8s.io"                # the containerd namespace the CRI plugin uses
PINNED_LABEL = "io.cri-containerd.pinned=pinned"
MIRRORED_REGISTRIES = ("registry.k8s.io", "docker.io")
#: The images every node holds: pod sandbox, cluster DNS, demo server, client shell.
BUNDLE = ("pause", "coredns", "agnhost", "busybox", "metallb-controller", "metallb-speaker",
          "traefik", "local-path-provisioner", "redis", "guestbook", "metrics-server")


@dataclass(frozen=True)
class ContainerdSettings:
    """What ``config.toml`` says for one node.

    Attributes:
        version: containerd's version on the node (``2.4.2``): picks the schema.
        cgroup_driver: ``systemd`` or ``cgroupfs`` (must match the kubelet's).
        sandbox_image: the pinned pause image reference.
        registry_mirror: a registry mirror URL (``sources.images: registry``), or None.
        restrict_oom_score_adj: never set a container's oom_score_adj below containerd's
            own (hosts without CAP_SYS_RESOURCE, see :mod:`helpers.node_facts`).
    """

    version: str
    cgroup_driver: str
    sandbox_image: str
    registry_mirror: str | None = None
    restrict_oom_score_adj: bool = False


def image_ref(name: str) -> str:
    """The upstream reference of a bundle image (``registry.k8s.io/pause:3.10.2``), from the pins."""
    from helpers import artifacts  # noqa: PLC0415

    return artifacts.bundle_image(name)


def parse_version(text: str) -> str:
    """Return ``X.Y.Z`` from ``containerd --version`` output.

    Raises:
        ValueError: no version number in the text.
    """
    match = re.search(r"\sv?(\d+)\.(\d+)\.(\d+)", f" {text}")
    if not match:
        raise ValueError(f"no containerd version in {text.strip()!r}")
    return ".".join(match.groups())


def render_config(settings: ContainerdSettings) -> str:
    """Render ``/etc/containerd/config.toml`` (schema version 3, containerd 2.x).

    Raises:
        ValueError: containerd before 2.0 (Kubernetes 1.36 and later refuse it), or an
            unknown cgroup driver.
    """
    major, minor, _ = (int(p) for p in settings.version.split("."))
    if major != 2:
        raise ValueError(f"containerd {settings.version} is not supported: Kubernetes 1.36 and later "
                         "need containerd 2.x (this runbook configures schema version 3)")
    if settings.cgroup_driver not in ("systemd", "cgroupfs"):
        raise ValueError(f"unknown cgroup driver {settings.cgroup_driver!r}")
    return render_template("containerd/config.toml.j2", {
        "major_minor": f"{major}.{minor}",
        "sandbox_image": settings.sandbox_image,
        "cgroup_driver": settings.cgroup_driver,
        "cni_bin_dir": CNI_BIN_DIR,
        "runc_path": RUNC,
        "cni_conf_dir": CNI_CONF_DIR,
        "registry_mirror": settings.registry_mirror,
        "restrict_oom_score_adj": settings.restrict_oom_score_adj,
    })


def render_hosts_toml(registry: str, mirror: str) -> str:
    """Render ``/etc/containerd/certs.d/<registry>/hosts.toml`` sending pulls to ``mirror`` first."""
    return render_template("containerd/hosts.toml.j2", {"registry": registry, "mirror": mirror})


def settings_for(inv, facts: NodeFacts, version: str) -> ContainerdSettings:
    """The containerd settings of one node, from the inventory and the node's facts."""
    mirror = inv.sources.registry_mirror if inv.sources.images == "registry" else None
    return ContainerdSettings(version, facts.cgroup_driver, image_ref("pause"), mirror,
                              restrict_oom_score_adj=not facts.sys_resource)


def node_selector(inv) -> list[str]:
    """Names of the hosts that run a kubelet (masters and workers)."""
    from helpers.node_pki import node_hosts  # noqa: PLC0415

    return [h.name for h in node_hosts(inv)]


def runtime_files(inv) -> dict:
    """Fetch (sha256-verified) and unpack the runtime's release files on the operator's machine.

    Returns {remote path: artifact} for every binary a node installs, plus ``"unit"``,
    upstream's ``containerd.service``.
    """
    from helpers import artifacts  # noqa: PLC0415

    files = {}
    tarball = artifacts.fetch(inv, "containerd")
    for name in artifacts.CONTAINERD_BINARIES:
        files[f"{BIN_DIR}/{name}"] = artifacts.extract(tarball, name)
    files[RUNC] = artifacts.fetch(inv, "runc")
    plugins = artifacts.fetch(inv, "cni-plugins")
    for name in CNI_INSTALLED:
        files[f"{CNI_BIN_DIR}/{name}"] = artifacts.extract(plugins, name)
    files[f"{BIN_DIR}/crictl"] = artifacts.extract(artifacts.fetch(inv, "crictl"), "crictl")
    files["unit"] = artifacts.fetch(inv, "containerd-service")
    return files


def render_crictl_config() -> str:
    """``/etc/crictl.yaml``: crictl talks to containerd's CRI socket, like the kubelet."""
    return render_template("containerd/crictl.yaml.j2", {"socket": SOCKET})


def convert_debian_runtime(h) -> Change:
    """Purge Debian's containerd, runc and CNI plugins when an earlier run installed them.

    containerd is stopped first (its running containers' shims stay up, as on any
    containerd restart); ``/var/lib/containerd`` is not part of the package, so the
    imported images survive and are not imported again.
    """
    from helpers.ensure.packages import installed_packages  # noqa: PLC0415

    found = installed_packages(h, DEBIAN_RUNTIME)
    if not found:
        return Change(False, "no Debian runtime packages")
    present = sorted(found)
    h.run("systemctl stop containerd.service", check=False)
    apt = "DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300"
    h.run(f"{apt} -y purge -- {' '.join(present)}", timeout=300)
    versions = ", ".join(f"{p} {v}" for p, v in sorted(found.items()))
    return Change(True, f"converted: purged Debian's {versions}")


def ensure_containerd(fleet) -> Report:
    """Install containerd 2.x, runc, the CNI base plugins and crictl on every node; configure containerd.

    Binaries are uploaded only where a node's copy differs (sha256); the cgroup driver is
    chosen per node from its facts; containerd is restarted only when one of its inputs
    (binaries, runc, unit, configuration) changed since it last started, so a re-run
    restarts nothing.
    """
    from helpers.ensure import (  # noqa: PLC0415
        ensure_binary,
        ensure_directory,
        ensure_file,
        ensure_packages,
        ensure_unit_current,
        probe_paths,
    )

    inv = fleet.inventory
    files = runtime_files(inv)
    unit_text = files.pop("unit").path.read_text()
    crictl_config = render_crictl_config()
    dirs = ("/usr/local/sbin", "/usr/local/lib/systemd/system", "/opt/cni", CNI_BIN_DIR,
            "/etc/containerd", CNI_CONF_DIR)

    def apply(h) -> Change:
        converted = convert_debian_runtime(h)
        probe_paths(h, (*dirs, *files, UNIT, CONFIG_PATH, CRICTL_CONFIG))
        installed = ensure_packages(h, PACKAGES)
        changes = [ensure_directory(h, d) for d in dirs]
        changes += [ensure_binary(h, path, art) for path, art in files.items()]
        changes += [ensure_file(h, UNIT, unit_text), ensure_file(h, CRICTL_CONFIG, crictl_config)]
        facts = gather_node_facts(h)
        version = parse_version(h.run(f"{BIN_DIR}/containerd --version").stdout)
        settings = settings_for(inv, facts, version)
        try:
            text = render_config(settings)
        except ValueError as err:
            raise HostError(h.name, "configure containerd", str(err)) from None
        changes.append(ensure_file(h, CONFIG_PATH, text, mode=0o644))
        inputs = [*(p for p in files if not p.startswith(CNI_BIN_DIR) and not p.endswith("crictl")),
                  UNIT, CONFIG_PATH]
        if settings.registry_mirror:
            for registry in MIRRORED_REGISTRIES:
                path = f"/etc/containerd/certs.d/{registry}/hosts.toml"
                changes.append(ensure_file(h, path, render_hosts_toml(registry, settings.registry_mirror)))
                inputs.append(path)
        service = ensure_unit_current(h, "containerd", inputs)
        merged = Change.merge(converted, installed, *changes, service)
        driver = f"containerd {version}, {settings.cgroup_driver} cgroup driver"
        return Change(merged.changed, f"{merged.detail}; {driver}" if merged.detail else driver)

    return fleet.step("containerd", apply, hosts=node_selector(inv), skip="not a Kubernetes node (no master or worker role)")


def crictl(h, args: str) -> str:
    """Run ``crictl <args>`` on a node (as an operator debugging pods would) and return its output."""
    return h.run(f"{BIN_DIR}/crictl {args}").stdout


def _ctr(cmd: str) -> str:
    return f"{BIN_DIR}/ctr -a {SOCKET} -n {NAMESPACE} {cmd}"


def ensure_images(fleet) -> Report:
    """Import the image bundle into containerd on every node (``sources.images: bundle``).

    Each archive is fetched from the release mirror (sha256-verified), uploaded only
    when the node's copy differs, and imported only when ``ctr images ls`` does not
    list its reference yet. Every bundle image is labelled pinned, so the kubelet's image
    garbage collection never removes one: on an air-gapped node nothing could pull it
    back (CI lost metrics-server's image that way, between 05 and 09, when the disk the
    lab's nodes share passed 85 % in the kubelet's reckoning). With
    ``sources.images: registry`` nothing is done.
    """
    from helpers import artifacts  # noqa: PLC0415
    from helpers.ensure import ensure_binary, ensure_directory  # noqa: PLC0415

    inv = fleet.inventory
    if inv.sources.images != "bundle":
        return fleet.step("image bundle", lambda h: Change(False, "sources.images is registry: pulled on demand"),
                          hosts=node_selector(inv))
    bundle = {name: (artifacts.fetch(inv, f"image-bundle:{name}"), image_ref(name)) for name in BUNDLE}

    def apply(h) -> Change:
        changes = [ensure_directory(h, IMAGE_DIR, mode=0o755)]
        present = set(h.run(_ctr("images ls -q")).stdout.split())
        imported = []
        for name, (artifact, ref) in bundle.items():
            path = f"{IMAGE_DIR}/{name}.tar"
            changes.append(ensure_binary(h, path, artifact))
            if ref not in present:
                h.run(_ctr(f"images import {shlex.quote(path)}"), timeout=300)
                imported.append(ref)
        # pinned: the kubelet's image garbage collection (which starts at 85 % of the image
        # disk, however large) must never delete an image the nodes cannot pull again
        listing = h.run(_ctr("images ls")).stdout.splitlines()[1:]
        unpinned = sorted(ref for _, ref in bundle.values()
                          if any(line.split()[:1] == [ref] and "io.cri-containerd.pinned" not in line
                                 for line in listing))
        for ref in unpinned:
            h.run(_ctr(f"images label {shlex.quote(ref)} {PINNED_LABEL}"))
        if unpinned:
            imported.append(f"pinned {len(unpinned)} image(s)")
        missing = sorted(ref for _, ref in bundle.values()
                         if ref not in set(h.run(_ctr("images ls -q")).stdout.split()))
        if missing:
            raise HostError(h.name, "import the image bundle",
                            f"after import containerd still lists no {', '.join(missing)}")
        if imported:
            return Change(True, "imported " + ", ".join(imported))
        merged = Change.merge(*changes)
        return Change(merged.changed, merged.detail or f"{len(bundle)} images present")

    return fleet.step("image bundle", apply, hosts=node_selector(inv), skip="not a Kubernetes node (no master or worker role)")


def runtime_pins() -> dict[str, str]:
    """The pinned runtime versions (``helpers/versions.yaml``): containerd, runc, cni_plugins, crictl."""
    from helpers import artifacts  # noqa: PLC0415

    versions = artifacts.load_versions()
    return {key: versions[key] for key in artifacts.RUNTIME_KEYS}


def parse_crictl_version(text: str) -> dict[str, str]:
    """``crictl version`` output (``RuntimeName:  containerd`` lines) as a dict."""
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in text.splitlines()) if v.strip()}


def verify_runtime(fleet) -> Verdict:
    """Every node runs the pinned containerd, runc and crictl, and reports that runtime to the API.

    Asks each node (one SSH round trip) for ``containerd --version``, ``runc --version`` and
    ``crictl version`` (the CRI's own answer, as the kubelet sees it), and the API server
    for the node's ``status.nodeInfo.containerRuntimeVersion``. A problem per node whose
    versions differ from the pins or whose CRI answer is not containerd's.
    """
    from kubernetes import client  # noqa: PLC0415

    from helpers.kube import api_client  # noqa: PLC0415

    pins = runtime_pins()
    inv = fleet.inventory
    seen: dict[str, tuple[str, str, dict[str, str]]] = {}

    def read(h) -> Change:
        out = h.run(f"{BIN_DIR}/containerd --version; echo ==; {RUNC} --version; echo ==; "
                    f"{BIN_DIR}/crictl version", check=False).stdout
        parts = (out.split("==\n") + ["", "", ""])[:3]
        runc = next(iter(parts[1].split("\n", 1)), "").removeprefix("runc version ").strip()
        seen[h.name] = (parts[0].strip(), runc, parse_crictl_version(parts[2]))
        return Change(False, "read")

    fleet.step("read runtime versions", read, hosts=node_selector(inv))
    reported = {n.metadata.name: n.status.node_info.container_runtime_version
                for n in client.CoreV1Api(api_client(inv)).list_node().items}
    rows, problems = [], []
    want_containerd = pins["containerd"].lstrip("v")
    for name in node_selector(inv):
        text, runc, cri = seen.get(name, ("", "", {}))
        try:
            have = parse_version(text)
        except ValueError:
            have = ""
        api = reported.get(name, "not registered")
        rows.append([name, have or "-", runc or "-", cri.get("RuntimeVersion", "-"), api])
        if have != want_containerd:
            problems.append(f"{name}: containerd is {have or 'missing'}, pinned {want_containerd}")
        if runc != pins["runc"].lstrip("v"):
            problems.append(f"{name}: runc is {runc or 'missing'}, pinned {pins['runc'].lstrip('v')}")
        if cri.get("RuntimeName") != "containerd":
            problems.append(f"{name}: crictl version got no answer from containerd's CRI ({cri or 'nothing'})")
        if api != f"containerd://{want_containerd}":
            problems.append(f"{name}: the API server reports runtime {api}, not containerd://{want_containerd}")
    return Verdict("Node runtime", ["node", "containerd", "runc", "CRI (crictl version)", "API nodeInfo"],
                   rows, problems)


def crictl_on(fleet, name: str, args: str) -> str:
    """Run ``crictl <args>`` on the node ``name`` and return what it prints (``ps``, ``images``, ``pods``)."""
    (host,) = fleet.hosts(name)
    return crictl(host, args)


def node_config(fleet, name: str) -> str:
    """``/etc/containerd/config.toml`` as it is on the node ``name`` (to show it where it is explained)."""
    (host,) = fleet.hosts(name)
    return (host.read_file(CONFIG_PATH) or b"").decode(errors="replace")
