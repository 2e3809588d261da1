"""A check's verdict: what it saw (rows to show) and what is wrong (problems), judged in the helper.

A verification cell should not decide what a check's answer means: the helper that
looked knows what "healthy" is. A ``verify_*`` function returns a :class:`Verdict`; the
cell is ``display(v)`` and ``assert v.ok, v.problems``, and the assertion message names
what is wrong where, in the helper's words (Kubernetes The Hard Way's verification
sections, with the judgement in code instead of in the reader's eye).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

from helpers.tables import Table


class Verdict(Table):
    """A table of what a check saw, and the problems it found (none: the check passed).

    Args:
        title: what was checked.
        columns: column headings of what was seen.
        rows: one row per thing looked at (a member, a node, a query).
        problems: one sentence per problem, naming the thing and what is wrong.
    """

    def __init__(self, title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]],
                 problems: Iterable[str] = ()):
        super().__init__(columns, rows, title)
        self.problems = list(problems)

    @property
    def ok(self) -> bool:
        """True when the check found no problem."""
        return not self.problems

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        verdict = "passed" if self.ok else f"{len(self.problems)} problem(s):\n  " + "\n  ".join(self.problems)
        return f"{super().__str__()}\n{verdict}"

    __repr__ = __str__

    def to_dict(self) -> dict[str, Any]:
        """The verdict as JSON-ready data (cells as text), for a record; :meth:`from_dict` reads it back."""
        return {"title": self.title, "columns": self.columns, "rows": [[str(v) for v in r] for r in self.rows],
                "problems": self.problems}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        """A verdict from :meth:`to_dict`'s data."""
        return cls(data["title"], data["columns"], data["rows"], data.get("problems", []))

    def _repr_html_(self) -> str:
        if self.ok:
            foot = "<p style='color:#2e7d32'><b>passed</b></p>"
        else:
            items = "".join(f"<li>{html.escape(p)}</li>" for p in self.problems)
            foot = f"<p style='color:#c62828'><b>{len(self.problems)} problem(s)</b></p><ul>{items}</ul>"
        return super()._repr_html_() + foot


class Checklist:
    """Checks collected through a notebook, one row each, turned into one :class:`Verdict` at the end.

    ``check()`` records a check and returns whether it passed, so a cell can assert on it
    right away (``assert checks.check(...), "message"``) and the Verification section can
    show every check of the notebook together.
    """

    COLUMNS = ("object", "check", "result", "detail")

    def __init__(self, title: str):
        self.title = title
        self.rows: list[list[str]] = []

    def check(self, obj: str, what: str, passed: bool, detail: Any = "") -> bool:
        """Record one check (a later check with the same object and text replaces it); return ``passed``."""
        row = [obj, what, "pass" if passed else "fail", str(detail)]
        for i, old in enumerate(self.rows):
            if old[:2] == row[:2]:
                self.rows[i] = row
                break
        else:
            self.rows.append(row)
        return bool(passed)

    def verdict(self) -> Verdict:
        """Every recorded check; one problem per failed one."""
        problems = [f"{o}: {w} ({d})" if d else f"{o}: {w}" for o, w, r, d in self.rows if r != "pass"]
        return Verdict(self.title, self.COLUMNS, self.rows, problems)

    def __len__(self) -> int:
        return len(self.rows)
