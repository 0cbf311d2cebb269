"""The desktop app predicts with a GeoCLIP bundle (tiny CLIP + the real GeoCLIP location weights) like any other:
drop a folder, the model proposes, the detail panel shows the three-level cells; the occlusion overlay opens."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("geoclip")

from tests.app.test_window import item, open_and_wait  # noqa: E402
from tests.inference.tiny_clip import gallery_sample, save_tiny_clip  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"


@pytest.fixture(scope="module")
def planet_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from geotagger.trainer.importers.geoclip import import_geoclip

    clip = save_tiny_clip(tmp_path_factory.mktemp("clip"))
    out = tmp_path_factory.mktemp("planet") / "planet.geomodel"
    path, _ = import_geoclip(out, clip, gallery_sample(600, seed=5), 2, [150, 50, 15],
                             check_photos=sorted(SAMPLES.glob("*.jpg"))[:2], say=lambda _: None)
    return path


def test_window_predicts_with_a_geoclip_bundle(qtbot, make_window, photo_folder: Path, planet_bundle: Path):
    window = make_window(active_model=str(planet_bundle))
    open_and_wait(qtbot, window, photo_folder)
    predicted = item(window, "c_model.jpg")
    assert (predicted.state, predicted.source) == ("proposed", "model")
    assert predicted.prediction.top_cells
    overlay = window.backend.saliency_overlay(predicted.path)  # what the detail panel shows when the photo opens
    assert overlay is not None and overlay.startswith(b"\x89PNG")
