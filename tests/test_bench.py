"""The bench's pure logic: derived inventories, cgroup readings, goals, table, JSON and chart.

The figures themselves come from ``python -m helpers bench`` on a real lab; these tests
feed synthetic numbers to the code that derives, judges and writes them.
"""

from __future__ import annotations

import json
from ipaddress import IPv4Network
from pathlib import Path

import pytest
import yaml

import bench
from bench.cli import _pair
from helpers.errors import ConfigError
from helpers.inventory import load_inventory
from helpers.runbook import PLANNED

REPO = Path(__file__).resolve().parent.parent
LAB = REPO / "inventories" / "lab.yaml"


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load(LAB.read_text())


def test_derived_inventory_moves_every_address_and_names(raw, tmp_path):
    data = bench.derive_inventory(raw, "kube-b4", "192.168.23.0/24", workers=4, state_root=tmp_path)
    path = bench.write_inventory(data, tmp_path / "inv" / "b4.yaml")
    inv = load_inventory(path)  # the schema accepts it
    assert inv.cluster.name == inv.lab.name == "kube-b4"
    assert inv.lab.bridge == "kjbr-b4"
    assert inv.network.node_subnet == IPv4Network("192.168.23.0/24")
    assert str(inv.network.gateway) == "192.168.23.1" and str(inv.network.vip) == "192.168.23.20"
    assert inv.sources.release_mirror == "http://192.168.23.1:8080"
    assert inv.sources.apt_proxy == "http://192.168.23.1:3142"
    assert str(inv.network.pod_cidr) == "10.244.0.0/16"  # outside the node subnet: untouched
    assert inv.ssh.identity_file == tmp_path / "lab" / "kube-b4" / "id_ed25519"
    assert inv.ssh.known_hosts == tmp_path / "lab" / "kube-b4" / "known_hosts"
    workers = inv.hosts_with("worker")
    assert [h.name for h in workers] == ["kube-node01", "kube-node02", "kube-node03", "kube-node04"]
    assert [str(h.address) for h in workers] == [f"192.168.23.3{i}" for i in range(1, 5)]
    assert [str(h.address) for h in inv.hosts_with("master")] == [f"192.168.23.2{i}" for i in range(1, 4)]
    assert raw["cluster"]["name"] == "kube-demo"  # the original is left alone


def test_derived_inventory_with_one_worker_keeps_the_rest(raw, tmp_path):
    data = bench.derive_inventory(raw, "kube-b1", "192.168.22.0/24", workers=1, state_root=tmp_path)
    names = [h["name"] for h in data["hosts"]]
    assert names == ["hapx-node01", "hapx-node02", "kube-mast01", "kube-mast02", "kube-mast03", "kube-node01"]
    kept = bench.derive_inventory(raw, "kube-b7", "192.168.21.0/24", state_root=tmp_path)
    assert [h["name"] for h in kept["hosts"]] == [h["name"] for h in raw["hosts"]]


def test_derived_inventory_refuses_bad_input(raw, tmp_path):
    with pytest.raises(ConfigError, match="prefix length"):
        bench.derive_inventory(raw, "kube-x", "192.168.30.0/25", state_root=tmp_path)
    no_lab = {k: v for k, v in raw.items() if k != "lab"}
    with pytest.raises(ConfigError, match="'lab' section"):
        bench.derive_inventory(no_lab, "kube-x", "192.168.30.0/24", state_root=tmp_path)
    tight = dict(raw, network=dict(raw["network"], node_subnet="192.168.4.0/27"),
                 hosts=[h for h in raw["hosts"] if "worker" not in h["roles"]])
    with pytest.raises(ConfigError, match="kube-node"):  # .24.. would be fine, but not 40 workers
        bench.derive_inventory(tight, "kube-x", "192.168.30.0/27", workers=40, state_root=tmp_path)


def test_bridge_names_and_next_subnets():
    assert bench.bridge_for("kube-b1") == "kjbr-b1"
    assert len(bench.bridge_for("kube-a-very-long-lab-name")) == 15
    base = IPv4Network("192.168.21.0/24")
    assert bench.next_subnet(base, 1) == IPv4Network("192.168.22.0/24")
    assert bench.next_subnet(base, 2) == IPv4Network("192.168.23.0/24")


