"""File paths as people and programs see them: POSIX names are bytes, and not every name is UTF-8.

Python gives a name such as b'caf\\xe9.jpg' as the str 'caf\\udce9.jpg' (surrogate escapes). That str opens the file,
but it cannot be printed to a UTF-8 terminal, stored as SQLite text or written as JSON text. Hence:
- `display_path`: for labels, messages and the GUI, with U+FFFD where a byte is not UTF-8 (never raises);
- `json_path_fields` / `path_from_json`: a JSON record holds the display string under its key and, only when that
  is not the path itself, the exact OS bytes in base64 under `<key>_bytes`; `path_from_json` gives the path back;
- `json_line`: one JSON Lines record with every such path field split that way and no NaN/Infinity.
The cache stores paths as OS bytes (geocore.library.db.FsPath).
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

BYTES_SUFFIX = "_bytes"


def path_bytes(path: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> bytes:
    """The bytes the OS uses for `path` (exact inverse of os.fsdecode)."""
    return os.fsencode(path)


def is_displayable(text: str) -> bool:
    """True when `text` is valid Unicode (no surrogate escapes of undecodable bytes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def display_path(path: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> str:
    """`path` as text for people: bytes that are not UTF-8 become U+FFFD (so it always prints and renders)."""
    raw = os.fspath(path)
    if isinstance(raw, str) and is_displayable(raw):
        return raw
    return os.fsencode(raw).decode("utf-8", errors="replace")


def json_path_fields(path: str | bytes | os.PathLike[str] | os.PathLike[bytes], key: str = "path") -> dict[str, str]:
    """{key: display text} plus {key + '_bytes': base64 of the OS bytes} when the text is not the exact path."""
    shown = display_path(path)
    fields = {key: shown}
    if os.fsencode(shown) != os.fsencode(path):
        fields[key + BYTES_SUFFIX] = base64.b64encode(os.fsencode(path)).decode("ascii")
    return fields


def path_from_json(record: dict[str, Any], key: str = "path") -> str:
    """The exact path of a record written with json_path_fields (the str Python uses for that file)."""
    encoded = record.get(key + BYTES_SUFFIX)
    if isinstance(encoded, str):
        return os.fsdecode(base64.b64decode(encoded, validate=True))
    return str(record[key])


def json_safe(value: Any) -> Any:
    """`value` with every undisplayable string made displayable; in objects `k` also gets its bytes as `k_bytes`."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(item, str) and not is_displayable(item):
                out.update(json_path_fields(item, str(key)))
            else:
                out[key] = json_safe(item)
        return out
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, str) and not is_displayable(value):
        return display_path(value)
    return value


def json_line(record: Any) -> str:
    """One JSON Lines record (no newline): UTF-8-safe paths (see json_safe); ValueError on NaN/Infinity."""
    return json.dumps(json_safe(record), ensure_ascii=False, allow_nan=False)
