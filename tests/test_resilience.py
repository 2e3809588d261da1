"""11-resilience's judgement, records and pictures (the drills themselves run in the notebook, on the lab)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from helpers.prober import Sample
from helpers.resilience import power
from helpers.resilience.figure import drills_table, plot_drill
from helpers.resilience.runner import LEAD, WINDOW, Drill, judge, resumed_after


def _samples(fail_from: float | None = None, fail_to: float | None = None, rate: float = 5.0,
             span: float = WINDOW, t0: float = 0.0) -> list[Sample]:
    out, n = [], int(span * rate)
    for i in range(n):
        t = t0 + i / rate
        ok = not (fail_from is not None and fail_from <= t < fail_to)
        out.append(Sample(t, ok, "200" if ok else "ReadTimeout: 3 s", 0.01))
    return out


def _drill(goal="answered", reads=(), writes=(), app=(), lost=(), recovered=True) -> Drill:
    d = Drill("master-machine", "a master machine is lost", "kube-mast03", goal, t_fail=LEAD)
    d.t_restore, d.t_recovered = LEAD + 25, (LEAD + 6 if recovered else None)
    from helpers.prober import summarize

    d.samples = {"reads": list(reads), "writes": list(writes), "app": list(app)}
    d.summary = {k: summarize(v) for k, v in d.samples.items() if v}
    d.writes = {"acknowledged": 240, "present": 240 - len(lost), "lost": list(lost), "unacknowledged_present": 1}
    return d


def test_a_drill_within_its_goals_passes():
    d = _drill(reads=_samples(20, 21), writes=_samples(rate=2), app=_samples())
    v = judge(d)
    assert v.ok, v.problems
    assert {r[0] for r in v.rows} == {"reads", "writes", "app", "recovery"}


def test_below_99_percent_is_named_with_the_reasons():
    d = _drill(reads=_samples(20, 22), writes=_samples(rate=2), app=_samples())  # 10 of 600 failed
    problems = judge(d).problems
    assert len(problems) == 1 and problems[0].startswith("reads: >= 99% answered"), problems
    assert "590/600" in problems[0] and "ReadTimeout" in problems[0]


def test_a_lost_write_fails_the_drill_and_is_named():
    problems = judge(_drill(reads=_samples(), writes=_samples(rate=2), lost=["w-000042"])).problems
    assert any("no acknowledged write lost" in p and "w-000042" in p for p in problems), problems


def test_the_vip_drill_is_judged_by_its_longest_outage_not_its_share():
    ok = _drill(goal="outage", reads=_samples(20, 24), writes=_samples(20, 24, rate=2), app=_samples(20, 30))
    assert judge(ok).ok, judge(ok).problems  # the application is not behind the VIP: measured, no goal
    long = _drill(goal="outage", reads=_samples(20, 26), writes=_samples(rate=2))
    assert [p.split(":")[0] for p in judge(long).problems] == ["reads"]


def test_quorum_loss_must_be_shown_failing_and_resuming():
    d = _drill(goal="shown", reads=_samples(15, 40), writes=_samples(15, 40, rate=2))
    assert not judge(d).ok  # no resumption recorded
    d.facts = {"reads_resumed_after": 1.2, "writes_resumed_after": 1.5}
    assert judge(d).ok, judge(d).problems
    never_failed = _drill(goal="shown", reads=_samples(), writes=_samples(rate=2))
    never_failed.facts = dict(d.facts)
    assert not judge(never_failed).ok, "a quorum loss nobody noticed is not shown"


def test_a_recovery_not_seen_fails():
    assert "recovery" in judge(_drill(reads=_samples(), recovered=False)).problems[0]


def test_resumed_after_counts_from_the_first_answer_after_a_failure():
    s = _samples(30, 40)
    assert resumed_after(s, 25) == 15.0
    assert resumed_after(_samples(), 25) is None
    assert resumed_after(_samples(30, 10_000), 25) is None


def test_a_drill_record_round_trips():
    d = _drill(reads=_samples(20, 21), writes=_samples(rate=2))
    d.marks, d.facts = [(LEAD, "kube-mast03 fails")], {"haproxy": {"hapx-node01": {"kube-mast03": "DOWN"}}}
    d.verdict = judge(d)
    back = Drill.from_dict(d.to_dict())
    assert back.to_dict() == d.to_dict()
    assert back.samples["reads"][100] == d.samples["reads"][100]


def test_the_figure_and_table_are_drawn_from_the_record():
    d = _drill(reads=_samples(20, 21), writes=_samples(rate=2), app=_samples())
    d.verdict = judge(d)
    fig = plot_drill(d)
    assert len(fig.axes[0].collections) >= 4  # answered and failed dots, the shaded failure
    table = drills_table([d])
    row = table.as_dicts()[0]
    assert row["drill"] == "master-machine" and row["goals"] == "pass" and row["writes lost"] == 0
    assert row["reads"].startswith("99.2% (595/600)")


@pytest.mark.parametrize(("roles", "stop", "start"), [
    (["lb"], "systemctl stop keepalived.service haproxy.service",
     "systemctl start haproxy.service keepalived.service"),
    (["master", "etcd"], "systemctl stop etcd.service kube-apiserver.service kube-controller-manager.service "
     "kube-scheduler.service", None),
])
def test_real_hosts_lose_their_services_instead_of_the_machine(roles, stop, start):
    host = SimpleNamespace(name="h", roles=roles)
    assert power.stop_command(host) == stop
    if start:
        assert power.start_command(host) == start


def test_a_real_worker_also_stops_its_pods():
    cmd = power.stop_command(SimpleNamespace(name="w", roles=["worker"]))
    assert cmd.startswith("systemctl stop kubelet.service kube-proxy.service") and "crictl stopp" in cmd


def test_an_open_loop_prober_counts_every_probe_due_during_a_hang():
    """A hang costs every probe due in it (open loop), not just the one that hung (closed loop)."""
    import threading
    import time

    from helpers.prober import Prober

    hung = threading.Event()

    def probe() -> str:
        if hung.is_set():
            time.sleep(0.5)
            raise TimeoutError("no answer in 0.5 s")
        return "ok"

    results = {}
    for concurrency in (1, 10):
        hung.clear()
        with Prober(probe, interval=0.05, limit=5, concurrency=concurrency) as p:
            time.sleep(0.5)
            hung.set()
            time.sleep(1.0)
            hung.clear()
            time.sleep(0.7)
        s = p.summary()
        assert [x.t for x in p.samples] == sorted(x.t for x in p.samples)
        results[concurrency] = s["probes"] - s["answered"]
    assert results[1] <= 3, results       # one probe at a time: the hang hides the probes it delays
    assert results[10] >= 15, results     # on schedule: ~20 probes fell due in the 1 s hang


def test_the_drills_run_only_when_confirmed_by_the_clusters_name(lab_inventory):
    from helpers.resilience import armed

    refused = armed(lab_inventory, "")
    assert not refused and "KJ_CONFIRM_CLUSTER=kube-demo" in refused.why
    wrong = armed(lab_inventory, "prod")
    assert not wrong and "(confirm was 'prod')" in wrong.why


def test_drills_are_chosen_by_name_in_the_notebooks_order():
    from helpers.errors import ConfigError
    from helpers.resilience import DRILLS, select

    assert select("all") == list(DRILLS)
    assert select(" quorum, lb-machine ") == ["lb-machine", "quorum"]
    with pytest.raises(ConfigError, match=r"no drill 'vip'.*known: lb-machine"):
        select("vip,quorum")


def test_a_client_that_retries_answers_on_a_later_attempt_and_names_every_failure():
    from helpers.resilience import retried

    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TimeoutError("timed out")
        return "frontend-a"

    assert retried(flaky)() == "frontend-a (attempt 3)"
    with pytest.raises(RuntimeError, match=r"^4 attempts failed: TimeoutError: timed out$"):
        retried(lambda: (_ for _ in ()).throw(TimeoutError("timed out")), attempts=4)()


def test_the_application_probe_reads_who_served_and_refuses_anything_but_200():
    """A real HTTP server on loopback: 200 with ``served_by`` is an answer, 503 is a failure that says so."""
    import http.server
    import threading

    from helpers.resilience import http_probe

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            ok = self.path == "/api/entries"
            self.send_response(200 if ok else 503)
            self.end_headers()
            self.wfile.write(b'{"served_by": "frontend-x", "entries": []}' if ok else b"no follower")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        assert http_probe("127.0.0.1", "/api/entries", port=port)() == "frontend-x"
        with pytest.raises(RuntimeError, match="503 no follower"):
            http_probe("127.0.0.1", "/other", port=port)()
    finally:
        server.shutdown()
        server.server_close()
