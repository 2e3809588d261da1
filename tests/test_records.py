"""Drills run when due and are recalled after: :func:`helpers.records.run_or_recall`."""

from __future__ import annotations

import json

import pytest

from helpers.records import run_or_recall
from helpers.verdict import Verdict


def test_a_passing_drill_is_kept_and_recalled(tmp_path):
    path = tmp_path / "d" / "drill.json"
    runs = []

    def run():
        runs.append(1)
        return {"value": len(runs)}, True

    first, now, why = run_or_recall(path, "auto", run)
    assert now and first["value"] == 1 and "no earlier measurement" in why and path.exists()
    again, now, why = run_or_recall(path, "auto", run)
    assert not now and again == first and "on record since" in why and len(runs) == 1
    forced, now, _ = run_or_recall(path, "always", run)
    assert now and forced["value"] == 2
    assert run_or_recall(path, "never", run)[0]["value"] == 2


def test_a_failed_drill_is_not_kept(tmp_path):
    path = tmp_path / "drill.json"
    record, now, why = run_or_recall(path, "auto", lambda: ({"x": 1}, False))
    assert now and "not kept" in why and not path.exists()


def test_bad_settings_and_unreadable_records(tmp_path):
    path = tmp_path / "drill.json"
    with pytest.raises(ValueError, match="drills must be one of auto, always, never"):
        run_or_recall(path, "sometimes", lambda: ({}, True))
    with pytest.raises(FileNotFoundError, match="nothing is on record"):
        run_or_recall(path, "never", lambda: ({}, True))
    path.write_bytes(b"\xff{not json")
    record, now, why = run_or_recall(path, "auto", lambda: ({"fresh": True}, True))
    assert now and record["fresh"] and "unreadable" in why
    assert json.loads(path.read_text())["fresh"] is True


def test_a_verdict_survives_its_record():
    v = Verdict("t", ["a", "b"], [[1, None], ["x", 2.5]], ["p"])
    back = Verdict.from_dict(json.loads(json.dumps(v.to_dict())))
    assert (back.title, back.columns, back.rows, back.problems) == ("t", ["a", "b"], [["1", ""], ["x", "2.5"]], ["p"])
