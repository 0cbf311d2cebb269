"""`geotag-train evaluate`: the paper's table for every partitioning and the hierarchy; bad rows counted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from geotagger.geocore.geo.hierarchy import Hierarchy
from geotagger.geocore.inference.card import CropSpec
from geotagger.trainer.cli.main import main as train_main
from geotagger.trainer.evaluate import EvaluationError, evaluate_bundle
from geotagger.trainer.export import CardFields, export_bundle
from geotagger.trainer.training.config import config_from_dict
from geotagger.trainer.training.loop import fit, load_run_model
from tests.trainer.synthetic import make_photo_set, train_test_split_by_spot, training_setup, write_meta_csv
from tests.trainer.test_personalize import tiny_base_bundle


def _bundle(tmp_path: Path) -> Path:
    run_dir = fit(config_from_dict(training_setup(tmp_path, n_spots=6, per_spot=12, epochs=1)))
    model, partitionings, _ = load_run_model(run_dir)
    path, _ = export_bundle(model, CardFields("small", input_size_px=32, crops=CropSpec(1, "mean", 36)),
                            partitionings, Hierarchy(partitionings), tmp_path / "small.geomodel")
    return path


def test_evaluate_prints_every_partitioning_and_the_hierarchy_and_counts_bad_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = _bundle(tmp_path)
    _, (lat, lon) = train_test_split_by_spot(6, 12, 4, seed=1)
    test = make_photo_set(tmp_path / "test", lat, lon, seed=9, size_px=40)
    (tmp_path / "test" / test.names[0]).write_bytes(b"garbage, not a JPEG")
    test.names.append("missing.jpg")
    test.lat, test.lon = list(test.lat) + [10.0], list(test.lon) + [10.0]
    csv_path = write_meta_csv(tmp_path / "test.csv", test)
    with open(csv_path, "a", encoding="utf-8") as handle:
        handle.write(f"{test.names[1]},someone,123.0,5.0,0\n")
    code = train_main(["evaluate", "--model", str(bundle), "--csv", str(csv_path), "--images", str(tmp_path / "test"),
                       "--json", str(tmp_path / "tables.json")])
    out = capsys.readouterr().out
    assert code == 0
    assert "23 of 26 test photos used, 3 skipped" in out
    for row in ("cells_8_120", "cells_8_30", "hierarchy", "1km", "2500km", "median km"):
        assert row in out
    tables = json.loads((tmp_path / "tables.json").read_text())
    assert tables["hierarchy"]["count"] == 23 and set(tables["hierarchy"]["within_percent"]) == {
        "1", "25", "200", "750", "2500"}


def test_evaluate_refuses_bundles_without_location_heads_and_csvs_without_usable_rows(tmp_path: Path) -> None:
    base = tiny_base_bundle(tmp_path / "base.geomodel")
    photos = make_photo_set(tmp_path / "img", [45.0], [5.0], seed=0)
    csv_path = write_meta_csv(tmp_path / "t.csv", photos)
    with pytest.raises(EvaluationError, match="no location heads"):
        evaluate_bundle(base, csv_path, tmp_path / "img")
    bundle = _bundle(tmp_path)
    (tmp_path / "img" / photos.names[0]).write_bytes(b"")
    with pytest.raises(EvaluationError, match="no usable test photo"):
        evaluate_bundle(bundle, csv_path, tmp_path / "img")
    assert train_main(["evaluate", "--model", str(tmp_path / "nope.geomodel"), "--csv", str(csv_path),
                       "--images", str(tmp_path / "img")]) == 2
