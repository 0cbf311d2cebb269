"""Fixtures for the app tests: a tiny real model bundle, generated photos, a window on temporary folders."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QApplication

from geotagger.app.qt_compat import make_none_immortal
from tests.photo_factory import make_jpeg

make_none_immortal()  # before any Qt call of the test session (see app/qt_compat.py)

TINY_INPUT_PX = 64
PARIS = (48.8584, 2.2945)


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny three-level location model with a scene head, exported through the trainer (seconds)."""
    torch = pytest.importorskip("torch")
    from geotagger.geocore.geo.hierarchy import Hierarchy
    from geotagger.geocore.geo.partitioning import build_s2_partitionings
    from geotagger.geocore.inference.card import CropSpec
    from geotagger.trainer.export import CardFields, export_bundle
    from geotagger.trainer.models import build_model

    rng = np.random.default_rng(0)
    centres = [(48.85, 2.35), (40.71, -74.0), (-33.87, 151.21)]
    lat = np.concatenate([rng.normal(c[0], 1.0, 300) for c in centres])
    lon = np.concatenate([rng.normal(c[1], 1.0, 300) for c in centres])
    partitionings = build_s2_partitionings(lat, lon, 20, [300, 100, 50])
    torch.manual_seed(0)
    model = build_model("tiny", [len(p) for p in partitionings], scene_classes=3).eval()
    with torch.no_grad():  # sharper heads so the top cells differ visibly
        for head in model.heads.values():
            head.weight.mul_(20.0)
    fields = CardFields("tiny-app-test", input_size_px=TINY_INPUT_PX, crops=CropSpec(1, "mean", 72),
                        scene_labels=("indoor", "natural", "urban"), training={"data": "synthetic"}, license="CC0")
    out = tmp_path_factory.mktemp("bundle") / "tiny.geomodel"
    path, _ = export_bundle(model, fields, partitionings, Hierarchy(partitionings), out)
    return path


@pytest.fixture
def photo_folder(tmp_path: Path) -> Path:
    """Four photos: one with GPS, one taken 5 minutes later without (a time neighbour), two with nothing."""
    folder = tmp_path / "photos"
    folder.mkdir()
    taken = datetime(2023, 5, 1, 12, 0, 0)
    make_jpeg(folder / "a_gps.jpg", (320, 240), gps=PARIS, datetime_original=taken, color_seed=1)
    make_jpeg(folder / "b_neighbour.jpg", (320, 240), datetime_original=taken + timedelta(minutes=5), color_seed=2)
    make_jpeg(folder / "c_model.jpg", (320, 240), color_seed=3)
    make_jpeg(folder / "d_model.jpg", (320, 240), color_seed=4)
    return folder


@pytest.fixture
def make_window(qtbot, tmp_path: Path, tiny_bundle: Path):
    """Build a MainWindow whose settings and cache live in tmp_path (never the user's), with the tiny model."""
    from geotagger.app.settings import Settings
    from geotagger.app.window import MainWindow

    built = []

    def build(**settings_values):
        config, data = tmp_path / "config", tmp_path / "data"
        values = {"active_model": str(tiny_bundle), "place_names": False, "show_place_names": False,
                  **settings_values}
        Settings(**values).save(config)
        window = MainWindow(config=config, data=data)
        window.confirm = lambda title, text: True
        window.summaries = []
        window.show_summary = lambda title, text, details="": window.summaries.append((title, text, details))
        qtbot.addWidget(window)
        window.show()
        qtbot.waitUntil(lambda: window.map.is_ready, timeout=30_000)
        built.append(window)
        return window

    yield build
    # Delete each window (and its web view) while the QApplication still runs; one left to the interpreter's
    # exit outlives QtWebEngine and crashes it.
    for window in built:
        window.close()
        window.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    qtbot.wait(50)
