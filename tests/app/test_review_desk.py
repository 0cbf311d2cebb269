"""The review desk keeps pace: Enter/Delete/Ctrl+V move on to the next photo to review, the list is in capture
order with Taken on screen, the confidence filter keeps positions that do not come from the model, place search."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from .test_window import item, open_and_wait, run_js, select


def shown_names(window) -> list[str]:
    proxy = window.proxy
    return [proxy.index(row, 0).data() for row in range(proxy.rowCount())]


def test_enter_delete_and_paste_advance_to_the_next_photo_to_review(qtbot, make_window, photo_folder: Path):
    window = make_window()
    open_and_wait(qtbot, window, photo_folder)
    header = window.table.horizontalHeader()
    assert header.sortIndicatorSection() == 5 and header.sortIndicatorOrder() == Qt.SortOrder.AscendingOrder
    assert header.visualIndex(5) == 1  # Taken right after the name
    assert header.visualIndex(4) == 3  # then State and Place: when, what and where fit without dragging
    place_right_edge = header.sectionViewportPosition(4) + header.sectionSize(4)
    assert place_right_edge <= window.table.viewport().width(), (place_right_edge, window.table.viewport().width())
    to_review = [name for name in shown_names(window) if item(window, name).state == "proposed"]
    assert len(to_review) >= 2
    select(qtbot, window, to_review[0])
    qtbot.keyClick(window.table, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.current_item().path.name == to_review[1], timeout=10_000)
    qtbot.waitUntil(lambda: item(window, to_review[0]).state == "accepted", timeout=10_000)
    qtbot.keyClick(window.table, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: item(window, to_review[1]).state == "rejected", timeout=10_000)
    assert window.current_item().path.name != to_review[1]
    # Enter on a rejected photo says why nothing happens
    select(qtbot, window, to_review[1])
    qtbot.keyClick(window.table, Qt.Key.Key_Return)
    assert "was rejected" in window.statusBar().currentMessage()
    assert item(window, to_review[1]).state == "rejected"
    # Ctrl+V places the photo and moves on as well
    remaining = [n for n in shown_names(window) if item(window, n).state == "proposed"]
    if remaining:
        select(qtbot, window, remaining[0])
        QApplication.clipboard().setText("38.7223, -9.1393")
        qtbot.keyClick(window.table, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
        qtbot.waitUntil(lambda: item(window, remaining[0]).state == "accepted", timeout=10_000)
        if len(remaining) > 1:
            qtbot.waitUntil(lambda: window.current_item().path.name != remaining[0], timeout=10_000)
        else:  # that was the last one: the status bar says so once the saving job has finished
            qtbot.waitUntil(lambda: "No photo left to review" in window.statusBar().currentMessage(), timeout=10_000)
    assert window.counts.text().startswith("4 photos")
    # the confidence filter keeps positions from the file, a track, a neighbour or the user
    window.confidence_filter.setValue(100)  # no model guess is that sure
    names = shown_names(window)
    assert "a_gps.jpg" in names and "b_neighbour.jpg" in names
    assert all(item(window, n).source not in ("model", "personal") for n in names)
    assert window.model.headerData(3, Qt.Orientation.Horizontal) == "Model conf."
    assert item(window, "a_gps.jpg").confidence is None or window.proxy.index(
        names.index("a_gps.jpg"), 3).data() == ""


def test_place_search_goes_there_and_enter_can_place_the_selection(qtbot, make_window, photo_folder: Path):
    window = make_window()
    open_and_wait(qtbot, window, photo_folder)
    select(qtbot, window, "c_model.jpg")
    qtbot.waitUntil(lambda: run_js(qtbot, window, "window.geotaggerState.cells") > 0, timeout=10_000)
    assert run_js(qtbot, window, "window.geotaggerState.highlighted") is not None  # the cell holding the pin
    hit = window.search.search("Kyoto")
    assert hit is not None and hit.label == "Kyoto, JP"
    qtbot.waitUntil(lambda: run_js(qtbot, window, "window.geotaggerState.searched") == "Kyoto, JP", timeout=10_000)
    window.search.enter_places.setChecked(True)
    window.search.line.setFocus()
    qtbot.waitUntil(window.search.line.hasFocus, timeout=5000)
    qtbot.keyClick(window.search.line, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: item(window, "c_model.jpg").state == "accepted", timeout=10_000)
    placed = item(window, "c_model.jpg")
    assert abs(placed.lat - hit.lat) < 1e-6 and abs(placed.lon - hit.lon) < 1e-6
    assert placed.source == "manual"


def test_layout_and_compact_rows_are_restored(qtbot, make_window):
    from geotagger.app.window import MainWindow

    window = make_window()
    window.compact_action.trigger()
    assert window.table.verticalHeader().defaultSectionSize() == 22
    window.table.setColumnWidth(0, 333)
    window.close()
    again = MainWindow(config=window.config_folder, data=window.data_folder)
    qtbot.addWidget(again)
    again.show()
    assert again.settings.compact_rows and again.table.verticalHeader().defaultSectionSize() == 22
    assert again.settings.window_geometry and again.settings.splitter_state
    assert again.table.columnWidth(0) == 333  # the columns as the user left them
    qtbot.waitUntil(lambda: again.map.is_ready, timeout=30_000)
    again.close()
    again.deleteLater()
