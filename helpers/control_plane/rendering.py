"""Rendering (pure): the templates of each component and the files it needs on a master.

Reads the cluster directory (certificates, kubeconfigs, encryption config) but changes
nothing, locally or remotely.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from helpers import k8s_pki
from helpers.constants import TLS_CIPHER_SUITES
from helpers.control_plane.layout import (
    AUDIT_LOG,
    AUTHENTICATION_API_VERSION,
    CONFIG_DIR,
    ETCD_CLIENT,
    KUBE_DIR,
    PKI_DIR,
    TEMPLATES,
    etcd_pki_dir,
    etcd_servers,
    kubeconfig_dir,
)
from helpers.ensure import render_template
from helpers.errors import ConfigError
from helpers.pki import validity_of

# ------------------------------------------------------------------ rendering (pure)


def unit_context(inv, host) -> dict:
    """The values the control-plane templates need for one master."""
    return {
        "advertise_address": str(host.address),
        "etcd_servers": etcd_servers(inv, host),
        "service_cidr": str(inv.network.service_cidr),
        "pod_cidr": str(inv.network.pod_cidr),
        "cluster_name": inv.cluster.name,
        "service_account_issuer": k8s_pki.service_account_issuer(inv),
        "pki_dir": PKI_DIR,
        "config_dir": CONFIG_DIR,
        "kube_dir": KUBE_DIR,
        "authentication_api_version": AUTHENTICATION_API_VERSION,
        "anonymous_paths": k8s_pki.ANONYMOUS_HEALTH_PATHS,
        "audit_log": AUDIT_LOG,
        "tls_cipher_suites": ",".join(TLS_CIPHER_SUITES),
        "signing_duration": go_duration(validity_of(inv).leaf),
    }


def go_duration(delta) -> str:
    """A timedelta as a Go duration (``8760h0m0s``): what ``--cluster-signing-duration`` takes."""
    seconds = int(delta.total_seconds())
    return f"{seconds // 3600}h{seconds % 3600 // 60}m{seconds % 60}s"


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

    # 0600 root:root: the role CIS gives the static-pod manifests, which our unit files play
    unit = RemoteFile(f"/etc/systemd/system/{component}.service", render(f"{component}.service", inv, host).encode(),
                      0o600)
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
                       render("authentication-config.yaml", inv, host).encode(), 0o600),
            RemoteFile(f"{CONFIG_DIR}/audit-policy.yaml", render("audit-policy.yaml", inv, host).encode(), 0o600),
            RemoteFile(f"{CONFIG_DIR}/admission-config.yaml", render("admission-config.yaml", inv, host).encode(),
                       0o600),
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
            RemoteFile(f"{CONFIG_DIR}/kube-scheduler.yaml", render("kube-scheduler.yaml", inv, host).encode(),
                       0o600),
            unit,
        ]
    raise ValueError(f"unknown control-plane component {component!r}")
