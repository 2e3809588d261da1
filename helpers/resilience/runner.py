"""One drill's frame: healthy before, a fixed window around the failure, healthy after, judged.

Every drill goes the same way (:func:`run`):

1. the cluster is checked whole (:func:`~helpers.resilience.health.wait_healthy`);
2. the window opens: 10 s of normal traffic (:data:`LEAD`), then the failure;
3. the drill watches what it came to show (a new leader, a moved lease, rescheduled pods)
   and restores what it broke;
4. the window closes 120 s after it opened (:data:`WINDOW`), whatever happened in it;
5. the cluster is checked whole again, and the writes of the drill are counted back.

The goals (:func:`judge`): at least 99 % of reads, writes and application requests
answered in the window (:data:`MIN_ANSWERED`), or, for the load balancer, no outage of
5 s or more (:data:`MAX_OUTAGE`); and never an acknowledged write lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from helpers.prober import Sample, from_json, summarize, to_json
from helpers.resilience.health import wait_healthy
from helpers.resilience.probes import KINDS
from helpers.verdict import Checklist, Verdict

LEAD = 10.0
WINDOW = 120.0
MIN_ANSWERED = 0.99
MAX_OUTAGE = 5.0


@dataclass
class Switch:
    """How a drill takes a machine away and brings it back: ``off(name)``/``on(name)`` return what was done."""

    what: str
    off: Callable[[str], Any]
    on: Callable[[str], Any]


@dataclass
class Drill:
    """What one drill did and what the probes saw (times are seconds on the probes' clock)."""

    name: str
    title: str
    victim: str
    goal: str                      # "answered" (>= 99 %) or "outage" (< 5 s) or "shown" (quorum loss)
    t_fail: float = 0.0
    t_restore: float | None = None
    t_recovered: float | None = None  # what the drill came to show happened (new leader, pods back, ...)
    healthy_after: float = 0.0     # seconds after the window closed until every check passed
    marks: list[tuple[float, str]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, dict[str, Any]] = field(default_factory=dict)
    writes: dict[str, Any] = field(default_factory=dict)
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    verdict: Verdict | None = None

    @property
    def window(self) -> tuple[float, float]:
        """The fixed window: from :data:`LEAD` seconds before the failure, :data:`WINDOW` seconds long."""
        return self.t_fail - LEAD, self.t_fail - LEAD + WINDOW

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record of the drill (samples as lists, the verdict as its dict)."""
        d = {k: getattr(self, k) for k in ("name", "title", "victim", "goal", "t_fail", "t_restore", "t_recovered",
                                           "healthy_after", "marks", "facts", "summary", "writes")}
        d["samples"] = {k: to_json(v) for k, v in self.samples.items()}
        d["verdict"] = self.verdict.to_dict() if self.verdict else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Drill:
        """The inverse of :meth:`to_dict`."""
        out = cls(**{k: d[k] for k in ("name", "title", "victim", "goal")})
        for k in ("t_fail", "t_restore", "t_recovered", "healthy_after", "facts", "summary", "writes"):
            setattr(out, k, d.get(k, getattr(out, k)))
        out.marks = [tuple(m) for m in d.get("marks", [])]
        out.samples = {k: from_json(v) for k, v in d.get("samples", {}).items()}
        out.verdict = Verdict.from_dict(d["verdict"]) if d.get("verdict") else None
        return out


def judge(d: Drill) -> Verdict:
    """The drill's goals, one row each (see the module's docstring)."""
    c = Checklist(f"{d.title}: goals")
    for kind in KINDS:
        s = d.summary.get(kind)
        if not s:
            continue
        said = (f"{s['answered']}/{s['probes']} answered ({s['ratio']:.2%}), longest outage {s['longest_outage']} s"
                + (f"; failures: {_top(s['failures'])}" if s["failures"] else ""))
        if d.goal == "answered":
            c.check(kind, f">= {MIN_ANSWERED:.0%} answered in the {WINDOW:.0f} s window",
                    s["probes"] > 0 and s["ratio"] >= MIN_ANSWERED, said)
        elif d.goal == "outage" and kind != "app":
            c.check(kind, f"longest run of failures < {MAX_OUTAGE:.0f} s",
                    s["probes"] > 0 and s["longest_outage"] < MAX_OUTAGE, said)
        elif d.goal == "shown" and kind != "app":
            failed = s["probes"] - s["answered"]
            c.check(kind, "failed while quorum was lost, and answered again after", failed > 0 and
                    d.facts.get(f"{kind}_resumed_after") is not None, said)
        else:
            c.check(kind, "measured (no goal for this drill)", s["probes"] > 0, said)
    w = d.writes
    if w:
        c.check("writes", "no acknowledged write lost", not w.get("lost"),
                f"{w['acknowledged']} acknowledged, {w['present']} found"
                + (f", lost: {', '.join(w['lost'][:5])}" if w.get("lost") else "")
                + (f"; {w['unacknowledged_present']} stored although the client had given up"
                   if w.get("unacknowledged_present") else ""))
    c.check("recovery", "what the drill came to show happened", d.t_recovered is not None,
            f"{d.t_recovered - d.t_fail:.1f} s after the failure" if d.t_recovered is not None else "not seen")
    return c.verdict()


def _top(failures: dict[str, int], n: int = 2) -> str:
    return "; ".join(f"{count}× {why[:90]}" for why, count in sorted(failures.items(), key=lambda kv: -kv[1])[:n])


def run(ctx, drill: Drill, fail: Callable[[Drill], None], watch: Callable[[Drill], None],
        restore: Callable[[Drill], None]) -> Drill:
    """Run one drill in its window (see the module's docstring); the cluster is whole again when it returns.

    ``fail`` breaks, ``watch`` waits for what the drill shows (setting ``t_recovered``),
    ``restore`` undoes the failure; ``restore`` runs even when ``watch`` raised.
    """
    probes = ctx.probes
    wait_healthy(ctx.inv, ctx.fleet, ctx.app)
    probes.phase = drill.name
    opened = probes.now()
    time.sleep(LEAD)
    drill.t_fail = probes.mark(f"{drill.name}: failure")
    drill.marks.append((drill.t_fail, f"{drill.victim} fails"))
    try:
        fail(drill)
        watch(drill)
    finally:
        drill.t_restore = probes.now()
        restore(drill)
        drill.marks.append((drill.t_restore, "restored"))
    left = opened + WINDOW - probes.now()
    if left > 0:
        time.sleep(left)
    closed = probes.now()
    probes.phase = "between"
    _, drill.healthy_after = wait_healthy(ctx.inv, ctx.fleet, ctx.app)
    lo, hi = drill.window
    drill.samples = {k: probes.samples(k, lo, hi) for k in KINDS}
    drill.summary = {k: summarize(v, lo, hi) for k, v in drill.samples.items()}
    drill.writes = probes.check_writes(drill.name)
    drill.facts["window_closed_at"] = round(closed, 1)
    drill.verdict = judge(drill)
    return drill


def resumed_after(samples: list[Sample], since: float) -> float | None:
    """Seconds after ``since`` of the first answered probe that follows a failed one (None: never)."""
    failed = False
    for s in samples:
        if s.t < since:
            continue
        if not s.ok:
            failed = True
        elif failed:
            return round(s.t - since, 2)
    return None
