"""The Kubernetes PKI: CAs, certificates, the service-account key pair and the encryption key.

Everything is generated on the operator's machine under ``cluster_dir/pki/kubernetes``
(and ``cluster_dir/encryption``) with :mod:`helpers.pki`, once: a re-run finds valid
files and changes nothing. Who is who:

====================================  ===============================  ==================
file (``pki/kubernetes/``)            subject                          signed by
====================================  ===============================  ==================
``ca``                                CN=kubernetes                    itself
``front-proxy-ca``                    CN=front-proxy-ca                itself
``apiserver``                         CN=kube-apiserver (+ SANs)       ca
``apiserver-kubelet-client``          CN=kube-apiserver-kubelet-client ca
``front-proxy-client``                CN=front-proxy-client            front-proxy-ca
``admin``                             CN=admin, O=kj:cluster-admins    ca
``super-admin``                       CN=super-admin, O=system:masters ca
``kube-controller-manager``           CN=system:kube-controller-manager ca
``kube-scheduler``                    CN=system:kube-scheduler         ca
``sa.key`` / ``sa.pub``               (a bare RSA key pair)            -
====================================  ===============================  ==================

The API server's etcd client certificate belongs to the etcd PKI of notebook 03
(``pki/etcd``), signed by the etcd CA: etcd trusts only its own CA.
"""

from __future__ import annotations

import base64
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from helpers import pki, topology
from helpers.constants import ADMIN_GROUP
from helpers.errors import ConfigError
from helpers.kubeconfig import write_private_file
from helpers.tables import Table

#: Paths that anonymous requests may reach (see authentication-config.yaml.j2).
ANONYMOUS_HEALTH_PATHS = ["/livez", "/readyz", "/healthz"]


@dataclass(frozen=True)
class CertSpec:
    """One certificate of the Kubernetes PKI.

    Attributes:
        name: file stem under ``pki/kubernetes``.
        ca: file stem of the signing CA.
        common_name: subject CN (the user name for a client certificate).
        organization: subject O (the group for a client certificate), or None.
        usages: ``server``, ``client`` or ``both``.
        sans: subject alternative names (DNS names and IP addresses as strings).
    """

    name: str
    ca: str
    common_name: str
    organization: str | None = None
    usages: str = "client"
    sans: tuple[str, ...] = ()


def pki_dir(cluster_dir: Path) -> Path:
    """Directory of the Kubernetes PKI inside a cluster directory."""
    return Path(cluster_dir) / "pki" / "kubernetes"


def cluster_domain(inv) -> str:
    """The cluster's DNS domain, ``cluster.dns_domain`` (Services resolve as ``<svc>.<ns>.svc.<domain>``).

    ``cluster.local`` unless the inventory says otherwise: the convention every tool and
    the conformance suite assume. The hosts' own domain (``cluster.domain``) stays theirs.
    """
    return inv.cluster.dns_domain


def first_service_address(inv) -> ipaddress.IPv4Address:
    """The ``kubernetes`` Service's ClusterIP: the first address of the service range."""
    return inv.network.service_cidr.network_address + 1


def service_account_issuer(inv) -> str:
    """The issuer URL written into every service-account token (``iss`` claim)."""
    return f"https://kubernetes.default.svc.{cluster_domain(inv)}"


def apiserver_sans(inv) -> list[str]:
    """Every name and address a client may use to reach an API server, in a stable order.

    The VIP and its name ``kube-api.<domain>`` (what admins and nodes use), each load balancer and master by short name,
    FQDN and address (direct access, health checks), the in-cluster names of the
    ``kubernetes`` Service and its ClusterIP (pods), and loopback (the controller
    manager and scheduler talk to their own master's API server on 127.0.0.1).
    """
    names: list[str] = []

    def add(value) -> None:
        text = str(value)
        if text not in names:
            names.append(text)

    if inv.network.vip is not None:
        add(inv.network.vip)
    add(topology.API_HOSTNAME)  # kube-api(.<domain>) resolves to the VIP on every host
    add(topology.api_fqdn(inv))
    for host in inv.hosts_with("lb") + inv.hosts_with("master"):
        add(host.name)
        add(host.fqdn)
        add(host.address)
    for name in ("kubernetes", "kubernetes.default", "kubernetes.default.svc"):
        add(name)
    add(f"kubernetes.default.svc.{cluster_domain(inv)}")
    add(first_service_address(inv))
    add("localhost")
    add("127.0.0.1")
    return names


def cert_specs(inv) -> list[CertSpec]:
    """The certificates of the Kubernetes PKI for ``inv`` (CAs are created separately)."""
    return [
        CertSpec("apiserver", "ca", "kube-apiserver", usages="server",
                 sans=tuple(apiserver_sans(inv))),
        CertSpec("apiserver-kubelet-client", "ca", "kube-apiserver-kubelet-client"),
        CertSpec("front-proxy-client", "front-proxy-ca", "front-proxy-client"),
        # as kubeadm >= 1.29: admin is cluster-admin through a ClusterRoleBinding (revocable),
        # super-admin is system:masters (break-glass, bypasses RBAC), kept on the operator's machine
        CertSpec("admin", "ca", "admin", organization=ADMIN_GROUP),
        CertSpec("super-admin", "ca", "super-admin", organization="system:masters"),
        CertSpec("kube-controller-manager", "ca", "system:kube-controller-manager"),
        CertSpec("kube-scheduler", "ca", "system:kube-scheduler"),
    ]


CA_SPECS = {"ca": "kubernetes", "front-proxy-ca": "front-proxy-ca"}


