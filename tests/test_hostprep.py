"""Host preparation's pure parts: the managed /etc/hosts block and fstab swap lines."""

from __future__ import annotations

from pathlib import Path

from helpers import hostprep
from helpers.inventory import load_inventory

REPO = Path(__file__).resolve().parent.parent
DEBIAN_HOSTS = """\
127.0.0.1\tlocalhost
127.0.1.1\tkube-node01.kube.demo\tkube-node01

# The following lines are desirable for IPv6 capable hosts
::1     localhost ip6-localhost ip6-loopback
ff02::1 ip6-allnodes
"""


def _inv():
    return load_inventory(REPO / "inventories" / "lab.yaml")


def test_hosts_block_names_vip_and_every_host():
    block = hostprep.hosts_block(_inv())
    lines = block.splitlines()
    assert lines[0].startswith("# BEGIN kubernetes-journey kube-demo")
    assert lines[-1] == "# END kubernetes-journey kube-demo"
    assert lines[1].split() == ["192.168.4.20", "kube-api.kube.demo", "kube-api"]
    assert lines[2].split() == ["192.168.4.11", "hapx-node01.kube.demo", "hapx-node01"]
    assert len(lines) == 2 + 1 + 7


def test_merge_is_idempotent_and_disables_the_127_0_1_1_self_mapping():
    inv = _inv()
    block = hostprep.hosts_block(inv)
    names = [n for h in inv.hosts for n in (h.name, h.fqdn)]
    once = hostprep.merge_hosts_file(DEBIAN_HOSTS, block, names)
    assert hostprep.merge_hosts_file(once, block, names) == once
    assert "127.0.0.1\tlocalhost" in once and "ff02::1 ip6-allnodes" in once
    assert "#kubernetes-journey: the managed block names this host: 127.0.1.1" in once
    assert once.endswith("# END kubernetes-journey kube-demo\n")
    assert once.count("# BEGIN kubernetes-journey") == 1


def test_merge_replaces_an_old_block_and_keeps_other_lines():
    inv = _inv()
    names = [n for h in inv.hosts for n in (h.name, h.fqdn)]
    old = "127.0.0.1 localhost\n# BEGIN kubernetes-journey kube-demo\n10.0.0.1 stale\n# END kubernetes-journey kube-demo\n10.9.9.9 printer\n"
    merged = hostprep.merge_hosts_file(old, hostprep.hosts_block(inv), names)
    assert "stale" not in merged and "10.9.9.9 printer" in merged
    assert "127.0.1.1 other-machine" == hostprep.merge_hosts_file("127.0.1.1 other-machine\n", "", names).strip()


def test_fstab_swap_lines_commented_once():
    fstab = "UUID=1 / ext4 defaults 0 1\nUUID=2 none swap sw 0 0\n/swapfile none swap sw 0 0\n# UUID=3 none swap sw 0 0\n"
    fixed = hostprep.disable_swap_lines(fstab)
    assert fixed.count(hostprep.FSTAB_MARK) == 2
    assert "UUID=1 / ext4 defaults 0 1\n" in fixed
    assert hostprep.disable_swap_lines(fixed) == fixed
    assert hostprep.disable_swap_lines("") == ""
