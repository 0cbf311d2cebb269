"""Entry point of `geotag`: one sub-command module per capability, each adding its parsers."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

# Each module exposes `register(subparsers)`; parsers set `handler=callable(args) -> int`.
COMMAND_MODULES = (
    "geocore.cli.library_commands",
    "geocore.cli.predict_command",
    "geocore.cli.time_commands",
)
BROKEN_PIPE_STATUS = 141  # what a shell reports for a program killed by SIGPIPE (128 + 13)


def build_command_parser(prog: str, description: str, modules: Sequence[str]) -> argparse.ArgumentParser:
    """Build a parser whose sub-commands come from `modules` (also used by `geotag-train`)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module_name in modules:
        importlib.import_module(module_name).register(subparsers)
    return parser


def run_command(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    """Parse `argv` and run the chosen sub-command's handler; returns its exit status.

    `geotag scan --json-lines | head` closes the pipe early: that ends the command quietly, as for any Unix tool.
    """
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except BrokenPipeError:
        # Python would print a second error flushing stdout at exit: point it at /dev/null first.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return BROKEN_PIPE_STATUS


def main(argv: Sequence[str] | None = None) -> int:
    """Run `geotag`; returns the exit status."""
    parser = build_command_parser("geotag", "Find and write where photos were taken.", COMMAND_MODULES)
    return run_command(parser, argv)


if __name__ == "__main__":
    sys.exit(main())
