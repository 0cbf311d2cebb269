"""Saliency: the CAM from ONNX outputs + heads.npz equals the torch CAM; crops compose; overlays fit the preview."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from geotagger.geocore.inference.bundle import load_bundle
from geotagger.geocore.inference.predictor import Predictor
from geotagger.geocore.inference.saliency import class_activation_map, compose_crops, target_weights
from tests.photo_factory import make_jpeg


def test_cam_equals_the_torch_computed_cam(tiny_bundle, tiny_model, tmp_path) -> None:
    torch = pytest.importorskip("torch")
    predictor = Predictor(tiny_bundle, provider="cpu")
    photo = predictor.prepare(make_jpeg(tmp_path / "p.jpg", size=(300, 200), color_seed=5))
    outputs = predictor.session.run(photo.crops)
    with torch.no_grad():
        feature_map = tiny_model.forward_features(torch.from_numpy(photo.crops))
        head = tiny_model.heads["geo_2"]
        torch_cam = torch.einsum("kc,nchw->nkhw", head.weight, feature_map) + head.bias[None, :, None, None]
        logits = tiny_model.forward_head(feature_map)["geo_2"]
    for crop in range(len(photo.crops)):
        for cell in (0, 3, len(head.weight) - 1):
            weight, bias = target_weights(predictor.bundle, "geo_2", cell)
            cam = class_activation_map(outputs["feature_map"][crop], weight, bias)
            np.testing.assert_allclose(cam, torch_cam[crop, cell].numpy(), rtol=1e-4, atol=1e-4)
            assert cam.mean() == pytest.approx(float(logits[crop, cell]), abs=1e-4)  # exact for a linear head on GAP


def test_mapped_scene_cam_averages_to_the_mapped_logit(base_bundle, tmp_path) -> None:
    bundle = load_bundle(base_bundle)
    imagenet = bundle.heads["imagenet"]
    feature_map = np.random.default_rng(0).uniform(0, 6, size=(imagenet.weight.shape[1], 7, 7)).astype(np.float32)
    logits = feature_map.mean(axis=(1, 2)) @ imagenet.weight.T.astype(np.float64) + imagenet.bias
    for scene_index in range(3):
        weight, bias = target_weights(bundle, "scene", scene_index)
        mix = bundle.scene_weights[:, scene_index]
        np.testing.assert_allclose(weight, mix @ imagenet.weight, rtol=1e-5, atol=1e-6)
        cam = class_activation_map(feature_map, weight, bias)
        assert cam.mean() == pytest.approx(float(mix @ logits), rel=1e-4)


def test_overlapping_crops_blend_without_seams_and_are_scaled() -> None:
    cams = [np.full((2, 2), 1.0, np.float32), np.full((2, 2), 3.0, np.float32)]
    composed = compose_crops(cams, [(0, 0, 8, 4), (4, 0, 12, 4)], (12, 4))
    assert composed.shape == (4, 12)
    np.testing.assert_allclose(composed[:, :4], 0.0)  # only the low crop
    np.testing.assert_allclose(composed[:, 8:], 1.0)  # only the high crop
    overlap = composed[0, 4:8]
    # Each crop weighs most towards its own middle: the overlap rises smoothly from one crop's value to the other's.
    assert (np.diff(composed[0]) >= -1e-9).all()
    assert 0.0 < overlap[0] < 0.5 < overlap[-1] < 1.0
    np.testing.assert_allclose(overlap + overlap[::-1], 1.0)  # symmetric blend


@pytest.mark.parametrize("size", [(640, 480), (360, 720)])
def test_predictor_saliency_fits_the_preview(tiny_bundle, tmp_path, size) -> None:
    predictor = Predictor(tiny_bundle, provider="cpu")
    path = make_jpeg(tmp_path / "p.jpg", size=size, color_seed=2)
    saliency = predictor.saliency(path, preview_long_px=256)
    expected = (256, 192) if size[0] > size[1] else (128, 256)
    assert saliency.map.shape == (expected[1], expected[0])
    assert saliency.map.min() >= 0.0 and saliency.map.max() <= 1.0 and saliency.map.max() > 0.9
    overlay = Image.open(io.BytesIO(saliency.overlay_png))
    assert overlay.format == "PNG" and overlay.size == expected
    assert saliency.target.startswith("cells_20_50:")
    top_key = predictor.predict_path(path).hierarchy_top[0].key
    assert saliency.target == f"cells_20_50:{top_key}"


def test_base_bundle_saliency_explains_the_top_scene(base_bundle) -> None:
    from pathlib import Path

    sample = Path(__file__).resolve().parents[2] / "resources" / "samples" / "rocket_dscovr_launch.jpg"
    saliency = Predictor(base_bundle, provider="cpu").saliency(sample)
    assert saliency.target == "scene:urban" and saliency.map.shape == (342, 512)
