"""The container runtime on every node: containerd with runc and the CNI base plugins.

The kubelet does not run containers itself: it asks a runtime over the CRI socket
(``/run/containerd/containerd.sock``). containerd pulls or holds images, creates each
pod's network namespace through the CNI plugins, and starts containers with runc.
Everything comes from Debian packages (``containerd``, ``runc``,
``containernetworking-plugins``, whose base plugins live in ``/usr/lib/cni``).

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

PACKAGES = ["containerd", "runc", "containernetworking-plugins", "iptables", "conntrack"]
CONFIG_PATH = "/etc/containerd/config.toml"
CNI_BIN_DIR = "/usr/lib/cni"        # Debian's containernetworking-plugins
CNI_CONF_DIR = "/etc/cni/net.d"
SOCKET = "/run/containerd/containerd.sock"
IMAGE_DIR = "/var/lib/kubernetes-journey/images"
NAMESPACE = "k8s.io"                # the containerd namespace the CRI plugin uses
PINNED_LABEL = "io.cri-containerd.pinned=pinned"
MIRRORED_REGISTRIES = ("registry.k8s.io", "docker.io")
#: The images every node holds: pod sandbox, cluster DNS, demo server, client shell.
BUNDLE = ("pause", "coredns", "agnhost", "busybox")


@dataclass(frozen=True)
class ContainerdSettings:
    """What ``config.toml`` says for one node.

    Attributes:
        version: containerd's version on the node (``1.7.24``): picks the schema.
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
    """Render ``/etc/containerd/config.toml`` (schema version 2, containerd 1.6/1.7).

    Raises:
        ValueError: containerd 2.x (schema version 3) is not supported yet, or an
            unknown cgroup driver.
    """
    major, minor, _ = (int(p) for p in settings.version.split("."))
    if major != 1 or minor < 6:
        raise ValueError(f"containerd {settings.version} is not supported (this runbook configures 1.6/1.7)")
    if settings.cgroup_driver not in ("systemd", "cgroupfs"):
        raise ValueError(f"unknown cgroup driver {settings.cgroup_driver!r}")
    return render_template("containerd/config.toml.j2", {
        "major_minor": f"{major}.{minor}",
        "sandbox_image": settings.sandbox_image,
        "cgroup_driver": settings.cgroup_driver,
        "cni_bin_dir": CNI_BIN_DIR,
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


def ensure_containerd(fleet) -> Report:
    """Install containerd, runc and the CNI plugins on every node and configure containerd.

    The cgroup driver is chosen per node from its facts; containerd is restarted only
    when its configuration changed since it last started (a re-run restarts nothing).
    """
    from helpers.ensure import ensure_directory, ensure_file, ensure_packages, ensure_unit_current  # noqa: PLC0415

    inv = fleet.inventory

    def apply(h) -> Change:
        installed = ensure_packages(h, PACKAGES)
        facts = gather_node_facts(h)
        version = parse_version(h.run("containerd --version").stdout)
        settings = settings_for(inv, facts, version)
        try:
            text = render_config(settings)
        except ValueError as err:
            raise HostError(h.name, "configure containerd", str(err)) from None
        changes = [ensure_directory(h, "/etc/containerd"), ensure_directory(h, CNI_CONF_DIR)]
        changes.append(ensure_file(h, CONFIG_PATH, text, mode=0o644))
        inputs = [CONFIG_PATH]
        if settings.registry_mirror:
            for registry in MIRRORED_REGISTRIES:
                path = f"/etc/containerd/certs.d/{registry}/hosts.toml"
                changes.append(ensure_file(h, path, render_hosts_toml(registry, settings.registry_mirror)))
                inputs.append(path)
        service = ensure_unit_current(h, "containerd", inputs)
        merged = Change.merge(installed, *changes, service)
        driver = f"containerd {version}, {settings.cgroup_driver} cgroup driver"
        return Change(merged.changed, f"{merged.detail}; {driver}" if merged.detail else driver)

    return fleet.step("containerd", apply, hosts=node_selector(inv), skip="not a Kubernetes node (no master or worker role)")


def _ctr(cmd: str) -> str:
    return f"ctr -a {SOCKET} -n {NAMESPACE} {cmd}"


def ensure_images(fleet) -> Report:
    """Import the image bundle into containerd on every node (``sources.images: bundle``).

    Each archive is fetched from the release mirror (sha256-verified), uploaded only
    when the node's copy differs, and imported only when ``ctr images ls`` does not
    list its reference yet; the pause image is labelled pinned so image garbage
    collection never removes it. With ``sources.images: registry`` nothing is done.
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
        labels = h.run(_ctr(f"images ls name=={shlex.quote(image_ref('pause'))}")).stdout
        if "io.cri-containerd.pinned" not in labels:
            h.run(_ctr(f"images label {shlex.quote(image_ref('pause'))} {PINNED_LABEL}"))
            imported.append("pinned pause")
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
