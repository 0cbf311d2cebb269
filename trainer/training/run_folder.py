"""Run folders: timestamped, with the resolved config, git revision, logs, per-epoch metrics and checkpoints.

Layout (read by `geotag-train export` through `load_run_model`):
    RUN/config.yaml  git_revision.txt  train.log  metrics.csv  summary.json
    RUN/partitionings/<name>.csv (coarse -> fine, as listed in config.model.partitionings)  RUN/hierarchy.csv
    RUN/checkpoints/latest.pt  RUN/checkpoints/best.pt
Checkpoints hold only tensors and plain types and are read with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

LOG = logging.getLogger(__name__)
LATEST, BEST = "latest.pt", "best.pt"


def create_run_dir(runs_dir: str | Path, name: str) -> Path:
    """A new folder runs_dir/NAME-YYYYmmdd-HHMMSS (suffixed if that exists)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(runs_dir) / f"{name}-{stamp}"
    candidate, number = base, 1
    while candidate.exists():
        candidate, number = Path(f"{base}-{number}"), number + 1
    (candidate / "checkpoints").mkdir(parents=True)
    return candidate


def git_revision() -> str:
    """`git describe`-like revision of the code that runs (commit + "-dirty"), or "unknown" outside a checkout."""
    source = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True, timeout=10,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=source,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def copy_partitionings(paths: list[str], run_dir: Path) -> list[Path]:
    """Copy the partitioning CSVs into the run folder so the run is self-contained."""
    target = run_dir / "partitionings"
    target.mkdir(exist_ok=True)
    copies = []
    for path in paths:
        destination = target / Path(path).name
        shutil.copyfile(path, destination)
        copies.append(destination)
    return copies


def save_checkpoint(state: Mapping[str, Any], path: Path) -> None:
    """Write atomically (temp file + rename) and verify the file reads back with weights_only=True."""
    buffer = io.BytesIO()
    torch.save(dict(state), buffer)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as handle:
        handle.write(buffer.getvalue())
        handle.flush()
        os.fsync(handle.fileno())
    torch.load(temporary, map_location="cpu", weights_only=True)  # raises if the file is not safely loadable
    os.replace(temporary, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint without unpickling arbitrary objects."""
    return torch.load(path, map_location="cpu", weights_only=True)


class MetricsLog:
    """metrics.csv, one row per epoch; rewritten atomically so a crash never leaves half a row."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[dict[str, Any]] = []
        if path.exists():
            with open(path, newline="", encoding="utf-8") as handle:
                self.rows = list(csv.DictReader(handle))

    def keep_epochs_before(self, epoch: int) -> None:
        """Drop rows of epochs >= `epoch` (they are re-run after a resume)."""
        self.rows = [row for row in self.rows if int(row["epoch"]) < epoch]

    def append(self, row: Mapping[str, Any]) -> None:
        """Add one epoch's figures and rewrite the file."""
        self.rows.append(dict(row))
        columns: list[str] = []
        for existing in self.rows:
            columns.extend(key for key in existing if key not in columns)
        temporary = self.path.with_name(self.path.name + ".tmp")
        with open(temporary, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(self.rows)
        os.replace(temporary, self.path)


def attach_log_file(run_dir: Path) -> logging.Handler:
    """Send the trainer's log records to RUN/train.log as well."""
    handler = logging.FileHandler(run_dir / "train.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("geotagger.trainer")
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)  # the run's log keeps the per-epoch figures whatever the console shows
    logger.addHandler(handler)
    return handler


def detach_log_file(handler: logging.Handler) -> None:
    """Stop writing to a run's train.log (the next run in this process gets its own)."""
    logging.getLogger("geotagger.trainer").removeHandler(handler)
    handler.close()
