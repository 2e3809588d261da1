"""The release catalogue: every artifact's name, pinned version and path in upstream's layout.

An artifact is named once (``kube-apiserver``, ``etcd``, ``containerd``, ``image-bundle:pause``)
and :func:`release` resolves it, from the pins of ``helpers/versions.yaml``, to a
:class:`Release`: its version, its path in the upstream URL layout (host name first), where
upstream publishes its checksum, and for images the upstream reference. The download side
(:mod:`helpers.artifacts`) and the mirror builder (:mod:`helpers.mirror`) both read it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from helpers.errors import ConfigError

VERSIONS_FILE = Path(__file__).resolve().parent / "versions.yaml"

ARCH = "amd64"

#: Kubernetes binaries published under dl.k8s.io/release/<version>/bin/linux/amd64/.
KUBERNETES_BINARIES = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "kubectl",
)

#: Image bundles: short name -> (repository of the upstream image ref, versions.yaml key).
IMAGES = {
    "pause": ("registry.k8s.io/pause", "pause"),
    "coredns": ("registry.k8s.io/coredns/coredns", "coredns"),
    "agnhost": ("registry.k8s.io/e2e-test-images/agnhost", "agnhost"),
    "busybox": ("docker.io/library/busybox", "busybox"),
    "metallb-controller": ("quay.io/metallb/controller", "metallb"),
    "metallb-speaker": ("quay.io/metallb/speaker", "metallb"),
    "traefik": ("docker.io/library/traefik", "traefik"),
    "local-path-provisioner": ("docker.io/rancher/local-path-provisioner", "local_path_provisioner"),
    "redis": ("docker.io/library/redis", "redis"),
    "guestbook": ("localhost/kubernetes-journey/guestbook", "guestbook"),
    "metrics-server": ("registry.k8s.io/metrics-server/metrics-server", "metrics_server"),
}

#: Images of this project (built from its own source, published nowhere): never fetched.
PROJECT_IMAGES = ("guestbook",)

#: Manifests published beside a release: artifact name -> versions.yaml key.
MANIFESTS = {"metallb-manifest": "metallb", "gateway-api-crds": "gateway_api",
             "local-path-manifest": "local_path_provisioner", "metrics-server-manifest": "metrics_server"}

IMAGE_PREFIX = "image-bundle:"

#: The node runtime's release files: artifact name -> versions.yaml key.
RUNTIME = {
    "containerd": "containerd",
    "containerd-service": "containerd",
    "runc": "runc",
    "cni-plugins": "cni_plugins",
    "crictl": "crictl",
}
RUNTIME_KEYS = ("containerd", "runc", "cni_plugins", "crictl")
#: What containerd's release tarball holds under bin/ (upstream's also has containerd-stress).
CONTAINERD_BINARIES = ("containerd", "containerd-shim-runc-v2", "ctr")
#: Every Linux plugin of the CNI base plugins release, as its tarball lists them.
CNI_PLUGINS = (
    "bandwidth", "bridge", "dhcp", "dummy", "firewall", "host-device", "host-local", "ipvlan",
    "loopback", "macvlan", "portmap", "ptp", "sbr", "static", "tap", "tuning", "vlan", "vrf",
)



@dataclass(frozen=True)
class Release:
    """One artifact's identity: name, version and path in the upstream URL layout."""

    name: str
    version: str
    path: str
    image_ref: str | None = None
    #: where upstream publishes this file's sha256, host name first (``None``: nowhere,
    #: so a download from upstream can be trusted only with a pin in versions.yaml)
    upstream_checksum: str | None = ""

    def __post_init__(self) -> None:
        if self.upstream_checksum == "":
            object.__setattr__(self, "upstream_checksum", self.path + ".sha256")

    @property
    def filename(self) -> str:
        """The file name (last path component)."""
        return self.path.rsplit("/", 1)[-1]


