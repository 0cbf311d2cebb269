"""The window keeps the map's other-photo markers in step with the list, sending only what changed."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Qt

from geotagger.app.window_map import PLACED_STATES
from tests.app.test_window import TIMEOUT_MS, item, key, open_and_wait, run_js, select


def page_markers(qtbot, window) -> set[str]:
    """The ids of the other photos the page's layer holds (drawn alone or in a cluster)."""
    return set(json.loads(run_js(qtbot, window, "JSON.stringify(window.geotaggerOtherIds())")))


def expected(window) -> set[str]:
    current = window.current_item()
    return {i.key for i in window.model.items
            if i.lat is not None and i.state in PLACED_STATES and (current is None or i.key != current.key)}


def wait_in_step(qtbot, window) -> None:
    qtbot.waitUntil(lambda: not window._others_timer.isActive() and not window._side_jobs, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: page_markers(qtbot, window) == expected(window), timeout=TIMEOUT_MS)


def test_markers_follow_the_list_with_changes_only(qtbot, make_window, photo_folder: Path):
    window = make_window()
    sent: list[tuple[str, dict]] = []
    full, delta = window.map.show_others_text, window.map.update_others_text
    def pieces(text: str | list[str]) -> list[str]:  # a message, or the pieces of a large one
        return [text] if isinstance(text, str) else text

    window.map.show_others_text = lambda text: (sent.extend(("full", json.loads(t)) for t in pieces(text)),
                                                full(text))
    window.map.update_others_text = lambda text: (sent.extend(("delta", json.loads(t)) for t in pieces(text)),
                                                  delta(text))
    open_and_wait(qtbot, window, photo_folder)
    select(qtbot, window, "a_gps.jpg")
    wait_in_step(qtbot, window)
    # the window sent its first (empty) set when it opened: since then, changes only
    assert sent and {kind for kind, _ in sent} == {"delta"}
    assert str(item(window, "a_gps.jpg").path) not in page_markers(qtbot, window)  # the shown photo is apart
    before = len(sent)
    select(qtbot, window, "b_neighbour.jpg")  # the shown photo changes: two markers change, nothing else is sent
    key(qtbot, window, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: item(window, "b_neighbour.jpg").state == "accepted", timeout=TIMEOUT_MS)
    wait_in_step(qtbot, window)
    later = sent[before:]
    assert later and all(kind == "delta" for kind, _ in later)
    ids = {point["id"] for _, change in later for point in change["changed"]} | {
        removed for _, change in later for removed in change["removed"]}
    shown = window.current_item().path.name  # Enter moved on to the next photo to review
    assert ids <= {str(item(window, name).path) for name in ("a_gps.jpg", "b_neighbour.jpg", shown)}
    select(qtbot, window, "c_model.jpg")
    wait_in_step(qtbot, window)  # the page holds exactly the placed photos but the shown one
