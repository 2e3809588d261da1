"""The ``bench`` command: ``python -m helpers bench ...`` and ``python -m bench ...``.

``add_cli`` registers it with ``python -m helpers`` (see ``helpers/__main__.py``);
``main`` is the stand-alone front door used by ``python -m bench``.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.runner import Bench
from bench.table import tables
from helpers import paths
from helpers.errors import ConfigError
from helpers.inventory import load_inventory

HELP = "time the notebooks (fresh, re-run, 1 vs 4 workers) and the lab"
PARTS = ("notebooks", "rerun", "idle", "lab", "workers")
"""What ``--skip`` accepts: fresh notebooks, re-run, idle sample, warm lab timings, 1-vs-4 workers."""


def _default_out() -> Path:
    from helpers.runbook import RUNS_DIR

    return RUNS_DIR / ("bench-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))


def _pair(text: str | None, what: str) -> list[str]:
    if text is None:
        return ["", ""]
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2 or not all(parts):
        raise ConfigError(f"{what} takes two values separated by a comma (1 worker, 4 workers): {text!r}")
    return parts


def _bench_command(args: Any) -> int:
    inv = load_inventory(args.inventory)
    if inv.lab is None:
        raise ConfigError(f"{args.inventory}: the bench builds labs; this inventory has no 'lab' section")
    labs = _pair(args.worker_labs, "--worker-labs")
    if not labs[0]:
        labs = [f"{inv.lab.name}-w1", f"{inv.lab.name}-w4"]
    out = Path(args.out).resolve() if args.out else _default_out()
    bench = Bench(Path(args.inventory), out, set(args.skip or ()), args.idle_seconds, args.replace,
                  args.keep, labs, _pair(args.worker_subnets, "--worker-subnets"),
                  Path(args.work_dir) if args.work_dir else None)
    results = bench.run()
    print()
    for table in tables(results):
        print(table)
        print()
    host = results["host"]
    print(f"load average {host['loadavg_start'][0]} at start, {host['loadavg_end'][0]} at end "
          f"on {host['cpus']} CPUs (shared machine: noisy figures)")
    print(f"results: {out / 'bench.json'}\nchart:   {out / 'bench.png'}")
    if "error" in results:
        print(f"error: {results['error']}")
        return 1
    return 0


def add_cli(sub: Any) -> None:
    """Register ``bench``."""
    p = sub.add_parser("bench", help=HELP)
    add_arguments(p)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the bench's options to ``p`` and make it run the bench."""
    p.add_argument("--inventory", default=str(paths.default_inventory()), help="lab inventory YAML")
    p.add_argument("--out", metavar="DIR", help="results directory (default runs/bench-<UTC time>)")
    p.add_argument("--skip", nargs="+", choices=PARTS, default=[], metavar="PART",
                   help=f"parts to leave out: {', '.join(PARTS)}")
    p.add_argument("--idle-seconds", type=float, default=30.0, help="idle sampling window (default 30)")
    p.add_argument("--replace", action="store_true",
                   help="take the inventory's lab down first when it is up (it is destroyed)")
    p.add_argument("--keep", action="store_true", help="leave the labs up afterwards")
    p.add_argument("--worker-labs", metavar="NAME1,NAME4",
                   help="lab names of the 1- and 4-worker copies (default <lab>-w1,<lab>-w4)")
    p.add_argument("--worker-subnets", metavar="CIDR1,CIDR4",
                   help="their node subnets (default: the two blocks after the inventory's)")
    p.add_argument("--work-dir", metavar="DIR", help="where derived inventories go (default <out>/inventories)")
    p.set_defaults(func=_bench_command)


def main(argv: list[str] | None = None) -> int:
    """Run the bench stand-alone (``python -m bench``) and return its exit code.

    Same options, logging and error handling as ``python -m helpers bench``.
    """
    parser = argparse.ArgumentParser(prog="python -m bench", description=HELP)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    add_arguments(parser)
    from helpers.__main__ import run  # noqa: PLC0415 - one front door: the same logging and errors

    return run(parser, argv)
