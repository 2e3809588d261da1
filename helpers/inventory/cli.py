"""The command ``python -m helpers inventory check FILE``: validate and print the address plan."""

from __future__ import annotations

import sys
from typing import Any

from helpers.errors import InventoryError
from helpers.inventory.loading import load_inventory
from helpers.inventory.summary import format_summary


def _check_command(args: Any) -> int:
    try:
        inv = load_inventory(args.file)
    except InventoryError as err:
        print(err, file=sys.stderr)
        return 1
    print(format_summary(inv))
    print(f"\ninventory {args.file}: ok")
    return 0


def add_cli(sub: Any) -> None:
    """Register ``inventory check FILE``."""
    parser = sub.add_parser("inventory", help="inspect inventories")
    inner = parser.add_subparsers(dest="inventory_command", metavar="ACTION", required=True)
    check = inner.add_parser("check", help="validate an inventory and print its address plan")
    check.add_argument("file", metavar="FILE", help="inventory YAML file")
    check.set_defaults(func=_check_command)
