"""Training runs: run folder contents, safe checkpoints, exact resume after a crash, CLI errors."""

from __future__ import annotations

import copy
import csv
from pathlib import Path

import pytest
import torch
import yaml

from geotagger.trainer.cli.main import main as train_main
from geotagger.trainer.training.config import config_from_dict
from geotagger.trainer.training.loop import fit, learning_rate, load_run_model, resume
from tests.trainer.synthetic import training_setup


class Crash(RuntimeError):
    """Stands for a crash (power cut, OOM kill) right after an epoch's checkpoint was written."""


def test_fit_writes_a_complete_run_folder_with_safe_checkpoints(tmp_path: Path) -> None:
    setup = training_setup(tmp_path)
    setup["val"] = dict(setup["train"])
    run_dir = fit(config_from_dict(setup))
    for name in ("config.yaml", "git_revision.txt", "train.log", "metrics.csv", "summary.json", "hierarchy.csv",
                 "checkpoints/latest.pt", "checkpoints/best.pt"):
        assert (run_dir / name).is_file(), name
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["optim"]["epochs"] == 2
    rows = list(csv.DictReader((run_dir / "metrics.csv").read_text().splitlines()))
    assert [row["epoch"] for row in rows] == ["1", "2"] and float(rows[1]["lr"]) == pytest.approx(0.025)
    assert float(rows[1]["train_loss"]) < float(rows[0]["train_loss"])
    assert 0 <= float(rows[1]["val_top1_hierarchy"]) <= 1 and float(rows[1]["val_images"]) == 240
    state = torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=True)
    assert state["epoch"] == 2 and "model" in state and "optimizer" in state
    model, partitionings, config = load_run_model(run_dir)
    assert [len(p) for p in partitionings] == model.partition_sizes and config.model.backbone == "tiny"
    assert "epoch 2" in (run_dir / "train.log").read_text()


def test_resume_after_a_crash_ends_with_the_same_weights_as_an_uninterrupted_run(tmp_path: Path) -> None:
    setup = training_setup(tmp_path, n_spots=8, per_spot=12, epochs=3)
    reference = fit(config_from_dict(copy.deepcopy(setup)))

    def crash_after_first_epoch(epoch: int, figures: dict) -> None:
        if epoch == 1:
            raise Crash("simulated crash")

    with pytest.raises(Crash):
        fit(config_from_dict(copy.deepcopy(setup)), on_epoch_end=crash_after_first_epoch)
    crashed = max((tmp_path / "runs").iterdir(), key=lambda p: p.stat().st_mtime_ns)
    assert crashed != reference and torch.load(crashed / "checkpoints/latest.pt", weights_only=True)["epoch"] == 1
    assert resume(crashed) == crashed
    resumed_state = torch.load(crashed / "checkpoints/latest.pt", weights_only=True)["model"]
    reference_state = torch.load(reference / "checkpoints/latest.pt", weights_only=True)["model"]
    assert resumed_state.keys() == reference_state.keys()
    for key, value in reference_state.items():
        assert torch.equal(value, resumed_state[key]), key
    epochs = [row["epoch"] for row in csv.DictReader((crashed / "metrics.csv").read_text().splitlines())]
    assert epochs == ["1", "2", "3"]


def test_learning_rate_follows_the_milestones() -> None:
    config = config_from_dict({"train": {"source": "folders", "folders": ["x"]},
                               "model": {"backbone": "tiny", "partitionings": ["p.csv"]}})
    assert [learning_rate(config, e) for e in (0, 3, 4, 8, 15)] == pytest.approx(
        [0.01, 0.01, 0.005, 0.0025, 0.01 * 0.5**6])


def test_cli_reports_bad_configs_and_data_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    setup = training_setup(tmp_path, n_spots=3, per_spot=10)
    setup["optim"]["momentun"] = 0.9
    (tmp_path / "typo.yaml").write_text(yaml.safe_dump(setup))
    assert train_main(["fit", "--config", str(tmp_path / "typo.yaml")]) == 2
    assert "unknown key(s) momentun" in capsys.readouterr().err
    del setup["optim"]["momentun"]
    setup["train"]["images"] = str(tmp_path / "nowhere")
    (tmp_path / "noimg.yaml").write_text(yaml.safe_dump(setup))
    assert train_main(["fit", "--config", str(tmp_path / "noimg.yaml")]) == 2
    assert "image folder not found" in capsys.readouterr().err
    assert train_main(["fit", "--resume", str(tmp_path / "no-run")]) == 2


def test_scene_labels_train_a_scene_head_with_the_weighted_loss(tmp_path: Path, caplog) -> None:
    from tests.trainer.synthetic import SyntheticSet, write_meta_csv

    setup = training_setup(tmp_path, n_spots=4, per_spot=12, epochs=1, scene_weight=0.5)
    names = sorted(p.name for p in (tmp_path / "img").iterdir())
    rows = list(csv.DictReader((tmp_path / "train.csv").read_text().splitlines()))
    photos = SyntheticSet(names, [float(r["LAT"]) for r in rows], [float(r["LON"]) for r in rows])
    write_meta_csv(tmp_path / "train.csv", photos, scene=[i % 3 for i in range(len(names))])
    setup["train"]["scene_column"] = "S3_Label"
    setup["model"]["scene_classes"] = 3
    setup["tensorboard"] = True
    run_dir = fit(config_from_dict(setup))
    row = next(csv.DictReader((run_dir / "metrics.csv").read_text().splitlines()))
    assert float(row["train_scene_loss"]) > 0.5  # about ln 3 for an untrained 3-way head
    combined = float(row["train_geo_loss"]) + 0.5 * float(row["train_scene_loss"])
    assert float(row["train_loss"]) == pytest.approx(combined, rel=0.05)
    state = torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=True)["model"]
    assert state["heads.scene.weight"].shape[0] == 3
    assert (run_dir / "tensorboard").is_dir() or "tensorboard package is not installed" in caplog.text


def test_partitionings_that_do_not_nest_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from geotagger.geocore.geo.partitioning import build_s2_partitionings
    from tests.trainer.synthetic import spot_locations

    setup = training_setup(tmp_path, n_spots=4, per_spot=10)
    lat, lon = spot_locations(4, 10, 1)
    other = build_s2_partitionings(lat + 0.5, lon + 0.5, 2, [3])[0]  # different tau_min and points: no nesting
    other.write_csv(tmp_path / "other.csv")
    setup["model"]["partitionings"] = [str(tmp_path / "other.csv"), setup["model"]["partitionings"][-1]]
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(setup))
    assert train_main(["fit", "--config", str(tmp_path / "run.yaml")]) == 2
    assert "error:" in capsys.readouterr().err


def test_broken_meta_csvs_are_one_line_errors_naming_the_file(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    setup = training_setup(tmp_path, n_spots=3, per_spot=10)
    broken = {"nolat.csv": b"IMG_ID,LON\na.jpg,3\n", "latin1.csv": b"IMG_ID,LAT,LON\n\xe9t\xe9.jpg,1,2\n"}
    for name, content in broken.items():
        (tmp_path / name).write_bytes(content)
        setup["train"]["csv"] = str(tmp_path / name)
        (tmp_path / "run.yaml").write_text(yaml.safe_dump(setup))
        assert train_main(["fit", "--config", str(tmp_path / "run.yaml")]) == 2
        error = capsys.readouterr().err
        assert error.startswith("error: ") and name in error and "Traceback" not in error
