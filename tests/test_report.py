from __future__ import annotations

import pytest

from helpers.errors import CommandFailed, StepFailed
from helpers.report import Report, Result


def sample() -> Report:
    err = CommandFailed("kube-node01", "install containerd", "apt-get install containerd", 100,
                        "Reading package lists...\nE: Unable to locate package containerd")
    return Report("install containerd", {
        "hapx-node01": Result("hapx-node01", "ok", "2 package(s) installed", 0.41),
        "kube-mast01": Result("kube-mast01", "changed", "installed containerd, runc", 8.25, data={"v": 1}),
        "kube-node01": Result("kube-node01", "failed", err.cause, 1.5, error=err),
        "kube-node02": Result("kube-node02", "skipped", "not a worker"),
    }, seconds=8.3)


def test_counts_and_data():
    r = sample()
    assert (r.ok, r.changed, r.failed, r.skipped) == (1, 1, 1, 1)
    assert r.seconds == 8.3
    assert r.data()["kube-mast01"] == {"v": 1} and r.data()["hapx-node01"] is None
    assert [x.host for x in r] == ["hapx-node01", "kube-mast01", "kube-node01", "kube-node02"]
    assert r["kube-node01"].status == "failed" and len(r) == 4


def test_seconds_defaults_to_the_slowest_host():
    r = Report("t", {"a": Result("a", "ok", seconds=1.0), "b": Result("b", "ok", seconds=2.5)})
    assert r.seconds == 2.5
    assert Report("empty", {}).seconds == 0.0


def test_unknown_status_is_rejected():
    with pytest.raises(ValueError, match="status"):
        Result("a", "fine")


def test_html_has_every_host_and_coloured_status():
    html = sample()._repr_html_()
    assert html.startswith("<table>") and html.endswith("</table>")
    for host in ("hapx-node01", "kube-mast01", "kube-node01", "kube-node02"):
        assert f"<td style='text-align:left'>{host}</td>" in html
    assert "color:#2e7d32;font-weight:bold'>ok<" in html
    assert "color:#ef6c00;font-weight:bold'>changed<" in html
    assert "color:#c62828;font-weight:bold'>failed<" in html
    assert ">0.4</td>" in html and "0.41" not in html  # seconds with one decimal
    assert "ok=1" in html and "changed=1" in html and "failed=1" in html and "8.3s wall time" in html
    assert "Unable to locate package containerd" in html and "<br>" in html  # multi-line detail kept


def test_html_escapes():
    r = Report("<script>", {"a": Result("a", "ok", "<b>&</b>")})
    html = r._repr_html_()
    assert "<script>" not in html and "&lt;b&gt;&amp;&lt;/b&gt;" in html


def test_text_is_aligned():
    text = str(sample())
    lines = text.splitlines()
    assert lines[0] == "== install containerd =="
    header, rule, *rows = lines[1:]
    status_col = header.index("status")
    seconds_end = header.index("seconds") + len("seconds")
    host_rows = [line for line in rows if line[:1].strip()]  # continuation lines are indented
    assert [row.split()[0] for row in host_rows[:4]] == ["hapx-node01", "kube-mast01", "kube-node01", "kube-node02"]
    for row in host_rows[:4]:
        assert row[status_col:].split()[0] in ("ok", "changed", "failed", "skipped")
        assert row[seconds_end - 1] != " " and row[seconds_end] == " "  # seconds right-aligned
    assert set(rule.replace(" ", "")) == {"-"}
    # the failed host's further lines are indented under the detail column
    detail_col = header.index("detail")
    cont = [line for line in rows if not line[:1].strip() and line.strip()]
    assert cont and all(line.startswith(" " * detail_col) for line in cont)
    assert lines[-1] == "ok=1 changed=1 failed=1 skipped=1 in 8.3s"


def test_raise_for_failures_names_every_failed_host():
    r = sample()
    r.results["hapx-node01"] = Result("hapx-node01", "failed", "connection refused")
    with pytest.raises(StepFailed) as caught:
        r.raise_for_failures()
    err = caught.value
    assert set(err.failures) == {"hapx-node01", "kube-node01"}
    assert isinstance(err.failures["kube-node01"], CommandFailed)
    text = str(err)
    assert "step 'install containerd' failed on 2 host(s)" in text
    assert "hapx-node01: connection refused" in text
    assert "kube-node01: failed to install containerd on kube-node01" in text and "exited 100" in text
    assert err.report is r


def test_raise_for_failures_passes_through_when_all_ok():
    r = Report("fine", {"a": Result("a", "ok"), "b": Result("b", "changed")})
    assert r.raise_for_failures() is r
    assert "failed=0" in r.totals()
