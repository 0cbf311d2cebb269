"""Individual scene networks: heads per scene, training only on members, one bundle, routing by predicted scene."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from geotagger.geocore.geo.hierarchy import Hierarchy  # noqa: E402
from geotagger.geocore.geo.partitioning import build_s2_partitionings  # noqa: E402
from geotagger.geocore.inference.bundle import load_bundle  # noqa: E402
from geotagger.geocore.inference.card import BundleError, CropSpec, card_from_json  # noqa: E402
from geotagger.geocore.inference.predictor import PhotoPrediction, Predictor  # noqa: E402
from geotagger.trainer.export import CardFields  # noqa: E402
from geotagger.trainer.method_export import export_isn_bundle  # noqa: E402
from geotagger.trainer.models.isn import build_isn_model, isn_loss, network_head_name, scene_members  # noqa: E402
from tests.inference.conftest import clustered_points  # noqa: E402
from tests.photo_factory import make_jpeg  # noqa: E402

SIZE_PX = 32


@pytest.fixture(scope="module")
def partitionings():
    lat, lon = clustered_points()
    return build_s2_partitionings(lat, lon, 20, [300, 100, 50])


def _model(partitionings, seed: int = 0):
    torch.manual_seed(seed)
    return build_isn_model("tiny", [len(p) for p in partitionings], pretrained=False).eval()


def test_every_scene_has_its_own_heads_of_every_partitioning(partitionings) -> None:
    model = _model(partitionings)
    outputs = model(torch.randn(2, 3, SIZE_PX, SIZE_PX))
    assert outputs["scene"].shape == (2, 3)
    for label in ("indoor", "natural", "urban"):
        for index, partitioning in enumerate(partitionings):
            assert outputs[network_head_name(label, index)].shape == (2, len(partitioning))
    assert not any(name.startswith("geo_") for name in outputs)  # geo_i are routed names only


def test_membership_is_strictly_above_the_threshold() -> None:
    members = scene_members(torch.tensor([[0.3, 0.31, 0.39], [0.9, 0.05, 0.05]]))
    assert members.tolist() == [[False, True, True], [True, False, False]]


def test_a_network_learns_only_from_its_scene_s_images(partitionings) -> None:
    model = _model(partitionings).train()
    images = torch.randn(4, 3, SIZE_PX, SIZE_PX)
    geo = torch.zeros(4, len(partitionings), dtype=torch.int64)
    probabilities = torch.tensor([[0.1, 0.8, 0.1], [0.2, 0.5, 0.3], [0.0, 0.6, 0.4], [0.05, 0.35, 0.6]])
    loss, parts = isn_loss(model, model(images), geo, probabilities)
    loss.backward()
    indoor = model.heads[network_head_name("indoor", 0)].weight.grad
    natural = model.heads[network_head_name("natural", 0)].weight.grad
    urban_bias = model.heads[network_head_name("urban", 2)].bias.grad
    assert indoor is not None and float(indoor.abs().max()) == 0.0  # nobody is indoor > 0.3
    assert float(natural.abs().max()) > 0 and float(urban_bias.abs().max()) > 0
    assert "geo_loss_indoor" not in parts and {"geo_loss_natural", "geo_loss_urban", "scene_loss"} <= set(parts)


def _biased(model, partitionings, scene: str, cells: dict[str, int]):
    """Each network sure of its own finest cell (and of that cell's ancestors); the scene head sure of `scene`."""
    hierarchy = Hierarchy(partitionings)
    with torch.no_grad():
        for head in model.heads.values():
            head.weight.zero_()
            head.bias.zero_()
        model.heads["scene"].bias[model.scene_labels.index(scene)] = 10.0
        for label, cell in cells.items():
            for index in range(len(partitionings)):
                column = int(hierarchy.parent_index[cell, index])
                model.heads[network_head_name(label, index)].bias[column] = 10.0
    return model


@pytest.fixture(scope="module")
def isn_bundle(tmp_path_factory, partitionings):
    model = _model(partitionings)
    fields = CardFields("isn-test", input_size_px=SIZE_PX, crops=CropSpec(1, "mean", SIZE_PX), license="CC0")
    path, check = export_isn_bundle(model, fields, partitionings, Hierarchy(partitionings),
                                    tmp_path_factory.mktemp("isn") / "isn.geomodel")
    return path, check, model


def test_onnx_equals_torch_and_the_card_records_the_networks(isn_bundle) -> None:
    path, check, model = isn_bundle
    assert check.worst <= 1e-4 and set(check.max_abs_diff) >= {"scene", network_head_name("urban", 2)}
    card = load_bundle(path).card
    assert card.scene_networks is not None and card.scene_networks.threshold == pytest.approx(0.3)
    assert card.scene_networks.heads["natural"] == {f"geo_{i}": network_head_name("natural", i) for i in range(3)}
    assert [ref.head for ref in card.partitionings] == ["geo_0", "geo_1", "geo_2"]


def test_a_card_whose_network_lacks_a_partitioning_is_refused(isn_bundle) -> None:
    with zipfile.ZipFile(isn_bundle[0]) as archive:
        data = json.loads(archive.read("model_card.json"))
    del data["scene_networks"]["heads"]["urban"]["geo_1"]
    with pytest.raises(BundleError, match="scene network urban"):
        card_from_json(json.dumps(data), "broken")
    data["scene_networks"]["heads"].pop("urban")
    with pytest.raises(BundleError, match="scene labels"):
        card_from_json(json.dumps(data), "broken")


@pytest.mark.parametrize("scene", ["indoor", "urban"])
def test_the_predicted_scene_picks_the_network(tmp_path: Path, partitionings, scene: str) -> None:
    finest = len(partitionings[-1])
    cells = {"indoor": 0, "natural": finest // 2, "urban": finest - 1}
    model = _biased(_model(partitionings), partitionings, scene, cells)
    fields = CardFields("isn-routing", input_size_px=SIZE_PX, crops=CropSpec(1, "mean", SIZE_PX))
    path, _ = export_isn_bundle(model, fields, partitionings, Hierarchy(partitionings), tmp_path / "isn.geomodel")
    predictor = Predictor(path, scene_bundle=None)
    prediction = predictor.predict_path(make_jpeg(tmp_path / "photo.jpg", size=(48, 40)))
    assert prediction.ok and prediction.scene_network == scene
    assert prediction.hierarchy_top[0].key == partitionings[-1].keys[cells[scene]]
    saliency = predictor.saliency(tmp_path / "photo.jpg")  # maps of the routed network's heads
    assert saliency.target.endswith(partitionings[-1].keys[cells[scene]]) and saliency.map.ndim == 2
    assert PhotoPrediction.from_json(json.loads(json.dumps(prediction.to_json()))).scene_network == scene


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ddp_worker(rank: int, folder: str, partition_sizes: list[int], port: int) -> None:
    import torch.distributed as dist

    from geotagger.trainer.models.isn import fit_isn

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    torch.manual_seed(0)
    model = build_isn_model("tiny", partition_sizes, pretrained=False)
    generator = torch.Generator().manual_seed(1)
    images = torch.randn(24, 3, 16, 16, generator=generator)
    geo = torch.stack([torch.randint(0, size, (24,), generator=generator) for size in partition_sizes], dim=1)
    scene = torch.softmax(torch.randn(24, 3, generator=generator) * 3, dim=1)
    fit_isn(model, images, geo, scene, epochs=2, batch_size=4, lr=0.05)
    # parameters: batch-norm statistics are per rank (the trainer's loop broadcasts them at the end of an epoch)
    state = np.concatenate([value.detach().numpy().ravel() for value in model.parameters()])
    np.save(Path(folder) / f"rank{rank}.npy", state)
    dist.destroy_process_group()


def test_two_gloo_processes_train_identical_scene_networks(tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    # fork: the children already have torch imported (spawn costs ~10 s per process on a busy machine)
    mp.start_processes(_ddp_worker, args=(str(tmp_path), [3, 5], _free_port()), nprocs=2, join=True,
                       start_method="fork")
    first, second = np.load(tmp_path / "rank0.npy"), np.load(tmp_path / "rank1.npy")
    torch.manual_seed(0)
    initial = build_isn_model("tiny", [3, 5], pretrained=False).parameters()
    assert np.array_equal(first, second)
    assert not np.allclose(first, np.concatenate([value.detach().numpy().ravel() for value in initial]))


def test_geotag_train_isn_trains_from_a_meta_csv_and_writes_a_routing_bundle(tmp_path: Path) -> None:
    import csv

    from geotagger.trainer.cli.main import main
    from tests.trainer.synthetic import make_photo_set, spot_locations

    lat, lon = spot_locations(4, 10, seed=3)
    photos = make_photo_set(tmp_path / "img", lat, lon, seed=4, size_px=40)
    cells = build_s2_partitionings(lat, lon, 5, [40, 10])
    for partitioning in cells:
        partitioning.write_csv(tmp_path / f"{partitioning.name}.csv")
    with (tmp_path / "meta.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["IMG_ID", "AUTHOR", "LAT", "LON", "Prob_indoor", "Prob_natural", "Prob_urban"])
        for index, name in enumerate(photos.names):
            scene = [0.1, 0.1, 0.1]
            scene[index % 3] = 0.8
            writer.writerow([name, "a", lat[index], lon[index], *scene])
    status = main(["isn", "--csv", str(tmp_path / "meta.csv"), "--images", str(tmp_path / "img"), "--partitionings",
                   *[str(tmp_path / f"{p.name}.csv") for p in cells], "--out", str(tmp_path / "isn.geomodel"),
                   "--backbone", "tiny", "--input-size", "32", "--epochs", "1", "--batch-size", "8"])
    assert status == 0
    bundle = load_bundle(tmp_path / "isn.geomodel")
    assert bundle.card.scene_networks is not None and bundle.card.training["images"] == 40
    prediction = Predictor(bundle, scene_bundle=None).predict_path(tmp_path / "img" / photos.names[0])
    assert prediction.scene_network in {"indoor", "natural", "urban"} and prediction.lat is not None
