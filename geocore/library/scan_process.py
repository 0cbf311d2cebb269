"""Scanning in a child process, so that the caller's interpreter (the GUI's) never waits for the scan's GIL.

A scan is pure Python work (walking, EXIF parsing, SQLite rows); in a thread of the GUI process it takes the GIL
from the event loop often enough to stall the window by tens of milliseconds. The child is `geotag scan --json-lines`,
which prints geocore.child_protocol's lines: {"version": 1, "progress": [done, total, path]} while it works,
{"version": 1, "report": {...}} at the end. A line of another version is refused, never half-understood.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from geotagger.geocore.child_protocol import ProtocolError, message, read_message
from geotagger.geocore.library.paths import display_path, json_safe, path_from_json
from geotagger.geocore.library.scanner import ProgressCallback, ScanIssue, ScanReport

PROGRESS_INTERVAL_S = 0.05


def json_lines_progress() -> ProgressCallback:
    """The child's progress callback: a JSON line at most every PROGRESS_INTERVAL_S, and the last one always."""
    last = [0.0]

    def report(done: int, total: int, path: str) -> None:
        now = time.monotonic()
        if done >= total or now - last[0] >= PROGRESS_INTERVAL_S:
            last[0] = now
            message("progress", [done, total, display_path(path)])  # for a progress label: text, never bytes

    return report


def print_report(report: ScanReport) -> None:
    """The child's last line: the whole report as JSON."""
    message("report", json_safe(dataclasses.asdict(report)))  # a non-UTF-8 path: display text + path_bytes


def _report_from(fields: dict[str, Any]) -> ScanReport:
    issues = [ScanIssue(path_from_json(issue), issue["kind"], issue["reason"]) for issue in fields.pop("issues", [])]
    return ScanReport(**fields, issues=issues)


def scan_in_subprocess(
    db_path: Path,
    folders: Iterable[Path | str],
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    include_hidden: bool = False,
) -> ScanReport:
    """Scan `folders` into the cache at `db_path` in a child process; cancel terminates it (the cache stays valid)."""
    names = [str(folder) for folder in folders]
    report = ScanReport()
    if not names:
        return report
    command = [sys.executable, "-m", "geotagger.geocore.cli.main", "scan", "--json-lines", "--db", str(db_path)]
    command += ["--include-hidden"] if include_hidden else []
    command += names
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None
        for line in child.stdout:
            if cancel is not None and cancel.is_set():
                child.terminate()
                report.cancelled = True
                break
            try:
                parsed = read_message(line) or {}
            except ProtocolError:
                child.terminate()
                raise
            if "progress" in parsed and progress is not None:
                progress(*parsed["progress"])
            elif "report" in parsed:
                report = _report_from(parsed["report"])
        _, errors = child.communicate()
    if child.returncode not in (0, 1) and not report.cancelled:  # 1: the scan met problems, listed in the report
        raise RuntimeError(f"scan of {', '.join(names)} failed: {errors.strip()[-500:]}")
    return report
