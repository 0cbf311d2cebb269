"""The protocol of Geotagger's child processes (`geotag scan --json-lines`, `geotag-train personalize
--json-lines`): one JSON object per line, each with the protocol version and one of these keys:

    {"version": 1, "progress": [done, total, "what"]}    while it works
    {"version": 1, "report": {...}} / {"result": {...}}  at the end (the command's typed result, as a dict)
    {"version": 1, "error": "why"}                      when it cannot finish

A reader refuses a line of another version rather than half-understanding it; lines that are not JSON objects
(a library's stray print) are ignored.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

PROTOCOL_VERSION = 1


class ProtocolError(RuntimeError):
    """A child speaks another version of the protocol (an older or newer install beside this one)."""


def message(kind: str, value: Any, out: TextIO | None = None) -> None:
    """Write one message line and flush it (the parent reads line by line)."""
    print(json.dumps({"version": PROTOCOL_VERSION, kind: value}), file=out or sys.stdout, flush=True)


def read_message(line: str) -> dict[str, Any] | None:
    """The message on one line, None for a line that is not one; ProtocolError for another version."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    if parsed.get("version") != PROTOCOL_VERSION:
        raise ProtocolError(f"child process speaks protocol {parsed.get('version')!r}, this one {PROTOCOL_VERSION}")
    return parsed
