"""TransLocator: ViT-B/16 layout, CLS fusion exactly as the slides' equation, ONNX bundle with the segmentation
inside reproducing torch, prediction through geocore, DDP."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from geotagger.geocore.geo.hierarchy import Hierarchy  # noqa: E402
from geotagger.geocore.geo.partitioning import build_s2_partitionings  # noqa: E402
from geotagger.geocore.inference.bundle import load_bundle  # noqa: E402
from geotagger.geocore.inference.card import CropSpec  # noqa: E402
from geotagger.geocore.inference.predictor import Predictor  # noqa: E402
from geotagger.trainer.export import CardFields  # noqa: E402
from geotagger.trainer.method_export import export_translocator_bundle  # noqa: E402
from geotagger.trainer.models.translocator import CLSFusion, TransLocator, VitBranch, VitConfig, load_vit_state  # noqa: E402
from geotagger.trainer.segmentation import SegmentationModel, tiny_segmentation_onnx  # noqa: E402
from tests.inference.conftest import clustered_points  # noqa: E402
from tests.photo_factory import make_jpeg  # noqa: E402
from tests.trainer.test_isn import _free_port  # noqa: E402

SIZE_PX = 32


def test_a_branch_has_the_vit_b16_layout() -> None:
    config = VitConfig()
    assert (config.depth, config.heads, config.patch_px, config.image_px) == (12, 12, 16, 224)
    branch = VitBranch(replace(config, depth=1))  # one ViT-B block: the layout without 86 M parameters to build
    shapes = {name: tuple(value.shape) for name, value in branch.state_dict().items()}
    assert shapes["pos_embed"] == (1, 197, 768) and shapes["cls_token"] == (1, 1, 768)
    assert shapes["patch_embed.proj.weight"] == (768, 3, 16, 16)
    assert shapes["blocks.0.attn.qkv.weight"] == (2304, 768) and shapes["blocks.0.mlp.fc1.weight"] == (3072, 768)
    assert shapes["blocks.0.attn.proj.weight"] == (768, 768) and shapes["norm.weight"] == (768,)
    assert len(shapes) == 4 + 12 + 2


def test_one_vit_state_initialises_both_branches() -> None:
    model = TransLocator(VitConfig.tiny(), [3], segmentation_classes=4)
    donor = VitBranch(VitConfig.tiny()).state_dict()
    load_vit_state(model, {**donor, "head.weight": torch.zeros(10, 32), "head.bias": torch.zeros(10)})
    for name, value in donor.items():
        assert torch.equal(model.rgb.state_dict()[name], value) and torch.equal(model.seg.state_dict()[name], value)
    with pytest.raises(RuntimeError):
        load_vit_state(model, {k: v for k, v in donor.items() if k != "norm.bias"})


def test_cls_fusion_is_g_of_the_summed_f_of_both_cls_tokens() -> None:
    torch.manual_seed(0)
    fusion = CLSFusion(8)
    rgb, seg = torch.randn(2, 5, 8), torch.randn(2, 5, 8)
    out_rgb, out_seg = fusion(rgb, seg)
    wf, bf, wg, bg = (p.detach() for p in (fusion.f.weight, fusion.f.bias, fusion.g.weight, fusion.g.bias))
    expected = ((rgb[:, 0] @ wf.T + bf) + (seg[:, 0] @ wf.T + bf)) @ wg.T + bg
    torch.testing.assert_close(out_rgb[:, 0], expected)
    torch.testing.assert_close(out_seg[:, 0], expected)
    assert torch.equal(out_rgb[:, 1:], rgb[:, 1:]) and torch.equal(out_seg[:, 1:], seg[:, 1:])


def test_fusion_runs_after_every_layer_and_changes_the_output() -> None:
    torch.manual_seed(0)
    model = TransLocator(VitConfig.tiny(), [3, 5], segmentation_classes=4).eval()
    seen = []
    for fusion in model.fusions:
        fusion.register_forward_hook(lambda module, args, out: seen.append(torch.equal(out[0][:, 0], out[1][:, 0])))
    image, classes = torch.randn(2, 3, SIZE_PX, SIZE_PX), torch.randint(0, 4, (2, SIZE_PX, SIZE_PX))
    outputs = model(image, classes)
    assert seen == [True, True]  # both layers fused, both branches hold the same CLS afterwards
    assert outputs["geo_1"].shape == (2, 5) and outputs["scene"].shape == (2, 3)
    unfused = TransLocator(VitConfig.tiny(), [3, 5], segmentation_classes=4, fusion=False).eval()
    unfused.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("fusions.")})
    assert not torch.allclose(unfused(image, classes)["geo_1"], outputs["geo_1"])
    other = torch.randint(0, 4, (2, SIZE_PX, SIZE_PX))
    assert not torch.allclose(model(image, other)["geo_1"], outputs["geo_1"])  # the segmentation branch counts


@pytest.fixture(scope="module")
def partitionings():
    return build_s2_partitionings(*clustered_points(), 20, [300, 100, 50])


def test_bundle_runs_the_segmentation_inside_and_equals_torch(tmp_path: Path, partitionings) -> None:
    torch.manual_seed(0)
    model = TransLocator(VitConfig.tiny(), [len(p) for p in partitionings], segmentation_classes=5)
    segmentation = SegmentationModel(tiny_segmentation_onnx(5), ["sky", "building", "tree", "road", "water"], SIZE_PX)
    fields = CardFields("translocator-test", input_size_px=SIZE_PX, crops=CropSpec(1, "mean", SIZE_PX))
    path, check = export_translocator_bundle(model, segmentation, fields, partitionings, Hierarchy(partitionings),
                                             tmp_path / "tl.geomodel")
    assert check.worst <= 1e-4 and {"geo_2", "scene", "embedding"} <= set(check.max_abs_diff)
    bundle = load_bundle(path)
    assert bundle.card.feature_map_output is None and [i.name for i in _inputs(bundle.model_bytes)] == ["image"]
    prediction = Predictor(path, scene_bundle=None).predict_path(make_jpeg(tmp_path / "p.jpg", size=(48, 40)))
    assert prediction.ok and prediction.lat is not None and set(prediction.scene) == {"indoor", "natural", "urban"}


def _inputs(model_bytes: bytes):
    import onnxruntime

    return onnxruntime.InferenceSession(model_bytes, providers=["CPUExecutionProvider"]).get_inputs()


def _ddp_worker(rank: int, folder: str, port: int) -> None:
    import torch.distributed as dist

    from geotagger.trainer.models.translocator import fit_translocator

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    torch.manual_seed(0)
    model = TransLocator(VitConfig.tiny(16), [3, 4], segmentation_classes=3)
    generator = torch.Generator().manual_seed(1)
    images, classes = torch.randn(16, 3, 16, 16, generator=generator), torch.randint(0, 3, (16, 16, 16))
    geo = torch.stack([torch.randint(0, 3, (16,)), torch.randint(0, 4, (16,))], dim=1)
    fit_translocator(model, images, classes, geo, torch.randint(0, 3, (16,)), epochs=1, batch_size=4)
    np.save(Path(folder) / f"rank{rank}.npy", np.concatenate([p.detach().numpy().ravel() for p in model.parameters()]))
    dist.destroy_process_group()


def test_two_gloo_processes_train_identical_translocators(tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    mp.start_processes(_ddp_worker, args=(str(tmp_path), _free_port()), nprocs=2, join=True, start_method="fork")
    assert np.array_equal(np.load(tmp_path / "rank0.npy"), np.load(tmp_path / "rank1.npy"))


def test_geotag_train_translocator_caches_maps_as_a_shard_and_writes_a_bundle(tmp_path: Path) -> None:
    import csv

    from geotagger.trainer.cli.main import main
    from geotagger.trainer.data.shards import iter_msgpack_shard
    from tests.trainer.synthetic import make_photo_set, spot_locations

    lat, lon = spot_locations(4, 8, seed=5)
    photos = make_photo_set(tmp_path / "img", lat, lon, seed=6, size_px=40)
    cells = build_s2_partitionings(lat, lon, 4, [32, 8])
    for partitioning in cells:
        partitioning.write_csv(tmp_path / f"{partitioning.name}.csv")
    with (tmp_path / "meta.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["IMG_ID", "LAT", "LON", "Prob_indoor", "Prob_natural", "Prob_urban"])
        writer.writerows([name, lat[i], lon[i], 0.2, 0.2, 0.6] for i, name in enumerate(photos.names))
    (tmp_path / "seg.onnx").write_bytes(tiny_segmentation_onnx(3))
    (tmp_path / "classes.txt").write_text("sky\nbuilding\ntree\n")
    assert main(["import", "segmentation", "--onnx", str(tmp_path / "seg.onnx"), "--classes",
                 str(tmp_path / "classes.txt"), "--out", str(tmp_path / "s.geoseg"), "--input-size", "32"]) == 0
    arguments = ["translocator", "--csv", str(tmp_path / "meta.csv"), "--images", str(tmp_path / "img"),
                 "--partitionings", *[str(tmp_path / f"{p.name}.csv") for p in cells], "--segmentation",
                 str(tmp_path / "s.geoseg"), "--out", str(tmp_path / "tl.geomodel"), "--layout", "tiny", "--epochs",
                 "1", "--batch-size", "8", "--cache", str(tmp_path / "maps")]
    assert main(arguments) == 0
    records = list(iter_msgpack_shard(tmp_path / "maps" / "photos.seg.msgpack"))
    assert len(records) == 32 and records[0][0] == photos.names[0]
    prediction = Predictor(tmp_path / "tl.geomodel", scene_bundle=None).predict_path(tmp_path / "img" /
                                                                                      photos.names[0])
    assert prediction.ok and prediction.lat is not None