def _pair_changed(result) -> tuple[object, bool]:
    """Normalise pki's return value to ``(pair, changed)``."""
    if isinstance(result, tuple):
        return result[0], bool(result[1])
    return result, bool(getattr(result, "changed", False))


def ensure_service_account_keys(directory: Path) -> bool:
    """Create the service-account signing key pair ``sa.key``/``sa.pub`` once.

    The API server signs service-account tokens with ``sa.key`` and verifies them with
    ``sa.pub``; the controller manager signs the tokens of its controllers with the same
    key. Regenerating it would invalidate every token in the cluster, so an existing
    valid key is kept; only a missing ``sa.pub`` is re-derived from it.

    Returns:
        True when a file was written.
    """
    key_path, pub_path = Path(directory) / "sa.key", Path(directory) / "sa.pub"
    changed = False
    if key_path.exists():
        try:
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        except ValueError as err:
            raise ConfigError(f"failed to read service-account key {key_path}: {err}") from err
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        changed |= write_private_file(key_path, pem, 0o600)
    pub = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    changed |= write_private_file(pub_path, pub, 0o644)
    if (key_path.stat().st_mode & 0o777) != 0o600:
        key_path.chmod(0o600)
        changed = True
    return changed


def issue_kubernetes_pki(inv) -> tuple[Table, bool]:
    """Create (once) the Kubernetes CAs, certificates and service-account key pair.

    Returns:
        ``(table, changed)``: one row per certificate (subject, SANs, issuer, expiry and
        what this call did with it) and whether anything was written.
    """
    directory = pki_dir(inv.cluster_dir)
    changed = False
    cas = {}
    pairs = []
    root = pki.root_of(inv)
    for name, cn in CA_SPECS.items():
        cas[name], was_changed = _pair_changed(pki.ensure_ca(directory, name, cn, root=root))
        pairs.append(cas[name])
        changed |= was_changed
    for spec in cert_specs(inv):
        pair, was_changed = _pair_changed(pki.ensure_cert(
            cas[spec.ca], directory, spec.name, spec.common_name,
            organization=spec.organization, sans=list(spec.sans), usages=spec.usages,
            validity=pki.validity_of(inv)))
        pairs.append(pair)
        changed |= was_changed
    sa_changed = ensure_service_account_keys(directory)
    changed |= sa_changed
    table = pki.cert_table(pairs, title=f"Kubernetes PKI in {directory}")
    table.columns.append("action")
    for row, pair in zip(table.rows, pairs, strict=True):
        row.append(getattr(pair, "detail", "") or "-")
    table.rows.append(["sa", "(service-account signing key pair)", "-", "-", "-", "-", "RSA 2048",
                       "created" if sa_changed else "reused"])
    return table, changed


# --- encryption at rest -------------------------------------------------------------

ENCRYPTION_PROVIDER = "secretbox"


def encryption_config_path(cluster_dir: Path) -> Path:
    """Where the EncryptionConfiguration (with its key) lives in the cluster directory."""
    return Path(cluster_dir) / "encryption" / "encryption-config.yaml"


def render_encryption_config(key: bytes, key_name: str = "key1") -> str:
    """Return an EncryptionConfiguration that encrypts Secrets with ``key`` (32 bytes).

    ``secretbox`` (XSalsa20-Poly1305) writes new Secrets encrypted; ``identity`` comes
    last so Secrets written before encryption was turned on can still be read.
    """
    if len(key) != 32:
        raise ConfigError(f"failed to build the encryption config: key is {len(key)} bytes, need 32")
    doc = {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
        "resources": [
            {
                "resources": ["secrets"],
                "providers": [
                    {ENCRYPTION_PROVIDER: {"keys": [
                        {"name": key_name, "secret": base64.b64encode(key).decode()}]}},
                    {"identity": {}},
                ],
            }
        ],
    }
    return yaml.safe_dump(doc, sort_keys=False)


def validate_encryption_config(text: str | bytes, source: str = "encryption config") -> None:
    """Raise ConfigError unless ``text`` is an EncryptionConfiguration with a 32-byte first key."""
    try:
        doc = yaml.safe_load(text)
        providers = doc["resources"][0]["providers"]
        first = providers[0]
        (kind, body), = first.items()
        secret = base64.b64decode(body["keys"][0]["secret"], validate=True)
    except Exception as err:  # noqa: BLE001 - any shape problem is the same error
        raise ConfigError(f"failed to read {source}: not a valid EncryptionConfiguration ({err!r})") from err
    if doc.get("kind") != "EncryptionConfiguration":
        raise ConfigError(f"failed to read {source}: kind is {doc.get('kind')!r}")
    if kind not in ("secretbox", "aescbc", "aesgcm"):
        raise ConfigError(f"failed to read {source}: first provider is {kind!r}, not an encrypting one")
    if len(secret) != 32:
        raise ConfigError(f"failed to read {source}: key is {len(secret)} bytes, need 32")
    if "identity" not in providers[-1]:
        raise ConfigError(f"failed to read {source}: identity must be the last provider")


def write_encryption_config(cluster_dir: Path) -> tuple[Path, bool]:
    """Generate the encryption-at-rest configuration once; never rotate it on a re-run.

    Returns:
        ``(path, changed)``; ``changed`` is True only on the first run (or when the
        file's mode had to be fixed back to 0600).
    """
    path = encryption_config_path(cluster_dir)
    if path.exists():
        validate_encryption_config(path.read_bytes(), str(path))
        if (path.stat().st_mode & 0o777) != 0o600:
            path.chmod(0o600)
            return path, True
        return path, False
    return path, write_private_file(path, render_encryption_config(os.urandom(32)), 0o600)
