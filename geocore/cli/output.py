"""How `geotag` prints: progress on stderr (only on a terminal), one line per file and a summary on stdout, or one
JSON document with `--json`; `-q` keeps only failures and the summary, `-v` adds details (what a dry run would write).

Exit status, the same for every command: 0 all good, 1 some files failed, 2 usage error.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from geotagger.geocore.library.paths import display_path, json_safe
from geotagger.geocore.workflow.results import Outcome, Result, Status

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_CODES_HELP = "exit status: 0 all good, 1 some files failed, 2 usage error"


@dataclass
class OutputMode:
    """The output options every command takes (set once per run from the command line)."""

    quiet: bool = False
    verbose: bool = False
    json: bool = False


MODE = OutputMode()


def configure(quiet: bool = False, verbose: bool = False, as_json: bool = False) -> None:
    MODE.quiet, MODE.verbose, MODE.json = quiet, verbose, as_json


def progress_line(label: str) -> Callable[[int, int, str], None]:
    """The one progress display: a stderr line redrawn at most every 1 %, only on a terminal and never with -q."""
    state = {"last": -1}

    def report(done: int, total: int, _message: str = "") -> None:
        if MODE.quiet or not sys.stderr.isatty():
            return
        percent = 100 * done // max(total, 1)
        if percent != state["last"] or done == total:
            state["last"] = percent
            print(f"\r{label}: {done}/{total} ({percent} %)", end="\n" if done == total else "", file=sys.stderr)

    return report


def outcome_line(outcome: Outcome, dry_run: bool = False) -> str:
    """'ok           PATH', 'skipped      PATH: kind: why' or 'FAILED       PATH: kind: why'.

    A file name that is not UTF-8 is shown with U+FFFD (any terminal can print it); --json carries its bytes.
    """
    path = display_path(outcome.path)
    if outcome.status is Status.OK:
        detail = f": {outcome.reason}" if outcome.reason else ""
        return f"{'would write' if dry_run else 'ok':12} {path}{detail}"
    label = "skipped" if outcome.status is Status.SKIPPED else "FAILED"
    return f"{label:12} {path}: {outcome.kind}: {display_path(outcome.reason)}"


def result_document(result: Result, **extra: Any) -> dict[str, Any]:
    """A run as plain JSON: operation, batch, counts and every file's outcome (payloads included)."""
    outcomes = [{"path": o.path, "status": o.status.value, "kind": o.kind, "reason": o.reason,
                 "photo_id": o.photo_id, **({"payload": o.payload} if o.payload is not None else {})}
                for o in result.outcomes]
    document = {"operation": result.operation, "batch_id": result.batch_id or None, "dry_run": result.dry_run,
                "cancelled": result.cancelled, "counts": dict(result.counts()), "notes": result.notes,
                "outcomes": outcomes, "exit_status": result.exit_status}
    return {**document, **extra}


def print_json(document: Any) -> None:
    # json_safe: a non-UTF-8 file name becomes display text plus its bytes in base64 ("path_bytes"), so the document
    # is valid UTF-8 and the exact path survives; allow_nan=False: a bare NaN is not JSON.
    plain = json.loads(json.dumps(document, allow_nan=False, default=_plain))
    print(json.dumps(json_safe(plain), ensure_ascii=False, allow_nan=False))


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


def print_batch(result: Result) -> int:
    """Every file's line (failures only with -q) and the summary, or the JSON document; returns the exit status."""
    if MODE.json:
        print_json(result_document(result))
        return result.exit_status
    for outcome in result.outcomes:
        if MODE.quiet and not outcome.failed:
            continue
        print(outcome_line(outcome, result.dry_run))
    ok, failed = len(result.ok), len(result.failed)
    where = f" batch {result.batch_id}" if result.batch_id else (" (dry run)" if result.dry_run else "")
    nothing = "" if result.outcomes else " (nothing to do)"
    print(f"{result.operation}{where}: {ok} ok, {failed} failed" + (" (cancelled)" if result.cancelled else "")
          + nothing)
    return result.exit_status
