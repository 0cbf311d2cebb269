"""What a finished write, strip or undo tells the window: the fresh rows and every file that failed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geotagger.app.items import PhotoItem


@dataclass
class BatchSummary:
    """A finished write, strip or undo: fresh items, how many files succeeded, and every per-file error."""

    title: str
    items: list[PhotoItem] = field(default_factory=list)
    succeeded: int = 0
    errors: list[Any] = field(default_factory=list)  # Outcome-like: .path (Path), .kind, .reason
    batch_id: str = ""


@dataclass(frozen=True)
class FileError:
    """One file that failed, as the summary lists it."""

    path: Path
    kind: str
    reason: str
