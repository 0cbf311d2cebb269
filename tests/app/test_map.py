"""The map page loads offline, receives cells through the QWebChannel and never executes injected markup."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("PySide6.QtWebEngineWidgets")

from app.map.page import build_page, safe_json  # noqa: E402
from app.map.topojson import topology_to_geojson  # noqa: E402
from app.map.view import MapView  # noqa: E402

XSS_NAME = '<img src=x onerror="window.pwned=1">"</span><script>window.pwned=2</script>.jpg'


def run_js(qtbot, view: MapView, script: str):
    """Evaluate JavaScript in the page and return its (JSON-able) result."""
    box: list = []
    view.page().runJavaScript(script, 0, box.append)
    qtbot.waitUntil(lambda: bool(box), timeout=10_000)
    return box[0]


@pytest.fixture
def map_view(qtbot):
    view = MapView()
    qtbot.addWidget(view)
    view.resize(640, 480)
    view.show()
    with qtbot.waitSignal(view.loaded, timeout=30_000):
        pass
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
    from app.map.topojson import world_geojson_text

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
