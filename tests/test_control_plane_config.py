"""Control-plane configuration as pure logic: rendered units and configs, kubeconfig content."""

from __future__ import annotations

import stat

import pytest
import yaml

from helpers import control_plane as cp
from helpers import k8s_pki
from helpers.errors import ConfigError
from helpers.inventory import load_inventory
from helpers.kubeconfig import (
    KubeconfigSpec,
    parse_kubeconfig,
    render_kubeconfig,
    write_private_file,
)
from helpers.paths import REPO


@pytest.fixture
def inv(tmp_path, monkeypatch):
    monkeypatch.setenv("KJ_CLUSTER_DIR", str(tmp_path / "cluster"))
    return load_inventory(REPO / "inventories" / "lab.yaml")


@pytest.fixture
def built(inv):
    """An inventory whose cluster dir holds the PKI, encryption config, kubeconfigs and a fake-free etcd client."""
    from helpers import pki

    cp.ensure_kubernetes_pki(inv)
    cp.ensure_encryption_config(inv)
    cp.ensure_kubeconfigs(inv)
    etcd = cp.etcd_pki_dir(inv)
    ca = pki.ensure_ca(etcd, "ca", "etcd-ca")
    pki.ensure_cert(ca, etcd, cp.ETCD_CLIENT, "kube-apiserver-etcd-client", usages="client")
    return inv


def test_apiserver_flags(inv):
    host = inv.host("kube-mast02")
    flags = cp.unit_flags(cp.render("kube-apiserver.service", inv, host))
    assert flags["advertise-address"] == "192.168.4.22"
    assert flags["authorization-mode"] == "Node,RBAC"
    assert flags["enable-admission-plugins"] == "NodeRestriction"
    # stacked etcd: each API server uses its own member (see control_plane.etcd_servers)
    assert flags["etcd-servers"] == "https://127.0.0.1:2379"
    assert flags["service-cluster-ip-range"] == "10.96.0.0/16"
    assert flags["service-account-issuer"] == "https://kubernetes.default.svc.cluster.local"
    # CIS 1.2.x: bounded token lifetimes, an audit log kept and rotated, strong TLS, no profiling
    assert flags["service-account-extend-token-expiration"] == "false"
    assert flags["audit-policy-file"] == f"{cp.CONFIG_DIR}/audit-policy.yaml"
    assert flags["audit-log-path"] == "/var/log/kubernetes/audit/audit.log"
    assert int(flags["audit-log-maxage"]) >= 1 and int(flags["audit-log-maxbackup"]) >= 1
    assert int(flags["audit-log-maxsize"]) >= 1
    assert flags["tls-min-version"] == "VersionTLS12"
    assert "CBC" not in flags["tls-cipher-suites"] and "RC4" not in flags["tls-cipher-suites"]
    assert flags["profiling"] == "false"
    assert flags["admission-control-config-file"] == f"{cp.CONFIG_DIR}/admission-config.yaml"
    assert flags["encryption-provider-config"].endswith("encryption-config.yaml")
    assert flags["authentication-config"].endswith("authentication-config.yaml")
    assert "anonymous-auth" not in flags, "anonymous access is set by the AuthenticationConfiguration"
    assert "enable-bootstrap-token-auth" not in flags
    assert flags["requestheader-allowed-names"] == "front-proxy-client"
    assert flags["kubelet-certificate-authority"] == f"{cp.PKI_DIR}/ca.crt", "kubelet serving certs are verified"
    for f in ("kubelet-client-certificate", "kubelet-client-key", "proxy-client-cert-file",
              "service-account-key-file", "service-account-signing-key-file", "etcd-cafile",
              "etcd-certfile", "etcd-keyfile", "client-ca-file", "tls-cert-file"):
        assert flags[f].startswith(cp.PKI_DIR + "/"), f


def test_controller_manager_and_scheduler_flags(inv):
    host = inv.host("kube-mast01")
    cm = cp.unit_flags(cp.render("kube-controller-manager.service", inv, host))
    assert cm["allocate-node-cidrs"] == "true" and cm["cluster-cidr"] == "10.244.0.0/16"
    assert cm["service-cluster-ip-range"] == "10.96.0.0/16"
    assert cm["use-service-account-credentials"] == "true"
    assert cm["leader-elect"] == "true"
    assert cm["cluster-signing-key-file"] == f"{cp.PKI_DIR}/ca.key"
    assert cm["service-account-private-key-file"] == f"{cp.PKI_DIR}/sa.key"
    assert cm["bind-address"] == "127.0.0.1"
    sched = cp.unit_flags(cp.render("kube-scheduler.service", inv, host))
    config = yaml.safe_load(cp.render("kube-scheduler.yaml", inv, host))
    assert sched["config"] == f"{cp.CONFIG_DIR}/kube-scheduler.yaml"
    assert config["kind"] == "KubeSchedulerConfiguration"
    assert config["leaderElection"]["leaderElect"] is True
    assert config["clientConnection"]["kubeconfig"] == f"{cp.KUBE_DIR}/scheduler.kubeconfig"


def test_authentication_config_only_health_is_anonymous(inv):
    doc = yaml.safe_load(cp.render("authentication-config.yaml", inv, inv.host("kube-mast01")))
    assert doc["kind"] == "AuthenticationConfiguration"
    assert doc["apiVersion"] == "apiserver.config.k8s.io/v1"
    assert doc["anonymous"]["enabled"] is True
    assert [c["path"] for c in doc["anonymous"]["conditions"]] == ["/livez", "/readyz", "/healthz"]


