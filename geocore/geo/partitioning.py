"""Partitionings of the globe into classes: adaptive S2 cells (PlaNet / ECCV'18) and semantic areas (SemP).

A `Partitioning` is columnar: one key, label, image count and Class2GPS centroid per class. S2 keys are cell tokens;
semantic keys are address paths (see `geocore.geo.semantic`). Both read and write the public CSV format
`class_label,hex_id,imgs_per_cell,latitude_mean,longitude_mean` (semantic files add a `name` column).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from geotagger.geocore.geo import s2cells

CSV_COLUMNS = ("class_label", "hex_id", "imgs_per_cell", "latitude_mean", "longitude_mean")
S2 = "s2"
SEMANTIC = "semantic"
DEFAULT_START_LEVEL = 2


class PartitioningError(ValueError):
    """A partitioning file or build request that cannot be used."""


@dataclass(eq=False)
class Partitioning:
    """Classes of one partitioning: keys (S2 tokens or address paths), labels, counts and Class2GPS centroids."""

    name: str
    kind: str
    keys: list[str]
    labels: list[str]
    counts: npt.NDArray[np.int64]
    lat: npt.NDArray[np.float64]
    lon: npt.NDArray[np.float64]
    _s2_ranges: tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64], npt.NDArray[np.int64]] | None = field(
        default=None, init=False, repr=False
    )

    def __post_init__(self) -> None:
        sizes = {len(self.keys), len(self.labels), len(self.counts), len(self.lat), len(self.lon)}
        if len(sizes) != 1:
            raise PartitioningError(f"partitioning {self.name}: columns have different lengths {sorted(sizes)}")
        if self.kind not in (S2, SEMANTIC):
            raise PartitioningError(f"partitioning {self.name}: unknown kind {self.kind!r}")

    def __len__(self) -> int:
        return len(self.keys)

    def assign(self, lat: npt.ArrayLike, lon: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Class index of every point, -1 where no class contains it."""
        if self.kind == S2:
            return self.locate_cell_ids(s2cells.latlon_to_cell_ids(lat, lon))
        from geotagger.geocore.geo import semantic  # the geocoder loads lazily; S2 users never pay for it

        return semantic.assign_to_keys(self.keys, lat, lon)

    def locate_cell_ids(self, cell_ids: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
        """Index of the cell containing each S2 cell id (leaf or deeper than this partitioning), -1 if none."""
        starts, ends, order = self._sorted_ranges()
        ids = np.asarray(cell_ids, dtype=np.uint64)
        position = np.searchsorted(starts, ids, side="right") - 1
        safe = np.clip(position, 0, max(len(starts) - 1, 0))
        inside = (position >= 0) & (ids <= ends[safe]) if len(starts) else np.zeros(ids.shape, bool)
        return np.where(inside, order[safe] if len(order) else -1, -1).astype(np.int64)

    def ancestor_index(self, finer: Partitioning) -> npt.NDArray[np.int64]:
        """For every class of a finer nested partitioning, the index of the class containing it here (-1: none)."""
        if finer.kind != self.kind:
            raise PartitioningError(f"cannot nest {finer.kind} partitioning {finer.name} in {self.kind} {self.name}")
        if self.kind == S2:
            return self.locate_cell_ids(s2cells.tokens_to_cell_ids(finer.keys))
        from geotagger.geocore.geo import semantic

        return semantic.ancestor_index(self.keys, finer.keys)

    def _sorted_ranges(self) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64], npt.NDArray[np.int64]]:
        if self.kind != S2:
            raise PartitioningError(f"partitioning {self.name} is not made of S2 cells")
        if self._s2_ranges is None:
            starts, ends = s2cells.cell_ranges(s2cells.tokens_to_cell_ids(self.keys))
            order = np.argsort(starts, kind="stable")
            self._s2_ranges = (starts[order], ends[order], order.astype(np.int64))
        return self._s2_ranges

    def write_csv(self, path: str | Path) -> None:
        """Write the public CSV format (semantic partitionings add a human-readable `name` column)."""
        columns = CSV_COLUMNS + (("name",) if self.kind == SEMANTIC else ())
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            for index in range(len(self)):
                row = [index, self.keys[index], int(self.counts[index]), f"{self.lat[index]:.7f}"]
                row.append(f"{self.lon[index]:.7f}")
                writer.writerow(row + ([self.labels[index]] if self.kind == SEMANTIC else []))

    @classmethod
    def read_csv(cls, path: str | Path, name: str | None = None) -> Partitioning:
        """Read the public CSV format, with or without the two-line preamble; raises PartitioningError."""
        path = Path(path)
        rows = _read_cell_rows(path)
        if not rows:
            raise PartitioningError(f"{path}: no cells")
        rows.sort(key=lambda row: int(row["class_label"]))
        if [int(row["class_label"]) for row in rows] != list(range(len(rows))):
            raise PartitioningError(f"{path}: class labels are not 0..{len(rows) - 1}")
        kind = SEMANTIC if "name" in rows[0] else S2
        keys = [row["hex_id"] for row in rows]
        if kind == S2:
            _check_tokens(path, keys)
        return cls(
            name=name or path.stem,
            kind=kind,
            keys=keys,
            labels=[row["name"] for row in rows] if kind == SEMANTIC else list(keys),
            counts=np.array([int(row["imgs_per_cell"]) for row in rows], dtype=np.int64),
            lat=np.array([float(row["latitude_mean"]) for row in rows], dtype=np.float64),
            lon=np.array([float(row["longitude_mean"]) for row in rows], dtype=np.float64),
        )


