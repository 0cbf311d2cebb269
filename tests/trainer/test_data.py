"""Data sources: folders with EXIF GPS, meta CSVs, msgpack/tar shards; every skipped image counted and named."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import msgpack
import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from geotagger.geocore.geo.partitioning import build_s2_partitionings
from geotagger.trainer.data import shards as shards_module
from geotagger.trainer.data.builder import NoUsableDataError, build_dataset
from geotagger.trainer.data.labels import SkipReport
from geotagger.trainer.data.shards import ShardDataset, expand_shards
from geotagger.trainer.data.sources import collate_skipping, photos_from_folders, read_exif_gps
from geotagger.trainer.data.transforms import ResizeCenterCropTransform, TrainTransform, random_resized_crop_box
from geotagger.trainer.training.config import DataConfig
from tests.trainer.synthetic import location_pixels, make_photo_set, spot_locations, write_meta_csv, write_photo


def _jpeg_bytes(seed: int) -> bytes:
    buffer = io.BytesIO()
    pixels = location_pixels(45.0, 5.0, 32, np.random.default_rng(seed), 10.0)
    Image.fromarray(pixels).save(buffer, "JPEG")
    return buffer.getvalue()


def _partitionings(tmp_path: Path) -> list:
    lat, lon = spot_locations(6, 20, seed=3)
    return build_s2_partitionings(lat, lon, 5, [60, 15])


def test_transforms_give_normalised_tensors_of_the_requested_size() -> None:
    image = Image.fromarray(location_pixels(45.0, 5.0, 80, np.random.default_rng(0), 5.0)).resize((120, 80))
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        left, top, right, bottom = random_resized_crop_box(120, 80, (0.66, 1.0), (3 / 4, 4 / 3), generator)
        area = (right - left) * (bottom - top) / (120 * 80)
        assert 0 <= left < right <= 120 and 0 <= top < bottom <= 80 and area >= 0.6
    tensor = TrainTransform(32)(image, generator)
    assert tensor.shape == (3, 32, 32) and tensor.dtype == torch.float32
    center = ResizeCenterCropTransform(32, 40)(image)
    expected_mean = (np.asarray(image, np.float32) / 255).mean(axis=(0, 1))
    assert center.shape == (3, 32, 32)
    unnormalised = center.mean(dim=(1, 2)).numpy() * np.array([0.229, 0.224, 0.225]) + [0.485, 0.456, 0.406]
    assert np.allclose(unnormalised, expected_mean, atol=0.05)


def test_validation_view_equals_geocore_preprocessing_of_the_same_file(tmp_path: Path) -> None:
    from geotagger.geocore.inference.card import CropSpec, InputSpec
    from geotagger.geocore.inference.preprocess import prepare_photo
    from geotagger.trainer.data.images import open_rgb

    pixels = location_pixels(47.0, 3.0, 90, np.random.default_rng(1), 20.0)
    write_photo(tmp_path / "v.jpg", np.ascontiguousarray(pixels[:, :70]), (47.0, 3.0))
    ours = ResizeCenterCropTransform(32, 40)(open_rgb(tmp_path / "v.jpg", 40))
    spec = InputSpec(32, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    theirs = prepare_photo(tmp_path / "v.jpg", spec, CropSpec(1, "mean", 40)).crops[0]
    assert np.abs(ours.numpy() - theirs).max() < 1e-5


def test_folder_source_reads_exif_gps_and_counts_photos_without_it(tmp_path: Path) -> None:
    lat, lon = np.array([48.8584, -33.8568]), np.array([2.2945, 151.2153])
    make_photo_set(tmp_path / "lib" / "a", lat, lon, seed=0)
    make_photo_set(tmp_path / "lib" / "b", lat[:1], lon[:1], seed=1, with_gps=False, prefix="nogps")
    (tmp_path / "lib" / "a" / "UPPER.JPG").write_bytes((tmp_path / "lib" / "a" / "p00000.jpg").read_bytes())
    (tmp_path / "lib" / "a" / "broken.jpg").write_bytes(b"not a jpeg at all")
    (tmp_path / "lib" / "a" / ".hidden.jpg").write_bytes((tmp_path / "lib" / "a" / "p00000.jpg").read_bytes())
    report = SkipReport()
    photos = photos_from_folders([tmp_path / "lib"], report)
    assert sorted(Path(n).name for n in photos.names) == ["UPPER.JPG", "p00000.jpg", "p00001.jpg"]
    assert np.allclose(sorted(photos.lat), sorted([48.8584, 48.8584, -33.8568]), atol=1e-6)
    assert report.counts == {"no GPS in EXIF": 1, "unreadable file": 1}
    assert "broken.jpg" in report.summary()
    assert read_exif_gps(tmp_path / "lib" / "a" / "p00001.jpg") == pytest.approx((-33.8568, 151.2153), abs=1e-6)


def test_csv_source_counts_missing_files_bad_rows_and_locations_outside_the_cells(tmp_path: Path) -> None:
    partitionings = _partitionings(tmp_path)
    lat, lon = spot_locations(6, 20, seed=3)
    photos = make_photo_set(tmp_path / "img", lat[:10], lon[:10], seed=0)
    meta = write_meta_csv(tmp_path / "meta.csv", photos)
    with open(meta, "a", encoding="utf-8") as handle:
        handle.write("gone.jpg,x,45.0,5.0,0\n")  # file missing
        handle.write("p00000.jpg,x,not-a-number,5.0,0\n")  # unparsable
        handle.write("p00001.jpg,x,-60.0,-120.0,0\n")  # far outside every cell
        handle.write("p00002.jpg,x,95.0,0.0,0\n")  # impossible latitude
    data = DataConfig(source="csv", csv=str(meta), images=str(tmp_path / "img"))
    dataset, report = build_dataset(data, partitionings, TrainTransform(32), 40)
    assert len(dataset) == 10 and report.considered == 14
    assert report.counts == {"image file missing": 1, "unparsable CSV row": 1,
                             "outside all partitioning cells": 1, "invalid coordinates": 1}
    item = dataset[0]
    assert item["image"].shape == (3, 32, 32) and item["geo"].shape == (2,) and (item["geo"] >= 0).any()


def test_unreadable_image_at_load_time_is_a_counted_skip_and_empty_sources_are_errors(tmp_path: Path) -> None:
    partitionings = _partitionings(tmp_path)
    lat, lon = spot_locations(6, 20, seed=3)
    photos = make_photo_set(tmp_path / "img", lat[:4], lon[:4], seed=0)
    meta = write_meta_csv(tmp_path / "meta.csv", photos)
    (tmp_path / "img" / "p00001.jpg").write_bytes(b"\xff\xd8\xff truncated")
    dataset, _ = build_dataset(DataConfig(source="csv", csv=str(meta), images=str(tmp_path / "img")),
                               partitionings, TrainTransform(32), 40)
    batch = next(iter(DataLoader(dataset, batch_size=4, collate_fn=collate_skipping)))
    assert batch["size"] == 3 and batch["image"].shape[0] == 3
    assert len(batch["skipped"]) == 1 and batch["skipped"][0][1].endswith("p00001.jpg")
    empty = write_meta_csv(tmp_path / "empty.csv", make_photo_set(tmp_path / "far", [-60.0], [-120.0], seed=1))
    with pytest.raises(NoUsableDataError, match="outside all partitioning cells"):
        build_dataset(DataConfig(source="csv", csv=str(empty), images=str(tmp_path / "far")), partitionings,
                      TrainTransform(32), 40)


def _write_msgpack_shards(folder: Path, n_records: int, n_shards: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for shard in range(n_shards):
        path = folder / f"shard_{shard:03d}.msg"
        with open(path, "wb") as handle:
            for index in range(shard, n_records, n_shards):
                handle.write(msgpack.packb({"id": f"r{index}", "image": _jpeg_bytes(index)}, use_bin_type=True))
        paths.append(str(path))
    return paths


def _ids_seen(dataset: ShardDataset, workers: int) -> list[int]:
    loader = DataLoader(dataset, batch_size=4, num_workers=workers, collate_fn=collate_skipping)
    return [int(v) for batch in loader if batch["size"] for v in batch["geo"][:, 0]]


@pytest.mark.parametrize("n_shards", [2, 8])
def test_shards_are_split_across_ranks_and_workers_exactly_once(tmp_path: Path, monkeypatch, n_shards: int) -> None:
    paths = _write_msgpack_shards(tmp_path / "shards", 24, n_shards)
    labels = {f"r{i}": (np.array([i], dtype=np.int64), 0) for i in range(24)}
    seen_per_rank = []
    for rank in range(2):
        monkeypatch.setattr(shards_module, "distributed_position", lambda rank=rank: (rank, 2))
        dataset = ShardDataset(paths, labels, TrainTransform(24), 24, shuffle_buffer=5, seed=1)
        seen_per_rank.append(_ids_seen(dataset, workers=2))
    assert sorted(seen_per_rank[0] + seen_per_rank[1]) == list(range(24))
    assert not set(seen_per_rank[0]) & set(seen_per_rank[1])


def test_shuffle_buffer_changes_order_per_epoch_and_unknown_or_corrupt_records_are_skips(tmp_path: Path) -> None:
    paths = _write_msgpack_shards(tmp_path / "shards", 30, 1)
    with open(paths[0], "ab") as handle:
        handle.write(msgpack.packb({"id": "corrupt", "image": b"garbage"}, use_bin_type=True))
        handle.write(msgpack.packb({"id": "unlisted", "image": _jpeg_bytes(99)}, use_bin_type=True))
    labels = {f"r{i}": (np.array([i], dtype=np.int64), 0) for i in range(30)}
    labels["corrupt"] = (np.array([-5]), 0)
    dataset = ShardDataset(paths, labels, TrainTransform(24), 24, shuffle_buffer=10, seed=0)
    first = list(dataset)
    dataset.set_epoch(1)
    second = list(dataset)
    order = [[int(item["geo"][0]) for item in epoch if "geo" in item] for epoch in (first, second)]
    assert sorted(order[0]) == sorted(order[1]) == list(range(30)) and order[0] != order[1]
    skipped = sorted((item["skipped"].split(":")[0], item["name"]) for item in first if "skipped" in item)
    assert skipped == [("no location for record", "unlisted"), ("unreadable image", "corrupt")]


def test_tar_shards_in_webdataset_layout_with_json_locations(tmp_path: Path) -> None:
    partitionings = _partitionings(tmp_path)
    lat, lon = spot_locations(6, 20, seed=3)
    shard = tmp_path / "data-000.tar"
    with tarfile.open(shard, "w") as archive:
        for index in range(5):
            members = {f"s{index}.jpg": _jpeg_bytes(index),
                       f"s{index}.json": json.dumps({"lat": lat[index], "lon": lon[index]}).encode()}
            if index == 4:
                members[f"s{index}.json"] = json.dumps({"lat": -60.0, "lon": -120.0}).encode()
            for name, payload in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(payload)
                archive.addfile(info, io.BytesIO(payload))
    data = DataConfig(source="shards", shards=[str(tmp_path / "data-*.tar")], shuffle_buffer=2)
    dataset, _ = build_dataset(data, partitionings, TrainTransform(24), 24)
    items = list(dataset)
    assert sum("image" in item for item in items) == 4
    assert [item["skipped"] for item in items if "skipped" in item] == ["outside all partitioning cells"]
    assert expand_shards([str(tmp_path)]) == [str(shard)]
    with pytest.raises(FileNotFoundError, match="no shards match"):
        expand_shards([str(tmp_path / "none-*.tar")])


def test_write_photo_without_gps_has_no_location(tmp_path: Path) -> None:
    write_photo(tmp_path / "x.jpg", location_pixels(1.0, 2.0, 16, np.random.default_rng(0), 1.0), None)
    assert read_exif_gps(tmp_path / "x.jpg") is None


def test_msgpack_shards_take_locations_and_scene_labels_from_the_mp16_meta_csv(tmp_path: Path) -> None:
    partitionings = _partitionings(tmp_path)
    lat, lon = spot_locations(6, 20, seed=3)
    paths = _write_msgpack_shards(tmp_path / "shards", 6, 2)
    meta = tmp_path / "mp16_meta.csv"
    lines = ["IMG_ID,AUTHOR,LAT,LON,S3_Label,S16_Label,S365_Label,Prob_indoor,Prob_natural,Prob_urban"]
    lines += [f"r{i},a,{lat[i * 20]},{lon[i * 20]},{i % 3},0,0,0.1,0.2,0.7" for i in range(5)]  # r5 has no row
    meta.write_text("\n".join(lines) + "\n")
    data = DataConfig(source="shards", shards=paths, csv=str(meta), scene_column="S3_Label")
    dataset, report = build_dataset(data, partitionings, TrainTransform(24), 24)
    assert report.considered == 5 and report.skipped == 0
    items = list(dataset)
    scenes = sorted(int(item["scene"]) for item in items if "scene" in item)
    assert scenes == [0, 0, 1, 1, 2]
    assert [(item["skipped"], item["name"]) for item in items if "skipped" in item] == [
        ("no location for record", "r5")]
