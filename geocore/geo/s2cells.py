"""S2 cell ids computed with numpy on uint64 arrays.

The S2 library maps a point to one of six cube faces, projects it quadratically onto the face, and walks a Hilbert
curve to a 64-bit id. s2sphere does this one point at a time in pure Python; here the same arithmetic runs on whole
arrays (about three orders of magnitude faster), and s2sphere stays the reference in tests and for cell geometry.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt

MAX_LEVEL = 30
_MAX_SIZE = 1 << MAX_LEVEL
_LOOKUP_BITS = 4
_SWAP_MASK = 1
_INVERT_MASK = 2
# Hilbert-curve sub-cell order per orientation, and the orientation change per position (S2's kPosToIJ etc.).
_POS_TO_IJ = ((0, 1, 3, 2), (0, 2, 3, 1), (3, 2, 0, 1), (3, 1, 0, 2))
_POS_TO_ORIENTATION = (_SWAP_MASK, 0, 0, _INVERT_MASK | _SWAP_MASK)

UInt64Array = npt.NDArray[np.uint64]
FloatArray = npt.NDArray[np.float64]


@lru_cache(maxsize=1)
def _lookup_pos() -> npt.NDArray[np.int64]:
    """Table from (4 bits of i, 4 bits of j, orientation) to (8 bits of Hilbert position, new orientation)."""
    table = np.zeros(1 << (2 * _LOOKUP_BITS + 2), dtype=np.int64)
    stack = [(0, 0, 0, orientation, 0, orientation) for orientation in range(4)]
    while stack:
        level, i, j, original, pos, orientation = stack.pop()
        if level == _LOOKUP_BITS:
            table[(((i << _LOOKUP_BITS) + j) << 2) + original] = (pos << 2) + orientation
            continue
        order = _POS_TO_IJ[orientation]
        for index in range(4):
            stack.append(
                (
                    level + 1,
                    (i << 1) + (order[index] >> 1),
                    (j << 1) + (order[index] & 1),
                    original,
                    (pos << 2) + index,
                    orientation ^ _POS_TO_ORIENTATION[index],
                )
            )
    return table


def latlon_to_xyz(lat_deg: npt.ArrayLike, lon_deg: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Unit vectors of points given in degrees."""
    lat = np.radians(np.asarray(lat_deg, dtype=np.float64))
    lon = np.radians(np.asarray(lon_deg, dtype=np.float64))
    cos_lat = np.cos(lat)
    return np.cos(lon) * cos_lat, np.sin(lon) * cos_lat, np.sin(lat)


def _face_uv(x: FloatArray, y: FloatArray, z: FloatArray) -> tuple[npt.NDArray[np.int64], FloatArray, FloatArray]:
    ax, ay, az = np.abs(x), np.abs(y), np.abs(z)
    # Ties go to the later axis, as in S2's largest_abs_component.
    axis = np.where(ax > ay, np.where(ax > az, 0, 2), np.where(ay > az, 1, 2))
    major = np.where(axis == 0, x, np.where(axis == 1, y, z))
    positive = major >= 0
    face = np.where(positive, axis, axis + 3).astype(np.int64)
    # S2's valid_face_xyz_to_uv: faces 0-2 project (first, second) / major, faces 3-5 the swapped pair:
    # x: (y, z) | (z, y);  y: (-x, z) | (z, -x);  z: (-x, -y) | (-y, -x).
    first = np.where(axis == 0, y, -x)
    second = np.where(axis == 2, -y, z)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(positive, first, second) / major
        v = np.where(positive, second, first) / major
    return face, u, v


def _uv_to_ij(uv: FloatArray) -> npt.NDArray[np.int64]:
    with np.errstate(invalid="ignore"):
        st = np.where(uv >= 0, 0.5 * np.sqrt(1 + 3 * uv), 1 - 0.5 * np.sqrt(1 - 3 * uv))
    return np.clip(np.floor(_MAX_SIZE * st), 0, _MAX_SIZE - 1).astype(np.int64)


def _face_ij_to_ids(face: npt.NDArray[np.int64], i: npt.NDArray[np.int64], j: npt.NDArray[np.int64]) -> UInt64Array:
    lookup = _lookup_pos()
    position = face << 60
    bits = face & _SWAP_MASK
    mask = (1 << _LOOKUP_BITS) - 1
    for k in range(7, -1, -1):
        bits = bits + (((i >> (k * _LOOKUP_BITS)) & mask) << (_LOOKUP_BITS + 2))
        bits = bits + (((j >> (k * _LOOKUP_BITS)) & mask) << 2)
        bits = lookup[bits]
        position = position | ((bits >> 2) << (k * 2 * _LOOKUP_BITS))
        bits = bits & (_SWAP_MASK | _INVERT_MASK)
    return position.astype(np.uint64) * np.uint64(2) + np.uint64(1)


