"""File ▸ Sync with GPS track…: a real background job places photos on a GPX track and the list shows the source."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from geotagger.app.items import COLUMNS, REVIEW_MARK
from geotagger.app.track_actions import track_file_filter
from geotagger.geocore.workflow import Outcome, Status, TrackSyncResult
from tests.photo_factory import make_jpeg

from .test_window import TIMEOUT_MS, item, open_and_wait

LON = 11.0  # the track runs along a meridian, where the great-circle interpolation is linear in latitude
TRACK = [  # UTC time, latitude
    (datetime(2024, 6, 1, 10, 0, 0, tzinfo=timezone.utc), 46.00),
    (datetime(2024, 6, 1, 10, 10, 0, tzinfo=timezone.utc), 46.05),
    (datetime(2024, 6, 1, 10, 20, 0, tzinfo=timezone.utc), 46.08),
]
LOCAL = timedelta(hours=2)  # the photos' OffsetTimeOriginal is +02:00


def write_gpx(path: Path, points: list[tuple[datetime, float]]) -> Path:
    rows = "".join(f'<trkpt lat="{lat}" lon="{LON}"><ele>500</ele><time>{when:%Y-%m-%dT%H:%M:%SZ}</time></trkpt>'
                   for when, lat in points)
    path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="test" '
                    f'xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>{rows}</trkseg></trk></gpx>',
                    encoding="utf-8")
    return path


@pytest.fixture
def trip(tmp_path: Path) -> Path:
    """Two photos during the track, one hours after it, one without a capture time, one with GPS of its own (far
    away, taken during the track: a disagreeing time neighbour)."""
    folder = tmp_path / "trip"
    folder.mkdir()
    start = TRACK[0][0].replace(tzinfo=None) + LOCAL
    make_jpeg(folder / "a_track.jpg", (160, 120), datetime_original=start + timedelta(minutes=4), color_seed=1)
    make_jpeg(folder / "b_track.jpg", (160, 120), datetime_original=start + timedelta(minutes=17, seconds=30),
              color_seed=2)
    make_jpeg(folder / "c_after.jpg", (160, 120), datetime_original=start + timedelta(hours=8), color_seed=3)
    make_jpeg(folder / "d_no_time.jpg", (160, 120), color_seed=4)
    make_jpeg(folder / "e_gps.jpg", (160, 120), gps=(40.0, -3.0), datetime_original=start + timedelta(minutes=5),
              color_seed=5)
    return folder


def sync_and_wait(qtbot, window, paths: list[Path]):
    with qtbot.waitSignal(window.trackSyncFinished, timeout=TIMEOUT_MS) as finished:
        window.sync_tracks(paths)  # what the file dialog calls
        assert window.busy()  # a background job, not the GUI thread
    qtbot.waitUntil(lambda: not window.busy(), timeout=TIMEOUT_MS)
    return finished.args[0]


def source_cell(window, name: str) -> str:
    row = window.model.rows_by_key[item(window, name).key]
    return window.model.data(window.model.index(row, COLUMNS.index("Source")))


def test_sync_places_photos_on_the_interpolated_track_position(qtbot, make_window, trip: Path, tmp_path: Path):
    window = make_window()
    open_and_wait(qtbot, window, trip)
    assert window.sync_track_action in window.menuBar().actions()[0].menu().actions()
    summary = sync_and_wait(qtbot, window, [write_gpx(tmp_path / "walk.gpx", TRACK)])

    library = window.backend.library
    placed = {Path(library.photo(d.photo_id).path).name: d for d in library.decisions(source="gps_track")}
    assert set(placed) == {"a_track.jpg", "b_track.jpg"}
    expected = {"a_track.jpg": 46.00 + 0.4 * 0.05, "b_track.jpg": 46.05 + 0.75 * 0.03}  # fraction of each interval
    for name, lat in expected.items():
        decision = placed[name]
        assert decision.state == "proposed"
        assert decision.lat == pytest.approx(lat, abs=1e-6) and decision.lon == pytest.approx(LON, abs=1e-6)
        assert decision.altitude_m == pytest.approx(500.0)
        shown = item(window, name)
        assert (shown.state, shown.source) == ("proposed", "track") and source_cell(window, name) == "track"
        assert shown.lat == pytest.approx(lat, abs=1e-6)
    assert item(window, "e_gps.jpg").state == "has_gps"  # a photo with GPS is left alone
    # e_gps (a phone 1,300 km away) made time-neighbour proposals at the scan: the track outranks them in the list,
    # and the fusion rule flags the disagreement of the two time-based sources for review
    assert all(d.review for d in placed.values())
    for name in placed:  # the row shows the flag, and its tool tip the fusion rule's reason
        shown = item(window, name)
        assert shown.review and "time_neighbour is" in shown.review_reason
        row = window.model.rows_by_key[shown.key]
        state_cell = window.model.index(row, COLUMNS.index("State"))
        assert REVIEW_MARK in window.model.data(state_cell)
        assert "time_neighbour is" in window.model.data(state_cell, Qt.ItemDataRole.ToolTipRole)
    assert summary.to_review == 2

    assert (summary.placed, len(summary.unlocated), summary.failed) == (2, 2, [])
    assert {Path(o.path).name for o in summary.unlocated} == {"c_after.jpg", "d_no_time.jpg"}
    assert "after the track" in next(o.reason for o in summary.unlocated if o.path.endswith("c_after.jpg"))
    title, text, details = window.summaries[-1]
    assert text.startswith("Track sync: 2 photos placed") and "2 left unlocated (1 " in text
    assert "0 track files failed" in text and "d_no_time.jpg" in details
    assert window.statusBar().currentMessage() == text


def test_a_malformed_track_is_reported_by_name_and_the_good_one_still_used(qtbot, make_window, trip: Path,
                                                                            tmp_path: Path):
    window = make_window()
    open_and_wait(qtbot, window, trip)
    broken = tmp_path / "broken.gpx"
    broken.write_text("<gpx><trk><trkseg><trkpt lat=", encoding="utf-8")
    summary = sync_and_wait(qtbot, window, [broken, write_gpx(tmp_path / "walk.GPX", TRACK)])

    assert [Path(o.path).name for o in summary.failed] == ["broken.gpx"] and summary.failed[0].reason
    assert summary.placed == 2 and item(window, "a_track.jpg").source == "track"
    title, text, details = window.summaries[-1]
    assert "1 track file failed" in text and f"broken.gpx: {summary.failed[0].reason}" in details


def test_the_file_dialog_offers_every_track_format_in_both_cases():
    offered = track_file_filter()
    for pattern in ("*.gpx", "*.GPX", "*.kml", "*.KML", "*.geojson", "*.json"):
        assert pattern in offered


def test_the_summary_counts_reasons_by_kind_and_says_when_no_track_was_usable():
    unlocated = {
        "/p/a.jpg": "no track point within the limits (gap 30 min, snap 60 s): 2024-06-01 18:00:00 UTC is 2 h after",
        "/p/b.jpg": "no track point within the limits (gap 30 min, snap 60 s): 2024-06-01 06:00:00 UTC is 2 h before",
        "/p/c.jpg": "no capture time (DateTimeOriginal) in the photo"}
    summary = TrackSyncResult("sync-track", [Outcome(path, Status.SKIPPED, "unlocated", reason)
                                             for path, reason in unlocated.items()],
                              placed=3, track_files=1, track_points=10)
    assert summary.text() == ("Track sync: 3 photos placed, 3 left unlocated (2 no track point within the limits "
                              "(gap 30 min, snap 60 s), 1 no capture time (DateTimeOriginal) in the photo), "
                              "0 track files failed.")
    nothing = TrackSyncResult("sync-track", [Outcome("t.kml", Status.FAILED, "unreadable track",
                                                     "no track point with a time")])
    assert nothing.text() == "Track sync: no usable track, 1 track file failed."
    assert nothing.details() == "t.kml: no track point with a time"


def test_dialog_live_count_offsets_reference_and_remembered_camera(qtbot, make_window, trip: Path, tmp_path: Path):
    """The dialog counts the matching photos as the settings change (global offset in exiftool's syntax, a camera's
    clock offset, a reference photo), syncs with its options and remembers the camera's settings."""
    import json
    import os

    window = make_window()
    open_and_wait(qtbot, window, trip)
    track = write_gpx(tmp_path / "walk.gpx", TRACK)
    dialog = window.track_dialog()
    qtbot.waitUntil(lambda: "4 photos without GPS. Add a track" in dialog.count_label.text(), timeout=TIMEOUT_MS)
    dialog.add_tracks([track.parent])  # a folder of tracks
    qtbot.waitUntil(lambda: dialog.count_label.text().startswith("2 of 4 photos"), timeout=TIMEOUT_MS)
    # e_gps.jpg (GPS 1,300 km away, taken during the track) is the phone check: far off, so it says so
    assert "Check: the track puts 1 photo(s) with their own GPS a median" in dialog.count_label.text()
    if (shots := os.environ.get("GEOTAGGER_SCREENSHOTS")):
        dialog.show()
        qtbot.wait(300)
        dialog.grab().save(str(Path(shots) / "track_sync_dialog.png"))
    dialog.global_offset.setText("-8:00:00")  # c_after was taken 8 h after the track's start
    qtbot.waitUntil(lambda: dialog.count_label.text().startswith("1 of 4 photos"), timeout=TIMEOUT_MS)
    dialog.global_offset.setText("8 hours")
    qtbot.waitUntil(lambda: "unreadable time offset" in dialog.count_label.text(), timeout=TIMEOUT_MS)
    assert not dialog.buttons.button(dialog.buttons.StandardButton.Ok).isEnabled()
    dialog.global_offset.setText("")
    dialog.set_camera("Canon EOS", "", "-8:00:00")
    qtbot.waitUntil(lambda: dialog.count_label.text().startswith("1 of 4 photos"), timeout=TIMEOUT_MS)
    assert dialog.camera_table.item(0, 0).text() == "Canon EOS: 1 of 4 match"
    dialog.set_camera("Canon EOS", "", "")
    a_true = TRACK[0][0] + timedelta(minutes=4)
    dialog.reference_photo.setCurrentIndex(dialog.reference_photo.findText("c_after.jpg"))
    dialog.reference_value.setText(a_true.isoformat())  # "c_after was really taken 4 min into the track"
    qtbot.waitUntil(lambda: dialog.count_label.text().startswith("1 of 4 photos"), timeout=TIMEOUT_MS)
    dialog.reference_photo.setCurrentIndex(0)
    dialog.set_camera("Canon EOS", "Europe/Rome", "+0:00:30")
    qtbot.waitUntil(lambda: dialog.count_label.text().startswith("2 of 4 photos"), timeout=TIMEOUT_MS)

    with qtbot.waitSignal(window.trackSyncFinished, timeout=TIMEOUT_MS) as finished:
        window.accept_track_dialog(dialog)
    summary = finished.args[0]
    assert summary.placed == 2
    library = window.backend.library
    placed = {Path(library.photo(d.photo_id).path).name: d for d in library.decisions(source="gps_track")}
    expected = 46.00 + (4.5 / 10) * 0.05  # 4 min plus the camera's 30 s into the first interval
    assert placed["a_track.jpg"].lat == pytest.approx(expected, abs=1e-6)
    remembered = json.loads((window.config_folder / "clock.json").read_text())
    assert remembered["clock_offsets_s"] == {"Canon EOS": 30.0}
    assert remembered["camera_zones"] == {"Canon EOS": "Europe/Rome"}
    again = window.track_dialog()  # the next dialog starts from the remembered settings
    qtbot.waitUntil(lambda: again.camera_table.rowCount() == 1, timeout=TIMEOUT_MS)
    assert again.camera_table.item(0, 2).text() == "+0:00:30"
