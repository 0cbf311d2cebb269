"""Predictor: records in input order, error records for bad files, progress, cancel, overrides, providers."""

from __future__ import annotations

import threading

import pytest

from geotagger.geocore.inference.predictor import Predictor
from geotagger.geocore.inference.runtime import ProviderError, create_session
from tests.photo_factory import make_jpeg, make_png


def _bad_files(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "zero.jpg").write_bytes(b"")
    (folder / "notes.jpg").write_text("not an image")
    data = make_jpeg(folder / "tmp.jpg", size=(640, 480)).read_bytes()
    (folder / "tmp.jpg").unlink()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 4])
    corrupt = bytearray(data)
    corrupt[300:] = b"\xff" * (len(corrupt) - 300)
    (folder / "corrupt.jpg").write_bytes(bytes(corrupt))
    return [folder / name for name in ("zero.jpg", "notes.jpg", "truncated.jpg", "corrupt.jpg", "missing.jpg")]


def test_bad_inputs_become_error_records_and_the_batch_goes_on(tiny_bundle, tmp_path) -> None:
    good = [make_jpeg(tmp_path / f"g{i}.jpg", size=(320, 240), color_seed=i) for i in range(3)]
    bad = _bad_files(tmp_path / "bad")
    paths = [good[0], *bad, good[1], good[2]]
    seen: list[tuple[int, int]] = []
    predictor = Predictor(tiny_bundle, provider="cpu", batch_photos=2)
    predictions = list(predictor.predict_paths(paths, progress=lambda done, total: seen.append((done, total))))
    assert [p.path for p in predictions] == [str(p) for p in paths]
    assert [p.ok for p in predictions] == [True, False, False, False, False, False, True, True]
    for prediction in predictions[1:6]:
        assert prediction.error and prediction.lat is None and prediction.model_id == "tiny-test"
    assert "not an image" in predictions[2].error and "not found" in predictions[5].error
    assert seen[-1] == (8, 8) and len(seen) == 8
    for prediction in (predictions[0], predictions[6]):
        assert -90 <= prediction.lat <= 90 and prediction.radius_km > 0 and prediction.provider == "cpu"
        assert len(prediction.hierarchy_top) == 5 and set(prediction.partitioning_top) == {
            "cells_20_300", "cells_20_100", "cells_20_50"}
        assert sum(prediction.scene.values()) == pytest.approx(1.0)


def test_batching_does_not_change_results(tiny_bundle, tmp_path) -> None:
    paths = [make_png(tmp_path / f"p{i}.png", size=(200 + 40 * i, 160), color_seed=i) for i in range(5)]
    one = [p.to_json() for p in Predictor(tiny_bundle, provider="cpu", batch_photos=1).predict_paths(paths)]
    many = [p.to_json() for p in Predictor(tiny_bundle, provider="cpu", batch_photos=4).predict_paths(paths)]
    for a, b in zip(one, many, strict=True):
        assert a["hierarchy_top"][0]["key"] == b["hierarchy_top"][0]["key"]
        assert a["radius_km"] == pytest.approx(b["radius_km"], rel=1e-4)


def test_cancel_stops_early(tiny_bundle, tmp_path) -> None:
    paths = [make_jpeg(tmp_path / f"c{i}.jpg", size=(160, 120), color_seed=i) for i in range(12)]
    cancel = threading.Event()
    predictor = Predictor(tiny_bundle, provider="cpu", batch_photos=2)
    results = []
    for prediction in predictor.predict_paths(paths, cancel=cancel):
        results.append(prediction)
        if len(results) == 3:
            cancel.set()
    assert 3 <= len(results) < 12


def test_crop_and_aggregation_overrides(tiny_bundle, tmp_path) -> None:
    path = make_jpeg(tmp_path / "wide.jpg", size=(900, 300), color_seed=7)
    card_default = Predictor(tiny_bundle, provider="cpu")
    assert (card_default.crops, card_default.aggregation) == (3, "mean")
    results = {}
    for crops, how in [(1, "mean"), (3, "mean"), (3, "max"), (5, "max")]:
        prediction = Predictor(tiny_bundle, provider="cpu", crops=crops, aggregation=how).predict_path(path)
        results[(crops, how)] = prediction.partitioning_top["cells_20_50"][0].probability
    assert len(set(results.values())) == 4
    with pytest.raises(ValueError):
        Predictor(tiny_bundle, provider="cpu", crops=4)


def test_provider_auto_is_quiet_and_reported(tiny_bundle, capfd) -> None:
    predictor = Predictor(tiny_bundle, provider="auto")
    assert predictor.provider in ("cpu", "cuda")
    captured = capfd.readouterr()
    assert "CUDA" not in captured.err and "rror" not in captured.err


def test_cuda_request_without_gpu_is_a_clear_error(tiny_bundle) -> None:
    from geotagger.geocore.inference.bundle import load_bundle

    bundle = load_bundle(tiny_bundle)
    if Predictor(bundle, provider="auto").provider == "cuda":
        assert create_session(bundle, "cuda").provider == "cuda"
        return
    with pytest.raises(ProviderError, match="CUDA"):
        create_session(bundle, "cuda")
    with pytest.raises(ProviderError, match="unknown provider"):
        create_session(bundle, "tpu")


def test_prediction_json_round_trip(tiny_bundle, tmp_path) -> None:
    import json

    from geotagger.geocore.inference.predictor import PhotoPrediction

    prediction = Predictor(tiny_bundle, provider="cpu").predict_path(make_jpeg(tmp_path / "a.jpg", size=(96, 64)))
    assert prediction.ok and prediction.hierarchy_top
    record = json.loads(json.dumps(prediction.to_json()))
    assert PhotoPrediction.from_json(record) == prediction
