"""Sub-commands of `geotag` for the photo library: scan, write, undo, strip, set (argument parsing and printing
over geocore.workflow's Session).

Every command takes `--db PATH` (default: $GEOTAGGER_DB or the per-user data folder). Progress goes to stderr,
reports to stdout; the exit status is 1 when any file failed, 2 for bad usage.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from geotagger.geocore.cli.output import MODE, outcome_line, print_batch, print_json, progress_line, result_document
from geotagger.geocore.library.paths import display_path
from geotagger.geocore.workflow.results import Reporter
from geotagger.geocore.workflow.settings import DEFAULTS, WorkflowSettings

if TYPE_CHECKING:
    from geotagger.geocore.workflow.session import Session


def settings_from_args(args: argparse.Namespace) -> WorkflowSettings:
    """The write settings of a command line: the shared defaults, changed only by the flags given."""
    return WorkflowSettings(
        write_mode="sidecar" if getattr(args, "sidecar_only", False) else DEFAULTS.write_mode,
        sidecar_style=getattr(args, "sidecar_style", None) or DEFAULTS.sidecar_style,
        keep_mtime=not getattr(args, "touch", False),
        backups=getattr(args, "backup", False) or DEFAULTS.backups,
        place_names=getattr(args, "place_names", False) or DEFAULTS.place_names,
    )


def open_session(args: argparse.Namespace, settings: WorkflowSettings | None = None) -> Session:
    from geotagger.geocore.workflow.session import Session

    session = Session.open(args.db, settings or settings_from_args(args))
    for line in session.recovery_warnings:
        print(f"warning: {line}", file=sys.stderr)
    return session


def _scan(args: argparse.Namespace) -> int:
    from geotagger.geocore.library.scan_process import json_lines_progress, print_report

    missing = [p for p in args.paths if not Path(p).exists()]
    for path in missing:
        print(f"not found: {display_path(path)}", file=sys.stderr)
    progress = json_lines_progress() if args.json_lines else progress_line("scan")
    with open_session(args) as session:
        result = session.scan([p for p in args.paths if p not in missing], Reporter(progress),
                              include_hidden=args.include_hidden, records=False)
    report = result.report
    if args.json_lines:
        print_report(report)
        return 1 if missing or result.failed else 0
    if MODE.json:
        print_json(result_document(result, report=dataclasses.asdict(report), missing=missing))
        return 1 if missing or result.failed else 0
    for outcome in result.outcomes:
        print(f"{'ISSUE':12} {display_path(outcome.path)}: {outcome.kind}: {display_path(outcome.reason)}")
    print(f"found {report.found}: {report.new} new, {report.changed} changed, "
          f"{report.sidecar_changed} with changed sidecars, {report.unchanged} unchanged, "
          f"{report.missing} missing, {len(result.failed)} issues ({report.seconds:.2f} s)")
    return 1 if missing or result.failed else 0


def _write(args: argparse.Namespace) -> int:
    with open_session(args) as session:
        result = session.write(None, all_proposed=args.all_proposed, dry_run=args.dry_run,
                               reporter=Reporter(progress_line("write")))
    return print_batch(result)


def _undo(args: argparse.Namespace) -> int:
    if not args.list and not args.batch and not args.paths:
        print("undo needs --batch ID or PATH...", file=sys.stderr)
        return 2
    with open_session(args) as session:
        batches = session.library.batches()
        if args.list:
            if MODE.json:
                print_json(batches)
                return 0
            for batch in batches:
                states = ", ".join(f"{count} {state}" for state, count in sorted(batch["states"].items()))
                print(f"{batch['id']}  {batch['operation']:6} {states or 'empty'}")
            return 0
        if args.batch and args.batch not in {batch["id"] for batch in batches}:
            print(f"undo: no batch {args.batch!r} (see `geotag undo --list`)", file=sys.stderr)
            return 1
        result = session.undo(batch_id=args.batch, paths=args.paths or None,
                              reporter=Reporter(progress_line("undo")), dry_run=args.dry_run)
    if not result.outcomes and not MODE.json:
        print("nothing to undo: " + ("that batch is already undone" if args.batch else "no change of ours to these"))
        return 0
    return print_batch(result)


def _strip(args: argparse.Namespace) -> int:
    with open_session(args) as session:
        result = session.strip(args.paths, Reporter(progress_line("strip")), dry_run=args.dry_run)
    return print_batch(result)


def _set(args: argparse.Namespace) -> int:
    from geotagger.geocore.library.gps import validate_position

    try:
        validate_position(args.lat, args.lon, args.alt, args.radius_km)
    except ValueError as exc:
        print(f"bad position: {exc}", file=sys.stderr)
        return 2
    with open_session(args) as session:
        selection = session.select(args.paths)  # folders recursed as scan does, sidecars skipped
        placed = session.place(selection.ids, args.lat, args.lon, altitude_m=args.alt, radius_km=args.radius_km,
                               tentative=args.dry_run)
        decision_ids = [o.payload["decision_id"] for o in placed.ok if o.payload]
        result = session.write(decision_ids=decision_ids, dry_run=args.dry_run) if decision_ids else None
        if args.dry_run:
            for decision_id in decision_ids:
                session.library.reject(decision_id)  # a dry run leaves nothing behind for the next `geotag write`
    result = result or type(placed)("write", dry_run=args.dry_run)
    result.outcomes[:0] = selection.problems + placed.failed  # every named file gets its line and its count
    return print_batch(result)


def add_db_option(parser: argparse.ArgumentParser) -> None:
    """The `--db PATH` option every command that opens the library takes."""
    parser.add_argument("--db", type=Path, default=None,
                        help="library cache (default: $GEOTAGGER_DB or the per-user data folder)")


def _write_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sidecar-only", action="store_true", help="write XMP sidecars, never touch the photos")
    parser.add_argument("--dry-run", action="store_true", help="check and report, change nothing")
    parser.add_argument("--sidecar-style", choices=("append", "replace"), default=None,
                        help=f"new sidecars as photo.CR2.xmp (append) or photo.xmp (replace); "
                             f"default {DEFAULTS.sidecar_style}")
    parser.add_argument("--place-names", action="store_true", help="also write city/state/country into XMP")
    parser.add_argument("--touch", action="store_true", help="let the file modification time change")
    parser.add_argument("--backup", action="store_true", help="also keep NAME_original copies")


SCAN_EXAMPLES = """examples:
  geotag scan ~/Pictures/2024-Japan            scan a folder (recursively) into the cache
  geotag scan --json ~/Pictures | jq .counts   the result as one JSON document
  find . -name '*.CR2' | geotag scan -@ -      the files named on stdin"""
WRITE_EXAMPLES = """examples:
  geotag write                                 write every accepted location into its file
  geotag write --all-proposed --dry-run        show the tags the fusion rule's picks would write
  geotag write --sidecar-only --backup         XMP sidecars only, and keep NAME_original copies"""
UNDO_EXAMPLES = """examples:
  geotag undo --list                           the batches, newest first
  geotag undo --batch 20241201-101500-ab12cd34  restore the exact bytes of one batch
  geotag undo IMG_0001.JPG --dry-run           check that a file's changes can be undone"""
