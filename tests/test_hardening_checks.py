"""The CIS checks' reading and judging (facts/hardening), on the output a host gives."""

from __future__ import annotations

from helpers.control_plane import hardening as cp_hardening
from helpers.facts.hardening import Recommendation, _script, judge, parse_answers, verdict
from helpers.kubelet import hardening as kubelet_hardening

API = "/usr/local/bin/kube-apiserver"
RECS = (
    Recommendation("1.2.15", "profiling off", API, "profiling", "false"),
    Recommendation("1.2.16", "an audit log", API, "audit-log-path", judge=bool),
    Recommendation("1.1.1", "unit 600", path="/etc/systemd/system/kube-apiserver.service", want=0o600),
    Recommendation("1.1.20", "cert 644", path="/etc/kubernetes/pki/apiserver.crt", want=0o644),
    Recommendation("1.4.1", "scheduler profiling", path="/etc/kubernetes/config/kube-scheduler.yaml",
                   contains="enableProfiling: false"),
    Recommendation("9.9", "gone", "/usr/local/bin/nothing", "x", "y"),
)

OUTPUT = """\
==kj-cis:proc:/usr/local/bin/kube-apiserver
/usr/local/bin/kube-apiserver
--profiling=false
--allow-privileged
==kj-cis:proc:/usr/local/bin/nothing
==kj-cis:file:/etc/systemd/system/kube-apiserver.service
644 root:root
==kj-cis:file:/etc/kubernetes/pki/apiserver.crt
600 root:root
==kj-cis:grep:/etc/kubernetes/config/kube-scheduler.yaml#enableProfiling: false
yes
"""


def test_the_script_asks_for_each_process_and_file_once():
    script = _script(RECS)
    assert script.count("pgrep -of") == 2 and "'^/usr/local/bin/kube-apiserver( |$)'" in script
    assert script.count("stat -c") == 2 and "grep -qxF" in script


def test_answers_are_judged():
    procs, files = parse_answers(OUTPUT)
    assert procs[API] == {"profiling": "false", "allow-privileged": "true"}
    results = {rec.ref: judge(rec, procs, files) for rec in RECS}
    assert results["1.2.15"] == (True, "--profiling=false")
    assert results["1.2.16"] == (False, "--audit-log-path not set")
    assert results["1.1.1"] == (False, "644 root:root")           # more permissive than 600
    assert results["1.1.20"] == (True, "600 root:root")           # stricter than 644 passes
    assert results["1.4.1"][0] is True
    assert results["9.9"] == (False, "/usr/local/bin/nothing is not running")


def test_a_deviation_is_shown_not_counted():
    dev = Recommendation("4.2.10", "rotation", deviation="renewed by a re-run")
    v = verdict("t", {"n1": [(dev, False, "x"), (RECS[0], False, "--profiling=true")]})
    assert [r[3] for r in v.rows] == ["deviation", "FAIL"]
    assert v.problems == ["n1: CIS 1.2.15 profiling off: saw --profiling=true"]


def test_the_chapters_recommendations_are_well_formed():
    for rec in cp_hardening.RECOMMENDATIONS + kubelet_hardening.file_recommendations():
        assert bool(rec.flag) != bool(rec.path), rec
        assert rec.flag == "" or rec.process.startswith("/"), rec
    assert {r[0] for r in kubelet_hardening.SETTINGS} >= {"4.2.1", "4.2.4", "4.2.13", "4.2.14"}