def _write(d: Path, files: dict[str, str]) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (d / name).write_text(text)
    return d


def test_read_cgroups_v1_and_v2(tmp_path):
    cpuacct = _write(tmp_path / "cpuacct", {"cpuacct.usage": "2500000000\n"})
    memory = _write(tmp_path / "memory", {
        "memory.usage_in_bytes": str(64 * 2**20),
        "memory.stat": "cache 1\nrss 2\ntotal_cache 16777216\ntotal_rss 33554432\n",
    })
    empty = _write(tmp_path / "devices", {"devices.list": "a *:* rwm\n"})
    sample = bench.read_cgroups([empty, cpuacct, memory])
    assert sample == bench.CgroupSample(2_500_000_000, 64 * 2**20, 32 * 2**20, 16 * 2**20)
    v2 = _write(tmp_path / "unified", {
        "cpu.stat": "usage_usec 1500000\nuser_usec 1000000\n",
        "memory.current": "1048576\n",
        "memory.stat": "anon 524288\nfile 262144\n",
    })
    assert bench.read_cgroups([v2]) == bench.CgroupSample(1_500_000_000, 1048576, 524288, 262144)
    assert bench.read_cgroups([tmp_path / "missing"]) == bench.CgroupSample()


def test_idle_cost_sums_machines():
    mib = 2**20
    before = {"a": bench.CgroupSample(cpu_ns=0), "b": bench.CgroupSample(cpu_ns=10**9)}
    after = {
        "a": bench.CgroupSample(cpu_ns=3 * 10**9, memory_bytes=100 * mib, rss_bytes=60 * mib, cache_bytes=40 * mib),
        "b": bench.CgroupSample(cpu_ns=4 * 10**9, memory_bytes=50 * mib, rss_bytes=30 * mib, cache_bytes=20 * mib),
    }
    cost = bench.idle_cost(before, after, 30.0)
    assert cost["machines"]["a"]["cpu_cores"] == 0.1
    assert cost["cpu_cores"] == 0.2
    assert cost["memory_mib"] == 150.0 and cost["rss_mib"] == 90.0 and cost["cache_mib"] == 60.0


def _ok(name: str, seconds: float) -> dict:
    return {"notebook": name, "status": "ok", "seconds": seconds}


def synthetic(workers: bool = True) -> dict:
    present = ["01-architecture", "02-network", "03-etcd", "05-workers"]
    fresh = [_ok("01-architecture", 20.0), _ok("02-network", 60.0), _ok("03-etcd", 40.0), _ok("05-workers", 90.0)]
    rerun = [_ok("01-architecture", 8.0), _ok("02-network", 12.0), _ok("03-etcd", 9.0), _ok("05-workers", 14.0)]
    results = {
        "started": "2026-11-27T09:00:00+00:00",
        "lab_name": "kube-b7",
        "host": {"cpus": 2, "loadavg_start": [3.1, 2.0, 1.0], "loadavg_end": [4.2, 3.0, 2.0]},
        "notebooks": bench.notebook_rows(PLANNED, present, fresh, rerun),
        "lab": {"artifacts_s": 4.0, "up_cold_s": 30.0, "up_warm_s": 2.0, "down_s": 5.0, "down_warm_s": 0.1},
        "idle": {"seconds": 30.0, "cpu_cores": 0.35, "cpu_percent_of_host": 17.5, "memory_mib": 900.0,
                 "rss_mib": 600.0, "cache_mib": 300.0, "machines": {}},
        "workers": {"runs": {"1": {"seconds": 80.0}, "4": {"seconds": 120.0}}, "ratio": 1.5}
        if workers else {"reason": "05-workers is not in notebooks/ (not written yet)"},
    }
    results["goals"] = bench.evaluate_goals(results)
    return results


def test_notebook_rows_mark_the_ones_not_written():
    rows = synthetic()["notebooks"]
    assert [r["notebook"] for r in rows] == list(PLANNED)
    by = {r["notebook"]: r for r in rows}
    assert by["04-masters"] == {"notebook": "04-masters", "status": bench.NOT_WRITTEN, "fresh": None, "rerun": None}
    assert by["03-etcd"]["fresh"]["seconds"] == 40.0
    failed = bench.notebook_rows(PLANNED, ["01-architecture", "02-network"],
                                 [{"notebook": "01-architecture", "status": "failed", "seconds": 3.0}], [])
    assert failed[1]["fresh"] == {"status": "not run", "seconds": None}