STRIP_EXAMPLES = """examples:
  geotag strip ~/Share/album                   remove all location data before sharing (undoable)
  geotag strip IMG_0001.JPG --dry-run          show what would be removed"""
SET_EXAMPLES = """examples:
  geotag set IMG_0001.JPG --lat 35.0116 --lon 135.7681
  geotag set kyoto/ --lat 35.0116 --lon 135.7681 --radius-km 2   every photo under a folder
  geotag set -@ list.txt --lat 48.8584 --lon 2.2945 --dry-run   the photos named in a file"""


def _parser(subparsers: argparse._SubParsersAction, name: str, help_text: str, examples: str
            ) -> argparse.ArgumentParser:
    return subparsers.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".",
                                 epilog=examples, formatter_class=argparse.RawDescriptionHelpFormatter)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands."""
    scan = _parser(subparsers, "scan", "scan folders (and files) for photos into the library cache", SCAN_EXAMPLES)
    scan.add_argument("paths", nargs="+", metavar="PATH")
    scan.add_argument("--include-hidden", action="store_true", help="also scan hidden files and folders")
    scan.add_argument("--json-lines", action="store_true",
                      help="progress and report as versioned JSON lines (the protocol child processes speak)")
    add_db_option(scan)
    scan.set_defaults(handler=_scan)

    write = _parser(subparsers, "write", "write accepted (or proposed) locations into the files", WRITE_EXAMPLES)
    which = write.add_mutually_exclusive_group()
    which.add_argument("--accepted", action="store_true", help="write accepted decisions (default)")
    which.add_argument("--all-proposed", action="store_true", help="also the best proposal of undecided photos")
    _write_options(write)
    add_db_option(write)
    write.set_defaults(handler=_write)

    undo = _parser(subparsers, "undo", "restore the original bytes of a batch or of files", UNDO_EXAMPLES)
    undo.add_argument("--batch", help="batch id (as printed by write/strip)")
    undo.add_argument("paths", nargs="*", help="photos whose changes to undo")
    undo.add_argument("--list", action="store_true", help="list the batches (newest first) and exit")
    undo.add_argument("--dry-run", action="store_true", help="check that the files can be restored, change nothing")
    add_db_option(undo)
    undo.set_defaults(handler=_undo)

    strip = _parser(subparsers, "strip", "remove all location data from files and their sidecars", STRIP_EXAMPLES)
    strip.add_argument("paths", nargs="+", help="photos or folders (recursed)")
    strip.add_argument("--dry-run", action="store_true", help="check and report, change nothing")
    add_db_option(strip)
    strip.set_defaults(handler=_strip)

    manual = _parser(subparsers, "set", "place photos by hand and write the position", SET_EXAMPLES)
    manual.add_argument("paths", nargs="+", help="photos or folders (recursed; sidecars are skipped)")
    manual.add_argument("--lat", type=float, required=True)
    manual.add_argument("--lon", type=float, required=True)
    manual.add_argument("--alt", type=float, default=None, help="altitude in metres")
    manual.add_argument("--radius-km", type=float, default=None, help="how sure you are, as a radius")
    _write_options(manual)
    add_db_option(manual)
    manual.set_defaults(handler=_set)


__all__ = ["add_db_option", "open_session", "outcome_line", "register", "settings_from_args"]