def _read_cell_rows(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError as error:
        raise PartitioningError(f"{path}: cannot read ({error.strerror or error})") from error
    # Some published files start with "num_images: N" and "min_concept_probability: ---" before the header.
    header_at = next((n for n, line in enumerate(lines[:5]) if line.startswith("class_label")), None)
    if header_at is None:
        raise PartitioningError(f"{path}: no header with columns {','.join(CSV_COLUMNS)}")
    reader = csv.DictReader(lines[header_at:])
    missing = [column for column in CSV_COLUMNS if column not in (reader.fieldnames or [])]
    if missing:
        raise PartitioningError(f"{path}: missing columns {', '.join(missing)}")
    rows = []
    for line_number, row in enumerate(reader, start=header_at + 2):
        try:
            int(row["class_label"]), int(row["imgs_per_cell"])
            float(row["latitude_mean"]), float(row["longitude_mean"])
        except (TypeError, ValueError):
            raise PartitioningError(f"{path}: line {line_number}: malformed row") from None
        rows.append(row)
    return rows


def _check_tokens(path: Path, tokens: list[str]) -> None:
    try:
        s2cells.tokens_to_cell_ids(tokens)
    except ValueError as error:
        raise PartitioningError(f"{path}: {error}") from None


def cells_file_name(tau_min: int, tau_max: int) -> str:
    """Conventional file name of an S2 partitioning: cells_{tau_min}_{tau_max}.csv."""
    return f"cells_{tau_min}_{tau_max}.csv"


class SortedLocations:
    """Leaf cell ids of many locations, sorted once and shared by every partitioning built from them."""

    def __init__(self, lat: npt.ArrayLike, lon: npt.ArrayLike) -> None:
        leaf_ids = s2cells.latlon_to_cell_ids(lat, lon)
        order = np.argsort(leaf_ids, kind="stable")
        self.leaf_ids = leaf_ids[order]
        x, y, z = s2cells.latlon_to_xyz(np.asarray(lat)[order], np.asarray(lon)[order])
        # Prefix sums give every cell's vector sum (for its spherical-mean centroid) as one subtraction.
        self._cumulative = np.vstack([np.zeros(3), np.cumsum(np.stack([x, y, z], axis=1), axis=0)])

    def __len__(self) -> int:
        return len(self.leaf_ids)

    def count_and_centroids(
        self, cell_ids: npt.NDArray[np.uint64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Number of locations in each cell, and their spherical-mean latitude and longitude."""
        starts, ends = s2cells.cell_ranges(cell_ids)
        first = np.searchsorted(self.leaf_ids, starts, side="left")
        after = np.searchsorted(self.leaf_ids, ends, side="right")
        sums = self._cumulative[after] - self._cumulative[first]
        lat, lon = s2cells.xyz_to_latlon(sums[:, 0], sums[:, 1], sums[:, 2])
        return (after - first).astype(np.int64), lat, lon


def _cells_and_counts(
    sorted_ids: npt.NDArray[np.uint64], level: int
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64]]:
    """Distinct ancestors at `level` of sorted cell ids, with how many ids each holds."""
    parents = s2cells.parent_ids(sorted_ids, level)  # sorted ids have sorted parents
    starts = np.concatenate([[0], np.flatnonzero(np.diff(parents)) + 1])
    counts = np.diff(np.concatenate([starts, [len(parents)]]))
    return parents[starts], counts


def _grow_cells(leaf_ids: npt.NDArray[np.uint64], tau_min: int, tau_max: int, start_level: int) -> list[np.ndarray]:
    """Cell ids of the adaptive partitioning before the final drop: split every cell above tau_max down to level 30."""
    # The start level first drops cells with too few images (poles, oceans).
    _, counts = _cells_and_counts(leaf_ids, start_level)
    active = leaf_ids[np.repeat(counts >= tau_min, counts)]
    final: list[np.ndarray] = []
    level = start_level
    while len(active):
        cells, counts = _cells_and_counts(active, level)
        split = (counts > tau_max) & (level < s2cells.MAX_LEVEL)
        final.append(cells[~split])
        active = active[np.repeat(split, counts)]
        level += 1
    return final


def build_s2_partitioning(
    locations: SortedLocations, tau_min: int, tau_max: int, start_level: int = DEFAULT_START_LEVEL
) -> Partitioning:
    """One adaptive S2 partitioning as in the paper: start level, drop, split above tau_max, drop below tau_min."""
    if tau_min < 1 or tau_max < tau_min:
        raise PartitioningError(f"need 1 <= tau_min <= tau_max, got tau_min={tau_min}, tau_max={tau_max}")
    grown = _grow_cells(locations.leaf_ids, tau_min, tau_max, start_level)
    cell_ids = np.sort(np.concatenate(grown)) if grown else np.zeros(0, dtype=np.uint64)
    counts, lat, lon = locations.count_and_centroids(cell_ids)
    kept = counts >= tau_min
    tokens = s2cells.cell_ids_to_tokens(cell_ids[kept])
    return Partitioning(
        name=cells_file_name(tau_min, tau_max).removesuffix(".csv"),
        kind=S2,
        keys=tokens,
        labels=list(tokens),
        counts=counts[kept],
        lat=lat[kept],
        lon=lon[kept],
    )


def build_s2_partitionings(
    lat: npt.ArrayLike,
    lon: npt.ArrayLike,
    tau_min: int,
    tau_max_values: Sequence[int],
    start_level: int = DEFAULT_START_LEVEL,
) -> list[Partitioning]:
    """Nested S2 partitionings for several tau_max at one tau_min, ordered coarse to fine."""
    locations = SortedLocations(lat, lon)
    ordered = sorted(set(tau_max_values), reverse=True)
    return [build_s2_partitioning(locations, tau_min, tau_max, start_level) for tau_max in ordered]
