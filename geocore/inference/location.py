"""From head probabilities to ranked cells, the predicted point and a confidence radius.

Confidence radius (km): the smallest great-circle radius around the predicted point whose circle contains the
Class2GPS centroids of finest cells holding at least `mass` (default 50%) of the normalised hierarchical
probability, and never less than the predicted cell's own extent: centroid to its farthest corner for S2 cells;
for semantic areas (no geometry in the bundle) half the distance to the nearest other area's centroid.
A confident prediction in a small cell gives a small radius; probability spread over a continent gives a large one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from geotagger.geocore.geo.distance import haversine_km
from geotagger.geocore.geo.hierarchy import Hierarchy
from geotagger.geocore.geo.partitioning import Partitioning

RADIUS_MASS = 0.5


@dataclass(frozen=True)
class RankedCell:
    """One class of a partitioning (or of the hierarchy) with its probability and Class2GPS point."""

    key: str  # S2 token or semantic address key
    label: str  # human-readable name (the token for S2)
    probability: float
    lat: float
    lon: float

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RankedCell:
        """From one cell of `PhotoPrediction.to_json()` (a fresh prediction or the cache)."""
        return cls(str(data["key"]), str(data["label"]), float(data["probability"]), float(data["lat"]),
                   float(data["lon"]))


@dataclass(frozen=True)
class LocationEstimate:
    """The hierarchical prediction of one photo."""

    lat: float
    lon: float
    radius_km: float
    hierarchy_top: list[RankedCell]
    partitioning_top: dict[str, list[RankedCell]]


def aggregate_crops(probabilities: npt.NDArray[np.floating], how: str) -> npt.NDArray[np.float64]:
    """(crops, classes) -> (classes,): mean, or max renormalised to sum to 1."""
    array = np.asarray(probabilities, dtype=np.float64)
    if how == "mean":
        return array.mean(axis=0)
    if how == "max":
        maximum = array.max(axis=0)
        return maximum / maximum.sum()
    raise ValueError(f"aggregation must be 'mean' or 'max', not {how!r}")


def top_cells(partitioning: Partitioning, probabilities: npt.NDArray[np.float64], k: int) -> list[RankedCell]:
    """The k most probable classes, best first."""
    k = min(k, len(probabilities))
    order = np.argpartition(-probabilities, k - 1)[:k]
    order = order[np.argsort(-probabilities[order], kind="stable")]
    return [
        RankedCell(partitioning.keys[i], partitioning.labels[i], float(probabilities[i]),
                   float(partitioning.lat[i]), float(partitioning.lon[i]))
        for i in order
    ]


def estimate_location(
    hierarchy: Hierarchy, head_probabilities: Sequence[npt.NDArray[np.float64]], top_k: int = 5
) -> LocationEstimate:
    """Hierarchical prediction for one photo from its per-partitioning probabilities (coarse -> fine)."""
    return estimate_from_finest(hierarchy, normalised_hierarchical(hierarchy, head_probabilities), head_probabilities,
                                top_k)


def normalised_hierarchical(
    hierarchy: Hierarchy, head_probabilities: Sequence[npt.NDArray[np.float64]]
) -> npt.NDArray[np.float64]:
    """One photo's p_hier over the finest cells, summing to 1 (uniform when every product is 0)."""
    batch = [np.asarray(p, dtype=np.float64)[None, :] for p in head_probabilities]
    hierarchical = hierarchy.hierarchical_probabilities(batch)[0]
    total = hierarchical.sum()
    return hierarchical / total if total > 0 else np.full_like(hierarchical, 1.0 / len(hierarchical))


def estimate_from_finest(
    hierarchy: Hierarchy, normalised: npt.NDArray[np.float64],
    head_probabilities: Sequence[npt.NDArray[np.float64]], top_k: int = 5,
) -> LocationEstimate:
    """The prediction from a distribution over the finest cells (p_hier, or a personal bundle's retrieval blend)."""
    finest = hierarchy.finest
    best = int(np.argmax(normalised))
    lat, lon = float(finest.lat[best]), float(finest.lon[best])
    return LocationEstimate(
        lat=lat,
        lon=lon,
        radius_km=confidence_radius_km(finest, normalised, best),
        hierarchy_top=top_cells(finest, normalised, top_k),
        partitioning_top={
            partitioning.name: top_cells(partitioning, np.asarray(probs, dtype=np.float64), top_k)
            for partitioning, probs in zip(hierarchy.partitionings, head_probabilities, strict=True)
        },
    )


def class_points(
    partitioning: Partitioning, probabilities: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(N, classes) probabilities -> Class2GPS (lat, lon) of every row's most probable class."""
    best = np.asarray(probabilities).argmax(axis=1)
    return partitioning.lat[best], partitioning.lon[best]


def hierarchical_points(
    hierarchy: Hierarchy, head_probabilities: Sequence[npt.ArrayLike]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Batched hierarchical prediction: Class2GPS (lat, lon) of every photo's best finest cell."""
    return class_points(hierarchy.finest, hierarchy.hierarchical_probabilities(head_probabilities))


def confidence_radius_km(
    finest: Partitioning, mass: npt.NDArray[np.float64], best: int, share: float = RADIUS_MASS
) -> float:
    """Smallest radius around cell `best`'s centroid holding `share` of `mass`, floored at the cell's extent."""
    distances = haversine_km(finest.lat[best], finest.lon[best], finest.lat, finest.lon)
    order = np.argsort(distances, kind="stable")
    cumulative = np.cumsum(mass[order])
    reach = int(np.searchsorted(cumulative, share * cumulative[-1]))
    radius = float(distances[order[min(reach, len(order) - 1)]])
    return max(radius, cell_extent_km(finest, best))


def cell_extent_km(partitioning: Partitioning, index: int) -> float:
    """S2: centroid to farthest corner; semantic: half the distance to the nearest other centroid (0 if alone)."""
    if partitioning.kind != "s2":
        distances = haversine_km(partitioning.lat[index], partitioning.lon[index], partitioning.lat, partitioning.lon)
        others = np.delete(distances, index)
        return float(others.min()) / 2 if len(others) else 0.0
    corners = _corners(partitioning.keys[index])
    lat = np.array([corner[0] for corner in corners])
    lon = np.array([corner[1] for corner in corners])
    return float(haversine_km(partitioning.lat[index], partitioning.lon[index], lat, lon).max())


@lru_cache(maxsize=4096)
def _corners(token: str) -> tuple[tuple[float, float], ...]:
    from geotagger.geocore.geo.s2cells import cell_polygon

    return tuple(cell_polygon(token))
