"""Great-circle distances and the papers' accuracy table (percent within 1/25/200/750/2500 km, median error)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

EARTH_RADIUS_KM = 6371.0
ACCURACY_THRESHOLDS_KM: tuple[float, ...] = (1.0, 25.0, 200.0, 750.0, 2500.0)
THRESHOLD_NAMES = {1.0: "street", 25.0: "city", 200.0: "region", 750.0: "country", 2500.0: "continent"}


def haversine_km(
    lat1: npt.ArrayLike, lon1: npt.ArrayLike, lat2: npt.ArrayLike, lon2: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Great-circle distance in km between points given in degrees (broadcasting)."""
    phi1, phi2 = np.radians(np.asarray(lat1, dtype=np.float64)), np.radians(np.asarray(lat2, dtype=np.float64))
    delta_phi = phi2 - phi1
    delta_lambda = np.radians(np.asarray(lon2, dtype=np.float64) - np.asarray(lon1, dtype=np.float64))
    a = np.sin(delta_phi / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(delta_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


@dataclass(frozen=True)
class AccuracyTable:
    """Share of predictions within each threshold, in percent, and the median error."""

    within_percent: dict[float, float]
    median_km: float
    count: int


def accuracy_table(
    errors_km: npt.ArrayLike, thresholds_km: tuple[float, ...] = ACCURACY_THRESHOLDS_KM
) -> AccuracyTable:
    """Accuracy table of great-circle errors (NaN errors count as misses)."""
    errors = np.asarray(errors_km, dtype=np.float64).ravel()
    if errors.size == 0:
        return AccuracyTable({t: float("nan") for t in thresholds_km}, float("nan"), 0)
    finite = np.where(np.isnan(errors), np.inf, errors)
    within = {t: float(np.mean(finite <= t) * 100.0) for t in thresholds_km}
    return AccuracyTable(within, float(np.median(finite)), int(errors.size))


def format_accuracy_tables(rows: Mapping[str, AccuracyTable]) -> str:
    """Plain-text table, one row per model or partitioning, as in the papers."""
    thresholds = next(iter(rows.values())).within_percent.keys() if rows else ACCURACY_THRESHOLDS_KM
    name_width = max([len("model"), *(len(name) for name in rows)])
    header = f"{'model':<{name_width}} " + " ".join(f"{t:>7g}km" for t in thresholds) + f" {'median km':>10} {'n':>7}"
    lines = [header, "-" * len(header)]
    for name, table in rows.items():
        cells = " ".join(f"{table.within_percent[t]:>8.1f}%" for t in thresholds)
        lines.append(f"{name:<{name_width}} {cells} {table.median_km:>10.1f} {table.count:>7d}")
    return "\n".join(lines)