def test_kubeconfigs_point_where_they_should(built):
    inv = built
    d = cp.kubeconfig_dir(inv)
    admin = parse_kubeconfig((d / "admin.kubeconfig").read_text())
    assert admin["server"] == "https://192.168.4.20:6443"
    assert admin["ca_pem"] == (k8s_pki.pki_dir(inv.cluster_dir) / "ca.crt").read_bytes()
    for name, user in (("controller-manager", "system:kube-controller-manager"),
                       ("scheduler", "system:kube-scheduler")):
        parsed = parse_kubeconfig((d / f"{name}.kubeconfig").read_text())
        assert parsed["server"] == "https://127.0.0.1:6443", name
        assert parsed["user"] == user
    for p in d.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    assert cp.admin_kubeconfig_path(inv) == inv.cluster_dir / "kubeconfigs" / "admin.kubeconfig"


def test_local_steps_rerun_report_ok(built):
    inv = built
    for step in (cp.ensure_kubernetes_pki, cp.ensure_encryption_config, cp.ensure_kubeconfigs):
        report = step(inv)
        assert report.changed == 0 and report.ok == 1, str(report)


def test_component_files_and_digest(built):
    inv = built
    host = inv.host("kube-mast01")
    files = {f.path: f for f in cp.component_files(inv, host, "kube-apiserver")}
    assert files[f"{cp.CONFIG_DIR}/encryption-config.yaml"].mode == 0o600
    assert files[f"{cp.PKI_DIR}/apiserver.key"].mode == 0o600
    assert files[f"{cp.PKI_DIR}/sa.key"].mode == 0o600
    assert "/etc/systemd/system/kube-apiserver.service" in files
    assert f"{cp.PKI_DIR}/ca.key" not in files, "the API server does not need the CA key"
    cm_files = {f.path for f in cp.component_files(inv, host, "kube-controller-manager")}
    assert f"{cp.PKI_DIR}/ca.key" in cm_files
    a = cp.component_files(inv, host, "kube-apiserver")
    b = cp.component_files(inv, inv.host("kube-mast02"), "kube-apiserver")
    unit_a = next(f.content for f in a if f.path.endswith(".service"))
    unit_b = next(f.content for f in b if f.path.endswith(".service"))
    assert unit_a != unit_b, "per-master advertise address: each master's unit differs, so each restarts on its own"


def test_component_files_name_missing_state(inv):
    with pytest.raises(ConfigError, match="does not exist"):
        cp.component_files(inv, inv.host("kube-mast01"), "kube-scheduler")


def test_kubeconfig_render_roundtrip_and_private_write(tmp_path):
    spec = KubeconfigSpec("c1", "https://10.0.0.1:6443", "alice", b"CA", b"CERT", b"KEY")
    text = render_kubeconfig(spec)
    assert text == render_kubeconfig(spec), "deterministic"
    parsed = parse_kubeconfig(text)
    assert (parsed["server"], parsed["user"], parsed["ca_pem"], parsed["cert_pem"], parsed["key_pem"]) == (
        "https://10.0.0.1:6443", "alice", b"CA", b"CERT", b"KEY")
    path = tmp_path / "k" / "x.kubeconfig"
    assert write_private_file(path, text)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not write_private_file(path, text)
    path.chmod(0o644)
    assert write_private_file(path, text) and stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(ConfigError):
        parse_kubeconfig("apiVersion: v1\nkind: Config\n")


def test_audit_policy_never_records_secret_bodies(inv):
    policy = yaml.safe_load(cp.render("audit-policy.yaml", inv, inv.host("kube-mast01")))
    assert policy["kind"] == "Policy" and policy["omitStages"] == ["RequestReceived"]
    first = policy["rules"][0]
    assert first["level"] == "Metadata"
    assert {"secrets", "configmaps"} <= set(first["resources"][0]["resources"])
    assert policy["rules"][-1] == {"level": "Metadata"}          # everything else: metadata
    assert not [r for r in policy["rules"] if r["level"] in ("Request", "RequestResponse")]


def test_scheduler_profiling_off_and_control_plane_files_private(built):
    config = yaml.safe_load(cp.render("kube-scheduler.yaml", built, built.host("kube-mast01")))
    assert config["enableProfiling"] is False
    for component in cp.COMPONENTS:
        for f in cp.component_files(built, built.host("kube-mast01"), component):
            public = f.path.endswith(".crt") or f.path.endswith("sa.pub")
            # CIS 1.1.x: unit files (our static-pod manifests), configs and keys 0600; certificates 0644
            assert f.mode == (0o644 if public else 0o600), f"{component}: {f.path} is {oct(f.mode)}"


def test_admin_is_bound_not_a_master(built):
    binding = cp.admin_binding()
    assert binding["roleRef"]["name"] == "cluster-admin"
    assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                                    "name": "kj:cluster-admins"}]
    specs = cp.kubeconfig_specs(built)
    assert specs["admin"].user == "admin" and specs["super-admin"].user == "super-admin"
    assert specs["admin"].server == specs["super-admin"].server == cp.api_server_url(built)


def test_pod_security_is_baseline_everywhere_but_kube_system(inv):
    config = yaml.safe_load(cp.render("admission-config.yaml", inv, inv.host("kube-mast01")))
    (plugin,) = config["plugins"]
    assert plugin["name"] == "PodSecurity"
    defaults = plugin["configuration"]["defaults"]
    assert defaults["enforce"] == "baseline" and defaults["warn"] == defaults["audit"] == "restricted"
    assert plugin["configuration"]["exemptions"]["namespaces"] == ["kube-system"]
