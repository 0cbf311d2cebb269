"""ISNs and TransLocator through `fit`'s streaming path: shards, scene probabilities, cached class maps, DDP."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from geotagger.trainer.training.config import ConfigError, config_from_dict
from tests.trainer.synthetic import training_setup, write_tar_shards

ROOT = Path(__file__).resolve().parents[2]
SCENES = ("indoor", "natural", "urban")


def _probabilities(index: int) -> list[float]:
    """Natural or urban by turns, never indoor (p <= 0.3: the indoor network has no member); unique per photo."""
    indoor = 0.001 * index
    return [indoor, 0.7, 0.3 - indoor] if index % 2 else [indoor, 0.3 - indoor, 0.7]


def _write_probability_csv(root: Path) -> None:
    rows = list(csv.DictReader((root / "train.csv").read_text().splitlines()))
    with (root / "train.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["IMG_ID", "LAT", "LON", "Prob_indoor", "Prob_natural", "Prob_urban"])
        writer.writerows([row["IMG_ID"], row["LAT"], row["LON"], *_probabilities(i)] for i, row in enumerate(rows))


def _segmentation(root: Path) -> Path:
    from geotagger.trainer.segmentation import import_segmentation, tiny_segmentation_onnx

    (root / "seg.onnx").write_bytes(tiny_segmentation_onnx(3))
    (root / "classes.txt").write_text("sky\nbuilding\ntree\n")
    return import_segmentation(root / "seg.onnx", root / "classes.txt", root / "s.geoseg", input_size_px=32)


def _setup(root: Path, method: str, **optim: object) -> dict:
    setup = training_setup(root, n_spots=4, per_spot=10, **{"epochs": 2, "batch_size": 8, "weight_decay": 0.0, **optim})
    _write_probability_csv(root)
    shards = write_tar_shards(root, n_shards=3)
    setup["train"] = {"source": "shards", "shards": [str(shards)], "csv": str(root / "train.csv"),
                      "shuffle_buffer": 8, "scene_probabilities": True}
    setup["model"]["method"] = method
    if method == "translocator":
        from geotagger.trainer.cli.main import main

        setup["model"].update({"vit_layout": "tiny", "segmentation": str(_segmentation(root))})
        setup["train"]["segmentation_cache"] = str(root / "maps")
        assert main(["segment", "--segmentation", str(root / "s.geoseg"), "--shards", str(shards), "--out",
                     str(root / "maps"), "--short-side", "36"]) == 0
        setup["optim"].update({"optimizer": "adamw", "lr": 1e-3})
    return setup


def test_streamed_samples_carry_the_csv_s_scene_probabilities(tmp_path: Path) -> None:
    from geotagger.trainer.data.builder import build_dataset
    from geotagger.trainer.data.transforms import ResizeCenterCropTransform
    from geotagger.trainer.training.loop import load_partitionings

    config = config_from_dict(_setup(tmp_path, "isn"))
    partitionings, _ = load_partitionings(config.model.partitionings)
    dataset, _ = build_dataset(config.train, partitionings, ResizeCenterCropTransform(32, 36), 36)
    streamed = sorted(tuple(round(v, 4) for v in sample["scene_probs"].tolist()) for sample in dataset)
    expected = sorted(tuple(round(v, 4) for v in _probabilities(index)) for index in range(40))
    assert len(set(expected)) == 40 and streamed == expected  # every photo once, with its own row's values


def test_a_streamed_isn_run_trains_only_the_networks_of_its_images_scenes(tmp_path: Path) -> None:
    from geotagger.trainer.models.isn import network_head_name
    from geotagger.trainer.training.loop import fit, load_run_model

    setup = _setup(tmp_path, "isn")
    run_dir = fit(config_from_dict(setup))
    rows = list(csv.DictReader((run_dir / "metrics.csv").read_text().splitlines()))
    assert len(rows) == 2 and all(float(row["train_images"]) >= 32 for row in rows)
    trained, _, config = load_run_model(run_dir, "latest")
    state = torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=True)
    assert state["config"]["model"]["method"] == "isn"
    torch.manual_seed(0)  # the loop seeds the initial weights with optim.seed before building the model
    from geotagger.trainer.training.methods import build_method_model

    initial = build_method_model(config, trained.network_partition_sizes, pretrained=False)
    for index in range(len(trained.network_partition_sizes)):
        untouched = network_head_name("indoor", index)  # no image has Prob_indoor > 0.3
        assert torch.equal(trained.heads[untouched].weight, initial.heads[untouched].weight)
        for label in ("natural", "urban"):
            name = network_head_name(label, index)
            assert not torch.equal(trained.heads[name].weight, initial.heads[name].weight)


def test_an_isn_run_exports_a_routing_bundle(tmp_path: Path) -> None:
    from geotagger.geocore.inference.bundle import load_bundle
    from geotagger.geocore.inference.predictor import Predictor
    from geotagger.trainer.cli.main import main
    from geotagger.trainer.training.loop import fit

    run_dir = fit(config_from_dict(_setup(tmp_path, "isn", epochs=1)))
    assert main(["export", "--run", str(run_dir), "--out", str(tmp_path / "isn.geomodel"), "--crops", "1"]) == 0
    bundle = load_bundle(tmp_path / "isn.geomodel")
    assert bundle.card.scene_networks is not None and bundle.card.training["config"]["model"]["method"] == "isn"
    prediction = Predictor(bundle, scene_bundle=None).predict_path(next((tmp_path / "img").iterdir()))
    assert prediction.scene_network in SCENES and prediction.lat is not None


def test_isn_and_translocator_configs_name_what_they_lack(tmp_path: Path) -> None:
    setup = training_setup(tmp_path, n_spots=2, per_spot=4)
    setup["model"]["method"] = "isn"
    with pytest.raises(ConfigError, match="scene_probabilities"):
        config_from_dict(setup)
    setup["model"]["method"] = "translocator"
    with pytest.raises(ConfigError, match="model.segmentation"):
        config_from_dict(setup)
    setup["model"]["segmentation"] = "s.geoseg"
    with pytest.raises(ConfigError, match="segmentation_cache"):
        config_from_dict(setup)
    setup["model"]["method"] = "transformer"
    with pytest.raises(ConfigError, match="model.method"):
        config_from_dict(setup)


def test_the_training_crop_takes_the_same_region_of_photo_and_class_map() -> None:
    from geotagger.trainer.data.transforms import ResizeCenterCropTransform, TrainTransform

    photo = np.zeros((60, 90, 3), dtype=np.uint8)
    photo[:, :30] = (255, 0, 0)  # red left third
    classes = np.zeros((40, 60), dtype=np.int32)  # the map at another resolution of the same frame
    classes[:, :20] = 2
    image, class_map = Image.fromarray(photo), Image.fromarray(classes).convert("I")
    transform = TrainTransform(24, scale=(0.3, 1.0), flip_probability=0.5)
    flips = set()
    for seed in range(12):
        tensor, class_crop = transform.paired(image, class_map, torch.Generator().manual_seed(seed))
        red = tensor[0] > tensor[1] + 1.0  # normalised: red far above green where the photo is red
        inside = class_crop == 2
        assert (red == inside).float().mean() > 0.9, seed
        flips.add(bool(inside[:, -1].any()) and not bool(inside[:, 0].all()))
    assert flips == {True, False}  # some crops flipped, some not, and the map always followed
    tensor, class_crop = ResizeCenterCropTransform(24, 28).paired(image, class_map)
    assert ((tensor[0] > tensor[1] + 1.0) == (class_crop == 2)).float().mean() > 0.9


def test_a_cache_out_of_step_with_its_shard_skips_rather_than_mislabels(tmp_path: Path) -> None:
    import msgpack

    from geotagger.trainer.data.segmentation_cache import OUT_OF_STEP, cache_shard_path, records_with_maps
    from geotagger.trainer.data.shards import iter_shard

    training_setup(tmp_path, n_spots=1, per_spot=3)
    shard = str(next(write_tar_shards(tmp_path, 1).iterdir()))
    ids = [record_id for record_id, _, _ in iter_shard(shard)]
    target = cache_shard_path(tmp_path / "maps", shard)
    target.parent.mkdir()
    with target.open("wb") as handle:  # the first two maps swapped, the third missing
        for record_id in (ids[1], ids[0]):
            handle.write(msgpack.packb({"id": record_id, "image": b"png"}, use_bin_type=True))
    metas = [meta for _, _, meta in records_with_maps(shard, tmp_path / "maps")]
    assert [meta.get("segmentation_error") for meta in metas] == [OUT_OF_STEP] * 3


def test_a_streamed_translocator_run_reads_the_cached_maps_and_exports(tmp_path: Path) -> None:
    from geotagger.geocore.inference.predictor import Predictor
    from geotagger.trainer.method_export import export_run_bundle
    from geotagger.trainer.training.loop import fit

    setup = _setup(tmp_path, "translocator", epochs=1)
    assert len(list((tmp_path / "maps").glob("*.seg.msgpack"))) == 3
    run_dir = fit(config_from_dict(setup))
    row = next(csv.DictReader((run_dir / "metrics.csv").read_text().splitlines()))
    assert float(row["train_images"]) >= 32 and float(row["train_skipped"]) == 0
    assert float(row["train_scene_loss"]) > 0.1  # the scene head learns the CSV's most probable S3 label
    path, check, _ = export_run_bundle(run_dir, tmp_path / "tl.geomodel", "tl")
    assert check.worst < 1e-3
    prediction = Predictor(path, scene_bundle=None).predict_path(next((tmp_path / "img").iterdir()))
    assert prediction.ok and prediction.lat is not None


def test_removing_the_cache_is_a_clear_error(tmp_path: Path) -> None:
    from geotagger.trainer.training.loop import fit

    setup = _setup(tmp_path, "translocator", epochs=1)
    next((tmp_path / "maps").glob("*.seg.msgpack")).unlink()
    with pytest.raises(FileNotFoundError, match="no segmentation cache for shard"):
        fit(config_from_dict(setup))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["isn", "translocator"])
def test_two_gloo_processes_stream_the_new_methods_to_identical_weights(tmp_path: Path, method: str) -> None:
    setup = _setup(tmp_path, method)
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(setup))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "geotagger.trainer.cli.main", "fit", "--config", str(tmp_path / "run.yaml")]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["ranks_identical"] is True
    rows = list(csv.DictReader((run_dir / "metrics.csv").read_text().splitlines()))
    # 40 photos in 3 shards, whole batches of 8 per rank: both ranks together see 32 or more every epoch
    assert len(rows) == 2 and all(32 <= float(row["train_images"]) <= 40 for row in rows)


def test_geotag_train_isn_streams_shards_and_names_a_missing_photo_source(tmp_path: Path, capsys) -> None:
    from geotagger.geocore.inference.bundle import load_bundle
    from geotagger.trainer.cli.main import main

    setup = _setup(tmp_path, "isn")
    arguments = ["isn", "--csv", setup["train"]["csv"], "--partitionings", *setup["model"]["partitionings"], "--out",
                 str(tmp_path / "isn.geomodel"), "--backbone", "tiny", "--input-size", "32", "--epochs", "1",
                 "--batch-size", "8"]
    assert main(arguments) == 2 and "--images" in capsys.readouterr().err
    assert main([*arguments, "--shards", str(tmp_path / "shards")]) == 0
    card = load_bundle(tmp_path / "isn.geomodel").card
    assert card.training["config"]["train"]["source"] == "shards" and card.training["images"] >= 32
