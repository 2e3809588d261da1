"""helpers.etcd pure logic: unit rendering, cluster strings, bootstrap decision, parsing."""

from __future__ import annotations

import hashlib
import io
import ipaddress
import stat
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from helpers import etcd, pki
from helpers.artifacts import Artifact
from helpers.errors import StepFailed
from helpers.etcd import client as etcd_client
from helpers.inventory import load_inventory
from helpers.paths import REPO
from helpers.tables import Table


@pytest.fixture
def inv(tmp_path, monkeypatch):
    monkeypatch.setenv("KJ_CLUSTER_DIR", str(tmp_path / "cluster"))
    return load_inventory(REPO / "inventories" / "lab.yaml")


def test_members_and_clients(inv):
    assert [h.name for h in etcd.members(inv)] == ["kube-mast01", "kube-mast02", "kube-mast03"]
    assert [h.name for h in etcd.client_hosts(inv)] == ["kube-mast01", "kube-mast02", "kube-mast03"]
    assert etcd.checker_host(inv).name == "kube-mast01"


def test_initial_cluster_and_endpoints(inv):
    hosts = etcd.members(inv)
    assert etcd.initial_cluster(hosts) == (
        "kube-mast01=https://192.168.4.21:2380,"
        "kube-mast02=https://192.168.4.22:2380,"
        "kube-mast03=https://192.168.4.23:2380"
    )
    assert etcd.endpoints(hosts) == (
        "https://192.168.4.21:2379,https://192.168.4.22:2379,https://192.168.4.23:2379"
    )


def test_single_member_cluster():
    inv = load_inventory(REPO / "inventories" / "small.yaml")
    assert etcd.initial_cluster(etcd.members(inv)) == "kube-mast01=https://192.168.5.21:2380"


def unit_flags(text: str) -> dict[str, str]:
    flags = {}
    for line in text.splitlines():
        line = line.strip().rstrip("\\").strip()
        if line.startswith("--"):
            name, _, value = line[2:].partition("=")
            flags[name] = value
    return flags


def test_unit_renders_tls_and_urls(inv):
    pytest.importorskip("helpers.remote")
    host = inv.host("kube-mast02")
    text = etcd.render_unit(etcd.member_config(inv, host))
    flags = unit_flags(text)
    assert flags["name"] == "kube-mast02"
    assert flags["data-dir"] == "/var/lib/etcd"
    assert flags["listen-client-urls"] == "https://192.168.4.22:2379,https://127.0.0.1:2379"
    assert flags["advertise-client-urls"] == "https://192.168.4.22:2379"
    assert flags["listen-peer-urls"] == "https://192.168.4.22:2380"
    assert flags["initial-advertise-peer-urls"] == "https://192.168.4.22:2380"
    assert flags["initial-cluster"] == etcd.initial_cluster(etcd.members(inv))
    assert flags["initial-cluster-token"] == "kube-demo-etcd"
    assert flags["initial-cluster-state"] == "new"
    assert flags["client-cert-auth"] == "true" and flags["peer-client-cert-auth"] == "true"
    assert flags["trusted-ca-file"] == flags["peer-trusted-ca-file"] == "/etc/etcd/pki/ca.crt"
    assert flags["cert-file"] == "/etc/etcd/pki/server.crt"
    assert flags["peer-key-file"] == "/etc/etcd/pki/peer.key"
    assert flags["listen-metrics-urls"] == "http://127.0.0.1:2381"
    assert "Type=notify" in text and "User=etcd" in text
    assert "ExecStart=/usr/local/bin/etcd \\" in text
    # No URL listens on every address, no plain-HTTP client or peer URL.
    assert "0.0.0.0" not in text
    assert "http://192" not in text


def test_unit_is_stable_across_runs(inv):
    """The same inventory renders byte-identical units: a re-run never restarts etcd."""
    pytest.importorskip("helpers.remote")
    host = inv.host("kube-mast01")
    assert etcd.render_unit(etcd.member_config(inv, host)) == etcd.render_unit(etcd.member_config(inv, host))


def test_member_config_refuses_non_member(inv):
    with pytest.raises(ValueError, match="hapx-node01"):
        etcd.member_config(inv, inv.host("hapx-node01"))


def test_bootstrap_state():
    assert etcd.bootstrap_state({"a": False, "b": False, "c": False}) == "new"
    assert etcd.bootstrap_state({"a": True, "b": True, "c": True}) == "existing"


def test_bootstrap_state_refuses_a_join():
    with pytest.raises(StepFailed) as err:
        etcd.bootstrap_state({"a": True, "b": False, "c": True})
    assert list(err.value.failures) == ["b"]
    text = str(err.value)
    assert "b" in text and "a, c already hold cluster data" in text and "join" in text


