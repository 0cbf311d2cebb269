"""Entry point of `geotag`: one sub-command module per capability, each adding its parsers."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each module exposes `register(subparsers)`; parsers set `handler=callable(args) -> int`.
COMMAND_MODULES = (
    "geocore.cli.library_commands",
    "geocore.cli.predict_command",
    "geocore.cli.time_commands",
)


def build_command_parser(prog: str, description: str, modules: Sequence[str]) -> argparse.ArgumentParser:
    """Build a parser whose sub-commands come from `modules` (also used by `geotag-train`)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module_name in modules:
        importlib.import_module(module_name).register(subparsers)
    return parser


def run_command(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    """Parse `argv` and run the chosen sub-command's handler; returns its exit status."""
    args = parser.parse_args(argv)
    return int(args.handler(args))


def main(argv: Sequence[str] | None = None) -> int:
    """Run `geotag`; returns the exit status."""
    parser = build_command_parser("geotag", "Find and write where photos were taken.", COMMAND_MODULES)
    return run_command(parser, argv)


if __name__ == "__main__":
    sys.exit(main())
