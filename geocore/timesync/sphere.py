"""Great-circle helpers on unit vectors: central angle and constant-speed interpolation (slerp), vectorised."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def to_unit_vectors(lat_deg: npt.ArrayLike, lon_deg: npt.ArrayLike) -> FloatArray:
    """Unit vectors (..., 3) of points given in degrees."""
    lat = np.radians(np.asarray(lat_deg, dtype=np.float64))
    lon = np.radians(np.asarray(lon_deg, dtype=np.float64))
    cos_lat = np.cos(lat)
    return np.stack([cos_lat * np.cos(lon), cos_lat * np.sin(lon), np.sin(lat)], axis=-1)


def from_unit_vectors(vectors: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Latitude and longitude in degrees of (..., 3) vectors (need not be normalised)."""
    x, y, z = vectors[..., 0], vectors[..., 1], vectors[..., 2]
    lat = np.degrees(np.arctan2(z, np.hypot(x, y)))
    lon = np.degrees(np.arctan2(y, x))
    return lat, lon


def central_angle_rad(a: FloatArray, b: FloatArray) -> FloatArray:
    """Angle between unit vectors; atan2 of cross and dot stays exact for tiny and large angles alike."""
    cross = np.linalg.norm(np.cross(a, b), axis=-1)
    dot = np.sum(a * b, axis=-1)
    return np.arctan2(cross, dot)


def slerp(a: FloatArray, b: FloatArray, fraction: npt.ArrayLike) -> FloatArray:
    """Point at `fraction` of the great-circle arc from a to b (constant speed along the arc).

    Exact spherical interpolation: sin((1-f)w)/sin(w) a + sin(f w)/sin(w) b. Below 1e-12 rad (6 micrometres) the
    arc is a straight segment to machine precision, so the normalised linear blend is used instead of 0/0.
    """
    f = np.asarray(fraction, dtype=np.float64)[..., None]
    omega = central_angle_rad(a, b)[..., None]
    tiny = omega < 1e-12
    safe_omega = np.where(tiny, 1.0, omega)
    sin_omega = np.sin(safe_omega)
    weight_a = np.where(tiny, 1.0 - f, np.sin((1.0 - f) * safe_omega) / sin_omega)
    weight_b = np.where(tiny, f, np.sin(f * safe_omega) / sin_omega)
    blended = weight_a * a + weight_b * b
    return blended / np.linalg.norm(blended, axis=-1, keepdims=True)
