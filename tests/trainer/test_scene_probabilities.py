"""`geotag-train scene-probabilities`: a scene bundle's S3 probabilities into the meta CSV, then ISNs train on it."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from geotagger.trainer.cli.main import main
from tests.trainer.synthetic import training_setup

PROBABILITIES = ("Prob_indoor", "Prob_natural", "Prob_urban")


@pytest.fixture(scope="module")
def scene_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny bundle with an S3 scene head (its location heads are not used here)."""
    import torch

    from geotagger.geocore.geo.hierarchy import Hierarchy
    from geotagger.geocore.geo.partitioning import build_s2_partitionings
    from geotagger.geocore.inference.card import CropSpec
    from geotagger.trainer.export import CardFields, export_bundle
    from geotagger.trainer.models import build_model
    from tests.trainer.synthetic import spot_locations

    lat, lon = spot_locations(3, 10, seed=9)
    partitionings = build_s2_partitionings(lat, lon, 5, [20])
    torch.manual_seed(3)
    model = build_model("tiny", [len(p) for p in partitionings], scene_classes=3, pretrained=False).eval()
    with torch.no_grad():
        model.heads["scene"].weight.mul_(20)  # scenes that differ from photo to photo
    out = tmp_path_factory.mktemp("scene") / "scene.geomodel"
    path, _ = export_bundle(model, CardFields("scene-test", input_size_px=32, crops=CropSpec(1, "mean", 36)),
                            partitionings, Hierarchy(partitionings), out)
    return path


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.read_text().splitlines()))


def test_every_row_gets_the_bundle_s_own_prediction_and_a_missing_photo_stays_blank(tmp_path: Path,
                                                                                   scene_bundle: Path) -> None:
    from geotagger.geocore.inference.predictor import Predictor

    training_setup(tmp_path, n_spots=2, per_spot=5)
    with (tmp_path / "train.csv").open("a", newline="") as handle:
        csv.writer(handle).writerow(["gone.jpg", "x", "45.0", "5.0", "0"])
    assert main(["scene-probabilities", "--scene-bundle", str(scene_bundle), "--csv", str(tmp_path / "train.csv"),
                 "--images", str(tmp_path / "img"), "--out", str(tmp_path / "scenes.csv"), "--provider", "cpu"]) == 0
    rows = _rows(tmp_path / "scenes.csv")
    assert len(rows) == 11 and rows[-1]["IMG_ID"] == "gone.jpg" and rows[-1]["Prob_indoor"] == ""
    predictor = Predictor(scene_bundle, scene_bundle=None, provider="cpu")
    for row in rows[:-1]:
        expected = predictor.predict_path(tmp_path / "img" / row["IMG_ID"]).scene
        assert [float(row[name]) for name in PROBABILITIES] == pytest.approx(
            [expected["indoor"], expected["natural"], expected["urban"]], abs=1e-5)
        assert row["LAT"] and row["AUTHOR"] == "someone"  # the CSV's own columns are kept
    assert len({row["Prob_urban"] for row in rows[:-1]}) > 1


def test_shards_are_annotated_and_an_isn_run_streams_the_result(tmp_path: Path, scene_bundle: Path) -> None:
    from geotagger.trainer.training.config import config_from_dict
    from geotagger.trainer.training.loop import fit
    from tests.trainer.synthetic import write_tar_shards

    setup = training_setup(tmp_path, n_spots=4, per_spot=8, epochs=1, batch_size=8)
    shards = write_tar_shards(tmp_path, 2)
    assert main(["scene-probabilities", "--scene-bundle", str(scene_bundle), "--csv", str(tmp_path / "train.csv"),
                 "--shards", str(shards), "--out", str(tmp_path / "scenes.csv"), "--provider", "cpu"]) == 0
    rows = _rows(tmp_path / "scenes.csv")
    assert len(rows) == 32 and all(sum(float(row[name]) for name in PROBABILITIES) == pytest.approx(1, abs=1e-4)
                                   for row in rows)
    setup["train"] = {"source": "shards", "shards": [str(shards)], "csv": str(tmp_path / "scenes.csv"),
                      "scene_probabilities": True, "shuffle_buffer": 8}
    setup["model"]["method"] = "isn"
    run_dir = fit(config_from_dict(setup))
    assert float(_rows(run_dir / "metrics.csv")[0]["train_images"]) >= 24


def test_a_bundle_without_s3_scenes_is_refused(tmp_path: Path, scene_bundle: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    training_setup(tmp_path, n_spots=1, per_spot=2)
    assert main(["scene-probabilities", "--scene-bundle", str(tmp_path / "train.csv"), "--csv",
                 str(tmp_path / "train.csv"), "--images", str(tmp_path / "img"), "--out",
                 str(tmp_path / "o.csv")]) == 2
    assert "geotag-train scene-probabilities:" in capsys.readouterr().err and not (tmp_path / "o.csv").exists()
