"""The partitionings of a personal model, chosen for one library, and the held-out split grouped by day.

S2 levels are chosen by what they separate, not by photo counts, so they do not drift as the library grows: the
coarsest (level 6, ~100 km) separates regions, the middle one (level 10, ~8 km) towns and districts, the finest
(level 14, ~600 m) streets; a finest cell holding more than `FINE_SPLIT_ABOVE` photos is split down to level 16
(~150 m) where a dense home city allows. No cell is ever dropped: every photo is used by every level, and a place
with a single photo still has its class (a linear head on a good embedding learns from few examples; tau_min = 1).

Semantic partitionings use small fixed taus (SEMANTIC_TAUS) and keep every place (geocore.geo.semantic).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from geotagger.geocore.geo import s2cells
from geotagger.geocore.geo.partitioning import S2, Partitioning, PartitioningError, SortedLocations


@dataclass(frozen=True)
class Level:
    """One S2 partitioning: cells at `level`, split while they hold more than `split_above` photos."""

    level: int
    split_above: int | None = None
    max_level: int | None = None

    @property
    def name(self) -> str:
        return f"s2_level{self.level}" + (f"_to{self.max_level}" if self.max_level else "")


FINE_SPLIT_ABOVE = 60
S2_LEVELS = (Level(6), Level(10), Level(14, FINE_SPLIT_ABOVE, 16))
SEMANTIC_TAUS = (24, 8, 3)


def _cells(leaf_ids: npt.NDArray[np.uint64], level: Level) -> npt.NDArray[np.uint64]:
    """Cells at `level` holding photos, split (all children kept) while above `split_above`, sorted."""
    done: list[npt.NDArray[np.uint64]] = []
    ids, current = leaf_ids, level.level
    while len(ids):
        parents = s2cells.parent_ids(ids, current)
        unique, inverse, counts = np.unique(parents, return_inverse=True, return_counts=True)
        last = level.split_above is None or level.max_level is None or current >= level.max_level
        split = np.zeros(len(unique), dtype=bool) if last else counts > level.split_above
        done.append(unique[~split])
        ids, current = ids[split[inverse]], current + 1
    return np.sort(np.concatenate(done)) if done else np.zeros(0, dtype=np.uint64)


def s2_partitionings(lat: npt.ArrayLike, lon: npt.ArrayLike,
                     levels: Sequence[Level] = S2_LEVELS) -> list[Partitioning]:
    """Nested S2 partitionings, coarse -> fine, that together hold every location; equal neighbours merged."""
    lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    if not len(lat):
        raise PartitioningError("no locations to partition")
    locations = SortedLocations(lat, lon)
    built: list[Partitioning] = []
    for level in levels:
        cell_ids = _cells(locations.leaf_ids, level)
        counts, cell_lat, cell_lon = locations.count_and_centroids(cell_ids)
        tokens = s2cells.cell_ids_to_tokens(cell_ids)
        if built and len(built[-1]) == len(tokens):
            built.pop()  # the finer level separates nothing more: keep one of the two
        built.append(Partitioning(level.name, S2, tokens, list(tokens), counts, cell_lat, cell_lon))
    return built


def day_groups(capture_times: Sequence[str | None]) -> npt.NDArray[np.int64]:
    """A group number per photo: its capture day, or its own group when the time is unknown."""
    keys: dict[str, int] = {}
    groups = np.zeros(len(capture_times), dtype=np.int64)
    for index, taken in enumerate(capture_times):
        day = _day(taken)
        key = day if day is not None else f"photo:{index}"
        groups[index] = keys.setdefault(key, len(keys))
    return groups


def _day(taken: str | None) -> str | None:
    if not taken:
        return None
    try:
        return dt.datetime.fromisoformat(taken).date().isoformat()
    except ValueError:
        return None


def grouped_split(groups: npt.NDArray[np.int64], share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, holdout) indices: whole groups (days) held out until `share` of the photos is reached.

    A random per-photo split puts photos of the same day and spot on both sides, which flatters the model.
    """
    if share <= 0 or not len(groups):
        return np.arange(len(groups)), np.zeros(0, dtype=np.int64)
    order = np.random.default_rng(seed).permutation(int(groups.max()) + 1)
    sizes = np.bincount(groups, minlength=len(order))
    target = share * len(groups)
    held: list[int] = []
    total = 0
    for group in order.tolist():
        if total >= target:
            break
        if sizes[group] and total + sizes[group] <= 1.5 * target:
            held.append(group)
            total += int(sizes[group])
    mask = np.isin(groups, held)
    return np.flatnonzero(~mask), np.flatnonzero(mask)
