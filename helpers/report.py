"""Step reports: what one step did on each host, as HTML in Jupyter and text in logs.

A step runs on every selected host and returns a :class:`Report`: one :class:`Result`
per host (``ok``, ``changed``, ``failed`` or ``skipped``, with a detail and a duration).
Every host runs; :meth:`Report.raise_for_failures` then raises one
:class:`~helpers.errors.StepFailed` naming every host that failed (Fabric's group style).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from helpers.errors import StepFailed
from helpers.tables import Table

STATUSES = ("ok", "changed", "failed", "skipped")

OPERATOR = "operator"
"""The name of the operator's machine (where the notebooks run) in every report."""

_COLOURS = {"ok": "#2e7d32", "changed": "#ef6c00", "failed": "#c62828", "skipped": "#757575"}


@dataclass
class Result:
    """What one step did on one host.

    Attributes:
        host: the inventory name of the host.
        status: ``ok`` (nothing to do), ``changed``, ``failed`` or ``skipped``.
        detail: one human line: what changed, why nothing did, or the error.
        seconds: how long the step took on this host.
        data: any value the step gathered on this host (a probe's answer, stdout).
        error: the exception when ``status`` is ``failed``.
    """

    host: str
    status: str
    detail: str = ""
    seconds: float = 0.0
    data: Any = None
    error: BaseException | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"Result status must be one of {', '.join(STATUSES)}, not {self.status!r}")


class Report:
    """The per-host results of one step, in host order.

    Args:
        title: the step's title, as the progress line shows it.
        results: host name to :class:`Result`; iteration order is display order.
        seconds: wall time of the whole step; defaults to the slowest host's time.
    """

    def __init__(self, title: str, results: Mapping[str, Result], seconds: float | None = None):
        self.title = title
        self.results = dict(results)
        self.seconds = (
            seconds if seconds is not None else max((r.seconds for r in self.results.values()), default=0.0)
        )

    def _count(self, status: str) -> int:
        return sum(1 for r in self.results.values() if r.status == status)

    @property
    def ok(self) -> int:
        """Number of hosts where nothing needed doing."""
        return self._count("ok")

    @property
    def changed(self) -> int:
        """Number of hosts where the step changed something."""
        return self._count("changed")

    @property
    def failed(self) -> int:
        """Number of hosts where the step failed."""
        return self._count("failed")

    @property
    def skipped(self) -> int:
        """Number of hosts the step skipped."""
        return self._count("skipped")

    @property
    def failures(self) -> dict[str, BaseException]:
        """Host name to error for every failed host."""
        return {
            host: r.error if r.error is not None else RuntimeError(r.detail or "failed")
            for host, r in self.results.items()
            if r.status == "failed"
        }

    def data(self) -> dict[str, Any]:
        """Return host name to the data each host's step gathered."""
        return {host: r.data for host, r in self.results.items()}

    def raise_for_failures(self) -> Report:
        """Raise one :class:`~helpers.errors.StepFailed` naming every failed host.

        Returns:
            The report itself when no host failed, so calls can be chained.

        Raises:
            StepFailed: one or more hosts failed; ``failures`` maps each to its error.
        """
        failures = self.failures
        if failures:
            raise StepFailed(self.title, failures, report=self)
        return self

    def __getitem__(self, host: str) -> Result:
        return self.results[host]

    def __iter__(self):
        return iter(self.results.values())

    def __len__(self) -> int:
        return len(self.results)

    def totals(self) -> str:
        """Return the one-line summary: counts per status and the step's wall time."""
        parts = [f"ok={self.ok}", f"changed={self.changed}", f"failed={self.failed}"]
        if self.skipped:
            parts.append(f"skipped={self.skipped}")
        return f"{' '.join(parts)} in {self.seconds:.1f}s"

    def __repr__(self) -> str:
        return f"<Report {self.title!r}: {self.totals()}>"

    def __str__(self) -> str:
        rows = [("host", "status", "seconds", "detail")]
        rows += [(r.host, r.status, f"{r.seconds:.1f}", r.detail) for r in self.results.values()]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        indent = " " * (sum(widths) + 6)
        lines = [f"== {self.title} =="]
        for n, (host, status, seconds, detail) in enumerate(rows):
            first, *more = detail.strip().splitlines() or [""]
            cells = [host.ljust(widths[0]), status.ljust(widths[1]), seconds.rjust(widths[2]), first]
            lines.append("  ".join(cells).rstrip())
            lines += [f"{indent}{line}".rstrip() for line in more]
            if n == 0:
                lines.append("  ".join("-" * w for w in widths) + "  ------")
        lines.append(self.totals())
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(
            f"<th style='text-align:{align}'>{name}</th>"
            for name, align in (("host", "left"), ("status", "left"), ("detail", "left"), ("seconds", "right"))
        )
        body = []
        for r in self.results.values():
            colour = _COLOURS.get(r.status, "inherit")
            detail = html.escape(r.detail).replace("\n", "<br>")
            body.append(
                "<tr>"
                f"<td style='text-align:left'>{html.escape(r.host)}</td>"
                f"<td style='text-align:left;color:{colour};font-weight:bold'>{r.status}</td>"
                f"<td style='text-align:left;font-family:monospace'>{detail}</td>"
                f"<td style='text-align:right'>{r.seconds:.1f}</td>"
                "</tr>"
            )
        caption = f"<caption style='text-align:left'><b>{html.escape(self.title)}</b></caption>"
        summary = []
        for status in ("ok", "changed", "failed", "skipped"):
            count = self._count(status)
            if count or status != "skipped":
                summary.append(f"<span style='color:{_COLOURS[status]}'>{status}={count}</span>")
        foot = (
            f"<tfoot><tr><td colspan='4' style='text-align:left'>{' '.join(summary)}"
            f" &middot; {self.seconds:.1f}s wall time</td></tr></tfoot>"
        )
        return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody>{foot}</table>"


def steps_table(reports, title: str = "steps of this run") -> Table:
    """One row per step: its title, the hosts ok / changed / failed / skipped, and its wall time."""
    return Table(["step", "ok", "changed", "failed", "skipped", "seconds"],
                 [[r.title, r.ok, r.changed, r.failed, r.skipped, f"{r.seconds:.1f}"] for r in reports], title)
