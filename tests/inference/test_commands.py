"""`geotag predict` and `geotag-train export` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from geotagger.geocore.cli.main import main as geotag
from tests.photo_factory import make_jpeg, make_png


def test_predict_walks_folders_and_writes_one_json_object_per_photo(tiny_bundle, tmp_path, capsys) -> None:
    make_jpeg(tmp_path / "album" / "A.JPG", size=(320, 240))
    make_png(tmp_path / "album" / "deeper" / "b.Png", size=(200, 300))
    (tmp_path / "album" / "deeper" / "broken.jpeg").write_bytes(b"\xff\xd8\xff")
    (tmp_path / "album" / "notes.txt").write_text("skipped: not a photo extension")
    out = tmp_path / "out" / "predictions.jsonl"
    status = geotag(["predict", str(tmp_path / "album"), "--model", str(tiny_bundle), "--top-k", "2",
                     "--crops", "1", "--provider", "cpu", "--json", str(out)])
    assert status == 1  # broken.jpeg could not be predicted: any failed file makes the status non-zero
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["path"].rsplit("/", 1)[-1] for r in records] == ["A.JPG", "b.Png", "broken.jpeg"]
    good = records[0]
    assert good["error"] is None and good["model_id"] == "tiny-test" and good["provider"] == "cpu"
    assert set(good) >= {"lat", "lon", "radius_km", "scene", "partitioning_top", "hierarchy_top"}
    assert all(len(cells) == 2 for cells in good["partitioning_top"].values())
    assert set(good["partitioning_top"]["cells_20_50"][0]) == {"key", "label", "probability", "lat", "lon"}
    assert records[2]["error"] and records[2]["lat"] is None
    assert "2 of 3 photo(s) predicted" in capsys.readouterr().err


def test_predict_exit_status_when_nothing_is_readable(tiny_bundle, tmp_path, capsys) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"")
    assert geotag(["predict", str(bad), "--model", str(tiny_bundle)]) == 1
    line = capsys.readouterr().out.strip()
    assert json.loads(line)["error"]
    assert geotag(["predict", str(bad), "--model", str(tmp_path / "absent.geomodel")]) == 2
    assert "no such model bundle" in capsys.readouterr().err


def test_export_command_writes_a_bundle_from_a_run_folder(tiny_model, tiny_partitionings, tmp_path, capsys) -> None:
    torch = pytest.importorskip("torch")
    from geotagger.trainer.cli.main import main as geotag_train
    from geotagger.trainer.training.config import config_from_dict, save_config
    from geotagger.trainer.training.run_folder import save_checkpoint

    run = tmp_path / "runs" / "20260101-000000-tiny"
    (run / "partitionings").mkdir(parents=True)
    (run / "checkpoints").mkdir()
    for partitioning in tiny_partitionings:
        partitioning.write_csv(run / "partitionings" / f"{partitioning.name}.csv")
    (tmp_path / "meta.csv").write_text("IMG_ID,LAT,LON\n")
    config = config_from_dict({
        "train": {"source": "csv", "csv": str(tmp_path / "meta.csv"), "images": str(tmp_path)},
        "model": {"backbone": "tiny", "pretrained": False, "scene_classes": 3, "input_size": 64, "eval_resize": 72,
                  "partitionings": [str(run / "partitionings" / f"{p.name}.csv") for p in tiny_partitionings]},
    }, tmp_path)
    save_config(config, run / "config.yaml")
    save_checkpoint({"model": tiny_model.state_dict(), "epoch": 1}, run / "checkpoints" / "best.pt")
    (run / "metrics.csv").write_text("epoch,val_loss\n1,2.5\n")
    out = tmp_path / "tiny.geomodel"
    assert geotag_train(["export", "--run", str(run), "--out", str(out)]) == 0
    assert "max abs diff" in capsys.readouterr().out

    from geotagger.geocore.inference.predictor import Predictor

    predictor = Predictor(out, provider="cpu")
    card = predictor.bundle.card
    assert card.model_id == run.name and card.crops.resize_short_px == 72 and card.scene.labels[0] == "indoor"
    assert card.evaluation["last_epoch"] == {"epoch": "1", "val_loss": "2.5"}
    images = np.random.default_rng(1).normal(size=(2, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        expected = torch.softmax(tiny_model(torch.from_numpy(images))["geo_0"], -1).numpy()
    np.testing.assert_allclose(predictor.session.run(images)["geo_0"], expected, atol=1e-4)
