"""Rendered node configuration: containerd, kubelet, kube-proxy, flannel, CoreDNS, RBAC.

Pure logic: every file the node steps would upload is rendered from the reference lab
inventory and parsed back with the parser its consumer uses (TOML, YAML, JSON).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
import yaml
from cryptography.x509.oid import NameOID

from helpers import containerd, coredns, flannel, kube_proxy, kubelet, pod_network
from helpers.inventory import load_inventory
from helpers.kube_apply import load_documents, object_key
from helpers.node_facts import NodeFacts, parse_facts

REPO = Path(__file__).resolve().parent.parent
V1_LAB = NodeFacts(cgroup_v2=False, systemd_init=True, sysfs_writable=False, kubelet_fs="overlayfs",
                   sys_resource=False)
V2_HOST = NodeFacts(cgroup_v2=True, systemd_init=True, sysfs_writable=True,
                    resolv_conf="/run/systemd/resolve/resolv.conf")


@pytest.fixture(scope="module")
def inv():
    return load_inventory(REPO / "inventories" / "lab.yaml")


# --- facts ---------------------------------------------------------------------------


def test_facts_parse_cgroup_v1_container():
    facts = parse_facts("cgroupfs=tmpfs\ninit=systemd\nsysfs=ro\nresolv=/etc/resolv.conf\n"
                        "capbnd:=000001fffeffffff\nkubeletfs=overlayfs\n".replace("capbnd:", "capbnd"))
    assert facts == V1_LAB
    assert facts.cgroup_driver == "cgroupfs"
    assert not facts.local_storage_isolation


def test_facts_parse_cgroup_v2_host():
    facts = parse_facts("cgroupfs=cgroup2fs\ninit=systemd\nsysfs=rw\n"
                        "resolv=/run/systemd/resolve/resolv.conf\ncapbnd=000001ffffffffff\n")
    assert facts.cgroup_v2 and facts.sysfs_writable and facts.sys_resource
    assert facts.cgroup_driver == "systemd"


def test_facts_v2_without_systemd_uses_cgroupfs():
    assert NodeFacts(cgroup_v2=True, systemd_init=False).cgroup_driver == "cgroupfs"


def test_facts_missing_line_is_named():
    with pytest.raises(ValueError, match="sysfs"):
        parse_facts("cgroupfs=tmpfs\ninit=systemd\nresolv=/etc/resolv.conf\n")


# --- containerd --------------------------------------------------------------------------


def test_containerd_version_parse():
    assert containerd.parse_version("containerd github.com/containerd/containerd/v2 v2.4.2 0123abc\n") == "2.4.2"
    out = "containerd github.com/containerd/containerd 1.7.24~ds1 1.7.24~ds1-6+b4\n"
    assert containerd.parse_version(out) == "1.7.24"
    with pytest.raises(ValueError):
        containerd.parse_version("no version here")


@pytest.mark.parametrize(("facts", "systemd"), [(V1_LAB, False), (V2_HOST, True)])
def test_containerd_config(inv, facts, systemd):
    settings = containerd.settings_for(inv, facts, "2.4.2")
    cfg = tomllib.loads(containerd.render_config(settings))
    images = cfg["plugins"]["io.containerd.cri.v1.images"]
    runtime = cfg["plugins"]["io.containerd.cri.v1.runtime"]
    assert cfg["version"] == 3
    assert "io.containerd.grpc.v1.cri" not in cfg["plugins"]   # the 1.x section is gone
    assert images["pinned_images"]["sandbox"] == containerd.image_ref("pause")
    assert images["pinned_images"]["sandbox"].startswith("registry.k8s.io/pause:")
    assert images["snapshotter"] == "overlayfs"
    runc = runtime["containerd"]["runtimes"]["runc"]
    assert runc["runtime_type"] == "io.containerd.runc.v2"
    assert runc["options"] == {"BinaryName": "/usr/local/sbin/runc", "SystemdCgroup": systemd}
    assert runtime["cni"] == {"bin_dirs": ["/opt/cni/bin"], "conf_dir": "/etc/cni/net.d"}
    # a container host without CAP_SYS_RESOURCE cannot give sandboxes oom_score_adj -998
    assert runtime.get("restrict_oom_score_adj", False) is (not facts.sys_resource)
    assert "registry" not in images


def test_containerd_registry_mirror(inv):
    settings = containerd.ContainerdSettings("2.4.2", "cgroupfs", "registry.k8s.io/pause:3.10.2",
                                             registry_mirror="https://mirror.example:5000")
    cfg = tomllib.loads(containerd.render_config(settings))
    assert cfg["plugins"]["io.containerd.cri.v1.images"]["registry"]["config_path"] == "/etc/containerd/certs.d"
    hosts = tomllib.loads(containerd.render_hosts_toml("registry.k8s.io", "https://mirror.example:5000"))
    assert hosts["server"] == "https://registry.k8s.io"
    assert hosts["host"]["https://mirror.example:5000"]["capabilities"] == ["pull", "resolve"]


@pytest.mark.parametrize("version", ["1.7.24", "3.0.0"])
def test_containerd_outside_2x_is_refused_clearly(version):
    with pytest.raises(ValueError, match=f"containerd {version} is not supported: Kubernetes 1.36"):
        containerd.render_config(containerd.ContainerdSettings(version, "systemd", "p"))


def test_crictl_config_points_at_the_cri_socket():
    cfg = yaml.safe_load(containerd.render_crictl_config())
    assert cfg["runtime-endpoint"] == cfg["image-endpoint"] == f"unix://{containerd.SOCKET}"


# --- kubelet ----------------------------------------------------------------------------


def kubelet_config(inv, name, facts):
    return yaml.safe_load(kubelet.render_config(kubelet.settings_for(inv, inv.host(name), facts)))


def test_kubelet_config_secure_defaults(inv):
    cfg = kubelet_config(inv, "kube-node01", V1_LAB)
    assert cfg["kind"] == "KubeletConfiguration"
    assert cfg["authentication"]["anonymous"]["enabled"] is False
    assert cfg["authentication"]["webhook"]["enabled"] is True
    assert cfg["authentication"]["x509"]["clientCAFile"] == "/var/lib/kubelet/pki/ca.crt"
    assert cfg["authorization"]["mode"] == "Webhook"
    assert cfg["readOnlyPort"] == 0
    assert cfg["tlsCertFile"] == "/var/lib/kubelet/pki/kubelet.crt"
    assert cfg["tlsPrivateKeyFile"] == "/var/lib/kubelet/pki/kubelet.key"
    assert cfg["containerRuntimeEndpoint"] == "unix:///run/containerd/containerd.sock"
    assert cfg["clusterDNS"] == ["10.96.0.10"]
    assert cfg["clusterDomain"] == "cluster.local"      # cluster.dns_domain, not the hosts' kube.demo
    # CIS 4.2.x: the runtime's default seccomp profile, a PID limit, strong TLS only
    assert cfg["seccompDefault"] is True
    assert cfg["podPidsLimit"] == 4096
    assert cfg["tlsMinVersion"] == "VersionTLS12"
    assert cfg["tlsCipherSuites"] and all("ECDHE" in s and ("GCM" in s or "CHACHA20" in s)
                                         for s in cfg["tlsCipherSuites"])


def test_kubelet_cgroup_v1_lab(inv):
    cfg = kubelet_config(inv, "kube-node01", V1_LAB)
    assert cfg["cgroupDriver"] == "cgroupfs"
    assert cfg["failCgroupV1"] is False
    assert cfg["localStorageCapacityIsolation"] is False
    assert cfg["resolvConf"] == "/etc/resolv.conf"


def test_kubelet_cgroup_v2_host(inv):
    cfg = kubelet_config(inv, "kube-node01", V2_HOST)
    assert cfg["cgroupDriver"] == "systemd"
    assert "failCgroupV1" not in cfg
    assert "localStorageCapacityIsolation" not in cfg
    assert cfg["resolvConf"] == "/run/systemd/resolve/resolv.conf"


def test_kubelet_masters_register_tainted(inv):
    master = kubelet_config(inv, "kube-mast01", V1_LAB)
    worker = kubelet_config(inv, "kube-node01", V1_LAB)
    assert master["registerWithTaints"] == [
        {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
    assert "registerWithTaints" not in worker


def test_kubelet_roles(inv):
    assert kubelet.wanted_roles(inv.host("kube-mast01")) == (
        {"node-role.kubernetes.io/control-plane": ""},
        [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}])
    assert kubelet.wanted_roles(inv.host("kube-node02")) == ({"node-role.kubernetes.io/worker": ""}, [])


def test_kubelet_unit(inv):
    unit = kubelet.render_unit("kube-node01", "192.168.4.31")
    assert "--hostname-override=kube-node01" in unit
    assert "--node-ip=192.168.4.31" in unit
    assert "--config=/var/lib/kubelet/config.yaml" in unit
    assert "--kubeconfig=/var/lib/kubelet/kubeconfig" in unit
    assert "Requires=containerd.service" in unit


def test_apiserver_to_kubelet_rbac():
    docs = load_documents("kubelet/apiserver-to-kubelet-rbac.yaml.j2",
                          {"apiserver_kubelet_client_user": "kube-apiserver-kubelet-client"})
    assert [object_key(d) for d in docs] == [
        "ClusterRole/system:kube-apiserver-to-kubelet", "ClusterRoleBinding/system:kube-apiserver"]
    assert set(docs[0]["rules"][0]["resources"]) == {
        "nodes/proxy", "nodes/stats", "nodes/log", "nodes/spec", "nodes/metrics"}
    assert docs[1]["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                                    "name": "kube-apiserver-kubelet-client"}]


# --- kube-proxy ---------------------------------------------------------------------------


def test_kube_proxy_in_a_container(inv):
    cfg = yaml.safe_load(kube_proxy.render_config("kube-node01", str(inv.network.pod_cidr), V1_LAB))
    assert cfg["kind"] == "KubeProxyConfiguration"
    assert cfg["mode"] == "iptables"
    assert cfg["clusterCIDR"] == "10.244.0.0/16"
    assert cfg["hostnameOverride"] == "kube-node01"
    assert cfg["conntrack"] == {"maxPerCore": 0}
    assert cfg["clientConnection"]["kubeconfig"] == "/var/lib/kube-proxy/kubeconfig"


def test_kube_proxy_on_a_real_host_keeps_conntrack_default(inv):
    cfg = yaml.safe_load(kube_proxy.render_config("kube-node01", "10.244.0.0/16", V2_HOST))
    assert "conntrack" not in cfg


# --- flannel ------------------------------------------------------------------------------


def test_flannel_net_conf(inv):
    conf = json.loads(flannel.render_net_conf(str(inv.network.pod_cidr)))
    assert conf == {"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan", "VNI": 1, "Port": 8472}}


def test_flannel_cni_conflist():
    conf = json.loads(flannel.render_cni_conf())
    assert [p["type"] for p in conf["plugins"]] == ["flannel", "portmap"]
    assert conf["plugins"][1]["capabilities"] == {"portMappings": True}


def test_flannel_unit():
    unit = flannel.render_unit("kube-node02", "192.168.4.32")
    assert "Environment=NODE_NAME=kube-node02" in unit
    for flag in ("--kube-subnet-mgr", "--iface=192.168.4.32", "--ip-masq",
                 "--kubeconfig-file=/var/lib/flannel/kubeconfig",
                 "--net-config-path=/etc/kube-flannel/net-conf.json"):
        assert flag in unit


def test_flannel_rbac():
    docs = load_documents("flannel/flannel-rbac.yaml.j2", {"user": "system:flannel"})
    role, binding = docs
    assert role["rules"][0]["resources"] == ["nodes"]
    assert set(role["rules"][0]["verbs"]) == {"get", "list", "watch", "patch"}
    assert binding["subjects"][0]["name"] == "system:flannel"


# --- CoreDNS ------------------------------------------------------------------------------


def test_coredns_objects(inv):
    docs = {object_key(d): d for d in coredns.manifests(inv)}
    assert list(docs) == [
        "ServiceAccount/kube-system/coredns", "ClusterRole/system:coredns",
        "ClusterRoleBinding/system:coredns", "ConfigMap/kube-system/coredns",
        "Deployment/kube-system/coredns", "Service/kube-system/kube-dns"]
    deploy = docs["Deployment/kube-system/coredns"]
    assert deploy["spec"]["replicas"] == 2
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == containerd.image_ref("coredns")
    assert container["imagePullPolicy"] == "Never"  # bundle: the image is imported, never pulled
    assert docs["Service/kube-system/kube-dns"]["spec"]["clusterIP"] == "10.96.0.10"
    corefile = docs["ConfigMap/kube-system/coredns"]["data"]["Corefile"]
    assert "kubernetes cluster.local in-addr.arpa ip6.arpa" in corefile
    assert "forward . /etc/resolv.conf" in corefile


def test_coredns_corefile_change_rolls_pods(inv):
    a = coredns.render_corefile("kube.demo")
    b = coredns.render_corefile("cluster.local")
    assert a != b and "cluster.local" in b


# --- probes -------------------------------------------------------------------------------


def test_probe_pods_one_per_worker(inv):
    docs = {object_key(d): d for d in pod_network.manifests(inv)}
    assert "Pod/kj-verify/netexec-kube-node01" in docs and "Pod/kj-verify/netexec-kube-node02" in docs
    pod = docs["Pod/kj-verify/netexec-kube-node02"]
    assert pod["spec"]["nodeSelector"] == {"kubernetes.io/hostname": "kube-node02"}
    assert docs["Service/kj-verify/netexec"]["spec"]["type"] == "NodePort"


def test_nslookup_parse():
    out = ("Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n\n"
           "Name:\tkubernetes.default.svc.kube.demo\nAddress: 10.96.0.1\n")
    assert pod_network.parse_nslookup(out) == ["10.96.0.1"]


# --- node certificates (real cryptography, temporary cluster directory) -----------------


def test_node_certificates(inv, tmp_path, monkeypatch):
    from helpers import node_pki, pki
    from helpers.k8s_pki import pki_dir

    monkeypatch.setenv("KJ_CLUSTER_DIR", str(tmp_path))
    ca = pki.ensure_ca(pki_dir(tmp_path), "ca", "kubernetes")
    first = node_pki.ensure_node_certificates(inv)
    assert first.changed == 7 and first.failed == 0  # 5 nodes + kube-proxy + flannel
    client = pki.load_pair(pki_dir(tmp_path), "kubelet-kube-node01").cert
    assert client.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:node:kube-node01"
    assert client.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:nodes"
    assert pki.verify_chain(client, ca.cert)
    serving = pki.load_pair(pki_dir(tmp_path), "kubelet-kube-node01-serving").cert
    assert pki.cert_sans(serving) == ["kube-node01", "kube-node01.kube.demo", "192.168.4.31"]
    again = node_pki.ensure_node_certificates(inv)
    assert again.changed == 0 and again.ok == 7


def test_lab_kubelets_evict_on_space_left_real_hosts_on_upstream_defaults(inv):
    lab = yaml.safe_load(kubelet.render_config(kubelet.settings_for(inv, inv.host("kube-node01"), V2_HOST)))
    assert lab["evictionHard"]["nodefs.available"] == "1Gi" and lab["evictionHard"]["imagefs.available"] == "1Gi"
    assert not any(v.endswith("%") for k, v in lab["evictionHard"].items() if k.endswith(".available"))
    real = load_inventory(REPO / "inventories" / "example-real-hosts.yaml")
    assert real.lab is None
    worker = real.hosts_with("worker")[0]
    cfg = yaml.safe_load(kubelet.render_config(kubelet.settings_for(real, worker, V2_HOST)))
    assert "evictionHard" not in cfg
