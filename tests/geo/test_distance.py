"""Great-circle distances and the accuracy table."""

from __future__ import annotations

import numpy as np
import pytest

from geotagger.geocore.geo.distance import accuracy_table, format_accuracy_tables, haversine_km


def test_known_distances() -> None:
    # Paris - London 343.5 km; a quarter of a great circle; antipodes; across the antimeridian.
    assert haversine_km(48.8566, 2.3522, 51.5074, -0.1278) == pytest.approx(343.5, abs=0.5)
    assert haversine_km(0, 0, 0, 90) == pytest.approx(np.pi * 6371 / 2)
    assert haversine_km(10, 20, -10, -160) == pytest.approx(np.pi * 6371)
    assert haversine_km(0, 179.5, 0, -179.5) == pytest.approx(111.19, abs=0.01)


def test_vectorised_with_broadcasting() -> None:
    distances = haversine_km(np.zeros(3), np.zeros(3), np.array([0, 1, 2]), 0)
    np.testing.assert_allclose(distances, [0, 111.195, 222.39], atol=0.01)


def test_accuracy_table_and_format() -> None:
    table = accuracy_table([0.5, 10, 100, 500, 2000, 5000, np.nan, 30])
    assert table.within_percent == {1.0: 12.5, 25.0: 25.0, 200.0: 50.0, 750.0: 62.5, 2500.0: 75.0}
    assert table.median_km == pytest.approx(300.0)
    assert table.count == 8
    text = format_accuracy_tables({"hierarchy": table})
    assert "hierarchy" in text and "62.5%" in text and "2500km" in text
