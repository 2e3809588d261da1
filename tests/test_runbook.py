"""The runner, with real notebooks executed by papermill on the venv's python3 kernel."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from helpers.errors import ConfigError, InventoryError, NotebookFailed
from helpers.runbook import discover, failing_cell, run_notebooks, select

REPO = Path(__file__).resolve().parent.parent
SMALL = REPO / "inventories" / "small.yaml"

PARAMETERS = 'inventory = ""\ncluster_dir = ""'
RECORD = """\
import json, os, pathlib
log = pathlib.Path(cluster_dir) / "log.jsonl"
log.parent.mkdir(parents=True, exist_ok=True)
with log.open("a") as f:
    f.write(json.dumps({{"nb": {name!r}, "inventory": inventory, "cluster_dir": cluster_dir,
                        "cwd": os.getcwd(), "env": os.environ.get("KJ_INVENTORY")}}) + "\\n")
"""


def make_notebook(directory: Path, name: str, extra: str | None = None) -> Path:
    params = new_code_cell(PARAMETERS)
    params.metadata["tags"] = ["parameters"]
    cells = [new_markdown_cell(f"# {name}"), params, new_code_cell(RECORD.format(name=name))]
    if extra:
        cells.append(new_code_cell(extra))
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = directory / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def records(cluster: Path) -> list[dict]:
    log = cluster / "log.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture
def cluster(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "cluster"
    monkeypatch.setenv("KJ_CLUSTER_DIR", str(path))
    return path


@pytest.fixture
def books(tmp_path) -> Path:
    directory = tmp_path / "notebooks"
    directory.mkdir()
    for name in ("02-second", "01-first", "03-third"):
        make_notebook(directory, name)
    (directory / "scratch.ipynb").write_text("{}")  # not numbered: never run
    return directory


def test_discover_orders_numbered_notebooks(books):
    assert [p.stem for p in discover(books)] == ["01-first", "02-second", "03-third"]


def test_runs_in_order_and_injects_parameters(books, cluster, tmp_path):
    out = tmp_path / "out"
    results = run_notebooks(SMALL, out_dir=out, notebooks_dir=books)
    assert [r.notebook for r in results] == ["01-first", "02-second", "03-third"]
    assert all(r.status == "ok" and r.seconds > 0 for r in results)
    seen = records(cluster)
    assert [s["nb"] for s in seen] == ["01-first", "02-second", "03-third"]
    for s in seen:
        assert s["inventory"] == str(SMALL.resolve())
        assert s["cluster_dir"] == str(cluster)
        assert s["cwd"] == str(books.resolve())
        assert s["env"] == str(SMALL.resolve())
    for name in ("01-first", "02-second", "03-third"):
        executed = nbformat.read(out / f"{name}.ipynb", as_version=4)
        injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert injected and str(SMALL.resolve()) in injected[0].source
    summary = json.loads((out / "summary.json").read_text())
    assert [(s["notebook"], s["status"]) for s in summary] == [
        ("01-first", "ok"), ("02-second", "ok"), ("03-third", "ok"),
    ]
    assert all(s["seconds"] > 0 for s in summary)


def test_stops_on_failure_naming_cell_error_and_copy(books, cluster, tmp_path):
    make_notebook(books, "02-second", extra='value = 41\nassert value == 42, "value is not 42"')
    out = tmp_path / "out"
    with pytest.raises(NotebookFailed) as info:
        run_notebooks(SMALL, out_dir=out, notebooks_dir=books)
    err = info.value
    assert err.notebook == "02-second"
    assert err.output_path == str(out / "02-second.ipynb") and Path(err.output_path).exists()
    assert "assert value == 42" in err.cell
    assert err.error == "AssertionError: value is not 42"
    assert "02-second" in str(err) and "assert value == 42" in str(err) and err.output_path in str(err)
    assert [s["nb"] for s in records(cluster)] == ["01-first", "02-second"]  # 03 never ran
    summary = {s["notebook"]: s["status"] for s in json.loads((out / "summary.json").read_text())}
    assert summary == {"01-first": "ok", "02-second": "failed", "03-third": "not run"}
    assert failing_cell(out / "02-second.ipynb")[1] == "AssertionError: value is not 42"


def test_from_resumes(books, cluster, tmp_path):
    results = run_notebooks(SMALL, from_="02", out_dir=tmp_path / "out", notebooks_dir=books)
    assert [r.notebook for r in results] == ["02-second", "03-third"]
    assert [s["nb"] for s in records(cluster)] == ["02-second", "03-third"]


def test_only_runs_one(books, cluster, tmp_path):
    results = run_notebooks(SMALL, only="3", out_dir=tmp_path / "out", notebooks_dir=books)
    assert [r.notebook for r in results] == ["03-third"]
    assert [s["nb"] for s in records(cluster)] == ["03-third"]


def test_select_accepts_names_and_rejects_unknown(books):
    nbs = discover(books)
    assert [p.stem for p in select(nbs, only="02-second")] == ["02-second"]
    with pytest.raises(ConfigError, match="no notebook numbered 07"):
        select(nbs, from_="07")
    with pytest.raises(ConfigError, match="must start with its number"):
        select(nbs, only="third")


def test_bad_inventory_runs_nothing(books, cluster, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(SMALL.read_text().replace("192.168.5.31", "192.168.9.31"))
    with pytest.raises(InventoryError, match=r"hosts\[2\].address"):
        run_notebooks(bad, out_dir=tmp_path / "out", notebooks_dir=books)
    assert records(cluster) == []


def test_no_notebooks_is_an_error(tmp_path, cluster):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no notebooks"):
        run_notebooks(SMALL, out_dir=tmp_path / "out", notebooks_dir=tmp_path / "empty")


def test_cli_registers_run_and_up():
    result = subprocess.run(
        [sys.executable, "-m", "helpers", "run", "--help"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "--from NN" in result.stdout and "--only NN" in result.stdout
    result = subprocess.run(
        [sys.executable, "-m", "helpers", "up", "--help"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "--inventory" in result.stdout


def test_main_job_without_lab_runs_notebooks_and_names_missing(tmp_path, cluster, capsys):
    from helpers.runbook import main_job

    directory = tmp_path / "nbs"
    directory.mkdir()
    make_notebook(directory, "01-architecture")
    make_notebook(directory, "02-network")
    real = REPO / "inventories" / "example-real-hosts.yaml"
    assert main_job(real, notebooks_dir=directory, out_dir=tmp_path / "out") == 0
    out = capsys.readouterr().out
    assert "no lab section" in out
    assert [s["nb"] for s in records(cluster)] == ["01-architecture", "02-network"]
    kubeconfig = cluster / "kubeconfigs" / "admin.kubeconfig"
    assert f"no admin kubeconfig yet ({kubeconfig})" in out
    assert "do not exist yet: 03-etcd, 04-masters, 05-workers, 06-objects" in out
    assert f"executed notebooks: {tmp_path / 'out'}/" in out


def test_the_series_ends_at_09_and_later_notebooks_run_by_name(tmp_path):
    for n in ("01-a", "08-b", "09-c", "10-d", "11-e"):
        (tmp_path / f"{n}.ipynb").write_text("{}")
    nbs = discover(tmp_path)
    assert [p.stem for p in select(nbs)] == ["01-a", "08-b", "09-c"]
    assert [p.stem for p in select(nbs, from_="08")] == ["08-b", "09-c"], "resuming stops at the series' end"
    assert [p.stem for p in select(nbs, from_="10")] == ["10-d", "11-e"]
    assert [p.stem for p in select(nbs, only="11")] == ["11-e"]
