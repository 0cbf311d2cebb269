"""Sub-commands of `geotag` for the photo library: scan, write, undo, strip, set.

Every command takes `--db PATH` (default: $GEOTAGGER_DB or the per-user data folder). Progress goes to stderr,
reports to stdout; the exit status is 1 when any file failed, 2 for bad usage.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from geocore.library.api import Library
    from geocore.library.writer import BatchReport


def _progress(label: str) -> Callable[[int, int, str], None]:
    """A stderr progress line, redrawn at most every 1 % (and only on a terminal)."""
    state = {"last": -1}

    def report(done: int, total: int, _path: str) -> None:
        percent = 100 * done // max(total, 1)
        if sys.stderr.isatty() and (percent != state["last"] or done == total):
            state["last"] = percent
            print(f"\r{label}: {done}/{total} ({percent} %)", end="\n" if done == total else "", file=sys.stderr)

    return report


def _open(args: argparse.Namespace) -> Library:
    from geocore.library.api import Library

    return Library(args.db, sidecar_style=getattr(args, "sidecar_style", "append"),
                   keep_mtime=not getattr(args, "touch", False), backup_originals=getattr(args, "backup", False),
                   place_names=getattr(args, "place_names", False))


def _print_batch(report: BatchReport) -> int:
    """Per-file report plus summary; returns the exit status."""
    for result in report.results:
        if result.ok:
            status = "would write" if report.dry_run else "ok"
            print(f"{status:12} {result.path}")
        else:
            kind = result.error_kind.value if result.error_kind else "error"
            label = "skipped" if kind == "nothing_to_do" else "FAILED"
            print(f"{label:12} {result.path}: {kind}: {result.reason}")
    failed = len(report.failed)
    print(f"{report.operation} batch {report.batch_id}: {len(report.written)} ok, {failed} failed"
          + (" (cancelled)" if report.cancelled else ""))
    return 1 if failed else 0


def _scan(args: argparse.Namespace) -> int:
    from geocore.library.scan_process import json_lines_progress, print_report

    missing = [f for f in args.folders if not Path(f).is_dir()]
    for folder in missing:
        print(f"not a folder: {folder}", file=sys.stderr)
    progress = json_lines_progress() if args.json_lines else _progress("scan")
    with _open(args) as library:
        report = library.scan([f for f in args.folders if f not in missing], progress=progress,
                              include_hidden=args.include_hidden)
    if args.json_lines:
        print_report(report)
        return 1 if missing or report.issues else 0
    for issue in report.issues:
        print(f"{'ISSUE':12} {issue.path}: {issue.kind}: {issue.reason}")
    print(f"found {report.found}: {report.new} new, {report.changed} changed, "
          f"{report.sidecar_changed} with changed sidecars, {report.unchanged} unchanged, "
          f"{report.missing} missing, {len(report.issues)} issues ({report.seconds:.2f} s)")
    return 1 if missing or report.issues else 0


def _write(args: argparse.Namespace) -> int:
    with _open(args) as library:
        report = library.write_batch(all_proposed=args.all_proposed, sidecar_only=args.sidecar_only,
                                     dry_run=args.dry_run, progress=_progress("write"))
    return _print_batch(report)


def _print_batches(library: Library) -> int:
    for batch in library.batches():
        states = ", ".join(f"{count} {state}" for state, count in sorted(batch["states"].items())) or "empty"
        print(f"{batch['id']}  {batch['operation']:6} {states}")
    return 0


def _undo(args: argparse.Namespace) -> int:
    if args.list:
        with _open(args) as library:
            return _print_batches(library)
    if not args.batch and not args.paths:
        print("undo needs --batch ID or PATH...", file=sys.stderr)
        return 2
    with _open(args) as library:
        report = library.undo(batch_id=args.batch, paths=args.paths or None, progress=_progress("undo"))
    if not report.results:
        print("nothing to undo")
    return _print_batch(report)


def _strip(args: argparse.Namespace) -> int:
    with _open(args) as library:
        report = library.strip(args.paths, progress=_progress("strip"))
    return _print_batch(report)


def _set(args: argparse.Namespace) -> int:
    from geocore.library.gps import GpsFix

    try:
        GpsFix(args.lat, args.lon, args.alt, None, args.radius_km)
    except ValueError as exc:
        print(f"bad position: {exc}", file=sys.stderr)
        return 2
    with _open(args) as library:
        decision_ids, failed = _manual_decisions(library, args)
        report = library.write_batch(decision_ids, sidecar_only=args.sidecar_only, dry_run=args.dry_run)
        for decision_id in decision_ids if args.dry_run else []:
            library.reject(decision_id)  # a dry run leaves nothing accepted behind for the next `geotag write`
    return max(_print_batch(report), 1 if failed else 0)


def _manual_decisions(library: Library, args: argparse.Namespace) -> tuple[list[int], int]:
    """One manual decision per readable photo of `args.paths` (only proposed in a dry run); (ids, failures)."""
    from geocore.library.errors import LibraryError

    decision_ids, failed = [], 0
    for path, found in zip(args.paths, library.ensure_scanned(args.paths), strict=True):
        if isinstance(found, LibraryError) or found.error_kind:
            reason = str(found) if isinstance(found, LibraryError) else f"{found.error_kind}: {found.error}"
            print(f"{'FAILED':12} {path}: {reason}")
            failed += 1
        elif args.dry_run:  # proposed, not accepted: the photo's accepted decision must stay as it is
            decision_ids.append(library.propose(found.id, args.lat, args.lon, args.radius_km, "manual",
                                                altitude_m=args.alt))
        else:
            decision_ids.append(library.set_manual(found.id, args.lat, args.lon, radius_km=args.radius_km,
                                                   altitude_m=args.alt))
    return decision_ids, failed


def add_db_option(parser: argparse.ArgumentParser) -> None:
    """The `--db PATH` option every command that opens the library takes."""
    parser.add_argument("--db", type=Path, default=None,
                        help="library cache (default: $GEOTAGGER_DB or the per-user data folder)")


def _write_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sidecar-only", action="store_true", help="write XMP sidecars, never touch the photos")
    parser.add_argument("--dry-run", action="store_true", help="check and report, change nothing")
    parser.add_argument("--sidecar-style", choices=("append", "replace"), default="append",
                        help="new sidecars as photo.CR2.xmp (append) or photo.xmp (replace)")
    parser.add_argument("--place-names", action="store_true", help="also write city/state/country into XMP")
    parser.add_argument("--touch", action="store_true", help="let the file modification time change")
    parser.add_argument("--backup", action="store_true", help="also keep NAME_original copies")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands."""
    scan = subparsers.add_parser("scan", help="scan folders for photos into the library cache")
    scan.add_argument("folders", nargs="+")
    scan.add_argument("--include-hidden", action="store_true", help="also scan hidden files and folders")
    scan.add_argument("--json-lines", action="store_true", help="progress and report as JSON lines (for programs)")
    add_db_option(scan)
    scan.set_defaults(handler=_scan)

    write = subparsers.add_parser("write", help="write accepted (or proposed) locations into the files")
    which = write.add_mutually_exclusive_group()
    which.add_argument("--accepted", action="store_true", help="write accepted decisions (default)")
    which.add_argument("--all-proposed", action="store_true", help="also the best proposal of undecided photos")
    _write_options(write)
    add_db_option(write)
    write.set_defaults(handler=_write)

    undo = subparsers.add_parser("undo", help="restore the original bytes of a batch or of files")
    undo.add_argument("--batch", help="batch id (as printed by write/strip)")
    undo.add_argument("paths", nargs="*", help="photos whose changes to undo")
    undo.add_argument("--list", action="store_true", help="list the batches (newest first) and exit")
    add_db_option(undo)
    undo.set_defaults(handler=_undo)

    strip = subparsers.add_parser("strip", help="remove all location data from files and their sidecars")
    strip.add_argument("paths", nargs="+")
    add_db_option(strip)
    strip.set_defaults(handler=_strip)

    manual = subparsers.add_parser("set", help="place photos by hand and write the position")
    manual.add_argument("paths", nargs="+")
    manual.add_argument("--lat", type=float, required=True)
    manual.add_argument("--lon", type=float, required=True)
    manual.add_argument("--alt", type=float, default=None, help="altitude in metres")
    manual.add_argument("--radius-km", type=float, default=None, help="how sure you are, as a radius")
    _write_options(manual)
    add_db_option(manual)
    manual.set_defaults(handler=_set)
