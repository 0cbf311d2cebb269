"""Semantic partitioning from GeoNames: finest node with enough locations, nesting, names, the ocean cut-off."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from geotagger.geocore.geo.hierarchy import Hierarchy
from geotagger.geocore.geo.partitioning import Partitioning
from geotagger.geocore.geo.semantic import address_keys, ancestors, build_semantic_partitionings, label


def test_address_keys_name_real_places_and_skip_the_open_sea() -> None:
    keys = address_keys([35.0116, 48.8566, 0.0, -30.0], [135.7681, 2.3522, -30.0, 10.0])
    assert keys[0].startswith("JP|Kyoto") and keys[0].endswith("|Kyoto")
    assert keys[1].startswith("FR|") and "Paris" in keys[1]
    assert keys[2] == "" and keys[3] == ""  # mid-Atlantic: no town is forced on them


def test_ancestors_and_labels() -> None:
    assert ancestors("JP|Kyoto||Kyoto") == ["JP", "JP|Kyoto", "JP|Kyoto||Kyoto"]
    assert label("JP|Kyoto||Kyoto") == "Kyoto, Kyoto, JP"
    assert label("JP|Kyoto") == "Kyoto, JP"
    assert ancestors("") == []


def test_finest_node_with_enough_locations(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    kyoto = np.column_stack([35.0116 + rng.normal(0, 0.0005, 30), 135.7681 + rng.normal(0, 0.0005, 30)])
    osaka = np.column_stack([34.6937 + rng.normal(0, 0.005, 4), 135.5023 + rng.normal(0, 0.005, 4)])
    ocean = np.array([[0.0, -30.0]])
    points = np.vstack([kyoto, osaka, ocean])
    coarse, fine = build_semantic_partitionings(points[:, 0], points[:, 1], [34, 10])
    assert coarse.labels == ["JP"] and int(coarse.counts[0]) == 34
    assert "Kyoto, Kyoto, JP" in fine.labels
    kyoto_class = fine.labels.index("Kyoto, Kyoto, JP")
    assert int(fine.counts[kyoto_class]) == 30
    # Osaka's 4 locations fall back to the finest ancestor with >= 10 locations: the country.
    assert "JP" in fine.labels and int(fine.counts[fine.labels.index("JP")]) == 4
    assert abs(fine.lat[kyoto_class] - 35.0116) < 0.01
    assert fine.assign([0.0], [-30.0])[0] == -1
    hierarchy = Hierarchy([coarse, fine])
    assert (hierarchy.parent_index[:, 0] == 0).all()
    path = tmp_path / "semantic_10.csv"
    fine.write_csv(path)
    again = Partitioning.read_csv(path)
    assert again.kind == "semantic" and again.keys == fine.keys and again.labels == fine.labels


def test_nested_partitionings_on_mp16(mp16_locations: tuple[np.ndarray, np.ndarray]) -> None:
    lat, lon = mp16_locations[0][:20000], mp16_locations[1][:20000]
    partitionings = build_semantic_partitionings(lat, lon, [5, 50, 20])
    assert [p.name for p in partitionings] == ["semantic_50", "semantic_20", "semantic_5"]
    assert len(partitionings[0]) < len(partitionings[1]) < len(partitionings[2])
    hierarchy = Hierarchy(partitionings)
    assigned = [p.assign(lat[:500], lon[:500]) for p in partitionings]
    inside = assigned[2] >= 0
    # A location's coarse class is the parent of its fine class, for every location.
    for level in range(2):
        np.testing.assert_array_equal(hierarchy.parent_index[assigned[2][inside], level], assigned[level][inside])
    assert all(int(p.counts.sum()) == int(partitionings[0].counts.sum()) for p in partitionings)


def test_place_index_is_right_across_the_antimeridian() -> None:
    from geotagger.geocore.geo.places import default_place_index

    # Taveuni (Fiji) straddles 180 degrees; a planar search in degrees would look on the wrong side of the globe.
    place = default_place_index().lookup(-16.80, -179.99)
    assert place.country_code == "FJ" and place.lon > 179 and place.distance_km < 100
