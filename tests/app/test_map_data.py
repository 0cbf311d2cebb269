"""What the map is sent, without a page: the proposal cell holding the pin, markers by state, rows while scanning."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from app.items import PhotoItem, filter_text, format_radius
from app.map.data import marker_payload, photo_payload, proposal_cells
from app.scan_stream import ScanStreamer
from geocore.inference.location import RankedCell


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


class _Ctx:
    def __init__(self) -> None:
        self.emitted: list = []
        self.progressed: list = []

    def progress(self, done, total, message=""):
        self.progressed.append(done)

    def emit(self, item):
        self.emitted.append(item)


class _Library:
    def __init__(self) -> None:
        self.rows: list = []

    def photos(self, folder=None):
        return self.rows


@dataclass
class _Row:
    id: int


class _Backend:
    def __init__(self) -> None:
        self.library = _Library()

    def items(self, ids):
        return [f"item {i}" for i in ids]


def test_scan_streamer_sends_new_rows_while_the_scan_runs(tmp_path):
    backend, ctx, now = _Backend(), _Ctx(), [0.0]
    streamer = ScanStreamer(backend, [tmp_path], ctx, clock=lambda: now[0])
    backend.library.rows = [_Row(1), _Row(2)]
    streamer.progress(1, 10)
    assert ctx.emitted == []  # too soon
    now[0] = 5.0
    streamer.progress(2, 10)
    assert ctx.emitted == ["item 1", "item 2"]
    backend.library.rows.append(_Row(3))
    now[0] = 10.0
    streamer.progress(3, 10)
    assert ctx.emitted[-1] == "item 3" and len(ctx.emitted) == 3 and ctx.progressed == [1, 2, 3]
