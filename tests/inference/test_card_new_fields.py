"""Card validation of the fields GeoCLIP and Places365 bundles add: still strict, one line naming the field."""

from __future__ import annotations

import json

import pytest

from geotagger.geocore.inference.card import (
    BundleError,
    CropSpec,
    FileRef,
    HeadSpec,
    InputSpec,
    ModelCard,
    SceneSpec,
    card_from_json,
)

SHA = "0" * 64


def _card(**changes) -> dict:
    card = ModelCard(
        model_id="m", backbone="clip_vit_l14", input=InputSpec(224, (0.5, 0.5, 0.5), (0.2, 0.2, 0.2)),
        crops=CropSpec(1, "mean", 224),
        files={"model": FileRef("model.onnx", SHA), "heads": FileRef("heads.npz", SHA)},
        embedding_output="embedding", feature_map_output=None, heads={"places365": HeadSpec(365)},
        scene=SceneSpec(("indoor", "natural", "urban"), "places365", "places365", FileRef("scene/m.csv", SHA),
                        tuple(f"s{i}" for i in range(16))),
    )
    data = json.loads(card.to_json())
    for dotted, value in changes.items():
        target = data
        *parents, last = dotted.split(".")
        for key in parents:
            target = target[key]
        target[last] = value
    return data


def test_null_feature_map_and_places365_scene_are_valid() -> None:
    card = card_from_json(json.dumps(_card()), "x.geomodel")
    assert card.feature_map_output is None and card.scene.fine_labels[15] == "s15"
    assert json.loads(card.to_json())["scene"]["fine_labels"][0] == "s0"


@pytest.mark.parametrize(("changes", "message"), [
    ({"outputs.feature_map": 7}, "outputs.feature_map: expected a string"),
    ({"outputs.feature_map": ""}, "outputs.feature_map: must be"),
    ({"scene.fine_labels": []}, "fine_labels (S16) go with source places365"),
    ({"scene.fine_labels": [3]}, "scene.fine_labels[0]: expected a string"),
    ({"scene.mapping": None}, "scene source places365 needs a mapping file"),
    ({"files.gallery": {"file": "gallery.npz", "sha256": SHA}}, "a gallery file needs partitionings"),
    ({"files.gallery": {"file": "../gallery.npz", "sha256": SHA}}, "unsafe file name"),
])
def test_new_fields_are_checked(changes: dict, message: str) -> None:
    with pytest.raises(BundleError, match="^x.geomodel: ") as error:
        card_from_json(json.dumps(_card(**changes)), "x.geomodel")
    assert message in str(error.value) and "\n" not in str(error.value)


def test_cards_without_s16_keep_their_layout() -> None:
    data = _card()
    data["scene"] = {"labels": ["indoor", "natural", "urban"], "source": "head", "head": "places365",
                     "mapping": None}
    data["outputs"]["heads"] = {"places365": {"classes": 3, "kind": "probabilities"}}
    card = card_from_json(json.dumps(data), "x.geomodel")
    assert "fine_labels" not in json.loads(card.to_json())["scene"]
