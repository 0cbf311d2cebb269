"""The concepts the app lists for a guess: ci on a hand-made photo, class map and explanation equals the formula."""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from geotagger.geocore.inference.concepts import (
    ConceptExplainer,
    ConceptScore,
    driving_concepts,
    saliency_concepts,
)
from geotagger.geocore.inference.segmentation import SegmentationError, find_segmentation, load_segmentation

SIZE = 64
CLASSES = ("sky", "building", "tree")


def colour_classes_onnx() -> bytes:
    """A 1x1 convolution whose logits are the R, B and G channels: red pixels are "sky", blue "building"."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = np.zeros((3, 3, 1, 1), dtype=np.float32)
    weight[0, 0], weight[1, 2], weight[2, 1] = 1.0, 1.0, 1.0
    graph = helper.make_graph(
        [helper.make_node("Conv", ["image", "weight"], ["logits"])], "colours",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [numpy_helper.from_array(weight, "weight")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def write_geoseg(path: Path) -> Path:
    """A .geoseg file in the format geocore reads (what `geotag-train import segmentation` writes)."""
    spec = {"input_size_px": SIZE, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "output": "logits",
            "classes": len(CLASSES)}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("segmentation.onnx", colour_classes_onnx())
        archive.writestr("classes.txt", "\n".join(CLASSES) + "\n")
        archive.writestr("segmentation.json", json.dumps(spec))
    return path


def two_colour_photo(path: Path) -> Path:
    """Left half red (sky), right half blue (building)."""
    pixels = np.zeros((SIZE, SIZE, 3), dtype=np.uint8)
    pixels[:, :32] = (255, 0, 0)
    pixels[:, 32:] = (0, 0, 255)
    Image.fromarray(pixels).save(path, "PNG")
    return path


def explanation_map() -> np.ndarray:
    """Bright over rows 0-31, columns 24-63: the top 1000 pixels are rows 0-24 there (ties go in raster order)."""
    saliency = np.zeros((SIZE, SIZE), dtype=np.float32)
    saliency[:32, 24:] = 1.0
    return saliency


# By hand, k = 1000 and beta = 3 (the app's defaults): each dilated mask spans 35 of 64 columns;
# sky (columns 0-31, dilated 0-34) holds columns 24-34 of the top rows: 11 x 25 = 275 of 1000 pixels,
# building (32-63, dilated 29-63) holds columns 29-63: 35 x 25 = 875.
EXPECTED = {"sky": (275 / 1000) / (35 / 64), "building": (875 / 1000) / (35 / 64)}


def fake_predictor(folder: Path) -> SimpleNamespace:
    return SimpleNamespace(bundle=SimpleNamespace(path=folder / "location.geomodel"),
                           saliency=lambda path: SimpleNamespace(map=explanation_map(), overlay_png=b"overlay"))


def test_the_segmentation_runs_without_torch_and_gives_the_hand_made_map(tmp_path: Path) -> None:
    segmentation = load_segmentation(write_geoseg(tmp_path / "colours.geoseg"))
    with Image.open(two_colour_photo(tmp_path / "p.png")) as photo:
        classes = segmentation.segment(photo)
    assert (classes[:, :32] == 0).all() and (classes[:, 32:] == 1).all()


def test_concept_scores_of_a_photo_equal_the_formula(tmp_path: Path) -> None:
    segmentation = load_segmentation(write_geoseg(tmp_path / "colours.geoseg"))
    scores = saliency_concepts(explanation_map(), two_colour_photo(tmp_path / "p.png"), segmentation)
    assert set(scores) == {"sky", "building"}  # tree is absent from the photo
    for concept, value in EXPECTED.items():
        assert scores[concept] == pytest.approx(value)


def test_the_explainer_lists_the_concepts_above_chance(tmp_path: Path) -> None:
    write_geoseg(tmp_path / "colours.geoseg")
    explained = ConceptExplainer().explain(fake_predictor(tmp_path), two_colour_photo(tmp_path / "p.png"))
    assert explained.overlay_png == b"overlay"
    assert explained.concepts == [ConceptScore("building", pytest.approx(EXPECTED["building"]))]


def test_without_a_segmentation_there_is_nothing_to_list(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("geotagger.geocore.inference.segmentation.resource_path", lambda *parts: tmp_path / "none")
    explained = ConceptExplainer().explain(fake_predictor(tmp_path), two_colour_photo(tmp_path / "p.png"))
    assert explained.concepts is None and explained.overlay_png == b"overlay"


def test_a_broken_segmentation_file_is_a_reason_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "broken.geoseg").write_bytes(b"not a zip")
    explainer = ConceptExplainer()
    explained = explainer.explain(fake_predictor(tmp_path), two_colour_photo(tmp_path / "p.png"))
    assert explained.concepts is None and "not a segmentation file" in explainer.problem
    with pytest.raises(SegmentationError):
        load_segmentation(tmp_path / "broken.geoseg")
    assert find_segmentation(tmp_path / "location.geomodel") == tmp_path / "broken.geoseg"


def test_driving_concepts_rank_by_influence_and_drop_chance_and_absent_ones() -> None:
    scores = {"sky": 0.4, "road": 2.5, "building": 1.6, "tree": math.nan, "car": 1.0, "sign": 2.5}
    assert driving_concepts(scores) == [ConceptScore("road", 2.5), ConceptScore("sign", 2.5),
                                        ConceptScore("building", 1.6)]
    assert driving_concepts(scores, count=1) == [ConceptScore("road", 2.5)]
