"""Vectorised S2 ids against the s2sphere reference, on random and edge points."""

from __future__ import annotations

import numpy as np
import pytest
import s2sphere

from geotagger.geocore.geo import s2cells

EDGE_POINTS = [
    (90.0, 0.0),
    (-90.0, 0.0),
    (89.9999999, 179.9999999),
    (-89.9999999, -179.9999999),
    (0.0, 180.0),
    (0.0, -180.0),
    (12.5, 179.9999999),
    (-12.5, -179.9999999),
    (0.0, 0.0),
    (0.0, 45.0),
    (0.0, -45.0),
    (0.0, 135.0),
    (35.264389682754654, 45.0),
    (45.0, 0.0),
    (-45.0, 90.0),
    (0.0, 90.0),
    (0.0, -90.0),
    (1e-12, 1e-12),
    (-1e-12, -1e-12),
]


def reference_ids(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    return np.array(
        [s2sphere.CellId.from_lat_lng(s2sphere.LatLng.from_degrees(a, b)).id() for a, b in zip(lat, lon)],
        dtype=np.uint64,
    )


@pytest.fixture(scope="module")
def points() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, 3000)))
    lon = rng.uniform(-180, 180, 3000)
    edge_lat, edge_lon = zip(*EDGE_POINTS)
    return np.concatenate([lat, edge_lat]), np.concatenate([lon, edge_lon])


def test_leaf_ids_match_s2sphere(points: tuple[np.ndarray, np.ndarray]) -> None:
    lat, lon = points
    np.testing.assert_array_equal(s2cells.latlon_to_cell_ids(lat, lon), reference_ids(lat, lon))


@pytest.mark.parametrize("level", [0, 1, 2, 9, 17, 29, 30])
def test_parents_levels_and_tokens_match_s2sphere(points: tuple[np.ndarray, np.ndarray], level: int) -> None:
    lat, lon = points
    leaf = s2cells.latlon_to_cell_ids(lat[:400], lon[:400])
    parents = s2cells.parent_ids(leaf, level)
    expected = [s2sphere.CellId(int(cell)).parent(level) for cell in leaf]
    np.testing.assert_array_equal(parents, np.array([cell.id() for cell in expected], dtype=np.uint64))
    assert (s2cells.cell_levels(parents) == level).all()
    tokens = s2cells.cell_ids_to_tokens(parents)
    assert tokens == [cell.to_token() for cell in expected]
    np.testing.assert_array_equal(s2cells.tokens_to_cell_ids(tokens), parents)


def test_cell_ranges_contain_exactly_their_descendants(points: tuple[np.ndarray, np.ndarray]) -> None:
    lat, lon = points
    leaf = s2cells.latlon_to_cell_ids(lat[:200], lon[:200])
    cells = s2cells.parent_ids(leaf, 11)
    low, high = s2cells.cell_ranges(cells)
    for cell, lo, hi in zip(cells[:50], low[:50], high[:50]):
        reference = s2sphere.CellId(int(cell))
        assert int(lo) == reference.range_min().id() and int(hi) == reference.range_max().id()


def test_bad_tokens_are_rejected() -> None:
    for token in ["", "X", "1" * 17]:
        with pytest.raises(ValueError):
            s2cells.tokens_to_cell_ids([token])


def test_cell_polygon_surrounds_its_points() -> None:
    token = s2cells.cell_ids_to_tokens(s2cells.parent_ids(s2cells.latlon_to_cell_ids([48.85], [2.35]), 8))[0]
    corners = s2cells.cell_polygon(token)
    assert len(corners) == 4
    lats, lons = zip(*corners)
    assert min(lats) < 48.85 < max(lats) and min(lons) < 2.35 < max(lons)


@pytest.mark.parametrize(
    ("lat", "lon", "expected"),
    [
        ([10.0, -10.0], [179.0, -179.0], (0.0, 180.0)),  # across the antimeridian: not (0, 0)
        ([89.0, 89.0, 89.0, 89.0], [0.0, 90.0, 180.0, -90.0], (90.0, None)),  # around the pole
        ([0.0, 0.0], [10.0, 20.0], (0.0, 15.0)),
    ],
)
def test_spherical_mean(lat: list[float], lon: list[float], expected: tuple[float, float | None]) -> None:
    mean_lat, mean_lon = s2cells.spherical_mean(lat, lon)
    assert mean_lat == pytest.approx(expected[0], abs=1e-9)
    if expected[1] is not None:
        assert abs((mean_lon - expected[1] + 180) % 360 - 180) < 1e-9
