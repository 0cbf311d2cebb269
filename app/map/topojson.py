"""A small TopoJSON -> GeoJSON decoder for the vendored world outline (quantized arcs, Polygon/MultiPolygon)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from geotagger.geocore.resources import resources_dir

RESOURCES = resources_dir()
WORLD_TOPOJSON = RESOURCES / "world" / "countries-110m.json"


def _decode_arcs(topology: dict[str, Any]) -> list[list[list[float]]]:
    """Delta-decode and de-quantize every arc into [lon, lat] points."""
    transform = topology.get("transform")
    arcs = []
    for arc in topology["arcs"]:
        if not transform:
            arcs.append([[float(x), float(y)] for x, y, *_ in arc])
            continue
        (scale_x, scale_y), (translate_x, translate_y) = transform["scale"], transform["translate"]
        x = y = 0
        points = []
        for dx, dy, *_ in arc:
            x, y = x + dx, y + dy
            points.append([round(x * scale_x + translate_x, 5), round(y * scale_y + translate_y, 5)])
        arcs.append(points)
    return arcs


def _ring(arc_indexes: list[int], arcs: list[list[list[float]]]) -> list[list[float]]:
    """Join arcs into one ring; a negative index ~i means arc i reversed; shared end points appear once."""
    ring: list[list[float]] = []
    for index in arc_indexes:
        points = arcs[index] if index >= 0 else arcs[~index][::-1]
        ring.extend(points if not ring else points[1:])
    return ring


def _unwrap_antimeridian(ring: list[list[float]]) -> list[list[float]]:
    """A ring that jumps across +-180 (eastern Russia, Fiji) moves its western points east by 360 degrees, so
    Leaflet draws it in one piece instead of a streak across the world; a ring that spans every longitude
    (Antarctica) stays as it is."""
    if not any(abs(b[0] - a[0]) > 180 for a, b in zip(ring, ring[1:], strict=False)):
        return ring
    shifted = [[lon + 360.0 if lon < 0 else lon, lat] for lon, lat in ring]
    longitudes = [lon for lon, _ in shifted]
    return shifted if max(longitudes) - min(longitudes) < 180 else ring


def _geometry(geometry: dict[str, Any], arcs: list[list[list[float]]]) -> dict[str, Any] | None:
    kind = geometry.get("type")
    if kind == "Polygon":
        return {"type": kind, "coordinates": [_unwrap_antimeridian(_ring(r, arcs)) for r in geometry["arcs"]]}
    if kind == "MultiPolygon":
        return {"type": kind, "coordinates": [[_unwrap_antimeridian(_ring(r, arcs)) for r in poly]
                                              for poly in geometry["arcs"]]}
    return None  # points and lines do not occur in the outline files


def topology_to_geojson(topology: dict[str, Any], object_name: str) -> dict[str, Any]:
    """Turn one named geometry collection of a TopoJSON topology into a GeoJSON FeatureCollection."""
    arcs = _decode_arcs(topology)
    features = []
    for geometry in topology["objects"][object_name]["geometries"]:
        decoded = _geometry(geometry, arcs)
        if decoded is not None:
            properties = {"name": str(geometry.get("properties", {}).get("name", ""))}
            features.append({"type": "Feature", "properties": properties, "geometry": decoded})
    return {"type": "FeatureCollection", "features": features}


@lru_cache(maxsize=1)
def world_geojson_text(path: Path = WORLD_TOPOJSON) -> str:
    """The vendored country outlines as compact GeoJSON text (decoded once per process)."""
    topology = json.loads(path.read_text(encoding="utf-8"))
    return json.dumps(topology_to_geojson(topology, "countries"), separators=(",", ":"))
