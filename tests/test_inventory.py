"""The inventory model: the shipped inventories load, and every kind of mistake is named."""

from __future__ import annotations

import copy
import subprocess
import sys
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest
import yaml

from helpers import paths
from helpers.errors import InventoryError
from helpers.inventory import load_inventory

REPO = Path(__file__).resolve().parent.parent
INVENTORIES = sorted((REPO / "inventories").glob("*.yaml"))

BASE = {
    "cluster": {"name": "kube-test", "domain": "kube.test", "kubernetes_version": "pinned"},
    "network": {
        "node_subnet": "192.168.7.0/24",
        "gateway": "192.168.7.1",
        "vip": "192.168.7.20",
        "pod_cidr": "10.244.0.0/16",
        "service_cidr": "10.96.0.0/16",
        "cluster_dns": "10.96.0.10",
    },
    "ssh": {"user": "root", "port": 22, "identity_file": "keys/id_ed25519", "known_hosts": "keys/known_hosts"},
    "sources": {"release_mirror": "http://192.168.7.1:8080", "images": "bundle", "apt_proxy": "http://192.168.7.1:3142"},
    "hosts": [
        {"name": "lb1", "address": "192.168.7.11", "roles": ["lb"]},
        {"name": "lb2", "address": "192.168.7.12", "roles": ["lb"]},
        {"name": "cp1", "address": "192.168.7.21", "roles": ["master", "etcd"]},
        {"name": "cp2", "address": "192.168.7.22", "roles": ["master", "etcd"]},
        {"name": "cp3", "address": "192.168.7.23", "roles": ["master", "etcd"]},
        {"name": "w1", "address": "192.168.7.31", "roles": ["worker"]},
    ],
    "lab": {"name": "kube-test", "bridge": "kjbr-test", "release": "trixie"},
}


