"""The detail panel lists the concepts that drove a visual guess when a segmentation is installed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from geotagger.app.detail import DetailPanel, concepts_text
from geotagger.geocore.inference.concepts import ConceptExplainer, driving_concepts, saliency_concepts
from geotagger.geocore.inference.segmentation import load_segmentation
from tests.inference.test_concepts_explainer import EXPECTED, fake_predictor, two_colour_photo, write_geoseg

from .test_window import TIMEOUT_MS, open_and_wait, select


def test_the_panel_lists_what_the_ci_formula_gives_on_a_hand_made_pair(qtbot, tmp_path: Path) -> None:
    panel = DetailPanel()
    qtbot.addWidget(panel)
    assert not panel.concepts.isVisibleTo(panel)  # nothing installed, nothing shown
    write_geoseg(tmp_path / "colours.geoseg")
    explained = ConceptExplainer().explain(fake_predictor(tmp_path), two_colour_photo(tmp_path / "p.png"))
    panel.set_concepts(explained.concepts)
    assert panel.concepts.isVisibleTo(panel)
    assert panel.concepts.text() == f"Concepts behind the guess: building (ci {EXPECTED['building']:.2f})"
    assert "sky" not in panel.concepts.text()  # below chance (ci {EXPECTED['sky']:.2f})
    panel.set_concepts([])
    assert "none stands out" in panel.concepts.text()
    panel.show_item(None)
    assert not panel.concepts.isVisibleTo(panel)


def test_concepts_text_orders_as_given() -> None:
    listed = concepts_text(driving_concepts({"road": 2.0, "sky": 3.25, "tree": 0.5}))
    assert listed == "Concepts behind the guess: sky (ci 3.25), road (ci 2.00)"


@pytest.mark.slow
def test_a_model_proposal_shows_its_concepts_beside_the_overlay(qtbot, make_window, photo_folder: Path,
                                                                tiny_bundle: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    bundle = Path(shutil.copy(tiny_bundle, models / "tiny.geomodel"))
    write_geoseg(models / "colours.geoseg")  # installed beside the location bundle
    window = make_window(active_model=str(bundle))
    open_and_wait(qtbot, window, photo_folder)
    select(qtbot, window, "c_model.jpg")
    qtbot.waitUntil(lambda: window.detail.concepts.isVisibleTo(window.detail), timeout=TIMEOUT_MS)
    predictor = window.backend.session.models.loaded
    saliency = predictor.saliency(photo_folder / "c_model.jpg")
    scores = saliency_concepts(saliency.map, photo_folder / "c_model.jpg", load_segmentation(models / "colours.geoseg"))
    assert window.detail.concepts.text() == concepts_text(driving_concepts(scores))
    assert window.detail.has_overlay()
