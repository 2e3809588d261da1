"""The one-box lab, for real: nspawn machines, SSH with verified host keys, site
services, isolation, nested containers, crash recovery and a clean teardown.

One small lab (inventories/small.yaml, 3 machines) serves the whole module; the tests
run in file order and the last ones kill and tear it down.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from labkit import SMALL, busybox_image, differences, snapshot, ssh

from helpers.errors import LabError
from helpers.lab import cgroups, lab, services
from helpers.lab.plan import CGROUP_PARENT, load_plan, run_root
from helpers.lab.state import LabState
from helpers.waiting import poll_until

pytestmark = [pytest.mark.lab, pytest.mark.timeout(900)]


def test_overlapping_subnet_is_refused_before_any_change(tmp_path):
    eth = json.loads(
        subprocess.run(
            ["ip", "-j", "-4", "route", "show", "default"], capture_output=True, text=True
        ).stdout
    )
    dev = eth[0]["dev"]
    addr = json.loads(
        subprocess.run(
            ["ip", "-j", "-4", "addr", "show", "dev", dev], capture_output=True, text=True
        ).stdout
    )
    host_net = ipaddress.ip_interface(
        f"{addr[0]['addr_info'][0]['local']}/{addr[0]['addr_info'][0]['prefixlen']}"
    ).network
    text = (SMALL.read_text().replace("192.168.5.0/24", str(host_net)).replace("kube-small", "kube-clash")
            .replace("kjbr-small", "kjbr-clash").replace("../.state/lab", str(tmp_path)))  # fmt: skip
    last = list(host_net.hosts())[-5:]  # the lab's .1 .11 .20 .21 .31 moved into the host's subnet
    moved = dict(zip(("1", "11", "20", "21", "31"), map(str, last), strict=True))
    text = re.sub(r"192\.168\.5\.(\d+)\b", lambda mt: moved[mt.group(1)], text)
    (tmp_path / "clash.yaml").write_text(text)
    with pytest.raises(LabError, match=f"overlaps the host's route {host_net} on {dev}"):
        lab.up(load_plan(tmp_path / "clash.yaml"))
    assert not (run_root() / "kube-clash").exists()
    assert "kjbr-clash" not in subprocess.run(["ip", "link"], capture_output=True, text=True).stdout


def test_up_from_scratch_boots_every_machine(small_lab):
    the_lab, _ = small_lab
    assert {m.name for m in the_lab.plan.machines} == {"hapx-node01", "kube-mast01", "kube-node01"}
    booted = [c for c in the_lab.report.changes if c.endswith(")") and ": booted (pid" in c]
    assert len(booted) == 3, the_lab.report
    assert os.stat(the_lab.plan.identity_file).st_mode & 0o777 == 0o600
    assert the_lab.report.seconds < 300, the_lab.report


def test_second_up_changes_nothing_and_is_quick(small_lab):
    the_lab, _ = small_lab
    report = lab.up(the_lab.plan)
    assert report.changes == [], report
    assert report.seconds - report.timings.get("wait for lock", 0) < 30, report


def test_ssh_with_verified_host_keys_to_each_machine(small_lab):
    the_lab, _ = small_lab
    known = the_lab.plan.known_hosts.read_text()
    for m in the_lab.plan.machines:
        assert f"{m.name},{m.fqdn},{m.address} ssh-ed25519 " in known
        assert the_lab.ssh(m, "hostname").stdout.decode().strip() == m.name
    # a wrong host key is refused: the runbook really verifies, nothing is auto-accepted
    first, second = the_lab.plan.machines[:2]
    forged = the_lab.plan.known_hosts.with_name("known_hosts.forged")
    forged.write_text(
        known.replace(str(first.address), "x").replace(str(second.address), str(first.address))
    )
    try:
        proc = subprocess.run(
            ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={forged}",
             "-i", str(the_lab.plan.identity_file), f"root@{first.address}", "true"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    finally:
        forged.unlink()
    assert proc.returncode != 0 and "HOST IDENTIFICATION HAS CHANGED" in proc.stderr


def test_names_addresses_and_identity(small_lab):
    the_lab, _ = small_lab
    ids = set()
    for m in the_lab.plan.machines:
        out = the_lab.ssh(
            m,
            "hostname -f; ip -4 -o addr show dev eth0; ip route show default; cat /etc/machine-id",
        )
        fqdn, addr, route, machine_id = out.stdout.decode().strip().splitlines()
        assert fqdn == m.fqdn
        assert f"{m.address}/24" in addr
        assert f"via {the_lab.plan.gateway}" in route
        ids.add(machine_id)
    assert len(ids) == 3, "every machine has a machine-id of its own"


def test_machine_to_machine_ping(small_lab):
    the_lab, _ = small_lab
    a, b, c = the_lab.plan.machines
    the_lab.ssh(a, f"ping -c 2 -W 2 {b.address} && ping -c 2 -W 2 {c.fqdn}")


def test_lab_dns_answers_for_the_lab_only(small_lab):
    the_lab, _ = small_lab
    plan = the_lab.plan
    for m in plan.machines:
        assert services.resolve(plan.gateway, m.fqdn) == [str(m.address)]
    assert services.resolve(plan.gateway, f"kubernetes.{plan.domain}") == [str(plan.vip)]
    assert services.resolve(plan.gateway, "deb.debian.org") == []
    out = the_lab.ssh(plan.machines[0], f"getent hosts {plan.machines[2].name}").stdout.decode()
    assert str(plan.machines[2].address) in out
    assert the_lab.ssh(plan.machines[0], "getent hosts deb.debian.org", check=False).returncode != 0


def test_nothing_outside_the_lab_is_reachable(small_lab):
    the_lab, _ = small_lab
    m = the_lab.plan.machines[0]
    started = time.monotonic()
    ping = the_lab.ssh(m, "ping -c 1 -W 2 192.0.2.1", check=False)
    curl = the_lab.ssh(m, "curl -sS --connect-timeout 3 -m 5 http://192.0.2.1/", check=False)
    outside = the_lab.ssh(m, "curl -sS --connect-timeout 3 -m 5 http://151.101.2.132/", check=False)
    assert ping.returncode != 0 and curl.returncode != 0 and outside.returncode != 0
    assert time.monotonic() - started < 30
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == "0"


def test_host_services_are_closed_to_machines(small_lab):
    """Only the site services on the gateway answer; the host's other listeners do not."""
    the_lab, _ = small_lab
    plan = the_lab.plan
    listener = socket.socket()
    listener.bind(("0.0.0.0", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        m = plan.machines[0]
        for address in (plan.gateway, *_host_addresses()):
            proc = the_lab.ssh(
                m, f"curl -sS --connect-timeout 3 -m 5 http://{address}:{port}/", check=False
            )
            assert proc.returncode != 0, f"{m.name} reached the host's port {port} at {address}"
        code = the_lab.ssh(
            m, f"curl -sS -o /dev/null -w '%{{http_code}}' http://{plan.gateway}:8080/"
        ).stdout
        assert code == b"200"
    finally:
        listener.close()


def _host_addresses() -> list[str]:
    out = subprocess.run(["ip", "-j", "-4", "addr"], capture_output=True, text=True).stdout
    return [
        a["local"]
        for i in json.loads(out)
        for a in i["addr_info"]
        if not a["local"].startswith("127.")
    ]


def test_apt_install_through_the_lab_proxy(small_lab):
    the_lab, _ = small_lab
    m = the_lab.plan.machines[1]
    out = the_lab.ssh(
        m,
        "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q hello && hello",
        timeout=600,
    ).stdout.decode()
    assert "Hello, world!" in out
    assert (
        "http://192.168.5.1:3142"
        in the_lab.ssh(m, "apt-config dump | grep -i proxy").stdout.decode()
    )


def test_nested_container_runs_with_containerd_and_runc(small_lab):
    the_lab, _ = small_lab
    plan = the_lab.plan
    m = plan.machines[2]
    the_lab.ssh(
        m,
        "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q containerd runc",
        timeout=600,
    )
    the_lab.ssh(m, "cat > /tmp/busybox.tar", input=busybox_image())
    the_lab.ssh(
        m, "ctr -n k8s.io images import /tmp/busybox.tar"
    )  # overlayfs snapshotter on the bound dir
    out = the_lab.ssh(
        m, "ctr -n k8s.io run --rm docker.io/kj/busybox:test kj-hello /bin/busybox echo nested-ok"
    )
    assert out.stdout.decode().strip() == "nested-ok"
    # a long-running one: its cgroups land inside the machine's subtree, not at the host's root
    the_lab.ssh(m, "ctr -n k8s.io run -d docker.io/kj/busybox:test kj-sleep /bin/busybox sleep 300")
    try:
        mem = Path("/sys/fs/cgroup/memory")
        inside = list((mem / CGROUP_PARENT / plan.name / m.name).rglob("kj-sleep"))
        assert inside, "the nested container's memory cgroup is in the machine's subtree"
        assert not list(mem.glob("*/kj-sleep")) and not (mem / "k8s.io").exists()
    finally:
        the_lab.ssh(m, "ctr -n k8s.io task kill -s KILL kj-sleep; sleep 1; ctr -n k8s.io task rm -f kj-sleep; "
                       "ctr -n k8s.io container rm kj-sleep", check=False)  # fmt: skip


def test_up_recovers_after_a_crash(small_lab):
    the_lab, _ = small_lab
    plan = the_lab.plan
    keys_before = plan.known_hosts.read_text()
    state = LabState.load(plan.name)
    victims = {name: rec for name, rec in state.procs.items() if rec.alive()}
    assert len(victims) == 6  # 3 machines + 3 services
    for rec in victims.values():
        os.kill(rec.pid, signal.SIGKILL)
    poll_until(lambda: sorted(n for n, rec in victims.items() if rec.alive()), lambda left: not left,
               what="the SIGKILLed lab processes gone", where="the lab host", timeout=10,
               interval=0.1, describe=lambda left: f"still running: {', '.join(left)}")
    report = lab.up(plan)
    assert sum(": booted (pid" in c for c in report.changes) == 3, report
    assert (
        sum(c.startswith(("apt-cacher-ng", "mirror-http", "dnsmasq")) for c in report.changes) == 3
    ), report
    after = LabState.load(plan.name)
    for name, rec in victims.items():
        assert after.procs[name].pid != rec.pid and after.procs[name].alive()
    for m in plan.machines:  # same identity, so the recorded host keys still verify
        assert the_lab.ssh(m, "hostname").stdout.decode().strip() == m.name
        assert len(cgroups.procs_in(cgroups.machine_dirs(plan.name, m.name)[0])) > 0
    assert plan.known_hosts.read_text() == keys_before
    assert services.resolve(plan.gateway, plan.machines[0].fqdn) == [str(plan.machines[0].address)]


def test_down_leaves_nothing_behind(small_lab):
    the_lab, baseline = small_lab
    plan = the_lab.plan
    report = lab.down(plan.name)
    assert report.seconds < 60, report
    assert differences(baseline, snapshot()) == {}
    assert not plan.run_dir.exists() and not plan.data_dir.exists()
    assert lab.down(plan.name).changes == []  # a second down has nothing to do
    # and the client key stays (outside git), while the stale known_hosts is gone
    assert plan.identity_file.exists() and not plan.known_hosts.exists()
    for m in plan.machines:
        assert ssh(plan, m, "true", check=False, timeout=30).returncode != 0
