"""Export: the ONNX graph reproduces torch within 1e-4 on the same tensors, and the bundle loads in geocore."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from geotagger.geocore.geo.hierarchy import Hierarchy  # noqa: E402
from geotagger.geocore.inference.bundle import load_bundle  # noqa: E402
from geotagger.geocore.inference.preprocess import prepare_photo  # noqa: E402
from tests.inference.conftest import TINY_INPUT_PX  # noqa: E402
from tests.photo_factory import make_jpeg  # noqa: E402


def _run_onnx(bundle, images: np.ndarray) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(bundle.model_bytes, providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(None, {"image": images.astype(np.float32)}), strict=True))


@pytest.mark.parametrize("batch", [1, 5])
def test_onnx_outputs_equal_torch_on_the_same_tensors(tiny_bundle, tiny_model, batch: int) -> None:
    bundle = load_bundle(tiny_bundle)
    images = torch.randn(batch, 3, TINY_INPUT_PX, TINY_INPUT_PX, generator=torch.Generator().manual_seed(batch))
    onnx_out = _run_onnx(bundle, images.numpy())
    with torch.no_grad():
        feature_map = tiny_model.forward_features(images)
        logits = tiny_model.forward_head(feature_map)
    for name, value in logits.items():
        np.testing.assert_allclose(onnx_out[name], torch.softmax(value, -1).numpy(), atol=1e-4, rtol=0)
        assert onnx_out[name].shape == (batch, value.shape[1])
    np.testing.assert_allclose(onnx_out["feature_map"], feature_map.numpy(), atol=1e-4, rtol=0)
    np.testing.assert_allclose(onnx_out["embedding"], feature_map.mean(dim=(2, 3)).numpy(), atol=1e-4, rtol=0)


def test_onnx_equals_torch_on_a_preprocessed_photo(tiny_bundle, tiny_model, tmp_path) -> None:
    bundle = load_bundle(tiny_bundle)
    photo = make_jpeg(tmp_path / "a.jpg", size=(400, 300), color_seed=3)
    crops = prepare_photo(photo, bundle.card.input, bundle.card.crops).crops
    onnx_out = _run_onnx(bundle, crops)
    with torch.no_grad():
        torch_out = tiny_model(torch.from_numpy(crops))
    np.testing.assert_allclose(onnx_out["geo_2"], torch.softmax(torch_out["geo_2"], -1).numpy(), atol=1e-4, rtol=0)


def test_bundle_card_heads_and_partitionings_match_the_model(tiny_bundle, tiny_model, tiny_partitionings) -> None:
    bundle = load_bundle(tiny_bundle)
    card = bundle.card
    assert card.backbone == "tiny" and card.input.size_px == TINY_INPUT_PX
    assert [ref.classes for ref in card.partitionings] == [len(p) for p in tiny_partitionings]
    assert [p.keys for p in bundle.partitionings] == [p.keys for p in tiny_partitionings]
    np.testing.assert_array_equal(bundle.hierarchy.parent_index, Hierarchy(tiny_partitionings).parent_index)
    np.testing.assert_array_equal(bundle.heads["geo_1"].weight, tiny_model.heads["geo_1"].weight.detach().numpy())
    assert card.scene is not None and card.scene.source == "head"
    assert card.scene.labels == ("indoor", "natural", "urban")


def test_export_refuses_partitionings_that_do_not_match_heads(tiny_model, tiny_partitionings, tmp_path) -> None:
    from geotagger.trainer.export import CardFields, ExportError, export_bundle

    with pytest.raises(ExportError, match="classes"):
        export_bundle(tiny_model, CardFields("x", input_size_px=TINY_INPUT_PX), tiny_partitionings[:2], None,
                      tmp_path / "x.geomodel")
    assert not (tmp_path / "x.geomodel").exists()