def write(tmp_path: Path, data, name: str = "inv.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def problems_of(tmp_path: Path, data) -> list[tuple[str, str]]:
    with pytest.raises(InventoryError) as info:
        load_inventory(write(tmp_path, data))
    return info.value.problems


def mutate(fn):
    data = copy.deepcopy(BASE)
    fn(data)
    return data


def setp(path: str, value):
    """Mutation that sets a dotted path (``hosts.3.address``) to value."""

    def fn(data):
        *parents, last = path.split(".")
        node = data
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return fn


def delp(path: str):
    def fn(data):
        *parents, last = path.split(".")
        node = data
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        del node[last]

    return fn


def both(*fns):
    def fn(data):
        for f in fns:
            f(data)

    return fn


def roles(**by_name):
    def fn(data):
        for host in data["hosts"]:
            if host["name"] in by_name:
                host["roles"] = by_name[host["name"]]

    return fn


# (id, mutation, expected field path, fragment of the reason)
CASES = [
    ("dup-name", setp("hosts.1.name", "lb1"), "hosts[1].name", "duplicate host name 'lb1'"),
    ("dup-address", setp("hosts.5.address", "192.168.7.11"), "hosts[5].address", "duplicate address 192.168.7.11"),
    ("address-outside", setp("hosts.3.address", "192.168.8.22"), "hosts[3].address", "outside the node subnet"),
    ("address-not-ip", setp("hosts.3.address", "192.168.7.300"), "hosts[3].address", "not an IPv4 address"),
    ("address-is-gateway", setp("hosts.5.address", "192.168.7.1"), "hosts[5].address", "gateway address"),
    ("address-is-broadcast", setp("hosts.5.address", "192.168.7.255"), "hosts[5].address", "broadcast address"),
    ("gateway-outside", setp("network.gateway", "192.168.9.1"), "network.gateway", "outside the node subnet"),
    ("vip-outside", setp("network.vip", "10.0.0.20"), "network.vip", "outside the node subnet"),
    ("vip-is-host", setp("network.vip", "192.168.7.21"), "network.vip", "also the address of host cp1"),
    ("vip-is-gateway", setp("network.vip", "192.168.7.1"), "network.vip", "gateway address"),
    ("pod-overlaps-node", setp("network.pod_cidr", "192.168.0.0/16"), "network.pod_cidr", "overlaps network.node_subnet"),
    ("service-overlaps-pod", setp("network.service_cidr", "10.244.128.0/20"), "network.service_cidr", "overlaps network.pod_cidr"),
    ("subnet-host-bits", setp("network.node_subnet", "192.168.7.1/24"), "network.node_subnet", "did you mean 192.168.7.0/24"),
    ("subnet-no-prefix", setp("network.pod_cidr", "10.244.0.0"), "network.pod_cidr", "no prefix length"),
    ("dns-outside", setp("network.cluster_dns", "10.97.0.10"), "network.cluster_dns", "outside the service range"),
    ("dns-network-address", setp("network.cluster_dns", "10.96.0.0"), "network.cluster_dns", "network address of the service range"),
    ("dns-kubernetes-service", setp("network.cluster_dns", "10.96.0.1"), "network.cluster_dns", "'kubernetes' API service"),
    ("no-master", roles(cp1=["etcd"], cp2=["etcd"], cp3=["etcd"]), "hosts", "no host has role master"),
    ("even-etcd", roles(cp3=["master"]), "hosts", "etcd group has 2 members"),
    ("no-etcd", roles(cp1=["master"], cp2=["master"], cp3=["master"]), "hosts", "no host has role etcd"),
    ("no-worker", roles(w1=["master"]), "hosts", "no host has role worker"),
    ("lb-without-vip", delp("network.vip"), "network.vip", "need a vip"),
    ("unknown-role", setp("hosts.5.roles", ["wroker"]), "hosts[5].roles[0]", "unknown role 'wroker'"),
    ("empty-roles", setp("hosts.5.roles", []), "hosts[5].roles", "at least one role"),
    ("role-twice", setp("hosts.5.roles", ["worker", "worker"]), "hosts[5].roles", "more than once"),
    ("name-uppercase", setp("hosts.5.name", "Worker1"), "hosts[5].name", "RFC 1123 label"),
    ("name-underscore", setp("hosts.5.name", "worker_1"), "hosts[5].name", "RFC 1123 label"),
    ("name-too-long", setp("hosts.5.name", "w" * 64), "hosts[5].name", "at most 63"),
    ("name-not-text", setp("hosts.5.name", 12), "hosts[5].name", "expected text"),
    ("unknown-host-key", setp("hosts.2.adress", "1.2.3.4"), "hosts[2].adress", "did you mean 'address'"),
    ("unknown-section-key", setp("network.podcidr", "10.0.0.0/8"), "network.podcidr", "did you mean 'pod_cidr'"),
    ("unknown-top-key", setp("host", []), "host", "did you mean 'hosts'"),
    ("unknown-nested-key", setp("ssh.bastion", {"host": "b", "prot": 22}), "ssh.bastion.prot", "did you mean 'port'"),
    ("unknown-host-ssh-key", setp("hosts.0.ssh", {"identityfile": "k"}), "hosts[0].ssh.identityfile", "did you mean 'identity_file'"),
    ("port-too-big", setp("ssh.port", 70000), "ssh.port", "1 to 65535"),
    ("port-zero", setp("hosts.0.ssh", {"port": 0}), "hosts[0].ssh.port", "1 to 65535"),
    ("port-not-number", setp("ssh.port", "ssh"), "ssh.port", "1 to 65535"),
    ("mirror-ftp", setp("sources.release_mirror", "ftp://mirror/k8s"), "sources.release_mirror", "'upstream' or a base URL"),
    ("mirror-word", setp("sources.release_mirror", "local"), "sources.release_mirror", "'upstream' or a base URL"),
    ("images-unknown", setp("sources.images", "docker"), "sources.images", "expected one of 'bundle', 'registry'"),
    ("apt-proxy-not-url", setp("sources.apt_proxy", "192.168.7.1:3142"), "sources.apt_proxy", "not an http"),
    ("version-no-v", setp("cluster.kubernetes_version", "1.35.0"), "cluster.kubernetes_version", "'pinned' or a release"),
    ("version-latest", setp("cluster.kubernetes_version", "latest"), "cluster.kubernetes_version", "'pinned' or a release"),
    ("missing-cluster-name", delp("cluster.name"), "cluster.name", "required field is missing"),
    ("missing-network", delp("network"), "network", "required section"),
    ("empty-hosts", setp("hosts", []), "hosts", "required section"),
    ("hosts-not-list", setp("hosts", {"lb1": "192.168.7.11"}), "hosts", "expected a list"),
    ("host-not-mapping", setp("hosts.5", "w1"), "hosts[5]", "expected a mapping"),
    ("bad-domain", setp("cluster.domain", "kube..test"), "cluster.domain", "not a valid DNS domain"),
    ("bad-bridge", setp("lab.bridge", "a-bridge-name-too-long"), "lab.bridge", "interface name"),
    # the LoadBalancer pool (07): inside the subnet, and none of the addresses it already uses
    ("pool-outside", setp("network.loadbalancer_pool", "192.168.7.250-192.168.8.5"), "network.loadbalancer_pool",
     "reaches outside the node subnet"),
    ("pool-has-host", setp("network.loadbalancer_pool", "192.168.7.30-192.168.7.40"), "network.loadbalancer_pool",
     "the address of host"),
    ("pool-has-vip", setp("network.loadbalancer_pool", "192.168.7.20/30"), "network.loadbalancer_pool", "the VIP"),
    ("pool-has-gateway", setp("network.loadbalancer_pool", "192.168.7.1-192.168.7.5"), "network.loadbalancer_pool",
     "the gateway"),
    ("pool-has-network", setp("network.loadbalancer_pool", "192.168.7.0/29"), "network.loadbalancer_pool",
     "the network address"),
    ("pool-has-broadcast", setp("network.loadbalancer_pool", "192.168.7.248/29"), "network.loadbalancer_pool",
     "the broadcast address"),
    ("pool-backwards", setp("network.loadbalancer_pool", "192.168.7.120-192.168.7.100"), "network.loadbalancer_pool",
     "ends before it starts"),
    ("pool-not-range", setp("network.loadbalancer_pool", "192.168.7.100"), "network.loadbalancer_pool", "is not a range"),
    ("pool-not-text", setp("network.loadbalancer_pool", ["192.168.7.100"]), "network.loadbalancer_pool",
     "expected an address range"),
]


@pytest.mark.parametrize(("mutation", "path", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_inventory_names_field_and_reason(tmp_path, mutation, path, fragment):
    problems = problems_of(tmp_path, mutate(mutation))
    matching = [reason for p, reason in problems if p == path]
    assert matching, f"no problem at {path}; got {problems}"
    assert any(fragment in reason for reason in matching), f"{fragment!r} not in {matching}"


def test_base_is_valid(tmp_path):
    inv = load_inventory(write(tmp_path, BASE))
    assert inv.cluster.name == "kube-test"
    assert [h.name for h in inv.hosts_with("master")] == ["cp1", "cp2", "cp3"]


@pytest.mark.parametrize("path", INVENTORIES, ids=[p.name for p in INVENTORIES])
def test_shipped_inventories_load(path):
    inv = load_inventory(path)
    assert inv.path == path.resolve()
    assert inv.hosts_with("master") and inv.hosts_with("etcd") and inv.hosts_with("worker")
    for host in inv.hosts:
        assert host.address in inv.network.node_subnet
        assert host.fqdn == f"{host.name}.{inv.cluster.domain}"


def test_lab_inventory_model():
    inv = load_inventory(REPO / "inventories" / "lab.yaml")
    assert inv.network.node_subnet == IPv4Network("192.168.4.0/24")
    assert inv.network.vip == IPv4Address("192.168.4.20")
    assert inv.network.cluster_dns == IPv4Address("10.96.0.10")
    assert len(inv.hosts) == 7 and len(inv.hosts_with("lb")) == 2
    assert inv.host("kube-mast01").roles == ["master", "etcd"]
    with pytest.raises(KeyError):
        inv.host("nope")
    # relative paths resolve against the inventory's directory
    assert inv.ssh.identity_file == (REPO / ".state/lab/kube-demo/id_ed25519").resolve()
    assert inv.sources.images == "bundle" and inv.sources.release_mirror == "http://192.168.4.1:8080"
    assert inv.lab is not None and inv.lab.bridge == "kjbr-demo"
    assert inv.cluster_dir == paths.cluster_dir("kube-demo")


def test_real_hosts_example_overrides_and_defaults():
    inv = load_inventory(REPO / "inventories" / "example-real-hosts.yaml")
    assert inv.lab is None
    assert inv.ssh.user == "deploy" and inv.ssh.bastion.host == "bastion.example.internal"
    assert inv.ssh.identity_file == Path("~/.ssh/id_ed25519").expanduser()
    assert inv.host("cp3").ssh.port == 2222 and inv.host("cp1").ssh.port is None
    assert inv.sources.release_mirror == "upstream" and inv.sources.images == "registry"


def test_defaults_for_optional_sections(tmp_path):
    data = mutate(both(delp("sources"), delp("lab"), delp("ssh.port"), delp("cluster.kubernetes_version")))
    inv = load_inventory(write(tmp_path, data))
    assert inv.ssh.port == 22 and inv.cluster.kubernetes_version == "pinned"
    assert inv.sources.release_mirror == "upstream" and inv.lab is None


def test_file_url_mirror_and_trailing_slash(tmp_path):
    inv = load_inventory(write(tmp_path, mutate(setp("sources.release_mirror", "file:///srv/mirror/"))))
    assert inv.sources.release_mirror == "file:///srv/mirror"


def test_many_problems_reported_together(tmp_path):
    data = mutate(
        both(
            setp("hosts.0.adress", "x"),
            setp("hosts.1.name", "Bad_Name"),
            setp("hosts.3.address", "10.9.9.9"),
            setp("network.gateway", "10.0.0.1"),
            setp("network.cluster_dns", "10.97.0.10"),
            setp("ssh.port", 0),
            setp("sources.images", "docker"),
            setp("cluster.kubernetes_version", "1.2"),
        )
    )
    paths_found = {p for p, _ in problems_of(tmp_path, data)}
    assert {
        "hosts[0].adress",
        "hosts[1].name",
        "hosts[3].address",
        "network.gateway",
        "network.cluster_dns",
        "ssh.port",
        "sources.images",
        "cluster.kubernetes_version",
    } <= paths_found


def test_error_message_lists_every_problem(tmp_path):
    data = mutate(both(setp("ssh.port", 0), setp("network.vip", "10.0.0.1")))
    with pytest.raises(InventoryError) as info:
        load_inventory(write(tmp_path, data))
    text = str(info.value)
    assert "2 problem(s)" in text and "ssh.port:" in text and "network.vip:" in text


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("cluster: [unclosed\n", "invalid YAML: line"),
        ("", "empty file"),
        ("- just\n- a list\n", "expected a mapping"),
    ],
    ids=["bad-yaml", "empty", "list"],
)
def test_unparseable_files(tmp_path, content, fragment):
    problems = problems_of(tmp_path, content)
    assert problems[0][0] == "(file)" and fragment in problems[0][1]


def test_missing_file(tmp_path):
    with pytest.raises(InventoryError) as info:
        load_inventory(tmp_path / "absent.yaml")
    assert "cannot read" in info.value.problems[0][1]


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "helpers", "inventory", "check", *args],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )


