"""What every notebook does first and last, in one call each.

A notebook's first code cell after ``parameters`` calls :func:`start`: it points the
helpers at the cluster directory papermill passed in, turns on the one-line-per-host
progress log (so JupyterLab shows what each step is doing while it runs, in every
chapter), loads and validates the inventory, and returns a :class:`Chapter` with the
fleet and the step log. The last cell shows :meth:`Chapter.summary`.

The step log is keyed by step title: running a cell again replaces that step's entry
instead of adding a second one, so the summary of a notebook worked through by hand
counts each step once.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from helpers.report import Report, steps_table
from helpers.tables import Table


class StepLog(list):
    """The reports of a notebook's steps, in order, one per title (a list of :class:`Report`)."""

    def append(self, report: Report) -> None:
        """Add ``report``; a report with the same title as an earlier one replaces it in place."""
        for i, earlier in enumerate(self):
            if earlier.title == report.title:
                self[i] = report
                return
        super().append(report)

    @property
    def changes(self) -> int:
        """Hosts changed, summed over the steps."""
        return sum(r.changed for r in self)

    def table(self, title: str) -> Table:
        """One row per step: title, ok, changed, failed, skipped, seconds."""
        return steps_table(self, title)


def configure_logging() -> None:
    """Progress lines (``[host] step: status``) on the notebook's output, once per kernel."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", force=True)
    logging.getLogger("paramiko").setLevel(logging.WARNING)  # one line per host and step, not per packet
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)


class Chapter:
    """One notebook's run: its inventory, its fleet (opened on first use) and its step log.

    Args:
        name: the notebook, e.g. ``"03-etcd"`` (the summary's title).
        inv: the loaded inventory.
    """

    def __init__(self, name: str, inv: Any):
        self.name = name
        self.inv = inv
        self.reports = StepLog()
        self.started = time.monotonic()
        self._fleet = None

    @property
    def fleet(self):
        """The SSH fleet of the inventory's hosts (:class:`~helpers.remote.Fleet`), opened on first use."""
        if self._fleet is None:
            from helpers.remote import Fleet  # noqa: PLC0415 - paramiko only where a notebook uses SSH

            self._fleet = Fleet(self.inv)
        return self._fleet

    @property
    def seconds(self) -> float:
        """Seconds since :func:`start`."""
        return time.monotonic() - self.started

    def summary(self) -> Table:
        """The step log as a table, titled with the changes and the notebook's wall time."""
        n = len(self.reports)
        return self.reports.table(f"{self.name} on {self.inv.cluster.name}: {self.reports.changes} change(s) "
                                  f"in {n} step{'s' if n != 1 else ''}, {self.seconds:.0f} s")

    def close(self) -> None:
        """Close the fleet's SSH connections (the notebook's last cell)."""
        if self._fleet is not None:
            self._fleet.close()
            self._fleet = None


def start(name: str, inventory: str, cluster_dir: str = "") -> Chapter:
    """Begin a notebook: cluster directory, progress log, inventory; return its :class:`Chapter`.

    Args:
        name: the notebook's name (``"05-workers"``).
        inventory: the ``inventory`` parameter (a path).
        cluster_dir: the ``cluster_dir`` parameter; when set, it overrides where the
            cluster's state lives (``KJ_CLUSTER_DIR``) for every helper.

    Raises:
        InventoryError: the inventory is invalid (every problem named).
    """
    from helpers.inventory import load_inventory  # noqa: PLC0415

    if cluster_dir:
        os.environ["KJ_CLUSTER_DIR"] = cluster_dir
    configure_logging()
    return Chapter(name, load_inventory(inventory))