def test_goals_verdicts():
    goals = {g["goal"].split(" (")[0].split(":")[0]: g for g in synthetic()["goals"]}
    fresh = goals["fresh build"]
    assert fresh["value"] == 244.0 and fresh["verdict"] == "pass"  # 4 + 30 + 210
    assert "04-masters, 06-objects not written yet" in fresh["note"]
    assert goals["full re-run"]["value"] == 43.0 and goals["full re-run"]["verdict"] == "pass"
    assert goals["05-workers"]["verdict"] == "fail"  # 1.5 >= 1.3
    skipped = {g["goal"].split(":")[0]: g for g in synthetic(workers=False)["goals"]}
    assert skipped["05-workers"]["verdict"] == "n/a"
    assert "not written yet" in skipped["05-workers"]["note"]


def test_goals_not_judged_on_a_failed_build():
    results = synthetic()
    results["notebooks"][1]["fresh"] = {"status": "failed", "seconds": 12.0, "error": "boom"}
    results["notebooks"][1]["rerun"] = {"status": "not run", "seconds": None}
    verdicts = [g["verdict"] for g in bench.evaluate_goals(results)]
    assert verdicts[:2] == ["n/a", "n/a"]


def test_tables_print_everything():
    text = "\n".join(str(t) for t in bench.tables(synthetic()))
    assert "04-masters" in text and bench.NOT_WRITTEN in text
    assert "up cold" in text and "down warm" in text
    assert "0.35 cores" in text and "900 MiB" in text
    assert "ratio 4/1" in text and "1.50" in text
    assert "< 360.0s" in text and "< 45.0s" in text and "< 1.3x" in text
    skipped = "\n".join(str(t) for t in bench.tables(synthetic(workers=False)))
    assert "05-workers is not in notebooks/" in skipped


def test_json_and_chart_written(tmp_path):
    for workers in (True, False):
        results = synthetic(workers)
        path = bench.write_json(results, tmp_path / f"w{workers}" / "bench.json")
        back = json.loads(path.read_text())
        assert back["notebooks"][3]["status"] == bench.NOT_WRITTEN
        assert {"goals", "lab", "idle", "workers", "host"} <= back.keys()
        png = bench.write_chart(results, tmp_path / f"w{workers}" / "bench.png")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png.stat().st_size > 10_000


def test_cli_is_registered():
    from helpers.__main__ import build_parser

    args = build_parser().parse_args(["bench", "--skip", "workers", "idle", "--idle-seconds", "5"])
    assert args.skip == ["workers", "idle"] and args.idle_seconds == 5.0
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "--skip", "everything"])


def test_pair_option():
    assert _pair("kube-b1,kube-b4", "--worker-labs") == ["kube-b1", "kube-b4"]
    assert _pair(None, "--worker-labs") == ["", ""]
    with pytest.raises(ConfigError, match="two values"):
        _pair("kube-b1", "--worker-labs")


def test_run_series_stops_at_the_first_failure(tmp_path, monkeypatch):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    monkeypatch.setenv("KJ_CLUSTER_DIR", str(tmp_path / "cluster"))
    books = tmp_path / "notebooks"
    books.mkdir()
    for name, code in (("01-one", "x = 1"), ("02-two", "raise RuntimeError('boom')"), ("03-three", "x = 3")):
        params = new_code_cell('inventory = ""\ncluster_dir = ""')
        params.metadata["tags"] = ["parameters"]
        nb = new_notebook(cells=[params, new_code_cell(code)])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, books / f"{name}.ipynb")
    rows = bench.run_series(REPO / "inventories" / "small.yaml", tmp_path / "out",
                            ["01-one", "02-two", "03-three"], notebooks_dir=books)
    assert [r["status"] for r in rows] == ["ok", "failed", "not run"]
    assert rows[0]["seconds"] > 0 and rows[1]["seconds"] is not None
    assert "boom" in rows[1]["error"]
    assert len(rows[0]["loadavg_1m"]) == 2 and "loadavg_1m" not in rows[2]
    assert (tmp_path / "out" / "01-one" / "01-one.ipynb").exists()
