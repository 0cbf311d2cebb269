"""Semantic partitioning (SemP, Theiner et al. WACV'22) built offline from GeoNames.

Every location gets an address vector country > admin1 > admin2 > place from its nearest GeoNames place. The
vectors form a multi-tree rooted at countries; for a given tau_min each location goes to the finest node on its
path that holds at least tau_min locations, and every node so chosen is a class. A location none of whose nodes
holds tau_min locations (a short trip abroad) goes to its root, its country, so every place that has photos keeps a
class at every level. Several tau_min values give nested partitionings: a node's count never exceeds its parent's,
so a location's class at a larger tau_min is an ancestor of (or the same as) its class at a smaller one.

Distance cut-off: a location more than `place_cutoff_km` from its nearest place keeps only country > admin1, and one
more than `region_cutoff_km` away (open sea, ice) gets no class at all, rather than being forced into a distant town.

Keys are the address components joined by "|" (an empty component, e.g. a missing admin2, stays empty), truncated
to the node's depth: "JP", "JP|Kyoto", "JP|Kyoto||Kyoto".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from geotagger.geocore.geo import s2cells
from geotagger.geocore.geo.partitioning import SEMANTIC, Partitioning, PartitioningError
from geotagger.geocore.geo.places import PlaceIndex, default_place_index

SEPARATOR = "|"
PLACE_CUTOFF_KM = 30.0
REGION_CUTOFF_KM = 150.0


def _clean(component: str) -> str:
    return component.replace(SEPARATOR, "/").strip()


def address_keys(
    lat: npt.ArrayLike,
    lon: npt.ArrayLike,
    index: PlaceIndex | None = None,
    place_cutoff_km: float = PLACE_CUTOFF_KM,
    region_cutoff_km: float = REGION_CUTOFF_KM,
) -> list[str]:
    """Full address key of every location ("" where it is beyond the region cut-off)."""
    index = index or default_place_index()
    nearest, distance_km = index.nearest(lat, lon)
    keys = []
    for place, distance in zip(nearest.tolist(), distance_km.tolist(), strict=True):
        if distance > region_cutoff_km:
            keys.append("")
            continue
        parts = [_clean(index.country_codes[place]), _clean(index.admin1[place])]
        if distance <= place_cutoff_km:
            parts += [_clean(index.admin2[place]), _clean(index.names[place])]
        keys.append(SEPARATOR.join(parts))
    return keys


def ancestors(key: str) -> list[str]:
    """Nodes on the path of a key, coarse to fine, skipping levels whose component is empty."""
    if not key:
        return []
    parts = key.split(SEPARATOR)
    return [SEPARATOR.join(parts[: depth + 1]) for depth in range(len(parts)) if parts[depth]]


def label(key: str) -> str:
    """Human-readable class name: "Kyoto, Kyoto, JP" for a place, "Kyoto, JP" for a region, "JP" for a country."""
    parts = key.split(SEPARATOR)
    if len(parts) == 4:
        parts = [parts[0], parts[1], parts[3]]  # a place is named by its town, region and country
    return ", ".join(part for part in reversed(parts) if part)


def _finest_kept(path_nodes: Sequence[str], node_counts: Counter[str], tau_min: int) -> str:
    """The finest node on the path holding tau_min locations, else the root (never drop a place with photos)."""
    kept = [node for node in path_nodes if node_counts[node] >= tau_min]
    return kept[-1] if kept else (path_nodes[0] if path_nodes else "")


def build_semantic_partitionings(
    lat: npt.ArrayLike,
    lon: npt.ArrayLike,
    tau_min_values: Sequence[int],
    index: PlaceIndex | None = None,
    place_cutoff_km: float = PLACE_CUTOFF_KM,
    region_cutoff_km: float = REGION_CUTOFF_KM,
) -> list[Partitioning]:
    """Nested semantic partitionings, one per tau_min, ordered coarse (largest tau_min) to fine."""
    if not tau_min_values or min(tau_min_values) < 1:
        raise PartitioningError(f"tau_min values must be >= 1, got {list(tau_min_values)}")
    lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    keys = address_keys(lat, lon, index, place_cutoff_km, region_cutoff_km)
    unique_keys, inverse = np.unique(np.array(keys, dtype=object), return_inverse=True)
    paths = [ancestors(str(key)) for key in unique_keys]
    location_counts = np.bincount(inverse, minlength=len(unique_keys))
    node_counts: Counter[str] = Counter()
    for path, count in zip(paths, location_counts.tolist(), strict=True):
        for node in path:
            node_counts[node] += count
    return [
        _partitioning_for(tau_min, paths, inverse, node_counts, lat, lon)
        for tau_min in sorted(set(tau_min_values), reverse=True)
    ]


def _partitioning_for(
    tau_min: int,
    paths: Sequence[Sequence[str]],
    inverse: npt.NDArray[np.int64],
    node_counts: Counter[str],
    lat: npt.NDArray[np.float64],
    lon: npt.NDArray[np.float64],
) -> Partitioning:
    class_of_unique = [_finest_kept(path, node_counts, tau_min) for path in paths]
    classes = sorted({key for key in class_of_unique if key})
    if not classes:
        raise PartitioningError(f"tau_min={tau_min} leaves no semantic class")
    position = {key: number for number, key in enumerate(classes)}
    class_index = np.array([position.get(key, -1) for key in class_of_unique], dtype=np.int64)[inverse]
    assigned = class_index >= 0
    counts = np.bincount(class_index[assigned], minlength=len(classes))
    x, y, z = s2cells.latlon_to_xyz(lat[assigned], lon[assigned])
    sums = [np.bincount(class_index[assigned], weights=axis, minlength=len(classes)) for axis in (x, y, z)]
    centroid_lat, centroid_lon = s2cells.xyz_to_latlon(*sums)
    return Partitioning(
        name=f"semantic_{tau_min}",
        kind=SEMANTIC,
        keys=classes,
        labels=[label(key) for key in classes],
        counts=counts.astype(np.int64),
        lat=centroid_lat,
        lon=centroid_lon,
    )


def _finest_member(key: str, members: dict[str, int]) -> int:
    for node in reversed(ancestors(key)):
        if node in members:
            return members[node]
    return -1


def ancestor_index(coarse_keys: Sequence[str], fine_keys: Iterable[str]) -> npt.NDArray[np.int64]:
    """For every fine class key, the index of the finest coarse class on its path (-1: none)."""
    members = {key: number for number, key in enumerate(coarse_keys)}
    return np.array([_finest_member(key, members) for key in fine_keys], dtype=np.int64)


def assign_to_keys(class_keys: Sequence[str], lat: npt.ArrayLike, lon: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Class index of every location in a semantic partitioning with these keys (-1: none)."""
    return ancestor_index(class_keys, address_keys(lat, lon))
