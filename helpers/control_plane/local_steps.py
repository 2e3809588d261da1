"""Steps on the operator's machine: Kubernetes PKI, encryption config, kubeconfigs, probe Secret.

Each step is a one-row :class:`~helpers.report.Report` for the operator (``_local_step``).
"""

from __future__ import annotations

import time

from helpers import k8s_pki, pki
from helpers.constants import ADMIN_GROUP, API_PORT
from helpers.control_plane.layout import PROBE_SECRET, api_server_url, kubeconfig_dir
from helpers.control_plane.rendering import _read
from helpers.kube import api_client
from helpers.kubeconfig import KubeconfigSpec, ensure_kubeconfig
from helpers.report import OPERATOR, Report, Result
from helpers.tables import Table

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
        table, changed = k8s_pki.issue_kubernetes_pki(inv)
        actions = table.column("action")
        issued = sum(1 for a in actions if a not in ("reused", "-"))
        return changed, f"{len(actions)} items, {issued} written", table
    return _local_step("Kubernetes PKI", run)


def ensure_encryption_config(inv) -> Report:
    """Generate the encryption-at-rest key and EncryptionConfiguration once (never rotated)."""
    def run():
        path, changed = k8s_pki.write_encryption_config(inv.cluster_dir)
        return changed, ("generated " if changed else "kept ") + str(path), path
    return _local_step("encryption-at-rest config", run)


OPERATOR_KUBECONFIGS = ("admin", "super-admin")


def kubeconfig_specs(inv) -> dict[str, KubeconfigSpec]:
    """The kubeconfigs of 04: admin (via the VIP), controller-manager and scheduler (via 127.0.0.1)."""
    kp = k8s_pki.pki_dir(inv.cluster_dir)
    ca = _read(kp / "ca.crt", "Kubernetes CA")
    # the operator's kubeconfigs also serve Python clients (OpenSSL): they carry the chain up to
    # the organisation's root when there is one; the masters' (Go) trust the CA alone
    operator_ca = _read(pki.trust_file(kp), "Kubernetes CA chain")
    local = f"https://127.0.0.1:{API_PORT}"
    plan = {
        "admin": ("admin", "admin", api_server_url(inv)),
        "super-admin": ("super-admin", "super-admin", api_server_url(inv)),
        "controller-manager": ("kube-controller-manager", "system:kube-controller-manager", local),
        "scheduler": ("kube-scheduler", "system:kube-scheduler", local),
    }
    return {
        name: KubeconfigSpec(inv.cluster.name, server, user, operator_ca if name in OPERATOR_KUBECONFIGS else ca,
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


# ------------------------------------------------------------------ in-cluster objects


def admin_binding() -> dict:
    """The ClusterRoleBinding that makes the admin kubeconfig's group cluster-admin."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": ADMIN_GROUP, "labels": {"app.kubernetes.io/managed-by": "kubernetes-journey"}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": ADMIN_GROUP}],
    }


def ensure_admin_binding(inv) -> Report:
    """Bind the admin group to ``cluster-admin``, as super-admin (the only step that uses it).

    Server-side apply: a re-run changes nothing. Deleting this binding revokes every
    admin kubeconfig at once; super-admin stays as the break-glass credential.
    """
    from helpers.kube_apply import apply_objects  # noqa: PLC0415

    return apply_objects(api_client(inv, super_admin=True), [admin_binding()], "admin RBAC")


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
