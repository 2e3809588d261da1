"""helpers.verdict: a check's rows and its problems, judged in the helper."""

from __future__ import annotations

from helpers import etcd
from helpers.tables import Table
from helpers.verdict import Verdict


def test_a_verdict_without_problems_passes():
    v = Verdict("etcd health", ["member", "health"], [["m1", "healthy"]])
    assert v.ok and bool(v) and v.problems == []
    assert str(v).endswith("passed")
    assert "passed" in v._repr_html_()


def test_problems_are_named_and_escaped():
    v = Verdict("nodes", ["node", "state"], [["n1", "NotReady"]], ["node n1 is NotReady: <kubelet stopped>"])
    assert not v.ok and not bool(v)
    assert "1 problem(s):\n  node n1 is NotReady: <kubelet stopped>" in str(v)
    html = v._repr_html_()
    assert "&lt;kubelet stopped&gt;" in html and "<kubelet" not in html
    assert v.as_dicts() == [{"node": "n1", "state": "NotReady"}], "a verdict is still a table"


def _status(*rows):
    return Table(["member", "id", "leader", "raft term", "raft index", "db size", "version"], rows)


def test_leader_problems():
    healthy = _status(["m1", "1", "yes", 3, 10, "1 MB", "3.7.0"], ["m2", "2", "no", 3, 10, "1 MB", "3.7.0"])
    assert etcd.leader_problems(healthy) == []
    split = _status(["m1", "1", "yes", 3, 10, "", ""], ["m2", "2", "yes", 4, 10, "", ""],
                    ["m3", "", "unreachable", "", "", "", ""])
    assert etcd.leader_problems(split) == [
        "etcd member m3 did not answer its status",
        "expected exactly one etcd leader, found m1, m2",
        "etcd members disagree on the raft term: 3, 4",
    ]
    assert etcd.leader_problems(_status(["m1", "1", "no", 3, 1, "", ""])) == \
        ["expected exactly one etcd leader, found none"]


def test_a_checklist_collects_checks_and_a_rerun_replaces_its_row():
    from helpers.verdict import Checklist

    checks = Checklist("06-objects checks")
    assert checks.check("Pod p", "runs", True, "on n1") is True
    assert checks.check("Service s", "answers", False, 0) is False
    assert checks.check("Pod p", "runs", True, "on n2")  # the cell ran again
    v = checks.verdict()
    assert len(checks) == 2 and v.rows[0] == ["Pod p", "runs", "pass", "on n2"]
    assert v.problems == ["Service s: answers (0)"]
