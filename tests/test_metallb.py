"""07's MetalLB objects, built from the inventory (pure: no cluster)."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest
import yaml

from helpers import metallb
from helpers.errors import ConfigError
from helpers.inventory import load_inventory

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def inv():
    return load_inventory(REPO / "inventories" / "lab.yaml")


def test_the_pool_becomes_an_automatic_pool_and_a_single_address_one(inv):
    pools = {d["metadata"]["name"]: d for d in metallb.pool_documents(inv)}
    assert pools["kj-pool"]["spec"] == {"addresses": ["192.168.4.100-192.168.4.118"], "autoAssign": True,
                                        "avoidBuggyIPs": False}
    assert pools["kj-single"]["spec"]["addresses"] == ["192.168.4.119/32"]
    assert pools["kj-single"]["spec"]["autoAssign"] is False
    assert pools["kj-l2"]["kind"] == "L2Advertisement"
    assert pools["kj-l2"]["spec"]["ipAddressPools"] == ["kj-pool", "kj-single"]
    assert {d["metadata"]["namespace"] for d in pools.values()} == {"metallb-system"}


def test_services_ask_for_addresses_inside_the_automatic_pool_and_share_one(inv):
    wanted = {w.name: w for w in metallb.wanted_services(inv)}
    fixed = IPv4Address(wanted["echo-fixed"].annotations["metallb.io/loadBalancerIPs"])
    shared = {w.annotations["metallb.io/loadBalancerIPs"] for w in (wanted["shared-http"], wanted["shared-alt"])}
    assert fixed == IPv4Address("192.168.4.118") and shared == {"192.168.4.117"}
    assert wanted["shared-http"].port != wanted["shared-alt"].port
    assert not wanted["single-second"].gets_address
    docs = [metallb.service_document(w) for w in wanted.values()]
    assert {d["spec"]["type"] for d in docs} == {"LoadBalancer"}
    assert all(d["metadata"]["namespace"] == metallb.DEMO_NS for d in docs)
    names = [w.name for w in metallb.wanted_services(inv)]
    assert names.index("single-first") < names.index("single-second"), "the first must be applied first"


def test_the_echo_pods_pass_the_restricted_pod_security_level(inv):
    deployment = next(d for d in metallb.app_documents(inv) if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["runAsNonRoot"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]} and sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["image"].startswith("registry.k8s.io/e2e-test-images/agnhost:")


@pytest.mark.parametrize("pool, message", [(None, "is not set"), ("192.168.4.100-192.168.4.105", "at least 7")])
def test_a_missing_or_small_pool_is_named(tmp_path, pool, message):
    doc = yaml.safe_load((REPO / "inventories" / "lab.yaml").read_text())
    doc["ssh"] = {**doc["ssh"], "identity_file": "k", "known_hosts": "h"}
    doc["network"].pop("loadbalancer_pool", None)
    if pool:
        doc["network"]["loadbalancer_pool"] = pool
    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match=f"network.loadbalancer_pool.*{message}"):
        metallb.pool_of(load_inventory(path))
