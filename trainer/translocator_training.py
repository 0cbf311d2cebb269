"""`geotag-train translocator`: TransLocator from a meta CSV, its segmentation maps cached as a msgpack shard.

The cache is a shard in the MP-16 record layout, `{"id": IMG_ID, "image": <PNG of the class map>}` (16-bit PNG at
the model's input size), so it streams like the image shards; a rerun with the same cache skips the segmentation.
Photos are held in memory (libraries and benchmark sets, not MP-16).
"""

from __future__ import annotations

import io
from pathlib import Path

import msgpack
import numpy as np
import torch
from PIL import Image

from geocore.inference.card import IMAGENET_MEAN, IMAGENET_STD, CropSpec, InputSpec
from geocore.inference.preprocess import prepare_photo
from trainer.data.labels import SkipReport, label_locations
from trainer.data.shards import iter_msgpack_shard
from trainer.export import CardFields, ExportCheck
from trainer.isn_training import read_scene_rows
from trainer.models.translocator import TransLocator, VitConfig, fit_translocator, load_vit_state
from trainer.segmentation import SegmentationModel, load_segmentation
from trainer.training.loop import load_partitionings

LAYOUTS = {"vit_b16": VitConfig(), "tiny": VitConfig.tiny()}


def class_map(segmentation: SegmentationModel, crop: np.ndarray, size: int) -> np.ndarray:
    """(size, size) classes of one normalised crop, resized by nearest as the bundle's graph does."""
    classes = torch.from_numpy(segmentation.class_map_of_input(crop[None].astype(np.float32)))
    return torch.nn.functional.interpolate(classes[:, None].float(), size=(size, size), mode="nearest")[0, 0].long() \
        .numpy()


def write_cache(path: Path, maps: dict[str, np.ndarray]) -> None:
    """One msgpack shard of {"id", "image": 16-bit PNG class map} records."""
    with path.open("wb") as handle:
        for name, classes in maps.items():
            buffer = io.BytesIO()
            Image.fromarray(classes.astype(np.uint16)).save(buffer, format="PNG")
            handle.write(msgpack.packb({"id": name, "image": buffer.getvalue()}, use_bin_type=True))


def read_cache(path: Path) -> dict[str, np.ndarray]:
    """Class maps back from a cache shard."""
    return {name: np.asarray(Image.open(io.BytesIO(data)), dtype=np.int64)
            for name, data, _ in iter_msgpack_shard(path)}


def train_translocator_bundle(
    csv_path: Path, images: Path, partitioning_paths: list[str], segmentation_path: Path, out: Path, model_id: str,
    layout: str = "vit_b16", vit_weights: Path | None = None, epochs: int = 10, lr: float = 1e-4,
    cache: Path | None = None,
) -> tuple[Path, ExportCheck, SkipReport]:
    """Train TransLocator on the CSV's photos and their cached class maps; write the checked bundle."""
    from trainer.method_export import export_translocator_bundle

    config, segmentation = LAYOUTS[layout], load_segmentation(segmentation_path)
    partitionings, hierarchy = load_partitionings(partitioning_paths)
    names, lat, lon, probabilities = read_scene_rows(csv_path)
    report = SkipReport(considered=len(names))
    kept, classes = label_locations(names, lat, lon, partitionings, report)
    size = config.image_px
    spec, crops = InputSpec(size, IMAGENET_MEAN, IMAGENET_STD), CropSpec(1, "mean", size)
    cached = read_cache(cache) if cache is not None and cache.exists() else {}
    tensors, maps, rows = [], {}, []
    for index, row_classes in zip(kept, classes, strict=True):
        name = names[int(index)]
        try:
            crop = prepare_photo(images / name, spec, crops, 1).crops[0]
        except OSError as error:
            report.skip(f"unreadable ({type(error).__name__})", name)
            continue
        tensors.append(crop)
        maps[name] = cached[name] if name in cached else class_map(segmentation, crop, size)
        rows.append((row_classes, int(np.argmax(probabilities[int(index)]))))
    if not tensors:
        raise ValueError(f"{csv_path}: no usable photo ({report.summary()})")
    if cache is not None and set(maps) - set(cached):
        write_cache(cache, maps)
    model = TransLocator(config, [len(p) for p in partitionings], len(segmentation.class_names))
    if vit_weights is not None:
        load_vit_state(model, torch.load(vit_weights, map_location="cpu", weights_only=True))
    fit_translocator(model, torch.from_numpy(np.stack(tensors)), torch.from_numpy(np.stack(list(maps.values()))),
                     torch.from_numpy(np.stack([r[0] for r in rows])), torch.tensor([r[1] for r in rows]),
                     epochs=epochs, lr=lr)
    fields = CardFields(model_id, input_size_px=size, crops=CropSpec(1, "mean", size),
                        training={"images": len(tensors), "epochs": epochs, "layout": layout, "csv": csv_path.name,
                                  "vit_weights": vit_weights.name if vit_weights else None})
    path, check = export_translocator_bundle(model, segmentation, fields, partitionings, hierarchy, out)
    return path, check, report
