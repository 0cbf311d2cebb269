"""The shipped base bundle is the int8 model `geotag-train base-model` builds; float16 weight storage is checked."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from geotagger.geocore.inference.bundle import load_bundle  # noqa: E402
from geotagger.geocore.inference.card import card_to_dict  # noqa: E402
from geotagger.trainer.models.check_imagenet import normalised_sanity_batch  # noqa: E402

SHIPPED = Path(__file__).resolve().parents[2] / "resources" / "models" / "base.geomodel"


def _contents(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_shipped_base_bundle_matches_a_fresh_build(tmp_path, capsys) -> None:
    from geotagger.trainer.cli.main import main as geotag_train

    if not SHIPPED.is_file():
        pytest.skip("resources/models/base.geomodel is not checked out")
    out = tmp_path / "base.geomodel"
    assert geotag_train(["base-model", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "int8 onnxruntime vs" in printed and "on 120 views" in printed
    fresh, shipped = _contents(out), _contents(SHIPPED)
    assert fresh.keys() == shipped.keys()
    for name in fresh.keys() - {"model.onnx", "model_card.json"}:
        assert fresh[name] == shipped[name], f"{name} differs: rebuild resources/models/base.geomodel"
    fresh_card, shipped_card = (card_to_dict(load_bundle(p).card) for p in (out, SHIPPED))
    for card in (fresh_card, shipped_card):
        card["files"].pop("model")  # the ONNX bytes may change with the exporter and quantiser; outputs must not
    evaluations = fresh_card.pop("evaluation"), shipped_card.pop("evaluation")
    assert fresh_card == shipped_card
    for key in evaluations[1]:  # another CPU may round a calibration range differently: figures agree, not bits
        assert evaluations[0][key]["top1_percent"] == pytest.approx(evaluations[1][key]["top1_percent"], abs=1.0)
    int8, float32 = (evaluations[1][f"imagenet_sanity_samples_{kind}"] for kind in ("onnx_int8", "torch_fp32"))
    assert int8["views"] == float32["views"] == 120
    assert int8["top1_percent"] >= float32["top1_percent"] - 1.0  # the bar for shipping a quantised model
    images = normalised_sanity_batch()[0][:8]
    import onnxruntime as ort

    runs = [ort.InferenceSession(load_bundle(p).model_bytes, providers=["CPUExecutionProvider"]).run(
        ["imagenet"], {"image": images})[0] for p in (out, SHIPPED)]
    np.testing.assert_allclose(runs[0], runs[1], atol=2e-2)
    assert (runs[0].argmax(1) == runs[1].argmax(1)).all()


def test_shipped_base_bundle_is_int8_with_a_float_stem_feature_map_and_heads() -> None:
    import onnx

    from geotagger.trainer.quantize import float_node_names

    if not SHIPPED.is_file():
        pytest.skip("resources/models/base.geomodel is not checked out")
    graph = onnx.load_from_string(load_bundle(SHIPPED).model_bytes).graph
    int8_weights = [init for init in graph.initializer if init.data_type == onnx.TensorProto.INT8]
    assert len(int8_weights) >= 45  # every conv but the first and the last
    convs = [node for node in graph.node if node.op_type == "Conv"]
    dequantised = {node.output[0] for node in graph.node if node.op_type == "DequantizeLinear"}
    assert convs[0].input[1] not in dequantised and convs[-1].input[1] not in dequantised
    assert all(node.input[1] in dequantised for node in convs[1:-1])
    gemm = next(node for node in graph.node if node.op_type == "Gemm")
    assert gemm.input[1] not in dequantised
    kept = float_node_names(load_bundle(SHIPPED).model_bytes)
    assert {convs[0].name, convs[-1].name, gemm.name} <= set(kept) and len(kept) <= 8
    assert SHIPPED.stat().st_size < 9e6


def test_float16_weight_storage_halves_the_model_and_stays_close(tiny_model, tiny_partitionings, tmp_path) -> None:
    from geotagger.geocore.geo.hierarchy import Hierarchy
    from geotagger.trainer.export import CardFields, export_bundle

    fields = CardFields("tiny-fp16", input_size_px=64)
    hierarchy = Hierarchy(tiny_partitionings)
    full, _ = export_bundle(tiny_model, fields, tiny_partitionings, hierarchy, tmp_path / "a.geomodel")
    half, check = export_bundle(tiny_model, fields, tiny_partitionings, hierarchy, tmp_path / "b.geomodel",
                                weights_fp16=True)
    assert check.fp16_max_probability_diff is not None and check.fp16_max_probability_diff <= 1e-2
    full_bundle, half_bundle = load_bundle(full), load_bundle(half)
    assert len(half_bundle.model_bytes) < 0.75 * len(full_bundle.model_bytes)
    assert half_bundle.heads["geo_0"].weight.dtype == np.float32  # stored as float16, served as float32
    np.testing.assert_allclose(half_bundle.heads["geo_0"].weight, full_bundle.heads["geo_0"].weight, rtol=1e-3)
