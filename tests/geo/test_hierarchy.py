"""Hierarchy: parent matrix built from the cells, hierarchical probabilities as products, CSV round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from geotagger.geocore.geo import s2cells
from geotagger.geocore.geo.hierarchy import Hierarchy
from geotagger.geocore.geo.partitioning import S2, Partitioning, PartitioningError


def s2_partitioning(name: str, tokens: list[str]) -> Partitioning:
    n = len(tokens)
    return Partitioning(name, S2, tokens, list(tokens), np.ones(n, np.int64), np.zeros(n), np.zeros(n))


def three_levels() -> Hierarchy:
    # Face 0 at level 1 has children 04 (upper) and 0c; 04 has level-2 children 01, 03, 05, 07.
    coarse = s2_partitioning("coarse", ["04", "0c"])
    middle = s2_partitioning("middle", ["01", "03", "0c"])
    fine = s2_partitioning("fine", ["01", "03", "09", "0b"])  # 09 and 0b are children of 0c
    return Hierarchy([coarse, middle, fine])


def test_parent_matrix_follows_the_cells() -> None:
    hierarchy = three_levels()
    np.testing.assert_array_equal(hierarchy.parent_index, [[0, 0, 0], [0, 1, 1], [1, 2, 2], [1, 2, 3]])
    for token, row in zip(hierarchy.finest.keys, hierarchy.parent_index):
        cell = s2cells.tokens_to_cell_ids([token])
        for level, partitioning in enumerate(hierarchy.partitionings):
            parent = s2cells.tokens_to_cell_ids([partitioning.keys[row[level]]])
            assert s2cells.parent_ids(cell, int(s2cells.cell_levels(parent)[0]))[0] == parent[0]


def test_hierarchical_probabilities_multiply_softmax_outputs() -> None:
    hierarchy = three_levels()
    coarse = np.array([[0.3, 0.7]])
    middle = np.array([[0.2, 0.2, 0.6]])
    fine = np.array([[0.4, 0.1, 0.1, 0.4]])
    result = hierarchy.hierarchical_probabilities([coarse, middle, fine])
    np.testing.assert_allclose(result, [[0.3 * 0.2 * 0.4, 0.3 * 0.2 * 0.1, 0.7 * 0.6 * 0.1, 0.7 * 0.6 * 0.4]])
    # Fine alone ties cells 0 and 3; the hierarchy breaks the tie towards the likelier coarse cell.
    assert int(np.argmax(result)) == 3


def test_wrong_shapes_and_non_nesting_are_rejected() -> None:
    hierarchy = three_levels()
    with pytest.raises(ValueError):
        hierarchy.hierarchical_probabilities([np.ones((1, 2)), np.ones((1, 2)), np.ones((1, 4))])
    with pytest.raises(PartitioningError, match="do not nest"):
        Hierarchy([s2_partitioning("a", ["04"]), s2_partitioning("b", ["01", "09"])])


def test_csv_round_trip(tmp_path: Path) -> None:
    hierarchy = three_levels()
    path = tmp_path / "hierarchy.csv"
    hierarchy.write_csv(path)
    again = Hierarchy.read_csv(path, hierarchy.partitionings)
    np.testing.assert_array_equal(again.parent_index, hierarchy.parent_index)
    with pytest.raises(PartitioningError):
        Hierarchy.read_csv(path, hierarchy.partitionings[1:])
