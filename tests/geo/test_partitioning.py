"""Adaptive S2 partitioning: the paper's rules, nesting, Class2GPS centroids and the CSV interchange format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import s2sphere

from geotagger.geocore.geo import s2cells
from geotagger.geocore.geo.hierarchy import Hierarchy
from geotagger.geocore.geo.partitioning import Partitioning, PartitioningError, build_s2_partitionings

PAPER_CELL_COUNTS = (3298, 7202, 12893)  # ECCV'18 Table 1, tau_min 50, tau_max 5000/2000/1000 on 4.72 M images


def test_mp16_sample_cell_counts_match_the_paper(mp16_locations: tuple[np.ndarray, np.ndarray]) -> None:
    # The sample is 1/47.2 of MP-16: tau_min 50 -> 1 and tau_max 5000/2000/1000 -> 106/42/21.
    partitionings = build_s2_partitionings(*mp16_locations, tau_min=1, tau_max_values=[106, 42, 21])
    counts = [len(p) for p in partitionings]
    for ours, paper in zip(counts, PAPER_CELL_COUNTS):
        assert abs(ours - paper) / paper < 0.15, counts


def test_rules_split_above_tau_max_and_drop_below_tau_min(mp16_locations: tuple[np.ndarray, np.ndarray]) -> None:
    lat, lon = mp16_locations[0][:20000], mp16_locations[1][:20000]
    (partitioning,) = build_s2_partitionings(lat, lon, tau_min=5, tau_max_values=[60])
    ids = s2cells.tokens_to_cell_ids(partitioning.keys)
    levels = s2cells.cell_levels(ids)
    assert (partitioning.counts >= 5).all()
    assert ((partitioning.counts <= 60) | (levels == 30)).all()
    assert (levels >= 2).all()
    # Every cell's parent held more than tau_max, or the cell is at the start level: nothing split needlessly.
    leaf = s2cells.latlon_to_cell_ids(lat, lon)
    for cell, level in zip(ids[:300], levels[:300]):
        if level > 2:
            parent = s2cells.parent_ids(np.array([cell]), int(level) - 1)[0]
            assert (s2cells.parent_ids(leaf, int(level) - 1) == parent).sum() > 60
    # Counts are exact: each location in exactly one cell, dropped ones in none.
    assigned = partitioning.assign(lat, lon)
    np.testing.assert_array_equal(
        np.bincount(assigned[assigned >= 0], minlength=len(partitioning)), partitioning.counts
    )


def test_assign_matches_s2sphere_containment(mp16_locations: tuple[np.ndarray, np.ndarray]) -> None:
    lat, lon = mp16_locations[0][:5000], mp16_locations[1][:5000]
    (partitioning,) = build_s2_partitionings(lat, lon, tau_min=3, tau_max_values=[40])
    assigned = partitioning.assign(lat[:300], lon[:300])
    for a, b, index in zip(lat[:300], lon[:300], assigned):
        point = s2sphere.CellId.from_lat_lng(s2sphere.LatLng.from_degrees(a, b))
        containing = [k for k, key in enumerate(partitioning.keys) if s2sphere.CellId.from_token(key).contains(point)]
        assert containing == ([index] if index >= 0 else [])


def test_every_fine_cell_nests_in_every_coarser_cell(mp16_locations: tuple[np.ndarray, np.ndarray]) -> None:
    partitionings = build_s2_partitionings(*mp16_locations, tau_min=2, tau_max_values=[200, 50, 25])
    hierarchy = Hierarchy(partitionings)
    fine_ids = s2cells.tokens_to_cell_ids(hierarchy.finest.keys)
    for level, coarse in enumerate(partitionings):
        parents = s2cells.tokens_to_cell_ids(coarse.keys)[hierarchy.parent_index[:, level]]
        fine_levels = s2cells.cell_levels(fine_ids)
        parent_levels = s2cells.cell_levels(parents)
        assert (parent_levels <= fine_levels).all()
        for fine, parent, parent_level in zip(fine_ids, parents, parent_levels):
            assert s2cells.parent_ids(np.array([fine]), int(parent_level))[0] == parent
        # fine cells hold at most their coarse cell's images (fine cells below tau_min are dropped)
        summed = np.bincount(hierarchy.parent_index[:, level], weights=hierarchy.finest.counts, minlength=len(coarse))
        assert (summed.astype(np.int64) <= coarse.counts).all()
        assert summed.sum() >= 0.9 * coarse.counts.sum()


def test_centroids_are_spherical_means_across_the_antimeridian() -> None:
    lat = np.array([-17.0, -17.2, -16.9, -17.1])
    lon = np.array([179.95, -179.95, 179.9, -179.9])  # Fiji, straddling 180
    # Start at level 0 so that all four points share one cell (at level 2, 180 degrees is a cell edge).
    (partitioning,) = build_s2_partitionings(lat, lon, tau_min=1, tau_max_values=[10], start_level=0)
    assert len(partitioning) == 1
    expected_lat, expected_lon = s2cells.spherical_mean(lat, lon)
    assert abs(expected_lon) > 179.9  # the arithmetic mean of these longitudes would be 0 (Africa)
    assert partitioning.lat[0] == pytest.approx(expected_lat, abs=1e-9)
    assert partitioning.lon[0] == pytest.approx(expected_lon, abs=1e-9)
    assert partitioning.lat[0] == pytest.approx(-17.05, abs=1e-3)


def test_csv_round_trip_and_preamble_variant(tmp_path: Path, mp16_locations: tuple[np.ndarray, np.ndarray]) -> None:
    (partitioning,) = build_s2_partitionings(*mp16_locations, tau_min=1, tau_max_values=[500])
    path = tmp_path / "cells_1_500.csv"
    partitioning.write_csv(path)
    again = Partitioning.read_csv(path)
    assert again.name == "cells_1_500" and again.kind == "s2" and again.keys == partitioning.keys
    np.testing.assert_array_equal(again.counts, partitioning.counts)
    np.testing.assert_allclose(again.lat, partitioning.lat, atol=1e-7)
    np.testing.assert_allclose(again.lon, partitioning.lon, atol=1e-7)
    preamble = tmp_path / "published.csv"
    preamble.write_text("num_images: 100000\nmin_concept_probability: ---\n" + path.read_text())
    assert Partitioning.read_csv(preamble).keys == partitioning.keys


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "no header"),
        ("class_label,hex_id,imgs_per_cell\n0,1,5\n", "missing columns"),
        ("class_label,hex_id,imgs_per_cell,latitude_mean,longitude_mean\n0,47,x,1,2\n", "line 2"),
        ("class_label,hex_id,imgs_per_cell,latitude_mean,longitude_mean\n0,ZZZZZZZZZZZZZZZZZZ,5,1,2\n", "S2 token"),
    ],
)
def test_bad_csv_files_give_clear_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(PartitioningError, match=message):
        Partitioning.read_csv(path)


def test_invalid_thresholds_are_rejected() -> None:
    with pytest.raises(PartitioningError):
        build_s2_partitionings([0.0], [0.0], tau_min=10, tau_max_values=[5])
