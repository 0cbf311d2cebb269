"""How `geotag-train` commands that build a bundle end: 0 written, 1 refused by its own check, 2 bad input.

One place for the mapping, so that every command says `geotag-train NAME: why` (or `...: refused: why`) the same
way and returns the same status for the same kind of failure.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

EXIT_REFUSED, EXIT_BAD_INPUT = 1, 2
Built = TypeVar("Built")
Errors = type[BaseException] | tuple[type[BaseException], ...]


def run_checked(command: str, build: Callable[[], Built], bad_input: Errors, refused: Errors
                ) -> tuple[int, Built | Any]:
    """(0, what `build` returned), or (exit status, None) after the one-line message. Bad input is tested first:
    some commands' input errors derive from the same base as their refusals."""
    try:
        return 0, build()
    except bad_input as error:
        print(f"geotag-train {command}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT, None
    except refused as error:
        print(f"geotag-train {command}: refused: {error}", file=sys.stderr)
        return EXIT_REFUSED, None
