"""The paper's claim checked in our code, on generated photos whose pixels encode where they were taken.

80 spots over western Europe, 12 training and 5 test photos per spot; colour and stripe texture vary smoothly with
latitude/longitude, plus noise. A tiny backbone trained for a few seconds must beat chance by a wide margin, and the
hierarchical prediction (product of the partitionings' softmax probabilities) must beat the finest partitioning
alone at 1 km and 25 km. The bundle is evaluated through geocore's inference code, and its ONNX probabilities must
equal torch's on the same preprocessed crops.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from geotagger.geocore.geo.distance import format_accuracy_tables
from geotagger.geocore.geo.hierarchy import Hierarchy
from geotagger.geocore.geo.partitioning import build_s2_partitionings
from geotagger.geocore.inference.card import CropSpec, InputSpec
from geotagger.geocore.inference.preprocess import prepare_photo
from geotagger.trainer.evaluate import HIERARCHY_ROW, accuracy_tables, evaluate_bundle
from geotagger.trainer.export import CardFields, export_bundle
from geotagger.trainer.training.config import config_from_dict
from geotagger.trainer.training.loop import fit, load_run_model
from tests.trainer.synthetic import make_photo_set, train_test_split_by_spot, write_meta_csv

N_SPOTS, TRAIN_PER_SPOT, TEST_PER_SPOT = 80, 12, 5
INPUT_PX, RESIZE_PX = 32, 36


def _train(tmp_path: Path) -> tuple[Path, list, Path]:
    (train_lat, train_lon), (test_lat, test_lon) = train_test_split_by_spot(N_SPOTS, TRAIN_PER_SPOT, TEST_PER_SPOT, 2)
    train = make_photo_set(tmp_path / "train", train_lat, train_lon, seed=2, noise=35.0, size_px=40)
    test = make_photo_set(tmp_path / "test", test_lat, test_lon, seed=3, noise=35.0, size_px=40)
    write_meta_csv(tmp_path / "train.csv", train)
    write_meta_csv(tmp_path / "test.csv", test)
    partitionings = build_s2_partitionings(train_lat, train_lon, 5, [400, 100, 12])
    for partitioning in partitionings:
        partitioning.write_csv(tmp_path / f"{partitioning.name}.csv")
    config = config_from_dict({
        "train": {"source": "csv", "csv": "train.csv", "images": "train"},
        "model": {"backbone": "tiny", "pretrained": False, "input_size": INPUT_PX, "eval_resize": RESIZE_PX,
                  "partitionings": [f"{p.name}.csv" for p in partitionings]},
        "optim": {"epochs": 4, "batch_size": 32, "lr": 0.1, "lr_milestones": [2], "num_workers": 0, "amp": False},
        "runs_dir": "runs",
    }, tmp_path)
    model, partitionings, _ = load_run_model(fit(config), which="latest")
    bundle, check = export_bundle(model, CardFields("synthetic", input_size_px=INPUT_PX,
                                                    crops=CropSpec(1, "mean", RESIZE_PX)),
                                  partitionings, Hierarchy(partitionings), tmp_path / "synthetic.geomodel")
    assert check.worst <= 1e-4, check.max_abs_diff
    return bundle, partitionings, tmp_path


def test_short_training_beats_chance_and_the_hierarchy_beats_the_finest_partitioning(tmp_path: Path) -> None:
    bundle, partitionings, root = _train(tmp_path)
    result = evaluate_bundle(bundle, root / "test.csv", root / "test")
    tables = result.tables
    assert result.skipped.skipped == 0 and tables[HIERARCHY_ROW].count == N_SPOTS * TEST_PER_SPOT

    rng = np.random.default_rng(0)
    lat, lon = result_locations(root)
    chance = accuracy_tables(partitionings, Hierarchy(partitionings),
                             [rng.dirichlet(np.ones(len(p)), size=len(lat)) for p in partitionings], lat, lon)
    print("\nGenerated benchmark (tiny backbone, 4 epochs, 960 training photos, 400 test photos):")
    print(result.format())
    print("chance (random probabilities):\n" + format_accuracy_tables({"chance": chance[HIERARCHY_ROW]}))

    finest, hierarchy = tables[partitionings[-1].name], tables[HIERARCHY_ROW]
    assert hierarchy.within_percent[1.0] >= chance[HIERARCHY_ROW].within_percent[1.0] + 25.0
    assert hierarchy.within_percent[25.0] >= chance[HIERARCHY_ROW].within_percent[25.0] + 25.0
    assert hierarchy.within_percent[200.0] >= 80.0
    assert hierarchy.within_percent[1.0] > finest.within_percent[1.0]
    assert hierarchy.within_percent[25.0] > finest.within_percent[25.0]
    assert hierarchy.median_km < finest.median_km


def result_locations(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """Test locations in CSV order."""
    rows = np.genfromtxt(root / "test.csv", delimiter=",", skip_header=1, usecols=(2, 3))
    return rows[:, 0], rows[:, 1]


def test_what_is_evaluated_is_what_ships_onnx_equals_torch_on_geocore_crops(tmp_path: Path) -> None:
    from geotagger.geocore.inference.bundle import load_bundle
    from geotagger.geocore.inference.runtime import create_session

    (lat, lon), _ = train_test_split_by_spot(6, 10, 0, 5)
    photos = make_photo_set(tmp_path / "img", lat, lon, seed=1, size_px=40)
    write_meta_csv(tmp_path / "train.csv", photos)
    partitionings = build_s2_partitionings(lat, lon, 5, [30, 10])
    for partitioning in partitionings:
        partitioning.write_csv(tmp_path / f"{partitioning.name}.csv")
    config = config_from_dict({
        "train": {"source": "csv", "csv": "train.csv", "images": "img"},
        "model": {"backbone": "tiny", "pretrained": False, "input_size": INPUT_PX, "eval_resize": RESIZE_PX,
                  "partitionings": [f"{p.name}.csv" for p in partitionings]},
        "optim": {"epochs": 1, "batch_size": 8, "num_workers": 0, "amp": False}, "runs_dir": "runs"}, tmp_path)
    model, partitionings, _ = load_run_model(fit(config))
    fields = CardFields("roundtrip", input_size_px=INPUT_PX, crops=CropSpec(3, "mean", RESIZE_PX))
    path, _ = export_bundle(model, fields, partitionings, Hierarchy(partitionings), tmp_path / "m.geomodel")
    bundle = load_bundle(path)
    crops = np.concatenate([prepare_photo(tmp_path / "img" / name, bundle.card.input, bundle.card.crops).crops
                            for name in photos.names[:8]])
    assert bundle.card.input == InputSpec(INPUT_PX, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    onnx_outputs = create_session(bundle, "cpu").run(crops)
    with torch.no_grad():
        torch_logits = model(torch.from_numpy(crops))
    for index in range(len(partitionings)):
        torch_probs = torch.softmax(torch_logits[f"geo_{index}"], dim=1).numpy()
        assert np.abs(onnx_outputs[f"geo_{index}"] - torch_probs).max() <= 1e-4