def test_cli_check_ok_prints_address_plan():
    result = _cli("inventories/lab.yaml")
    assert result.returncode == 0, result.stderr
    for text in ("kube-mast01", "192.168.4.21", "kube-mast01.kube.demo", "master,etcd", "vip 192.168.4.20", "10.244.0.0/16"):
        assert text in result.stdout


def test_cli_check_bad_exits_1_with_problems_on_stderr(tmp_path):
    path = write(tmp_path, mutate(both(setp("hosts.3.address", "10.9.9.9"), setp("ssh.port", 0))))
    result = _cli(str(path))
    assert result.returncode == 1
    assert "hosts[3].address" in result.stderr and "ssh.port" in result.stderr
    assert result.stdout == ""


def test_pki_section_durations_and_window(tmp_path):
    import datetime as dt  # noqa: PLC0415

    from helpers import pki  # noqa: PLC0415

    base = (REPO / "inventories" / "lab.yaml").read_text()
    good = tmp_path / "good.yaml"
    good.write_text(base + "\npki:\n  leaf_validity: 2h\n  renew_before: 30m\n")
    inv = load_inventory(good)
    assert pki.validity_of(inv) == pki.Validity(dt.timedelta(hours=2), dt.timedelta(minutes=30))
    for body, reason in (("leaf_validity: 2 weeks", "is not a duration"),
                         ("leaf_validity: 1h\n  renew_before: 2h", "must be shorter than leaf_validity"),
                         ("leaf_validity: 5m\n  renew_before: 1m", "under 10 minutes")):
        bad = tmp_path / "bad.yaml"
        bad.write_text(base + f"\npki:\n  {body}\n")
        with pytest.raises(InventoryError, match=reason):
            load_inventory(bad)
