"""Command-line front door: ``python -m helpers <command> ...``.

Each command lives in the module that does the work; the module exposes
``add_cli(subparsers)`` which adds its parser and sets ``func``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from helpers.errors import JourneyError

COMMAND_MODULES = [
    "helpers.inventory",
    "helpers.certs",
    "helpers.lab.cli",
    "helpers.mirror.cli",
    "helpers.runbook",
    "bench.cli",  # the benchmark lives outside the runtime package
]


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser from every command module that is present."""
    parser = argparse.ArgumentParser(prog="python -m helpers", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name and name.startswith(err.name):
                continue  # command not built yet
            raise
        module.add_cli(sub)
    return parser


def run(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse ``argv``, set up logging (``-v``: debug) and run the chosen command; return its exit code.

    A project error is printed as one ``error: ...`` line (exit 1), an interrupt as
    ``interrupted`` (exit 130). ``python -m bench`` runs through here too.
    """
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except JourneyError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    """Run one command and return its exit code."""
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
