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

The package, one job per file:

- :mod:`~helpers.control_plane.layout`: directories on the masters, components, URLs;
- :mod:`~helpers.control_plane.rendering`: templates and the files each component needs (pure);
- :mod:`~helpers.control_plane.local_steps`: PKI, encryption config, kubeconfigs, probe Secret;
- :mod:`~helpers.control_plane.services`: install and roll the components, wait for the API;
- :mod:`~helpers.control_plane.checks`: readiness, Leases, HAProxy, etcd, unit start times;
- :mod:`~helpers.control_plane.certificates`: the certificates the API servers present;
- :mod:`~helpers.control_plane.kubectl_cli`: kubectl on the operator's machine;
- :mod:`~helpers.control_plane.figures`: the steps table and chart, the request-flow figure.
"""

from helpers.control_plane.certificates import (
    apiserver_endpoints,
    check_apiserver_certificate,
    fetch_server_certificate,
    verify_chains,
)
from helpers.control_plane.checks import (
    check_anonymous,
    check_apiservers,
    check_haproxy_backends,
    check_leases,
    check_readyz,
    check_secret_encrypted,
    check_unit_timestamps,
    timestamps_table,
    verify_admin_identities,
    verify_pod_security,
)
from helpers.control_plane.figures import request_flow_figure, steps_figure, steps_table
from helpers.control_plane.hardening import audit_entries, read_audit, verify_audit, verify_cis
from helpers.control_plane.kubectl_cli import kubectl, local_kubectl
from helpers.control_plane.layout import (
    AUTHENTICATION_API_VERSION,
    BIN_DIR,
    COMPONENTS,
    CONFIG_DIR,
    ETCD_CLIENT,
    HEALTH_URLS,
    KUBE_DIR,
    PKI_DIR,
    PROBE_SECRET,
    TEMPLATES,
    admin_kubeconfig_path,
    api_endpoint,
    api_server_url,
    etcd_pki_dir,
    etcd_servers,
    kubeconfig_dir,
)
from helpers.control_plane.local_steps import (
    admin_binding,
    ensure_admin_binding,
    ensure_encryption_config,
    ensure_kubeconfigs,
    ensure_kubernetes_pki,
    ensure_probe_secret,
    kubeconfig_specs,
)
from helpers.control_plane.rendering import (
    RemoteFile,
    component_files,
    render,
    unit_context,
    unit_flags,
)
from helpers.control_plane.services import (
    _wait_healthy as _wait_healthy,  # the lab tests call cp._wait_healthy
)
from helpers.control_plane.services import (
    ensure_apiserver,
    ensure_component,
    ensure_controller_manager,
    ensure_scheduler,
    wait_for_api,
)
from helpers.kube import api_client  # 04 calls cp.api_client

__all__ = [
    "AUTHENTICATION_API_VERSION",
    "BIN_DIR",
    "COMPONENTS",
    "CONFIG_DIR",
    "ETCD_CLIENT",
    "HEALTH_URLS",
    "KUBE_DIR",
    "PKI_DIR",
    "PROBE_SECRET",
    "RemoteFile",
    "TEMPLATES",
    "admin_binding",
    "admin_kubeconfig_path",
    "audit_entries",
    "api_client",
    "api_endpoint",
    "api_server_url",
    "apiserver_endpoints",
    "check_anonymous",
    "check_apiserver_certificate",
    "verify_chains",
    "check_apiservers",
    "check_haproxy_backends",
    "check_leases",
    "check_readyz",
    "check_secret_encrypted",
    "check_unit_timestamps",
    "component_files",
    "ensure_admin_binding",
    "ensure_apiserver",
    "ensure_component",
    "ensure_controller_manager",
    "ensure_encryption_config",
    "ensure_kubeconfigs",
    "ensure_kubernetes_pki",
    "ensure_probe_secret",
    "ensure_scheduler",
    "etcd_pki_dir",
    "etcd_servers",
    "fetch_server_certificate",
    "kubeconfig_dir",
    "kubeconfig_specs",
    "kubectl",
    "local_kubectl",
    "read_audit",
    "render",
    "request_flow_figure",
    "steps_figure",
    "steps_table",
    "timestamps_table",
    "unit_context",
    "unit_flags",
    "verify_admin_identities",
    "verify_audit",
    "verify_cis",
    "verify_pod_security",
    "wait_for_api",
]
