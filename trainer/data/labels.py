"""Class labels from locations through geocore's partitionings, with every dropped image counted and named."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from geotagger.geocore.geo.partitioning import Partitioning

LOG = logging.getLogger(__name__)
IGNORE_INDEX = -1  # class index of an image outside one partitioning (but inside another): that head ignores it
MAX_EXAMPLES_PER_REASON = 5


@dataclass
class SkipReport:
    """Counts of images left out, by reason, with a few example names per reason for the log."""

    considered: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def skip(self, reason: str, name: str) -> None:
        """Count one image left out for `reason`."""
        self.counts[reason] += 1
        names = self.examples.setdefault(reason, [])
        if len(names) < MAX_EXAMPLES_PER_REASON:
            names.append(name)

    @property
    def skipped(self) -> int:
        """Images left out, all reasons."""
        return sum(self.counts.values())

    @property
    def kept(self) -> int:
        """Images that will be used."""
        return self.considered - self.skipped

    def merge(self, other: SkipReport) -> None:
        """Add another report's counts into this one."""
        self.considered += other.considered
        for reason, count in other.counts.items():
            self.counts[reason] += count
            names = self.examples.setdefault(reason, [])
            names.extend(other.examples.get(reason, [])[: MAX_EXAMPLES_PER_REASON - len(names)])

    def summary(self, what: str = "images") -> str:
        """One paragraph: kept/considered and each reason with examples."""
        lines = [f"{self.kept} of {self.considered} {what} used, {self.skipped} skipped"]
        for reason, count in sorted(self.counts.items(), key=lambda item: -item[1]):
            lines.append(f"  {count} {reason}: e.g. {', '.join(self.examples.get(reason, []))}")
        return "\n".join(lines)

    def log(self, what: str = "images") -> None:
        """Write the summary to the log (warning level when anything was skipped)."""
        (LOG.warning if self.skipped else LOG.info)(self.summary(what))


def assign_classes(
    lat: np.ndarray, lon: np.ndarray, partitionings: Sequence[Partitioning]
) -> np.ndarray:
    """Class index of every point in every partitioning, (N, P) int64; -1 where a point is outside that one."""
    columns = [np.asarray(p.assign(lat, lon), dtype=np.int64) for p in partitionings]
    return np.stack(columns, axis=1) if columns else np.zeros((len(lat), 0), dtype=np.int64)


def valid_coordinates(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Mask of finite latitudes in [-90, 90] and longitudes in [-180, 180]."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)


def keep_valid_coordinates(
    names: Sequence[str], lat: np.ndarray, lon: np.ndarray, report: SkipReport
) -> np.ndarray:
    """`valid_coordinates`, counting every invalid one in `report` by name."""
    valid = valid_coordinates(lat, lon)
    for index in np.flatnonzero(~valid):
        report.skip("invalid coordinates", names[int(index)])
    return valid


def label_locations(
    names: Sequence[str], lat: np.ndarray, lon: np.ndarray, partitionings: Sequence[Partitioning], report: SkipReport
) -> tuple[np.ndarray, np.ndarray]:
    """Assign classes and drop (counting) bad coordinates and points outside all cells; returns (kept_idx, classes)."""
    lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    valid = keep_valid_coordinates(names, lat, lon, report)
    classes = np.full((len(lat), len(partitionings)), IGNORE_INDEX, dtype=np.int64)
    if valid.any():
        classes[valid] = assign_classes(lat[valid], lon[valid], partitionings)
    inside_any = (classes >= 0).any(axis=1) if partitionings else valid
    for index in np.flatnonzero(valid & ~inside_any):
        report.skip("outside all partitioning cells", names[int(index)])
    partial = valid & inside_any & (classes < 0).any(axis=1)
    if partial.any():
        LOG.info("%d images lie outside some (not all) partitionings: those heads ignore them", int(partial.sum()))
    kept = np.flatnonzero(valid & inside_any)
    return kept, classes[kept]
