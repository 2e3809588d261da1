"""``python -m helpers lab up|down|status [--inventory FILE]`` and ``lab down --all``."""

from __future__ import annotations

import argparse
from typing import Any

from helpers import paths
from helpers.lab import lab
from helpers.lab.plan import load_plan


def _up(args: argparse.Namespace) -> int:
    print(lab.up(load_plan(args.inventory)))
    return 0


def _down(args: argparse.Namespace) -> int:
    if args.all:
        reports = lab.down_all()
        for report in reports:
            print(report)
        if not reports:
            print("no lab to tear down")
        return 0
    print(lab.down(load_plan(args.inventory).name))
    return 0


def _status(args: argparse.Namespace) -> int:
    plan = load_plan(args.inventory)
    table = lab.status(plan)
    print(table)
    print()
    print(lab.services_status(plan))
    return 0 if all(v == "ok" for v in table.column("SSH ok")) else 1


def add_cli(sub: Any) -> None:
    """Add the ``lab`` command and its ``up``, ``down`` and ``status`` subcommands."""
    parser = sub.add_parser("lab", help="the one-box lab: machines and site services")
    verbs = parser.add_subparsers(dest="lab_command", metavar="VERB", required=True)
    for name, func, text in (
        ("up", _up, "create or repair the lab (idempotent)"),
        ("down", _down, "tear the lab down and restore host settings"),
        ("status", _status, "machines, addresses, roles, state, SSH"),
    ):
        p = verbs.add_parser(name, help=text)
        p.add_argument(
            "--inventory",
            default=str(paths.default_inventory()),
            help="inventory YAML (default: %(default)s)",
        )
        if name == "down":
            p.add_argument(
                "--all", action="store_true", help="tear down every lab this host has state for"
            )
        p.set_defaults(func=func)
