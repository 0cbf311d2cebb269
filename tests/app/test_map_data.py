"""What the map is sent, without a page: the proposal cell holding the pin, markers by state (rows while scanning:
test_scan_stream.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from geotagger.app.items import PhotoItem, filter_text, format_radius
from geotagger.app.map.data import marker_payload, photo_payload, proposal_cells
from geotagger.geocore.inference.location import RankedCell


@dataclass
class Prediction:
    hierarchy_top: list = field(default_factory=list)
    top_cells: dict = field(default_factory=dict)
    kinds: dict = field(default_factory=dict)


def test_the_cell_holding_the_pin_is_the_highlighted_one():
    cells = [RankedCell("near", "Lisbon area", 0.30, 38.72, -9.14), RankedCell("far", "Porto area", 0.50, 41.15, -8.61),
             RankedCell("nothing", "Faro area", 0.0001, 37.02, -7.93)]
    out = proposal_cells(Prediction(hierarchy_top=cells, kinds={"coarse": "semantic"}), 38.73, -9.15,
                         {"near": "Lisbon, PT"})
    assert [c["token"] for c in out] == ["near", "far"]  # a 0 % cell is not drawn
    assert [c["selected"] for c in out] == [True, False]
    assert out[0]["label"] == "Lisbon, PT" and out[1]["label"] == "Porto area"


def test_track_positions_show_no_model_cells_and_markers_carry_state():
    prediction = Prediction(hierarchy_top=[RankedCell("a", "A", 0.9, 1.0, 1.0)], kinds={"x": "semantic"})
    tracked = PhotoItem(Path("/t/a.jpg"), state="proposed", source="track", lat=38.7, lon=-9.1, radius_km=0.015,
                        prediction=prediction)
    assert photo_payload(tracked)["cells"] == []
    guessed = PhotoItem(Path("/t/b.jpg"), state="proposed", source="model", lat=1.0, lon=1.0, prediction=prediction)
    assert photo_payload(guessed)["cells"][0]["selected"] is True
    assert marker_payload(tracked)["state"] == "proposed"
    assert format_radius(0.015) == "± 15 m" and format_radius(2.5) == "± 2.5 km" and format_radius(None) == "—"
    assert filter_text(tracked).endswith("|keep|")

