"""Scene type: the ImageNet -> S3 mapping table, renormalisation, and the base bundle on the sample photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from geotagger.geocore.inference.scene import (
    MAPPING_RESOURCE,
    S3_LABELS,
    SceneMappingError,
    read_scene_mapping,
    scene_from_class_probabilities,
)

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"


def test_mapping_covers_all_1000_imagenet_classes() -> None:
    weights, names = read_scene_mapping(MAPPING_RESOURCE.read_text(encoding="utf-8"))
    assert weights.shape == (1000, 3) and len(names) == 1000
    row_sums = weights.sum(axis=1)
    assert set(np.round(row_sums, 9)) <= {0.0, 1.0}
    assert (row_sums == 1).sum() > 700  # most classes carry scene evidence
    label = {name: tuple(S3_LABELS[i] for i in np.flatnonzero(weights[k])) for k, name in enumerate(names)}
    assert label["tabby"] == ("indoor",) and label["alp"] == ("natural",) and label["traffic light"] == ("urban",)
    assert label["pier"] == ("natural", "urban") and weights[names.index("pier")].tolist() == [0.0, 0.5, 0.5]
    assert label["Chihuahua"] == () and label["espresso"] == ("indoor",) and label["space shuttle"] == ("urban",)


def test_scene_probabilities_sum_to_one_and_ignore_unmapped_classes() -> None:
    weights, _ = read_scene_mapping(MAPPING_RESOURCE.read_text(encoding="utf-8"))
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.full(1000, 0.1), size=20)
    scenes = scene_from_class_probabilities(probabilities, weights)
    np.testing.assert_allclose(scenes.sum(axis=1), 1.0, atol=1e-12)
    dog_and_cat = np.zeros((1, 1000))
    dog_and_cat[0, 151], dog_and_cat[0, 281] = 0.9, 0.1  # Chihuahua (no scene), tabby (indoor)
    np.testing.assert_allclose(scene_from_class_probabilities(dog_and_cat, weights), [[1.0, 0.0, 0.0]])


def test_malformed_mapping_tables_are_refused() -> None:
    with pytest.raises(SceneMappingError, match="unknown scenes"):
        read_scene_mapping("class_index,class_name,scenes\n0,a,indoor|beach\n")
    with pytest.raises(SceneMappingError, match="in order"):
        read_scene_mapping("class_index,class_name,scenes\n1,a,indoor\n")


def test_base_bundle_scene_on_sample_photos(base_bundle) -> None:
    from geotagger.geocore.inference.predictor import Predictor

    predictor = Predictor(base_bundle, provider="cpu")
    assert not predictor.bundle.has_location and predictor.bundle.card.scene.source == "imagenet_mapping"
    names = ["chelsea_the_cat.jpg", "coffee_cup.jpg", "rocket_dscovr_launch.jpg"]
    predictions = {Path(p.path).name: p for p in predictor.predict_paths([SAMPLES / name for name in names])}
    for prediction in predictions.values():
        assert prediction.ok and prediction.lat is None
        assert sum(prediction.scene.values()) == pytest.approx(1.0)
    top = {name: max(p.scene, key=p.scene.__getitem__) for name, p in predictions.items()}
    assert top == {"chelsea_the_cat.jpg": "indoor", "coffee_cup.jpg": "indoor", "rocket_dscovr_launch.jpg": "urban"}
