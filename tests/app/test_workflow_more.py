"""More of the window: strip and undo, per-file write errors, saliency overlay, online tiles, personal models."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from geotagger.geocore.library.metadata import read_exif_gps_pil
from tests.photo_factory import make_jpeg

from .test_window import TIMEOUT_MS, item, key, open_and_wait, run_js, select


def test_strip_then_undo(qtbot, make_window, photo_folder: Path):
    window = make_window()
    open_and_wait(qtbot, window, photo_folder)
    original = (photo_folder / "a_gps.jpg").read_bytes()
    select(qtbot, window, "a_gps.jpg")
    with qtbot.waitSignal(window.writeFinished, timeout=TIMEOUT_MS) as stripped:
        window.strip_selected()
    assert stripped.args[0].succeeded == 1
    assert read_exif_gps_pil((photo_folder / "a_gps.jpg").read_bytes()) is None
    assert item(window, "a_gps.jpg").state == "scanned"
    with qtbot.waitSignal(window.writeFinished, timeout=TIMEOUT_MS):
        key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert (photo_folder / "a_gps.jpg").read_bytes() == original
    assert item(window, "a_gps.jpg").state == "has_gps"


def test_a_file_changed_after_the_scan_is_reported_not_written(qtbot, make_window, photo_folder: Path):
    window = make_window(backups=False)
    open_and_wait(qtbot, window, photo_folder)
    for name in ("b_neighbour.jpg", "c_model.jpg"):
        select(qtbot, window, name)
        key(qtbot, window, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda name=name: item(window, name).state == "accepted", timeout=TIMEOUT_MS)
    changed = photo_folder / "c_model.jpg"
    changed.write_bytes(changed.read_bytes() + b"edited elsewhere")
    with qtbot.waitSignal(window.writeFinished, timeout=TIMEOUT_MS) as written:
        window.write_accepted()
    summary = written.args[0]
    assert summary.succeeded == 1 and [e.path.name for e in summary.errors] == ["c_model.jpg"]
    assert "changed" in summary.errors[0].kind
    assert read_exif_gps_pil(changed.read_bytes()) is None
    title, text, details = window.summaries[-1]
    assert "1 succeeded, 1 failed" in text and "c_model.jpg" in details


def test_sidecar_write_mode_leaves_the_photo_untouched(qtbot, make_window, photo_folder: Path):
    window = make_window(write_mode="sidecar", sidecar_naming="photo.xmp")
    open_and_wait(qtbot, window, photo_folder)
    original = (photo_folder / "b_neighbour.jpg").read_bytes()
    select(qtbot, window, "b_neighbour.jpg")
    key(qtbot, window, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: item(window, "b_neighbour.jpg").state == "accepted", timeout=TIMEOUT_MS)
    with qtbot.waitSignal(window.writeFinished, timeout=TIMEOUT_MS) as written:
        window.write_accepted()
    assert written.args[0].succeeded == 1
    assert (photo_folder / "b_neighbour.jpg").read_bytes() == original
    sidecar = photo_folder / "b_neighbour.xmp"  # Lightroom naming, as chosen
    assert sidecar.is_file() and "GPSLatitude" in sidecar.read_text()
    assert not (photo_folder / "b_neighbour.jpg.xmp").exists()


def test_saliency_overlay_toggles_on_the_preview(qtbot, make_window, photo_folder: Path):
    window = make_window()
    open_and_wait(qtbot, window, photo_folder)
    select(qtbot, window, "c_model.jpg")
    qtbot.waitUntil(window.detail.overlay_toggle.isEnabled, timeout=TIMEOUT_MS)
    assert window.detail.overlay_toggle.isChecked() and window.detail.legend.isVisibleTo(window.detail)  # on by default
    window.detail.overlay_toggle.setChecked(False)
    plain = window.detail.preview.pixmap().toImage()
    window.detail.overlay_toggle.setChecked(True)
    overlaid = window.detail.preview.pixmap().toImage()
    assert overlaid.size() == plain.size() and overlaid != plain
    window.detail.overlay_opacity.setValue(0)
    assert window.detail.preview.pixmap().toImage().convertToFormat(plain.format()) == plain


def test_online_tiles_need_the_setting_and_carry_attribution_and_user_agent(qtbot, make_window):
    window = make_window()
    assert window.map.guard.allowed_host is None
    settings = type(window.settings)(**{**window.settings.__dict__, "online_tiles": True})
    window.apply_settings(settings)
    qtbot.waitUntil(lambda: window.map.is_ready, timeout=30_000)
    assert window.map.guard.allowed_host == "tile.openstreetmap.org"
    assert window.map.profile.httpUserAgent().startswith("Geotagger/")
    attribution = run_js(qtbot, window, "document.querySelector('.leaflet-control-attribution').textContent")
    assert "OpenStreetMap contributors" in attribution
    from geotagger.app.settings import Settings

    assert Settings.load(window.config_folder).online_tiles  # persisted


@pytest.mark.slow
def test_learn_from_my_geotagged_photos(qtbot, make_window, tmp_path: Path):
    """The trainer's personalize runs as a background process; its bundle becomes the active model."""
    folder = tmp_path / "mine"
    folder.mkdir()
    rng = random.Random(0)
    for index in range(40):
        lat, lon = [(48.85, 2.35), (40.71, -74.0)][index % 2]
        make_jpeg(folder / f"geo_{index:02d}.jpg", (160, 120), gps=(lat + rng.gauss(0, 0.05), lon + rng.gauss(0, 0.05)),
                  color_seed=(index % 2) * 10 + rng.randrange(3))
    make_jpeg(folder / "unknown.jpg", (160, 120), color_seed=11)
    window = make_window()
    open_and_wait(qtbot, window, folder)
    with qtbot.waitSignal(window.learnFinished, timeout=180_000) as finished:
        window.learn_from_library([folder])
        assert window.learn is not None and "--library" in window.learn.arguments
    assert finished.args == [0], window.summaries[-1]
    assert Path(window.settings.active_model).parent == window.data_folder / "models"
    assert any(label.startswith("Personal:") for label, _ in window.backend.list_bundles())
    qtbot.waitUntil(lambda: item(window, "unknown.jpg").source == "personal", timeout=TIMEOUT_MS)
    card = window.backend.card_text(Path(window.settings.active_model))
    assert "held-out accuracy" in window.summaries[-1][2]  # the typed result's summary, not scraped text
    assert '"evaluation"' in card and '"hierarchy"' in card  # the held-out table the trainer wrote
    assert window.backend.model_status().startswith("Model: ")