def load_versions(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Read the pinned versions (``helpers/versions.yaml`` unless ``path`` is given).

    Raises:
        ConfigError: the file is missing, not YAML, or lacks a required key.
    """
    source = Path(path) if path else VERSIONS_FILE
    try:
        data = yaml.safe_load(source.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"failed to read versions file {source}: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"failed to read versions file {source}: not a mapping")
    required = (
        "kubernetes",
        "etcd",
        "flannel",
        "flannel_cni_plugin",
        "coredns",
        "pause",
        "agnhost",
        "busybox",
        "metallb",
        "traefik",
        "gateway_api",
        "local_path_provisioner",
        "redis",
        "guestbook",
        "metrics_server",
        *RUNTIME_KEYS,
    )
    missing = [key for key in required if not data.get(key)]
    if missing:
        raise ConfigError(f"versions file {source} lacks: {', '.join(missing)}")
    data = {k: (str(v) if k in required else v) for k, v in data.items()}
    data.setdefault("sha256", {})
    return data


def artifact_names(versions: dict[str, Any] | None = None) -> list[str]:
    """Every artifact name ``fetch`` knows, in a stable order."""
    return [
        *KUBERNETES_BINARIES,
        "etcd",
        "flanneld",
        "flannel-cni-plugin",
        *RUNTIME,
        *MANIFESTS,
        *(IMAGE_PREFIX + short for short in IMAGES),
    ]


def image_ref(short: str, versions: dict[str, Any]) -> str:
    """The upstream image reference of an image bundle, e.g. ``registry.k8s.io/pause:3.10.2``."""
    repo, key = IMAGES[short]
    return f"{repo}:{versions[key]}"


def bundle_image(short: str) -> str:
    """The upstream reference of a bundle image by its short name (``pause``), from the pins."""
    return image_ref(short, load_versions())


def release(
    name: str, versions: dict[str, Any] | None = None, kubernetes_version: str | None = None
) -> Release:
    """Resolve an artifact name to its version and upstream-layout path.

    Args:
        name: an entry of :func:`artifact_names`.
        versions: the pinned versions (default: :func:`load_versions`).
        kubernetes_version: overrides the pinned Kubernetes version for kube-* binaries.

    Raises:
        ConfigError: the name is unknown.
    """
    v = versions if versions is not None else load_versions()
    if name in KUBERNETES_BINARIES:
        ver = kubernetes_version or v["kubernetes"]
        return Release(name, ver, f"dl.k8s.io/release/{ver}/bin/linux/{ARCH}/{name}")
    if name == "etcd":
        ver = v["etcd"]
        base = f"github.com/etcd-io/etcd/releases/download/{ver}"
        return Release(
            name, ver, f"{base}/etcd-{ver}-linux-{ARCH}.tar.gz", upstream_checksum=f"{base}/SHA256SUMS"
        )
    if name == "flanneld":
        ver = v["flannel"]
        # flannel's releases publish no checksums: only a pin makes a download trustworthy
        return Release(
            name,
            ver,
            f"github.com/flannel-io/flannel/releases/download/{ver}/flanneld-{ARCH}",
            upstream_checksum=None,
        )
    if name == "flannel-cni-plugin":
        ver = v["flannel_cni_plugin"]
        return Release(
            name,
            ver,
            f"github.com/containernetworking/plugins/releases/download/{ver}/cni-plugins-linux-{ARCH}-{ver}.tgz",
        )
    if name in RUNTIME:
        return _runtime_release(name, v[RUNTIME[name]])
    if name == "metallb-manifest":
        ver = v["metallb"]
        # MetalLB's documented install manifest (native, layer 2 and BGP without FRR), from the tag
        return Release(name, ver, f"raw.githubusercontent.com/metallb/metallb/{ver}/config/manifests/metallb-native.yaml",
                       upstream_checksum=None)
    if name == "gateway-api-crds":
        ver = v["gateway_api"]
        # the standard channel's CRDs, as the project attaches them to each release
        return Release(name, ver, f"github.com/kubernetes-sigs/gateway-api/releases/download/{ver}/standard-install.yaml",
                       upstream_checksum=None)
    if name == "local-path-manifest":
        ver = v["local_path_provisioner"]
        # the install manifest the project's README applies, from the tag
        return Release(name, ver, f"raw.githubusercontent.com/rancher/local-path-provisioner/{ver}/deploy/local-path-storage.yaml",
                       upstream_checksum=None)
    if name == "metrics-server-manifest":
        ver = v["metrics_server"]
        # the manifest the project's README applies, attached to each release
        return Release(name, ver, f"github.com/kubernetes-sigs/metrics-server/releases/download/{ver}/components.yaml",
                       upstream_checksum=None)
    if name.startswith(IMAGE_PREFIX) and name[len(IMAGE_PREFIX) :] in IMAGES:
        short = name[len(IMAGE_PREFIX) :]
        ver = v[IMAGES[short][1]]
        return Release(name, ver, f"images/{short}-{ver}.tar", image_ref=image_ref(short, v))
    raise ConfigError(f"unknown artifact {name!r}; known: {', '.join(artifact_names(v))}")


def _runtime_release(name: str, ver: str) -> Release:
    """containerd, its systemd unit, runc, the CNI base plugins and crictl at upstream's paths."""
    if name == "containerd":
        path = f"github.com/containerd/containerd/releases/download/{ver}/containerd-{ver[1:]}-linux-{ARCH}.tar.gz"
        return Release(name, ver, path, upstream_checksum=path + ".sha256sum")
    if name == "containerd-service":
        # upstream's unit file, from the tagged source (no checksum is published beside it)
        path = f"raw.githubusercontent.com/containerd/containerd/{ver}/containerd.service"
        return Release(name, ver, path, upstream_checksum=None)
    if name == "runc":
        base = f"github.com/opencontainers/runc/releases/download/{ver}"
        return Release(name, ver, f"{base}/runc.{ARCH}", upstream_checksum=f"{base}/runc.sha256sum")
    if name == "cni-plugins":
        base = f"github.com/containernetworking/plugins/releases/download/{ver}"
        return Release(name, ver, f"{base}/cni-plugins-linux-{ARCH}-{ver}.tgz")
    base = f"github.com/kubernetes-sigs/cri-tools/releases/download/{ver}"
    return Release(name, ver, f"{base}/crictl-{ver}-linux-{ARCH}.tar.gz")


def archive_members(name: str, version: str) -> dict[str, str]:
    """The binaries inside a release tarball: {binary name: member path}.

    ``etcd`` -> etcd, etcdctl, etcdutl under ``etcd-vX-linux-amd64/``;
    ``flannel-cni-plugin`` -> ``./flannel``.
    """
    if name == "etcd":
        top = f"etcd-{version}-linux-{ARCH}"
        return {b: f"{top}/{b}" for b in ("etcd", "etcdctl", "etcdutl")}
    if name == "flannel-cni-plugin":
        return {"flannel": "./flannel"}
    if name == "containerd":
        return {b: f"bin/{b}" for b in CONTAINERD_BINARIES}
    if name == "cni-plugins":
        return {b: f"./{b}" for b in CNI_PLUGINS}
    if name == "crictl":
        return {"crictl": "crictl"}
    raise ConfigError(f"{name} is not a tarball artifact")
