"""Typed, per-file errors: they become states of a photo, never crash a batch."""

from __future__ import annotations

import enum
import errno
from pathlib import Path


class ErrorKind(str, enum.Enum):
    """Why an operation on one file failed."""

    NOT_FOUND = "not_found"
    NO_ACCESS = "no_access"
    CHANGED = "changed_since_scan"
    UNSUPPORTED = "unsupported"
    CORRUPT = "corrupt_metadata"
    DISK_FULL = "disk_full"
    VERIFY_FAILED = "verify_failed"
    NOTHING_TO_DO = "nothing_to_do"
    IO = "io_error"


class LibraryError(Exception):
    """An error about one file: `kind` says why, `path` which file, `reason` in words."""

    def __init__(self, kind: ErrorKind, path: Path | str | None, reason: str) -> None:
        self.kind = kind
        self.path = Path(path) if path is not None else None
        self.reason = reason
        super().__init__(f"{path}: {kind.value}: {reason}" if path is not None else f"{kind.value}: {reason}")


class CorruptMetadata(ValueError):
    """Raised by the parsers on malformed bytes; callers turn it into LibraryError(CORRUPT)."""


class NoRoom(CorruptMetadata):
    """The metadata block cannot grow enough (a JPEG segment is at most 64 KiB): a sidecar is the way out."""


class Truncated(CorruptMetadata):
    """The file ends before its structure does (a cut copy or an interrupted download): damaged, never written."""


def error_from_os(exc: OSError, path: Path | str) -> LibraryError:
    """Map an OSError to a typed LibraryError for `path`."""
    code = exc.errno
    if isinstance(exc, FileNotFoundError) or code == errno.ENOENT:
        kind = ErrorKind.NOT_FOUND
    elif isinstance(exc, PermissionError) or code in (errno.EACCES, errno.EPERM, errno.EROFS):
        kind = ErrorKind.NO_ACCESS
    elif code in (errno.ENOSPC, errno.EDQUOT):
        kind = ErrorKind.DISK_FULL
    else:
        kind = ErrorKind.IO
    return LibraryError(kind, path, exc.strerror or str(exc))
