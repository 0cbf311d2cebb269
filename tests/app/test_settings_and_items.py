"""Settings persistence, clipboard locations, and the photo list's filtering and sorting."""

from __future__ import annotations

from pathlib import Path

import pytest

from geotagger.app.items import PhotoFilterProxy, PhotoItem, PhotoTableModel
from geotagger.app.locations import format_location, parse_location
from geotagger.app.settings import Settings


def test_settings_round_trip_and_damaged_file(tmp_path: Path):
    settings = Settings(write_mode="sidecar", online_tiles=True, crops=5)
    for index in range(14):
        settings.remember_folder(tmp_path / f"f{index}")
    settings.remember_folder(tmp_path / "f3")
    settings.save(tmp_path)
    loaded = Settings.load(tmp_path)
    assert loaded.write_mode == "sidecar" and loaded.online_tiles and loaded.crops == 5
    assert loaded.recent_folders[0] == str(tmp_path / "f3")
    assert len(loaded.recent_folders) == 10 and len(set(loaded.recent_folders)) == 10
    (tmp_path / "settings.json").write_text('{"crops": "five", "write_mode": "exif", "bogus": 1')
    assert Settings.load(tmp_path) == Settings()  # damaged JSON -> defaults
    (tmp_path / "settings.json").write_text('{"crops": "five", "write_mode": "sidecar", "bogus": 1}')
    partly = Settings.load(tmp_path)
    assert partly.crops == 0 and partly.write_mode == "sidecar"  # wrong types ignored, unknown keys dropped


@pytest.mark.parametrize(("text", "expected"), [
    ("48.8584, 2.2945", (48.8584, 2.2945)),
    ("geo:-33.85,151.2;u=35", (-33.85, 151.2)),
    ("  10 20\nsecond line", (10.0, 20.0)),
    ("91, 0", None),
    ("0, 181", None),
    ("Paris", None),
    ("", None),
])
def test_parse_location(text, expected):
    assert parse_location(text) == expected


def test_format_then_parse_is_lossless_to_a_micro_degree():
    lat, lon = parse_location(format_location(-12.3456789, 123.4567891))
    assert abs(lat + 12.3456789) < 1e-6 and abs(lon - 123.4567891) < 1e-6


def test_filter_and_sort(qtbot):
    model = PhotoTableModel()
    items = [
        PhotoItem(Path("/p/a.jpg"), state="proposed", source="model", lat=1, lon=2, confidence=0.8),
        PhotoItem(Path("/p/b.jpg"), state="has_gps", source="exif", lat=3, lon=4),
        PhotoItem(Path("/p/c.jpg"), state="proposed", source="neighbour", lat=5, lon=6, confidence=0.3),
        PhotoItem(Path("/p/d.jpg"), state="error", error="corrupt_metadata"),
    ]
    model.add_items(items)
    model.add_items([PhotoItem(Path("/p/a.jpg"), state="accepted", source="model", lat=1, lon=2, confidence=0.8)])
    assert model.rowCount() == 4 and model.item("/p/a.jpg").state == "accepted"
    proxy = PhotoFilterProxy()
    proxy.setSourceModel(model)
    proxy.set_filter({"proposed"})
    assert [proxy.index(r, 0).data() for r in range(proxy.rowCount())] == ["c.jpg"]
    proxy.set_filter(set(), min_confidence=0.5)  # positions from the file or a neighbour have no model confidence
    assert [proxy.index(r, 0).data() for r in range(proxy.rowCount())] == ["a.jpg", "b.jpg", "c.jpg"]
    proxy.set_filter(set(), source="exif")
    assert [proxy.index(r, 0).data() for r in range(proxy.rowCount())] == ["b.jpg"]
    proxy.set_filter({"accepted"}, min_confidence=0.9)
    assert [proxy.index(r, 0).data() for r in range(proxy.rowCount())] == []
    proxy.set_filter({"proposed", "accepted"}, min_confidence=0.5)
    assert [proxy.index(r, 0).data() for r in range(proxy.rowCount())] == ["a.jpg", "c.jpg"]
    proxy.set_filter(set())
    proxy.sort(3)  # model confidence, ascending: none first (only the model's guess has one)
    names = [proxy.index(r, 0).data() for r in range(proxy.rowCount())]
    assert names[-1:] == ["a.jpg"] and proxy.index(names.index("c.jpg"), 3).data() == ""
    assert proxy.index(names.index("d.jpg"), 4).data() == "corrupt_metadata"


def test_the_detail_panel_says_which_scene_network_located_the_photo() -> None:
    from geotagger.app.detail import scene_note
    from geotagger.app.predictions import PredictionView

    view = PredictionView.from_json({"path": "a.jpg", "model_id": "isn", "provider": "cpu", "scene_network": "urban",
                                     "scene_source": "head:isn"})
    assert scene_note(view) == "Located by the urban network; scene type from head:isn"
    assert scene_note(PredictionView.from_json({"path": "a.jpg", "model_id": "m", "provider": "cpu"})) == ""
