"""How `geotag` prints: progress on stderr, one line per file and a summary on stdout, the exit status."""

from __future__ import annotations

import sys
from collections.abc import Callable

from geocore.workflow.results import Outcome, Result, Status


def progress_line(label: str) -> Callable[[int, int, str], None]:
    """A stderr progress line, redrawn at most every 1 % (and only on a terminal)."""
    state = {"last": -1}

    def report(done: int, total: int, _message: str) -> None:
        percent = 100 * done // max(total, 1)
        if sys.stderr.isatty() and (percent != state["last"] or done == total):
            state["last"] = percent
            print(f"\r{label}: {done}/{total} ({percent} %)", end="\n" if done == total else "", file=sys.stderr)

    return report


def outcome_line(outcome: Outcome, dry_run: bool = False) -> str:
    """'ok           PATH', 'skipped      PATH: kind: why' or 'FAILED       PATH: kind: why'."""
    if outcome.status is Status.OK:
        return f"{'would write' if dry_run else 'ok':12} {outcome.path}"
    label = "skipped" if outcome.status is Status.SKIPPED else "FAILED"
    return f"{label:12} {outcome.path}: {outcome.kind}: {outcome.reason}"


def print_batch(result: Result) -> int:
    """Every file's line and the summary; returns the exit status (1 when any file failed)."""
    for outcome in result.outcomes:
        print(outcome_line(outcome, result.dry_run))
    ok, failed = len(result.ok), len(result.failed)
    where = f" batch {result.batch_id}" if result.batch_id else (" (dry run)" if result.dry_run else "")
    nothing = "" if result.outcomes else " (nothing to do)"
    print(f"{result.operation}{where}: {ok} ok, {failed} failed" + (" (cancelled)" if result.cancelled else "")
          + nothing)
    return result.exit_status
