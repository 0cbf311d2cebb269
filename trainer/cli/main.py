"""Entry point of `geotag-train`: one sub-command module per capability, each adding its parsers."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from geocore.cli.main import build_command_parser, run_command

COMMAND_MODULES = (
    "trainer.cli.partition_command",
    "trainer.cli.train_commands",
    "trainer.cli.model_commands",
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run `geotag-train`; returns the exit status."""
    description = "Build partitionings, train, evaluate and export geolocation models."
    return run_command(build_command_parser("geotag-train", description, COMMAND_MODULES), argv)


if __name__ == "__main__":
    sys.exit(main())
