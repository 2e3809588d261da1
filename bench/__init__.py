"""The benchmark: how long the series takes, and what the lab costs when the cluster idles.

On one lab inventory (the reference topology by default) it measures, in order:

0. ``artifacts build`` (a check when the cache is warm, as in ``make up``);
1. ``lab up`` from nothing (*cold*; the base image is reused when cached) and again on
   the running lab (*warm*: every part probed, nothing to change);
2. each notebook's wall time on the fresh lab, then on an idempotent re-run;
3. CPU and memory of the lab's machines with the cluster idle (deltas of the lab's own
   cgroups over ``--idle-seconds``);
4. ``lab down`` with the cluster on it, and again with nothing left (*warm*);
5. the parallel fan-out: two derived inventories with 1 and with 4 workers
   (``kube-node01..04``), each built as its own lab, 01..05 run on it, 05 timed.

Notebooks not written yet are reported as such and skipped, never faked. The bench
refuses a lab that is already up (it would destroy it) unless ``--replace`` is given,
and it takes down every lab it brought up. Each lab gets a throw-away cluster
directory, so the fresh build generates its PKI from scratch.

Results go to ``runs/bench-<UTC timestamp>/`` (``bench.json``, ``bench.png``, the
executed notebooks) and a table is printed. The figures come from a shared machine and
are noisy: the load average at start and end is recorded next to them.

Command:
    ``python -m helpers bench [--inventory FILE] [--out DIR] [--skip PART ...]``
    (or ``python -m bench ...``; ``make bench``)

Modules: ``inventories`` (derived labs), ``idle`` (cgroup readings), ``timing`` (lab up
and down, notebook series), ``runner`` (:class:`Bench`), ``results`` (goals, rows, JSON),
``table`` and ``chart`` (the printed and drawn summaries), ``cli`` (the command).
"""

from bench.chart import write_chart
from bench.cli import PARTS, add_cli, main
from bench.idle import CgroupSample, idle_cost, measure_idle, read_cgroups
from bench.inventories import bridge_for, derive_inventory, next_subnet, write_inventory
from bench.results import (
    GOALS,
    NOT_WRITTEN,
    WORKERS_NOTEBOOK,
    evaluate_goals,
    notebook_rows,
    write_json,
)
from bench.runner import Bench
from bench.table import tables
from bench.timing import run_series

__all__ = [
    "GOALS",
    "NOT_WRITTEN",
    "PARTS",
    "WORKERS_NOTEBOOK",
    "Bench",
    "CgroupSample",
    "add_cli",
    "bridge_for",
    "derive_inventory",
    "evaluate_goals",
    "idle_cost",
    "main",
    "measure_idle",
    "next_subnet",
    "notebook_rows",
    "read_cgroups",
    "run_series",
    "tables",
    "write_chart",
    "write_inventory",
    "write_json",
]
