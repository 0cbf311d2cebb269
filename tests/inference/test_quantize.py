"""int8 export: which nodes are quantised, that the bundle still predicts like the float one, and exact CAMs."""

from __future__ import annotations

import numpy as np
import pytest

from geotagger.geocore.geo.hierarchy import Hierarchy
from geotagger.geocore.inference.bundle import load_bundle
from geotagger.geocore.inference.predictor import Predictor
from geotagger.geocore.inference.saliency import class_activation_map
from tests.inference.conftest import TINY_INPUT_PX
from tests.photo_factory import make_jpeg

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def calibration():
    from geotagger.geocore.inference.card import IMAGENET_MEAN, IMAGENET_STD
    from geotagger.trainer.quantize import calibration_batch, calibration_photos

    return calibration_batch(IMAGENET_MEAN, IMAGENET_STD, TINY_INPUT_PX, calibration_photos()[:4])


@pytest.fixture(scope="module")
def bundles(tiny_model, tiny_partitionings, calibration, tmp_path_factory):
    from geotagger.trainer.export import CardFields, export_bundle

    folder = tmp_path_factory.mktemp("int8")
    fields = CardFields("tiny-int8", input_size_px=TINY_INPUT_PX)
    hierarchy = Hierarchy(tiny_partitionings)
    float_path, _ = export_bundle(tiny_model, fields, tiny_partitionings, hierarchy, folder / "float.geomodel")
    int8_path, check = export_bundle(tiny_model, fields, tiny_partitionings, hierarchy, folder / "int8.geomodel",
                                     weights_fp16=True, int8_calibration=calibration)
    return float_path, int8_path, check


def _run(path, images, names):
    import onnxruntime as ort

    session = ort.InferenceSession(load_bundle(path).model_bytes, providers=["CPUExecutionProvider"])
    return dict(zip(names, session.run(names, {"image": images}), strict=True))


def test_calibration_views_cover_every_photo_at_three_scales(calibration) -> None:
    assert calibration.shape == (4 * 3 * 5 * 2, 3, TINY_INPUT_PX, TINY_INPUT_PX)
    assert calibration.dtype == np.float32 and np.isfinite(calibration).all()
    assert len({calibration[index].tobytes() for index in range(len(calibration))}) == len(calibration)


def test_only_the_middle_convs_are_quantised(bundles) -> None:
    _, int8_path, _ = bundles
    graph = onnx.load_from_string(load_bundle(int8_path).model_bytes).graph
    dequantised = {node.output[0] for node in graph.node if node.op_type == "DequantizeLinear"}
    convs = [node for node in graph.node if node.op_type == "Conv"]
    assert [conv.input[1] in dequantised for conv in convs] == [False, True, False]  # tiny: stem, middle, last
    after_last_conv = [node for node in graph.node][list(graph.node).index(convs[-1]):]
    assert {"Gemm", "Softmax"} <= {node.op_type for node in after_last_conv}
    assert not any(name in dequantised for node in after_last_conv[1:] for name in node.input)  # float to the end
    initializers = {init.name: init for init in graph.initializer}
    int8_weight = next(initializers[node.input[0]] for node in graph.node
                       if node.op_type == "DequantizeLinear" and node.output[0] == convs[1].input[1])
    assert int8_weight.data_type == onnx.TensorProto.INT8
    weight = onnx.numpy_helper.to_array(int8_weight)
    assert np.abs(weight).max() <= 64  # 7-bit range: no VPMADDUBSW saturation on CPUs without VNNI
    # float16 storage leaves every quantisation scale and zero point an exact float32 / integer initializer
    for node in graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            assert all(name in initializers for name in node.input[1:])
            assert initializers[node.input[1]].data_type == onnx.TensorProto.FLOAT


def test_int8_bundle_predicts_like_the_float_one(bundles, calibration, tiny_model) -> None:
    float_path, int8_path, check = bundles
    heads = list(tiny_model.head_names)
    full, int8 = (_run(path, calibration, heads) for path in (float_path, int8_path))
    assert check.worst <= 1e-4 and check.int8_max_probability_diff is not None
    for name in heads:
        assert np.abs(full[name] - int8[name]).max() <= max(0.3, check.int8_max_probability_diff)
        agreement = (full[name].argmax(1) == int8[name].argmax(1)).mean()
        assert agreement >= 0.9, f"{name}: int8 agrees with float32 on only {agreement:.0%} of the views"
    assert len(load_bundle(int8_path).model_bytes) < len(load_bundle(float_path).model_bytes)


def test_int8_bundle_cam_still_averages_to_the_graph_logit(bundles, calibration) -> None:
    _, int8_path, _ = bundles
    bundle = load_bundle(int8_path)
    outputs = _run(int8_path, calibration[:6], ["geo_2", "feature_map"])
    head = bundle.heads["geo_2"]
    for view in range(6):
        cam_means = np.array([class_activation_map(outputs["feature_map"][view], head.weight[k], float(head.bias[k]))
                              .mean() for k in range(len(head.bias))])
        softmax = np.exp(cam_means - cam_means.max())
        np.testing.assert_allclose(softmax / softmax.sum(), outputs["geo_2"][view], atol=1e-4)


def test_predictor_runs_the_int8_bundle(bundles, tmp_path) -> None:
    _, int8_path, _ = bundles
    photo = make_jpeg(tmp_path / "p.jpg", size=(320, 240), color_seed=3)
    prediction = Predictor(int8_path, provider="cpu").predict_path(photo)
    assert prediction.ok and prediction.lat is not None and prediction.hierarchy_top
