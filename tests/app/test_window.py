"""Drive the real window: drop a folder, wait for scan and predictions, review with the keyboard, write, undo."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from geotagger.geocore.library.metadata import read_exif_gps_pil

from .conftest import PARIS

TIMEOUT_MS = 60_000


def drop_folder(window, *paths: Path) -> None:
    """A drag enter through Qt's event system, then the drop (Qt only dispatches drops during a real drag)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
    enter = QDragEnterEvent(QPoint(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    window.dropEvent(QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                Qt.KeyboardModifier.NoModifier))


def open_and_wait(qtbot, window, folder: Path) -> None:
    with qtbot.waitSignals([window.scanFinished, window.predictionsFinished], timeout=TIMEOUT_MS):
        drop_folder(window, folder)
    qtbot.waitUntil(lambda: not window.busy(), timeout=TIMEOUT_MS)


def item(window, name: str):
    return next(i for i in window.model.items if i.path.name == name)


def select(qtbot, window, name: str) -> None:
    window.select_key(item(window, name).key)
    qtbot.waitUntil(lambda: window.current_item() is not None and window.current_item().path.name == name)
    qtbot.waitUntil(lambda: window.detail.title.text() == name)  # the panel follows after a short debounce


def key(qtbot, window, key_code, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.keyClick(window.table, key_code, modifier)


def run_js(qtbot, window, script: str):
    box: list = []
    window.map.page().runJavaScript(script, 0, box.append)
    qtbot.waitUntil(lambda: bool(box), timeout=10_000)
    return box[0]


def exiftool_positions(paths: list[Path]) -> dict[str, tuple[float, float] | None]:
    output = subprocess.run(["exiftool", "-json", "-n", "-GPSLatitude", "-GPSLongitude", *map(str, paths)],
                            capture_output=True, text=True, check=False).stdout
    result = {}
    for entry in json.loads(output or "[]"):
        lat, lon = entry.get("GPSLatitude"), entry.get("GPSLongitude")
        result[Path(entry["SourceFile"]).name] = None if lat is None else (float(lat), float(lon))
    return result


def test_drop_review_write_and_undo(qtbot, make_window, photo_folder: Path):
    window = make_window(backups=True)  # off by default, as in the CLI (geocore.workflow.settings)
    originals = {p.name: p.read_bytes() for p in photo_folder.iterdir()}
    open_and_wait(qtbot, window, photo_folder)
    assert len(window.model.items) == 4
    assert item(window, "a_gps.jpg").state == "has_gps"
    neighbour = item(window, "b_neighbour.jpg")
    assert (neighbour.state, neighbour.source) == ("proposed", "neighbour")
    assert neighbour.lat == pytest.approx(PARIS[0], abs=1e-5) and neighbour.radius_km < 1.0
    predicted = item(window, "c_model.jpg")
    assert (predicted.state, predicted.source) == ("proposed", "model")
    assert predicted.prediction.top_cells and sum(predicted.prediction.scene_probabilities.values()) == pytest.approx(1)
    assert "4 photos" in window.counts.text()
    assert window.settings.place_names is False  # the fixture turns names off (see test_place_names_of_every_photo_...)

    # the detail panel shows the selected photo's prediction; the map receives its cells
    select(qtbot, window, "c_model.jpg")
    assert window.detail.title.text() == "c_model.jpg" and window.detail.cells.topLevelItemCount() == 3
    qtbot.waitUntil(lambda: run_js(qtbot, window, "window.geotaggerState.cells") > 0, timeout=10_000)
    assert run_js(qtbot, window, "window.geotaggerState.photo.name") == "c_model.jpg"

    # keyboard review: Enter accepts, Delete rejects, a click on the map places a photo by hand
    select(qtbot, window, "b_neighbour.jpg")
    key(qtbot, window, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: item(window, "b_neighbour.jpg").state == "accepted", timeout=TIMEOUT_MS)
    select(qtbot, window, "c_model.jpg")
    key(qtbot, window, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: item(window, "c_model.jpg").state == "rejected", timeout=TIMEOUT_MS)
    select(qtbot, window, "d_model.jpg")
    run_js(qtbot, window, "window.geotaggerFireClick(-33.8568, 151.2153); 1")
    qtbot.waitUntil(lambda: item(window, "d_model.jpg").state == "accepted", timeout=TIMEOUT_MS)
    assert item(window, "d_model.jpg").source == "manual"

    # Ctrl+S writes the two accepted locations; the files say so (geocore and exiftool)
    with qtbot.waitSignal(window.writeFinished, timeout=TIMEOUT_MS) as written:
        key(qtbot, window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert written.args[0].succeeded == 2 and not written.args[0].errors
    assert item(window, "b_neighbour.jpg").state == "written"
    gps = read_exif_gps_pil((photo_folder / "d_model.jpg").read_bytes())
    assert (gps.lat, gps.lon) == pytest.approx((-33.8568, 151.2153), abs=1e-6)
    if shutil.which("exiftool"):
        positions = exiftool_positions(sorted(photo_folder.iterdir()))
        assert positions["b_neighbour.jpg"] == pytest.approx(PARIS, abs=1e-5)
        assert positions["d_model.jpg"] == pytest.approx((-33.8568, 151.2153), abs=1e-6)
        assert positions["c_model.jpg"] is None
    assert window.summaries and "2 succeeded" in window.summaries[-1][1]

    # Ctrl+Z restores the exact original bytes
    with qtbot.waitSignal(window.writeFinished, timeout=TIMEOUT_MS):
        key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert {name: (photo_folder / name).read_bytes() for name in originals} == originals
    assert (photo_folder / "b_neighbour.jpg_original").read_bytes() == originals["b_neighbour.jpg"]  # backups asked for
    assert item(window, "b_neighbour.jpg").state == "accepted"


def test_copy_paste_location_and_undo_decision(qtbot, make_window, photo_folder: Path):
    window = make_window()
    open_and_wait(qtbot, window, photo_folder)
    select(qtbot, window, "a_gps.jpg")
    key(qtbot, window, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.clipboard().text() == "48.858400, 2.294500"
    select(qtbot, window, "c_model.jpg")
    key(qtbot, window, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: item(window, "c_model.jpg").source == "manual", timeout=TIMEOUT_MS)
    assert (item(window, "c_model.jpg").lat, item(window, "c_model.jpg").lon) == pytest.approx(PARIS)
    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo the paste: the proposal is back
    qtbot.waitUntil(lambda: item(window, "c_model.jpg").source == "model", timeout=TIMEOUT_MS)
    assert item(window, "c_model.jpg").state == "proposed"


def test_filter_by_state_and_a_fresh_empty_start(qtbot, make_window, photo_folder: Path):
    window = make_window()
    assert window.model.rowCount() == 0 and window.empty_hint.isVisible()
    assert window.current_item() is None and window.detail.title.text() == "No photo selected"
    open_and_wait(qtbot, window, photo_folder)
    window.state_filter.setCurrentIndex(window.state_filter.findData("proposed"))
    names = sorted(window.proxy.index(r, 0).data() for r in range(window.proxy.rowCount()))
    assert names == ["b_neighbour.jpg", "c_model.jpg", "d_model.jpg"]
    window.source_filter.setCurrentIndex(window.source_filter.findData("neighbour"))
    assert window.proxy.rowCount() == 1
    assert window.settings.recent_folders[0] == str(photo_folder.resolve())


def test_hostile_file_name_stays_text(qtbot, make_window, tmp_path: Path):
    from tests.photo_factory import make_jpeg

    folder = tmp_path / "hostile"
    folder.mkdir()
    name = '<img src=x onerror="window.pwned=1"><b>bold<b>&amp;.jpg'  # no '/': it would make a folder
    make_jpeg(folder / name, (160, 120), gps=(10.0, 20.0), color_seed=5)
    make_jpeg(folder / "other.jpg", (160, 120), gps=(11.0, 21.0), color_seed=6)
    window = make_window()
    open_and_wait(qtbot, window, folder)
    select(qtbot, window, name)
    qtbot.waitUntil(lambda: run_js(qtbot, window, "window.geotaggerState.photo && window.geotaggerState.photo.name")
                    == name, timeout=10_000)
    run_js(qtbot, window, "document.querySelectorAll('.leaflet-marker-icon').forEach(e => "
                          "e.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}))); 1")
    qtbot.wait(200)
    assert run_js(qtbot, window, "document.querySelectorAll('img[src=\"x\"], b').length") == 0
    assert run_js(qtbot, window, "typeof window.pwned") == "undefined"
    assert window.detail.title.textFormat() == Qt.TextFormat.PlainText and window.detail.title.text() == name


def test_place_names_of_every_photo_with_a_position_without_writing_them(qtbot, make_window, photo_folder: Path):
    window = make_window(show_place_names=True)  # shown by default; writing them into files stays off
    open_and_wait(qtbot, window, photo_folder)
    # every listed photo with a position gets its name, selected or not
    located = [i for i in window.model.items if i.has_location and i.state != "error"]
    assert len(located) >= 2
    qtbot.waitUntil(lambda: all(i.place for i in located), timeout=TIMEOUT_MS)
    assert "France" in item(window, "b_neighbour.jpg").place
    select(qtbot, window, "b_neighbour.jpg")
    qtbot.waitUntil(lambda: "France" in window.detail.location_fields["Place"].text(), timeout=TIMEOUT_MS)
    assert window.settings.place_names is False and window.backend.session.settings.place_names is False


def test_dropped_files_and_one_location_for_a_multi_selection(qtbot, make_window, photo_folder: Path):
    window = make_window()
    with qtbot.waitSignals([window.scanFinished, window.predictionsFinished], timeout=TIMEOUT_MS):
        drop_folder(window, photo_folder / "c_model.jpg", photo_folder / "d_model.jpg")
    qtbot.waitUntil(lambda: not window.busy(), timeout=TIMEOUT_MS)
    assert sorted(i.path.name for i in window.model.items) == ["c_model.jpg", "d_model.jpg"]
    window.table.selectAll()
    qtbot.waitUntil(lambda: len(window.selected_items()) == 2)
    run_js(qtbot, window, "window.geotaggerFireClick(35.6586, 139.7454); 1")
    qtbot.waitUntil(lambda: all(i.source == "manual" for i in window.model.items), timeout=TIMEOUT_MS)
    assert all((i.lat, i.lon) == pytest.approx((35.6586, 139.7454)) for i in window.model.items)
    assert all(i.state == "accepted" for i in window.model.items)
