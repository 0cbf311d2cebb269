"""Reading location lists (CSV with latitude and longitude columns) with row-precise error messages."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt

LAT_COLUMN_NAMES = ("LAT", "lat", "latitude", "Latitude", "LATITUDE")
LON_COLUMN_NAMES = ("LON", "lon", "lng", "longitude", "Longitude", "LONGITUDE")


class CoordinateFileError(ValueError):
    """A coordinates file that cannot be used; the message names the file, the row and the reason."""


def _pick_column(fieldnames: list[str], wanted: str | None, defaults: tuple[str, ...], path: Path, what: str) -> str:
    candidates = (wanted,) if wanted else defaults
    for name in candidates:
        if name in fieldnames:
            return name
    raise CoordinateFileError(f"{path}: row 1: no {what} column (looked for {', '.join(candidates)})")


def _parse(value: str | None, path: Path, row: int, column: str, limit: float) -> float:
    try:
        number = float(value) if value is not None else math.nan
    except ValueError:
        raise CoordinateFileError(f"{path}: row {row}: {column} {value!r} is not a number") from None
    if math.isnan(number) or math.isinf(number):
        raise CoordinateFileError(f"{path}: row {row}: {column} is missing or not finite")
    if not -limit <= number <= limit:
        raise CoordinateFileError(f"{path}: row {row}: {column} {number} is outside [-{limit:g}, {limit:g}]")
    return number


def read_coordinates(
    path: str | Path, lat_column: str | None = None, lon_column: str | None = None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Latitudes and longitudes in degrees from a CSV file; raises CoordinateFileError on any bad row."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            fieldnames = list(reader.fieldnames or [])
            if not fieldnames:
                raise CoordinateFileError(f"{path}: row 1: empty file")
            lat_name = _pick_column(fieldnames, lat_column, LAT_COLUMN_NAMES, path, "latitude")
            lon_name = _pick_column(fieldnames, lon_column, LON_COLUMN_NAMES, path, "longitude")
            lat, lon = [], []
            for row_number, row in enumerate(reader, start=2):
                lat.append(_parse(row.get(lat_name), path, row_number, lat_name, 90.0))
                lon.append(_parse(row.get(lon_name), path, row_number, lon_name, 180.0))
    except OSError as error:
        raise CoordinateFileError(f"{path}: cannot read ({error.strerror or error})") from None
    except (UnicodeDecodeError, csv.Error) as error:
        raise CoordinateFileError(f"{path}: not a readable CSV file ({error})") from None
    if not lat:
        raise CoordinateFileError(f"{path}: row 2: no locations after the header")
    return np.array(lat, dtype=np.float64), np.array(lon, dtype=np.float64)
