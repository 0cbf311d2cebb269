"""Run configuration: YAML -> validated dataclasses; every mistake is a clear error naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from geotagger.trainer.training.config import ConfigError, config_from_dict, load_config, save_config

MINIMAL = {
    "train": {"source": "csv", "csv": "train.csv", "images": "img"},
    "model": {"backbone": "tiny", "partitionings": ["cells.csv"]},
}


def _with(**changes: dict) -> dict:
    data = {key: dict(value) for key, value in MINIMAL.items()}
    for section, values in changes.items():
        data.setdefault(section, {}).update(values)
    return data


def test_defaults_follow_the_reference_recipe_and_paths_resolve_against_the_file(tmp_path: Path) -> None:
    (tmp_path / "run.yaml").write_text(
        "train: {source: csv, csv: train.csv, images: img}\nmodel: {backbone: tiny, partitionings: [cells.csv]}\n"
    )
    config = load_config(tmp_path / "run.yaml")
    assert config.optim.lr == 0.01 and config.optim.momentum == 0.9 and config.optim.weight_decay == 1e-4
    assert config.optim.lr_milestones == [4, 8, 12, 13, 14, 15] and config.optim.epochs == 15
    assert config.optim.batch_size == 128 and config.optim.crop_scale_min == 0.66
    assert config.train.csv == str((tmp_path / "train.csv").resolve())
    assert config.model.partitionings == [str((tmp_path / "cells.csv").resolve())]
    save_config(config, tmp_path / "resolved.yaml")
    assert load_config(tmp_path / "resolved.yaml") == config


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_with(train={"shuffle": True}), "train: unknown key(s) shuffle"),
        ({**MINIMAL, "optimizer": {}}, "unknown key(s) optimizer"),
        (_with(optim={"epochs": "3"}), "optim.epochs: expected int"),
        (_with(optim={"lr": -1.0}), "optim.lr: must be positive"),
        (_with(model={"backbone": "vgg"}), "model.backbone"),
        (_with(model={"partitionings": []}), "model.partitionings"),
        (_with(train={"source": "folders"}), "train.folders: required"),
        (_with(train={"source": "s3"}), "train.source"),
        (_with(train={"scene_column": "S3_Label"}), "model.scene_classes"),
        ({"model": MINIMAL["model"]}, "missing key(s) train"),
        (_with(optim={"device": "tpu"}), "optim.device"),
    ],
)
def test_bad_configs_are_errors_naming_the_key(data: dict, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        config_from_dict(data)
    assert message in str(error.value)


def test_unreadable_or_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(tmp_path / "bad.yaml")


def test_the_shipped_example_config_is_valid_and_is_the_reference_recipe() -> None:
    example = Path(__file__).resolve().parents[2] / "trainer" / "training" / "example_run.yaml"
    config = load_config(example)
    assert config.train.source == "shards" and config.model.scene_classes == 3
    assert len(config.model.partitionings) == 3 and config.model.partitionings[0].endswith("cells_50_5000.csv")
    assert config.val is not None and config.val.images is not None


def test_the_isn_and_translocator_examples_are_valid_runs_of_their_methods() -> None:
    folder = Path(__file__).resolve().parents[2] / "trainer" / "training"
    isn = load_config(folder / "example_isn.yaml")
    assert isn.model.method == "isn" and isn.train.scene_probabilities and isn.model.isn_threshold == 0.3
    translocator = load_config(folder / "example_translocator.yaml")
    assert translocator.model.method == "translocator" and translocator.optim.optimizer == "adamw"
    assert translocator.train.source == "shards" and translocator.train.segmentation_cache is not None
