"""Personal models: embeddings once through ONNX (cached), adaptive partitionings, heads, held-out table in the card."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from geotagger.geocore.inference.bundle import load_bundle
from geotagger.geocore.inference.card import CropSpec
from geotagger.geocore.inference.predictor import Predictor
from geotagger.trainer.cli.main import main as train_main
from geotagger.trainer.export import CardFields, export_bundle
from geotagger.trainer.models import build_model
from geotagger.trainer.personalize import PersonalizeError, PersonalizeOptions, personalize
from tests.trainer.synthetic import make_photo_set, train_test_split_by_spot


def tiny_base_bundle(path: Path) -> Path:
    """A base bundle without location heads (random tiny backbone): just an 'embedding' output."""
    torch.manual_seed(0)
    model = build_model("tiny", [], None, pretrained=False)
    bundle, _ = export_bundle(model, CardFields("tiny-base", input_size_px=32, crops=CropSpec(3, "mean", 36)), [],
                              None, path)
    return bundle


def _library(root: Path, n_spots: int = 8, per_spot: int = 12) -> Path:
    (lat, lon), _ = train_test_split_by_spot(n_spots, per_spot, 0, seed=4)
    make_photo_set(root / "photos" / "trips", lat, lon, seed=5, size_px=48)
    make_photo_set(root / "photos" / "scans", lat[:3], lon[:3], seed=6, with_gps=False, prefix="scan")
    (root / "photos" / "trips" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    return root / "photos"


def test_personal_model_learns_places_caches_embeddings_and_ships_its_holdout_table(tmp_path: Path) -> None:
    base = tiny_base_bundle(tmp_path / "base.geomodel")
    library = _library(tmp_path)
    options = PersonalizeOptions(base_model=str(base), cache_path=str(tmp_path / "cache.sqlite3"), epochs=40)
    calls: list[tuple[int, int]] = []
    first = personalize([library], tmp_path / "me.geomodel", options, progress=lambda *a: calls.append(a))
    assert calls[-1] == (96, 96)
    print("\n" + first.format())
    assert first.embeddings.computed == 96 and first.embeddings.cached == 0
    assert first.train_photos + first.holdout_photos <= 96 and first.holdout_photos == 20 and first.shipped_photos == 96
    assert first.skipped.counts["no GPS"] == 3 and sum(first.skipped.counts.values()) >= 4
    hierarchy = first.tables["hierarchy"]
    assert hierarchy.count == 20 and hierarchy.within_percent[25.0] >= 50.0  # chance: 1 place in 8

    bundle = load_bundle(first.bundle_path)
    card = json.loads(zipfile.ZipFile(first.bundle_path).read("model_card.json"))
    assert card["evaluation"]["tables"]["hierarchy"]["count"] == 20
    assert card["crops"]["count"] == 1 and card["training"]["kind"] == "personal"
    assert [ref.head for ref in bundle.card.partitionings] == [f"geo_{i}" for i in range(len(bundle.partitionings))]
    predictions = list(Predictor(bundle).predict_paths(sorted((library / "trips").glob("p000*.jpg"))[:5]))
    assert all(p.ok and p.lat is not None for p in predictions)

    second = personalize([library], tmp_path / "me2.geomodel", options)
    assert second.embeddings.cached == 96 and second.embeddings.computed == 0
    assert np.isclose(second.tables["hierarchy"].median_km, hierarchy.median_km)


def test_too_few_photos_or_no_base_model_are_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = tiny_base_bundle(tmp_path / "base.geomodel")
    library = _library(tmp_path, n_spots=2, per_spot=5)
    options = PersonalizeOptions(base_model=str(base), cache_path=str(tmp_path / "cache.sqlite3"))
    with pytest.raises(PersonalizeError, match="only 10 geotagged photos"):
        personalize([library], tmp_path / "me.geomodel", options)
    with pytest.raises(PersonalizeError, match="no such model bundle"):
        personalize([library], tmp_path / "me.geomodel", PersonalizeOptions(base_model=str(tmp_path / "none")))
    code = train_main(["personalize", "--library", str(library), "--out", str(tmp_path / "x.geomodel"),
                       "--base-model", str(base), "--cache", str(tmp_path / "cache.sqlite3")])
    assert code == 2 and "at least 20 are needed" in capsys.readouterr().err
    assert not (tmp_path / "x.geomodel").exists()


def test_cli_builds_a_semantic_personal_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = tiny_base_bundle(tmp_path / "base.geomodel")
    library = _library(tmp_path, n_spots=6, per_spot=10)
    code = train_main(["personalize", "--library", str(library), "--out", str(tmp_path / "sem.geomodel"),
                       "--base-model", str(base), "--cache", str(tmp_path / "c.sqlite3"), "--partitioning",
                       "semantic", "--epochs", "20"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "held-out accuracy" in captured.out and "hierarchy" in captured.out
    assert "60/60" in captured.err  # the terminal's progress bar
    bundle = load_bundle(tmp_path / "sem.geomodel")
    assert bundle.partitionings and all(p.kind == "semantic" for p in bundle.partitionings)
    assert bundle.card.training["partitioning"] == "semantic"
