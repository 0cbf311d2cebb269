"""The shipped base bundle is what `geotag-train base-model` builds, and float16 weight storage is checked."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from geocore.inference.bundle import load_bundle  # noqa: E402
from geocore.inference.card import card_to_dict  # noqa: E402

SHIPPED = Path(__file__).resolve().parents[2] / "resources" / "models" / "base.geomodel"


def _contents(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_shipped_base_bundle_matches_a_fresh_build(tmp_path, capsys) -> None:
    from trainer.cli.main import main as geotag_train

    if not SHIPPED.is_file():
        pytest.skip("resources/models/base.geomodel is not checked out")
    out = tmp_path / "base.geomodel"
    assert geotag_train(["base-model", "--out", str(out)]) == 0
    assert "top-1 100.0%" in capsys.readouterr().out
    fresh, shipped = _contents(out), _contents(SHIPPED)
    assert fresh.keys() == shipped.keys()
    for name in fresh.keys() - {"model.onnx", "model_card.json"}:
        assert fresh[name] == shipped[name], f"{name} differs: rebuild resources/models/base.geomodel"
    fresh_card, shipped_card = (card_to_dict(load_bundle(p).card) for p in (out, SHIPPED))
    for card in (fresh_card, shipped_card):
        card["files"].pop("model")  # the ONNX bytes may change with the exporter; its outputs must not
    assert fresh_card == shipped_card
    images = np.random.default_rng(0).normal(size=(2, 3, 224, 224)).astype(np.float32)
    import onnxruntime as ort

    runs = [ort.InferenceSession(load_bundle(p).model_bytes, providers=["CPUExecutionProvider"]).run(
        ["imagenet"], {"image": images})[0] for p in (out, SHIPPED)]
    np.testing.assert_allclose(runs[0], runs[1], atol=1e-4)


def test_float16_weight_storage_halves_the_model_and_stays_close(tiny_model, tiny_partitionings, tmp_path) -> None:
    from geocore.geo.hierarchy import Hierarchy
    from trainer.export import CardFields, export_bundle

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
