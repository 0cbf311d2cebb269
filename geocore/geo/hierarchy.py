"""The hierarchy of nested partitionings: for every finest cell, its ancestor in every coarser partitioning.

Built once, here, and used by training labels, hierarchical prediction and evaluation alike (METHOD.md 2 and 4: the
SemP reference fills the coarse column from the middle index; we compose through the cells themselves instead).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from geotagger.geocore.geo.partitioning import Partitioning, PartitioningError


class Hierarchy:
    """Nested partitionings ordered coarse to fine, with the parent matrix of the finest cells."""

    def __init__(self, partitionings: Sequence[Partitioning], parent_index: npt.NDArray[np.int64] | None = None):
        if not partitionings:
            raise PartitioningError("a hierarchy needs at least one partitioning")
        self.partitionings = list(partitionings)
        self.parent_index = _parent_matrix(self.partitionings) if parent_index is None else parent_index
        self._validate()

    @property
    def finest(self) -> Partitioning:
        """The finest partitioning, whose cells are the hierarchy's predictions."""
        return self.partitionings[-1]

    @property
    def names(self) -> list[str]:
        """Partitioning names, coarse to fine."""
        return [partitioning.name for partitioning in self.partitionings]

    def __len__(self) -> int:
        return len(self.partitionings)

    def hierarchical_probabilities(self, probabilities: Sequence[npt.ArrayLike]) -> npt.NDArray[np.float64]:
        """p(fine cell) times the probabilities of its ancestors: (N, n_fine) from one (N, n_j) array per level.

        Inputs must be softmax probabilities, never logits (the reference validation multiplied logits: a bug).
        """
        if len(probabilities) != len(self.partitionings):
            raise ValueError(f"expected {len(self.partitionings)} probability arrays, got {len(probabilities)}")
        result: npt.NDArray[np.float64] | None = None
        for level, (partitioning, probs) in enumerate(zip(self.partitionings, probabilities, strict=True)):
            array = np.asarray(probs, dtype=np.float64)
            if array.ndim != 2 or array.shape[1] != len(partitioning):
                expected = f"(N, {len(partitioning)})"
                raise ValueError(f"{partitioning.name}: expected {expected} probabilities, got {array.shape}")
            gathered = array[:, self.parent_index[:, level]]
            result = gathered if result is None else result * gathered
        assert result is not None
        return result

    def write_csv(self, path: str | Path) -> None:
        """One row per finest cell, one column (named after the partitioning) per level, values class indices."""
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(self.names)
            writer.writerows(self.parent_index.tolist())

    @classmethod
    def read_csv(cls, path: str | Path, partitionings: Sequence[Partitioning]) -> Hierarchy:
        """Read a hierarchy file written by `write_csv`; checks it against the partitionings."""
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        names = [partitioning.name for partitioning in partitionings]
        if not rows or rows[0] != names:
            raise PartitioningError(f"{path}: header {rows[0] if rows else []} does not match partitionings {names}")
        try:
            matrix = np.array([[int(value) for value in row] for row in rows[1:]], dtype=np.int64)
        except ValueError:
            raise PartitioningError(f"{path}: non-integer class index") from None
        return cls(partitionings, matrix.reshape(-1, len(names)))

    def _validate(self) -> None:
        shape = (len(self.finest), len(self.partitionings))
        if self.parent_index.shape != shape:
            raise PartitioningError(f"hierarchy matrix has shape {self.parent_index.shape}, expected {shape}")
        for level, partitioning in enumerate(self.partitionings):
            column = self.parent_index[:, level]
            if len(column) and (column.min() < 0 or column.max() >= len(partitioning)):
                raise PartitioningError(f"partitioning {partitioning.name} does not contain every finest cell")


def _parent_matrix(partitionings: Sequence[Partitioning]) -> npt.NDArray[np.int64]:
    finest = partitionings[-1]
    columns = [partitioning.ancestor_index(finest) for partitioning in partitionings[:-1]]
    columns.append(np.arange(len(finest), dtype=np.int64))
    for partitioning, column in zip(partitionings, columns, strict=True):
        if (column < 0).any():
            orphan = finest.keys[int(np.flatnonzero(column < 0)[0])]
            raise PartitioningError(
                f"partitionings do not nest: {finest.name} cell {orphan} is outside {partitioning.name}"
            )
    return np.stack(columns, axis=1)
