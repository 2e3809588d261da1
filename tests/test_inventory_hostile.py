"""The inventory check fed what operators in a hurry and attackers feed it.

Every case starts from the reference inventory (``inventories/lab.yaml``) with one thing
changed, and must end in an :class:`InventoryError` that names the field (or the file's
line) and says why, quickly, before any host is touched. The last test is a property:
for any bytes at all, the loader returns an inventory or raises that error, within a
second.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.errors import InventoryError
from helpers.inventory import load_inventory
from helpers.inventory.reading import MAX_BYTES

REFERENCE = (Path(__file__).resolve().parent.parent / "inventories" / "lab.yaml").read_text()


def _bomb() -> bytes:
    lines = [b'a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(8):
        this, prev = bytes([98 + i]), bytes([97 + i])
        lines.append(this + b": &" + this + b" [" + b", ".join([b"*" + prev] * 9) + b"]")
    return b"\n".join(lines) + b"\ncluster: *i\n"


def edited(old: str, new: str, count: int = 1) -> bytes:
    assert old in REFERENCE, old
    return REFERENCE.replace(old, new, count).encode()


CASES = {
    # the file itself
    "not UTF-8": (edited("name: kube-demo", "name: kube-dem") .replace(b"kube-dem\n", b"kube-\xff\xfe\n", 1),
                  "(file)", r"not UTF-8 text: byte 0xff at line \d+, column \d+"),
    "a NUL byte": (edited("domain: kube.demo", "domain: kube\x00demo"), "(file)", r"a NUL byte at line 6"),
    "a control character": (edited("domain: kube.demo", "domain: kube\x07demo"), "(file)",
                            r"character U\+0007 at line 6, column \d+ is not allowed"),
    "absurd nesting": (b"cluster: " + b"[" * 50_000 + b"]" * 50_000 + b"\n", "(file)", r"nested more than 32 levels"),
    "a number of thousands of digits": (edited("  port: 22\n", "  port: " + "9" * 5000 + "\n"), "(file)",
                                        r"line \d+, column \d+: a number with 5000 digits"),
    "a YAML alias bomb": (_bomb(), "(file)", r"aliases expand to more than \d+ values"),
    "tens of MB": (REFERENCE.encode() + b"# " + b"x" * (20 * 1024 * 1024) + b"\n", "(file)",
                   r"the file is \d+ bytes; an inventory is at most"),
    "a key given twice": (edited("  gateway: 192.168.4.1\n", "  gateway: 192.168.4.1\n  gateway: 192.168.4.2\n"),
                          "(file)", r"line 12, column 3: key 'gateway' is given twice .*first at line 11"),
    "an unclosed bracket": (edited("pod_cidr: 10.244.0.0/16", "pod_cidr: [10.244.0.0/16"), "(file)",
                            r"invalid YAML: line 14, column \d+: .*flow sequence that opened at line 13"),
    "a date where a string belongs": (edited("name: kube-demo\n  domain", "name: 2024-01-01\n  domain"),
                                      "cluster.name", r"got date"),
    # values that parse but break a cluster later
    "a Kubernetes this series was not written for": (
        edited("kubernetes_version: pinned", "kubernetes_version: v1.30.4"), "cluster.kubernetes_version",
        r"written for Kubernetes 1\.37"),
    "a pod range too small for every node": (edited("pod_cidr: 10.244.0.0/16", "pod_cidr: 10.244.0.0/23"),
                                             "network.pod_cidr", r"holds 2 per-node /24 range\(s\) .* for 5 nodes, .*use a /21"),
    "a node name too long for its certificate": (edited("kube-node02", "kube-node02" + "x" * 45), "hosts[6].name",
                                                 r"common name .* over the limit of 64"),
    "a bridge the lab does not own": (edited("bridge: kjbr-demo", "bridge: docker0"), "lab.bridge",
                                      r"not a lab bridge name"),
    "a VIP nobody holds": (edited("roles: [lb] }", "roles: [worker] }", 2), "network.vip", r"has no host to hold it"),
    "a load balancer that is also a master": (edited("roles: [master, etcd] }", "roles: [master, etcd, lb] }"),
                                              "hosts[2].roles", r"both lb and master"),
    "a host named like the API endpoint": (edited("hapx-node01", "kube-api"), "hosts[0].name",
                                           r"the API endpoint's name"),
    "a bastion written user@host": (edited("  port: 22\n  identity", "  port: 22\n  bastion: { host: ops@jump.example }\n  identity"),
                                    "ssh.bastion.host", r"write host: jump\.example and user: ops"),
    "a huge value in a field": (edited("name: kube-demo\n  domain", "name: " + "Q" * 500_000 + "\n  domain"),
                                "cluster.name", r"characters\)"),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_each_hostile_input_gets_a_named_error(tmp_path, case):
    data, field, reason = CASES[case]
    path = tmp_path / "inventory.yaml"
    path.write_bytes(data)
    start = time.monotonic()
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    assert time.monotonic() - start < 2.0, f"{case}: took {time.monotonic() - start:.1f} s"
    problems = dict(err.value.problems)
    assert field in problems, f"{case}: expected a problem at {field}, got {err.value.problems}"
    import re  # noqa: PLC0415

    assert re.search(reason, problems[field]), f"{case}: {problems[field]!r} does not say {reason!r}"
    assert len(str(err.value)) < 2000, f"{case}: the message is {len(str(err.value))} characters"


def test_a_misspelled_section_is_one_problem_where_the_typo_is(tmp_path):
    path = tmp_path / "inventory.yaml"
    path.write_bytes(edited("network:", "netwrok:"))
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    assert err.value.problems == [("netwrok", "unknown key 'netwrok'; did you mean 'network' (a required section)?")]


def test_the_reference_inventories_still_load():
    for name in ("lab.yaml", "small.yaml", "example-real-hosts.yaml"):
        load_inventory(Path(__file__).resolve().parent.parent / "inventories" / name)


@settings(max_examples=150, deadline=1000, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.one_of(
    st.binary(max_size=4096),
    st.text(max_size=2048).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.builds(lambda cut, junk: REFERENCE.encode()[:cut] + junk,
              st.integers(0, len(REFERENCE)), st.binary(max_size=256)),
    st.builds(lambda n: b"x: " + b"[" * n + b"]" * n, st.integers(0, 5000)),
))
def test_any_bytes_load_or_raise_the_inventory_error_within_a_second(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "inventory.yaml"
    path.write_bytes(data[:MAX_BYTES])
    start = time.monotonic()
    try:
        load_inventory(path)
    except InventoryError:
        pass
    assert time.monotonic() - start < 1.0


def test_a_file_of_a_full_mebibyte_of_junk_is_refused_quickly(tmp_path):
    import random  # noqa: PLC0415

    path = tmp_path / "inventory.yaml"
    path.write_bytes(random.Random(7).randbytes(MAX_BYTES))
    start = time.monotonic()
    with pytest.raises(InventoryError):
        load_inventory(path)
    assert time.monotonic() - start < 1.0
