"""09's guestbook objects without a cluster, and the prober its drills measure with.

The objects are checked for what the notebook promises: Pod Security ``restricted`` for
every container, images from the bundle only, the password in a Secret and nowhere else,
the leader's data on a claim, the frontend on the pool address 09 asks for. The prober is
run for real against a local function that fails for a while.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from helpers import guestbook
from helpers.guestbook import objects
from helpers.prober import Prober
from helpers.releases import bundle_image
from helpers.topology import fixed_addresses

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def inv(lab_inventory):
    return lab_inventory


def _pod_specs(docs):
    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet"):
            yield d["metadata"]["name"], d["spec"]["template"]["spec"]


def test_every_container_meets_restricted_and_runs_from_the_bundle(inv):
    docs = guestbook.documents(str(guestbook.address(inv)), "pw")
    ns = docs[0]
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    allowed = {bundle_image("redis"), bundle_image("guestbook")}
    specs = dict(_pod_specs(docs))
    assert set(specs) == {"redis-leader", "redis-follower", "frontend"}
    for name, spec in specs.items():
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert c["image"] in allowed and c["imagePullPolicy"] == "IfNotPresent", name
            assert sc["runAsNonRoot"] and sc["runAsUser"] > 0 and sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"] == {"drop": ["ALL"]} and sc["seccompProfile"] == {"type": "RuntimeDefault"}, name
            assert sc["readOnlyRootFilesystem"], name
            assert c["resources"]["requests"]["cpu"], f"{name}: the HPA needs CPU requests"
            assert c["readinessProbe"], name


def test_the_password_lives_in_the_secret_only(inv):
    docs = guestbook.documents(str(guestbook.address(inv)), "s3cret-value")
    secret = next(d for d in docs if d["kind"] == "Secret")
    assert secret["stringData"] == {"password": "s3cret-value",
                                    "auth.conf": "requirepass s3cret-value\nmasterauth s3cret-value\n"}
    others = yaml.safe_dump([d for d in docs if d["kind"] != "Secret"])
    assert "s3cret-value" not in others
    for conf in objects.redis_config().values():
        assert "include /etc/redis/auth/auth.conf" in conf
    assert len(objects.new_password()) == 32 and objects.new_password() != objects.new_password()


def test_the_leader_keeps_its_data_and_the_followers_follow_it(inv):
    docs = {(d["kind"], d["metadata"]["name"]): d for d in guestbook.documents("192.168.4.115", "pw")}
    leader = docs[("StatefulSet", "redis-leader")]["spec"]
    assert leader["replicas"] == 1 and leader["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    assert "storageClassName" not in leader["volumeClaimTemplates"][0]["spec"], "08's default class serves it"
    followers = docs[("StatefulSet", "redis-follower")]["spec"]
    assert followers["replicas"] == 2 and "volumeClaimTemplates" not in followers
    assert "replicaof redis-leader 6379" in objects.redis_config()["follower.conf"]
    assert "appendonly yes" in objects.redis_config()["leader.conf"]
    for (kind, name), d in docs.items():
        if kind == "Service":
            target = {"redis-leader": "leader", "redis-follower": "follower", "frontend": "frontend"}[name]
            assert d["spec"]["selector"] == {"app": "guestbook", "role": name if target != "frontend" else "frontend"}


def test_the_frontend_asks_for_the_pool_address_09_reserves(inv):
    want = fixed_addresses(inv)["guestbook"]
    assert str(want) == "192.168.4.115"
    assert want not in {v for k, v in fixed_addresses(inv).items() if k != "guestbook"}
    svc = next(d for d in guestbook.documents(str(want), "pw") if d["kind"] == "Service" and d["metadata"]["name"] == "frontend")
    assert svc["spec"]["type"] == "LoadBalancer"
    assert svc["metadata"]["annotations"] == {"metallb.io/loadBalancerIPs": "192.168.4.115"}
    assert svc["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http"}]


def test_prober_records_failures_and_the_longest_outage():
    t0 = time.monotonic()

    def probe() -> str:
        if 0.3 <= time.monotonic() - t0 < 0.6:
            raise ConnectionRefusedError("refused")
        return "pod-a"

    with Prober(probe, interval=0.02, limit=5) as p:
        time.sleep(0.9)
    s = p.summary()
    assert 30 <= s["probes"] <= 50
    assert 0 < s["probes"] - s["answered"] < s["probes"]
    assert s["longest_outage"] == pytest.approx(0.3, abs=0.08)
    assert list(s["failures"]) == ["ConnectionRefusedError: refused"]
    assert p.summary(since=0.7)["ratio"] == 1.0


def test_prober_is_bounded_in_count_and_in_time():
    p = Prober(lambda: "x", interval=0.001, limit=10, max_count=25).start()
    time.sleep(0.3)
    p.stop()
    assert len(p.samples) == 25
    p = Prober(lambda: "x", interval=0.05, limit=0.3).start()
    time.sleep(0.6)
    assert 5 <= len(p.samples) <= 7
    p.stop()
    with pytest.raises(ValueError, match="positive"):
        Prober(lambda: "x", interval=0)