def latlon_to_cell_ids(lat_deg: npt.ArrayLike, lon_deg: npt.ArrayLike) -> UInt64Array:
    """Leaf (level-30) S2 cell ids of points given in degrees."""
    x, y, z = latlon_to_xyz(lat_deg, lon_deg)
    face, u, v = _face_uv(np.atleast_1d(x), np.atleast_1d(y), np.atleast_1d(z))
    return _face_ij_to_ids(face, _uv_to_ij(u), _uv_to_ij(v))


def lsb_for_level(level: int | npt.NDArray[np.int64]) -> UInt64Array:
    """Lowest set bit of every cell id at `level`."""
    shift = (2 * (MAX_LEVEL - np.asarray(level, dtype=np.int64))).astype(np.uint64)
    return np.left_shift(np.uint64(1), shift)


def parent_ids(cell_ids: UInt64Array, level: int) -> UInt64Array:
    """Ancestors at `level` of cells at that level or deeper: (id & ~(lsb - 1)) | lsb."""
    lsb = lsb_for_level(level)
    return (np.asarray(cell_ids, dtype=np.uint64) & ~(lsb - np.uint64(1))) | lsb


def cell_lsb(cell_ids: UInt64Array) -> UInt64Array:
    """Lowest set bit of each id (encodes its level)."""
    ids = np.asarray(cell_ids, dtype=np.uint64)
    return ids & (~ids + np.uint64(1))


def cell_levels(cell_ids: UInt64Array) -> npt.NDArray[np.int64]:
    """Level (0-30) of each cell id."""
    # Powers of two up to 2**61 are exact in float64, so log2 is exact here.
    trailing_zeros = np.log2(cell_lsb(cell_ids).astype(np.float64)).astype(np.int64)
    return MAX_LEVEL - trailing_zeros // 2


def cell_ranges(cell_ids: UInt64Array) -> tuple[UInt64Array, UInt64Array]:
    """Smallest and largest leaf id inside each cell (cells are contiguous ranges of the Hilbert curve)."""
    ids = np.asarray(cell_ids, dtype=np.uint64)
    half = cell_lsb(ids) - np.uint64(1)
    return ids - half, ids + half


def cell_ids_to_tokens(cell_ids: UInt64Array) -> list[str]:
    """S2 tokens: hexadecimal ids without trailing zeros ("X" for the invalid id 0)."""
    return [format(int(cell_id), "016x").rstrip("0") or "X" for cell_id in np.asarray(cell_ids, dtype=np.uint64)]


def tokens_to_cell_ids(tokens: list[str]) -> UInt64Array:
    """Inverse of `cell_ids_to_tokens`; raises ValueError on a malformed token."""
    ids = []
    for token in tokens:
        if not 0 < len(token) <= 16 or token == "X":
            raise ValueError(f"not an S2 token: {token!r}")
        ids.append(int(token.ljust(16, "0"), 16))
    return np.array(ids, dtype=np.uint64)


def cell_polygon(token: str) -> list[tuple[float, float]]:
    """Corner (lat, lon) degrees of the cell with this token, counter-clockwise (s2sphere geometry)."""
    import s2sphere  # geometry only: imported lazily, ids never need it

    cell = s2sphere.Cell(s2sphere.CellId.from_token(token))
    corners = []
    for k in range(4):
        latlng = s2sphere.LatLng.from_point(cell.get_vertex(k))
        corners.append((latlng.lat().degrees, latlng.lng().degrees))
    return corners


def xyz_to_latlon(x: npt.ArrayLike, y: npt.ArrayLike, z: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Latitude and longitude in degrees of (not necessarily unit) vectors."""
    x, y, z = (np.asarray(a, dtype=np.float64) for a in (x, y, z))
    return np.degrees(np.arctan2(z, np.hypot(x, y))), np.degrees(np.arctan2(y, x))


def spherical_mean(lat_deg: npt.ArrayLike, lon_deg: npt.ArrayLike) -> tuple[float, float]:
    """Mean location as the normalised average of unit vectors (right across the antimeridian and at the poles)."""
    x, y, z = latlon_to_xyz(lat_deg, lon_deg)
    lat, lon = xyz_to_latlon(np.sum(x), np.sum(y), np.sum(z))
    return float(lat), float(lon)
