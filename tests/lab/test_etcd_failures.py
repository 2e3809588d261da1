"""etcd failure paths on the running lab: a tampered mirror, a stopped member.

Needs the lab up (``python -m helpers lab up --inventory inventories/lab.yaml``) and the
etcd release in its mirror. The inventory is ``$KJ_INVENTORY`` (default: the reference
lab). The stopped-member test stops etcd on the last member and starts it again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from helpers import artifacts, etcd
from helpers.errors import ChecksumMismatch, JourneyError, StepFailed
from helpers.inventory import load_inventory
from helpers.paths import REPO
from helpers.waiting import poll_until

pytestmark = pytest.mark.lab

BINARIES = [f"{etcd.BIN_DIR}/{n}" for n in ("etcd", "etcdctl", "etcdutl")]


@pytest.fixture(scope="module")
def inv():
    path = Path(os.environ.get("KJ_INVENTORY", REPO / "inventories" / "lab.yaml"))
    return load_inventory(path)


@pytest.fixture(scope="module")
def fleet(inv):
    from helpers.remote import Fleet

    fleet = Fleet(inv)
    try:
        fleet.step("reach etcd members", lambda h: None, hosts=[h.name for h in etcd.members(inv)])
    except JourneyError as err:
        fleet.close()
        if os.environ.get("KJ_REQUIRE_ALL") == "1":
            pytest.fail(f"lab not reachable: {err}")
        pytest.skip(f"lab not reachable: {err}")
    yield fleet
    fleet.close()


@pytest.fixture(scope="module")
def cluster(inv, fleet):
    """A running etcd cluster (built here if needed; a no-op when 03-etcd already ran)."""
    etcd.ensure_etcd_pki(inv)
    etcd.ensure_etcd_binaries(fleet)
    etcd.ensure_etcd_config(fleet)
    etcd.ensure_etcd_running(fleet)
    return fleet


def remote_digests(fleet, inv) -> dict[str, str]:
    cmd = "sha256sum " + " ".join(BINARIES) + " 2>/dev/null; true"
    report = fleet.step(
        "digest etcd binaries",
        lambda h: _data(h, h.run(cmd).stdout),
        hosts=[h.name for h in etcd.members(inv)],
    )
    return report.data()


def _data(h, value):
    from helpers.report import Result

    return Result(h.name, "ok", data=value)


def test_tampered_mirror_is_refused_before_install(inv, fleet, tmp_path, monkeypatch):
    """A mirror whose .sha256 does not match the tarball stops the step before any host changes."""
    good = artifacts.fetch(inv, "etcd")  # the real, verified tarball (from the cache when warm)
    rel = artifacts.release("etcd")
    bad_mirror = tmp_path / "mirror"
    target = bad_mirror / rel.path
    target.parent.mkdir(parents=True)
    shutil.copyfile(good.path, target)
    wrong = hashlib.sha256(b"not the etcd release").hexdigest()
    target.with_name(target.name + ".sha256").write_text(f"{wrong}  {target.name}\n")

    tampered = inv.model_copy(deep=True)
    tampered.sources.release_mirror = bad_mirror.as_uri()
    # A cold, private download cache: the shared cache must not be touched by this test.
    monkeypatch.setenv("KJ_CACHE_DIR", str(tmp_path / "cache"))

    before = remote_digests(fleet, inv)
    seen = _FleetFor(fleet, tampered)
    with pytest.raises(ChecksumMismatch) as err:
        etcd.ensure_etcd_binaries(seen)
    assert seen.steps == [], f"host steps ran before the checksum was verified: {seen.steps}"
    assert err.value.expected == wrong
    assert err.value.actual == good.sha256
    assert target.name in str(err.value)
    assert remote_digests(fleet, inv) == before, "a host changed although the download was refused"
    assert not list((tmp_path / "cache").rglob("*.tar.gz.d")), (
        "binaries were extracted from a refused tarball"
    )


def test_tampered_tarball_is_refused(inv, fleet, tmp_path, monkeypatch):
    """The other way round: the published .sha256 is right but the tarball's bytes changed."""
    good = artifacts.fetch(inv, "etcd")
    rel = artifacts.release("etcd")
    target = tmp_path / "mirror" / rel.path
    target.parent.mkdir(parents=True)
    data = bytearray(good.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    target.with_name(target.name + ".sha256").write_text(f"{good.sha256}  {target.name}\n")
    tampered = inv.model_copy(deep=True)
    tampered.sources.release_mirror = (tmp_path / "mirror").as_uri()
    monkeypatch.setenv("KJ_CACHE_DIR", str(tmp_path / "cache"))
    seen = _FleetFor(fleet, tampered)
    with pytest.raises(ChecksumMismatch) as err:
        etcd.ensure_etcd_binaries(seen)
    assert seen.steps == []
    assert err.value.expected == good.sha256 and err.value.actual != good.sha256


class _FleetFor:
    """The same SSH connections, seen through another inventory (only sources differ).

    Records every step started through it, so a test can assert that none was.
    """

    def __init__(self, fleet, inventory):
        self._fleet = fleet
        self.inventory = inventory
        self.steps: list[str] = []

    def step(self, title, *args, **kwargs):
        self.steps.append(title)
        return self._fleet.step(title, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._fleet, name)


def test_stopped_member_is_named_by_the_health_check(inv, cluster):
    fleet = cluster
    victim = etcd.members(inv)[-1]
    others = [m.name for m in etcd.members(inv) if m.name != victim.name]
    quorum = len(etcd.members(inv)) >= 3  # quorum kept: the others still elect one leader
    assert not etcd.health_problems(etcd.check_etcd_health(fleet)), (
        "cluster unhealthy before the test"
    )
    h = fleet.hosts(victim.name)[0]
    h.run("systemctl stop etcd")
    try:
        # The victim may have been the leader: the others need an election before they agree.
        def probe():
            return etcd.check_etcd_health(fleet), etcd.check_etcd_status(fleet).as_dicts()

        def settled(seen) -> bool:
            health, status = seen
            rows = {r["member"]: r for r in health.as_dicts()}
            leaders = [r["leader"] for r in status]
            return (
                rows[victim.name]["health"] == "UNHEALTHY"
                and all(rows[n]["health"] == "healthy" for n in others)
                and [r["leader"] for r in status if r["member"] == victim.name] == ["unreachable"]
                and (not quorum or leaders.count("yes") == 1)
            )

        def seen_text(seen) -> str:
            health, status = seen
            problems = "; ".join(etcd.health_problems(health)) or "every member healthy"
            leaders = ", ".join(f"{r['member']}={r['leader']}" for r in status)
            return f"{problems}; leader flags: {leaders}"

        health, status = poll_until(
            probe, settled, where=etcd.checker_host(inv).name, timeout=15, interval=1,
            what=f"{victim.name} unreachable and exactly one leader among {', '.join(others)}",
            describe=seen_text,
        ).value
        rows = {r["member"]: r for r in health.as_dicts()}
        assert rows[victim.name]["error"], "the unhealthy row should say why"
        problems = etcd.health_problems(health)
        assert (
            len(problems) == 1 and victim.name in problems[0] and str(victim.address) in problems[0]
        ), problems
    finally:
        h.run("systemctl start etcd", timeout=180)
    # Back to healthy; the ensure step now has nothing to do.
    wait_healthy(fleet, inv)
    assert etcd.ensure_etcd_running(fleet).changed == 0


def wait_healthy(fleet, inv, timeout: float = 60) -> None:
    """Poll the members' health until none is unhealthy; the timeout names the last problems."""
    poll_until(lambda: etcd.health_problems(etcd.check_etcd_health(fleet)), lambda p: not p,
               what="all etcd members healthy", where=etcd.checker_host(inv).name,
               timeout=timeout, interval=1, describe="; ".join)


def test_member_without_data_is_a_join_and_refused(inv, cluster):
    """A member whose data directory is empty while the others have data is not bootstrapped."""
    fleet = cluster
    victim = etcd.members(inv)[-1]
    if len(etcd.members(inv)) < 2:
        pytest.skip("needs at least two etcd members")
    h = fleet.hosts(victim.name)[0]
    saved = f"{etcd.DATA_DIR}-member.kj-test"
    h.run(f"systemctl stop etcd && mv {etcd.DATA_DIR}/member {saved}")
    try:
        with pytest.raises(StepFailed) as err:
            etcd.ensure_etcd_running(fleet)
        assert list(err.value.failures) == [victim.name]
        assert "join" in str(err.value) and etcd.DATA_DIR in str(err.value)
        assert not h.exists(f"{etcd.DATA_DIR}/member"), "the refused member was started anyway"
        assert h.run("systemctl is-active etcd", check=False).stdout.strip() != "active"
    finally:
        h.run(f"mv {saved} {etcd.DATA_DIR}/member")
    assert etcd.ensure_etcd_running(fleet)[victim.name].status == "changed"  # started again
    wait_healthy(fleet, inv)


def test_foreign_ca_is_refused_before_any_write(inv, cluster, tmp_path, monkeypatch):
    """A lost cluster directory (a new etcd CA) must not be pushed over a running cluster."""
    fleet = cluster
    before = remote_digests_of(fleet, inv, f"{etcd.PKI_DIR}/*")
    real = etcd.pki_dir(inv)
    monkeypatch.setenv("KJ_CLUSTER_DIR", str(tmp_path / "lost"))  # cluster_dir follows it
    other = load_inventory(inv.path)
    assert etcd.pki_dir(other) != real
    etcd.ensure_etcd_pki(other)  # a brand-new CA and certificates
    with pytest.raises(StepFailed) as err:
        etcd.ensure_etcd_config(_FleetFor(fleet, other))
    assert sorted(err.value.failures) == sorted(h.name for h in etcd.client_hosts(inv))
    assert "trusts another etcd CA" in str(err.value)
    assert remote_digests_of(fleet, inv, f"{etcd.PKI_DIR}/*") == before
    monkeypatch.delenv("KJ_CLUSTER_DIR")
    assert not etcd.health_problems(etcd.check_etcd_health(fleet))


def remote_digests_of(fleet, inv, pattern: str) -> dict[str, str]:
    report = fleet.step("digest files", lambda h: _data(h, h.run(f"sha256sum {pattern}; true").stdout),
                        hosts=[h.name for h in etcd.client_hosts(inv)])
    return report.data()
