"""Hierarchical prediction on a hand-made three-level example, top-k, crop aggregation and the confidence radius."""

from __future__ import annotations

import numpy as np
import pytest

from geotagger.geocore.geo.distance import haversine_km
from geotagger.geocore.geo.hierarchy import Hierarchy
from geotagger.geocore.geo.partitioning import Partitioning
from geotagger.geocore.inference.location import aggregate_crops, confidence_radius_km, estimate_location


def _level(name: str, keys: list[str], points: list[tuple[float, float]]) -> Partitioning:
    return Partitioning(name, "semantic", keys, [k.upper() for k in keys], np.ones(len(keys), np.int64),
                        np.array([p[0] for p in points]), np.array([p[1] for p in points]))


@pytest.fixture()
def three_levels() -> Hierarchy:
    coarse = _level("coarse", ["a", "b"], [(0.0, 0.0), (50.0, 10.0)])
    middle = _level("middle", ["a1", "a2", "b1"], [(0.0, 0.0), (5.0, 5.0), (50.0, 10.0)])
    fine = _level("fine", ["a1x", "a1y", "a2x", "b1x", "b1y"],
                  [(0.0, 0.0), (0.5, 0.5), (5.0, 5.0), (50.2, 10.0), (50.0, 10.0)])
    parents = np.array([[0, 0, 0], [0, 0, 1], [0, 1, 2], [1, 2, 3], [1, 2, 4]], dtype=np.int64)
    return Hierarchy([coarse, middle, fine], parents)


PROBABILITIES = [np.array([0.3, 0.7]), np.array([0.5, 0.1, 0.4]), np.array([0.1, 0.3, 0.2, 0.15, 0.25])]


def test_hierarchy_multiplies_probabilities_and_changes_the_answer(three_levels: Hierarchy) -> None:
    estimate = estimate_location(three_levels, PROBABILITIES, top_k=5)
    expected = np.array([0.1 * 0.5 * 0.3, 0.3 * 0.5 * 0.3, 0.2 * 0.1 * 0.3, 0.15 * 0.4 * 0.7, 0.25 * 0.4 * 0.7])
    expected /= expected.sum()
    assert [cell.key for cell in estimate.hierarchy_top] == ["b1y", "a1y", "b1x", "a1x", "a2x"]
    np.testing.assert_allclose([cell.probability for cell in estimate.hierarchy_top], np.sort(expected)[::-1])
    assert (estimate.lat, estimate.lon) == (50.0, 10.0)  # Class2GPS of b1y; the fine head alone says a1y
    assert estimate.partitioning_top["fine"][0].key == "a1y"
    assert [c.key for c in estimate.partitioning_top["coarse"]] == ["b", "a"]
    assert estimate.partitioning_top["middle"][0].label == "A1"


def test_confidence_radius_reaches_half_of_the_mass(three_levels: Hierarchy) -> None:
    estimate = estimate_location(three_levels, PROBABILITIES)
    # b1y alone holds 39%; adding b1x (22 km away, 24%) passes 50%.
    assert estimate.radius_km == pytest.approx(float(haversine_km(50.0, 10.0, 50.2, 10.0)), rel=1e-9)
    confident = [np.array([0.01, 0.99]), np.array([0.01, 0.01, 0.98]), np.array([0.0, 0.0, 0.0, 0.01, 0.99])]
    # b1y holds > 50% alone: the floor is half the distance to the nearest other area (b1x, 22 km away)
    assert estimate_location(three_levels, confident).radius_km == pytest.approx(
        float(haversine_km(50.0, 10.0, 50.2, 10.0)) / 2, rel=1e-9)
    spread = [np.full(2, 0.5), np.full(3, 1 / 3), np.full(5, 0.2)]
    # uniform mass from a1x: a1x 20%, a1y (78 km) 40%, a2x (786 km) 60%
    assert estimate_location(three_levels, spread).radius_km == pytest.approx(float(haversine_km(0, 0, 5, 5)))


def test_s2_radius_is_never_smaller_than_the_cell(tiny_partitionings) -> None:
    finest = tiny_partitionings[-1]
    mass = np.zeros(len(finest))
    mass[0] = 1.0
    radius = confidence_radius_km(finest, mass, 0)
    assert 0 < radius < 2000  # the cell's own extent, not zero


def test_top_k_is_capped_by_the_number_of_classes(three_levels: Hierarchy) -> None:
    estimate = estimate_location(three_levels, PROBABILITIES, top_k=50)
    assert len(estimate.hierarchy_top) == 5 and len(estimate.partitioning_top["coarse"]) == 2


def test_crop_aggregation_mean_and_max() -> None:
    crops = np.array([[0.6, 0.4, 0.0], [0.2, 0.2, 0.6]])
    np.testing.assert_allclose(aggregate_crops(crops, "mean"), [0.4, 0.3, 0.3])
    np.testing.assert_allclose(aggregate_crops(crops, "max"), np.array([0.6, 0.4, 0.6]) / 1.6)
    with pytest.raises(ValueError):
        aggregate_crops(crops, "median")