def test_etcd_pki_files_and_reuse(inv):
    first = etcd.ensure_etcd_pki(inv)
    assert first.changed == 1 + 2 * 3 + 2 and first.ok == 0
    d = etcd.pki_dir(inv)
    assert d == Path(inv.cluster_dir) / "pki" / "etcd"
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    for key in d.glob("*.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    server = pki.load_cert(d / "kube-mast01-server.crt")
    assert pki.cert_sans(server) == ["kube-mast01", "kube-mast01.kube.demo", "localhost",
                                     "127.0.0.1", "192.168.4.21"]
    peer = pki.load_cert(d / "kube-mast01-peer.crt")
    assert pki.cert_sans(peer) == ["kube-mast01", "kube-mast01.kube.demo", "192.168.4.21"]
    table = etcd.cert_table(inv).as_dicts()
    subjects = {r["name"]: r["subject"] for r in table}
    assert subjects["apiserver-etcd-client"] == "CN=kube-apiserver-etcd-client"
    assert subjects["healthcheck-client"] == "CN=etcd-healthcheck-client"
    assert {r["usage"] for r in table if r["name"].endswith("-client")} == {"client"}
    assert {r["issuer"] for r in table} == {"CN=etcd-ca"}

    again = etcd.ensure_etcd_pki(inv)
    assert again.changed == 0 and again.ok == len(first)
    assert all(r.host == "operator" for r in again)


def test_etcd_pki_reissues_when_an_address_changes(inv, tmp_path):
    etcd.ensure_etcd_pki(inv)
    moved = inv.model_copy(deep=True)
    moved.hosts[3].address = moved.hosts[3].address + 100  # kube-mast02 moves
    report = etcd.ensure_etcd_pki(moved)
    changed = {r.detail for r in report if r.status == "changed"}
    assert changed == {
        "kube-mast02-server: re-issued: SANs changed (+192.168.4.122, -192.168.4.22)",
        "kube-mast02-peer: re-issued: SANs changed (+192.168.4.122, -192.168.4.22)",
    }


def make_tarball(tmp_path: Path) -> Artifact:
    path = tmp_path / "etcd-v3.6.0-linux-amd64.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name in ("etcd", "etcdctl", "etcdutl", "README.md"):
            data = f"#!/bin/sh\necho {name}\n".encode()
            info = tarfile.TarInfo(f"etcd-v3.6.0-linux-amd64/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return Artifact("etcd", "v3.6.0", "http://mirror/etcd.tar.gz", path, digest)


def test_extract_binaries(tmp_path):
    art = make_tarball(tmp_path)
    out = etcd.extract_binaries(art)
    assert sorted(out) == ["etcd", "etcdctl", "etcdutl"]
    for name, bin_art in out.items():
        assert bin_art.path.read_text() == f"#!/bin/sh\necho {name}\n"
        assert bin_art.sha256 == hashlib.sha256(bin_art.path.read_bytes()).hexdigest()
        assert stat.S_IMODE(bin_art.path.stat().st_mode) == 0o755
        assert bin_art.version == "v3.6.0" and bin_art.name.endswith(name)
    # Second call reuses the extracted files.
    mtime = out["etcd"].path.stat().st_mtime_ns
    assert etcd.extract_binaries(art)["etcd"].path.stat().st_mtime_ns == mtime


def test_health_problems_name_the_member():
    table = Table(["member", "endpoint", "health", "took", "error"], [
        ["kube-mast01", "https://192.168.4.21:2379", "healthy", "3ms", ""],
        ["kube-mast02", "https://192.168.4.22:2379", "UNHEALTHY", "", "context deadline exceeded"],
    ])
    problems = etcd.health_problems(table)
    assert problems == ["etcd member kube-mast02 (https://192.168.4.22:2379) is unhealthy: "
                        "context deadline exceeded"]


def test_json_tolerates_log_lines():
    text = '{"level":"warn","msg":"x"}\n[{"endpoint":"e","health":true}]'
    # etcdctl prints JSON after any warnings on stderr, stdout holds only the document.
    assert etcd_client._json('[{"endpoint":"e","health":true}]') == [{"endpoint": "e", "health": True}]
    assert etcd_client._json("") is None
    assert etcd_client._json(text) is None or isinstance(etcd_client._json(text), (list, dict))


def test_etcdctl_command_line():
    cmd = etcd.etcdctl("endpoint health", "https://a:2379")
    assert cmd.startswith("/usr/local/bin/etcdctl --endpoints=https://a:2379 --cacert=/etc/etcd/pki/ca.crt")
    assert "--cert=/etc/etcd/pki/healthcheck-client.crt" in cmd
    anon = etcd.etcdctl("endpoint health", "https://a:2379", cert=False)
    assert "--cert=" not in anon and "--key=" not in anon and "--cacert=" in anon


# Output captured from etcdctl v3.7.0 against a three-member TLS cluster on loopback.
HOSTS = [SimpleNamespace(name=f"m{i}", address=ipaddress.ip_address(f"127.0.0.1{i}")) for i in (1, 2, 3)]
HEALTH_OK = (
    '[{"endpoint":"https://127.0.0.13:2379","health":true,"took":"42.550037ms"},'
    '{"endpoint":"https://127.0.0.11:2379","health":true,"took":"37.545423ms"},'
    '{"endpoint":"https://127.0.0.12:2379","health":false,"took":"5.00464969s",'
    '"error":"context deadline exceeded"}]'
)
STATUS = (
    '[{"Endpoint":"https://127.0.0.11:2379","Status":{"header":{"cluster_id":4195619529504990374,'
    '"member_id":6545453864119457344,"revision":1,"raft_term":2},"version":"3.7.0","dbSize":20480,'
    '"leader":6545453864119457344,"raftIndex":11,"raftTerm":2,"raftAppliedIndex":11}},'
    '{"Endpoint":"https://127.0.0.13:2379","Status":{"header":{"cluster_id":4195619529504990374,'
    '"member_id":2966015708901765517,"revision":1,"raft_term":2},"version":"3.7.0","dbSize":2097152,'
    '"leader":6545453864119457344,"raftIndex":11,"raftTerm":2,"raftAppliedIndex":11}}]'
)
MEMBERS = (
    '{"header":{"cluster_id":4195619529504990374},"members":['
    '{"ID":2966015708901765517,"name":"m3","peerURLs":["https://127.0.0.13:2380"]},'
    '{"ID":6545453864119457344,"name":"m1","peerURLs":["https://127.0.0.11:2380"]},'
    '{"ID":16445634836525340627,"name":"m2","peerURLs":["https://127.0.0.12:2380"]}]}'
)
ANON_STDERR = (
    '{"level":"warn","logger":"etcd-client","msg":"retrying of unary invoker failed","error":"rpc '
    'error: code = DeadlineExceeded desc = latest balancer error: connection error: desc = '
    '\\"error reading server preface: remote error: tls: certificate required\\""}\n'
    "Error: context deadline exceeded\n"
)


def test_parse_health_in_member_order():
    rows = etcd.parse_health(HEALTH_OK, "Error: unhealthy cluster", HOSTS)
    assert [r[:3] for r in rows] == [
        ["m1", "https://127.0.0.11:2379", "healthy"],
        ["m2", "https://127.0.0.12:2379", "UNHEALTHY"],
        ["m3", "https://127.0.0.13:2379", "healthy"],
    ]
    assert rows[1][4] == "context deadline exceeded"


def test_parse_health_without_json_says_why():
    rows = etcd.parse_health("", ANON_STDERR, HOSTS[:1])
    assert rows == [["m1", "https://127.0.0.11:2379", "UNHEALTHY", "", "remote error: tls: certificate required"]]


def test_parse_status_leader_and_unreachable():
    rows = etcd.parse_status(etcd_client._json(STATUS), etcd_client._json(MEMBERS), HOSTS)
    table = {r[0]: r for r in rows}
    assert table["m1"][1:4] == ["5ad61f9c308c5640", "yes", 2]
    assert table["m3"][2] == "no" and table["m3"][5] == "2.0 MiB" and table["m3"][6] == "3.7.0"
    assert table["m2"][2] == "unreachable"
    assert table["m1"][5] == "20.0 KiB"


def test_tls_error_extraction():
    assert etcd_client._tls_error(ANON_STDERR) == "remote error: tls: certificate required"
    assert etcd_client._tls_error("Error: context deadline exceeded\n") == "Error: context deadline exceeded"


@pytest.mark.parametrize(("code", "stderr", "verdict"), [
    (56, "curl: (56) OpenSSL SSL_read: error:0A00045C:SSL routines::tlsv13 alert certificate required", "refused"),
    (35, "curl: (35) TLS connect error: error:0A000410:SSL routines::ssl/tls alert handshake failure", "refused"),
    (7, "curl: (7) Failed to connect to 192.168.4.22 port 2379: Connection refused", "no TLS answer"),
    (28, "curl: (28) Connection timed out after 5001 milliseconds", "no TLS answer"),
    (0, "", "ACCEPTED"),
])
def test_anonymous_verdict_needs_a_tls_refusal(code, stderr, verdict):
    assert etcd.anonymous_verdict(code, stderr) == verdict


def test_external_etcd_topology(inv):
    """Members are the etcd hosts; masters that are not members still get etcdctl (clients)."""
    ext = inv.model_copy(deep=True)
    roles = {"kube-mast01": ["master"], "kube-mast02": ["master", "etcd"], "kube-mast03": ["etcd"]}
    for h in ext.hosts:
        if h.name in roles:
            h.roles = roles[h.name]
    assert [h.name for h in etcd.members(ext)] == ["kube-mast02", "kube-mast03"]
    assert [h.name for h in etcd.client_hosts(ext)] == ["kube-mast01", "kube-mast02", "kube-mast03"]
    assert etcd.checker_host(ext).name == "kube-mast01"
    assert etcd.initial_cluster(etcd.members(ext)).count("=https://") == 2
