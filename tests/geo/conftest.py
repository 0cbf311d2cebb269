"""Fixtures of the geography tests: the vendored MP-16 location sample."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

MP16_SAMPLE = Path(__file__).resolve().parent.parent / "data" / "mp16_coordinates_100k.csv.gz"


@pytest.fixture(scope="session")
def mp16_locations() -> tuple[np.ndarray, np.ndarray]:
    with gzip.open(MP16_SAMPLE, "rt") as handle:
        data = np.loadtxt(handle, delimiter=",", skiprows=1)
    return data[:, 0], data[:, 1]
