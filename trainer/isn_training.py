"""`geotag-train isn`: individual scene networks from an MP-16 style meta CSV with Prob_indoor/natural/urban.

Photos are decoded once with the prediction's own preprocessing (one centre crop) and held in memory, so this
path suits libraries and benchmark sets (tens of thousands of photos), not MP-16; see trainer.models.isn.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from geocore.inference.card import IMAGENET_MEAN, IMAGENET_STD, CropSpec, InputSpec
from geocore.inference.preprocess import prepare_photo
from trainer.data.labels import SkipReport, label_locations
from trainer.export import CardFields, ExportCheck
from trainer.models.isn import ISN_THRESHOLD, S3_LABELS, build_isn_model, fit_isn
from trainer.training.loop import load_partitionings

PROBABILITY_COLUMNS = tuple(f"Prob_{label}" for label in S3_LABELS)


def read_scene_rows(path: Path) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """(ids, lat, lon, (N, 3) scene probabilities) from IMG_ID,LAT,LON,Prob_indoor,Prob_natural,Prob_urban."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [name for name in ("IMG_ID", "LAT", "LON", *PROBABILITY_COLUMNS) if name not in (reader.fieldnames
                                                                                                  or [])]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
        rows = list(reader)
    probabilities = np.asarray([[float(row[name]) for name in PROBABILITY_COLUMNS] for row in rows], np.float32)
    return ([row["IMG_ID"] for row in rows], np.asarray([float(row["LAT"]) for row in rows]),
            np.asarray([float(row["LON"]) for row in rows]), probabilities)


def train_isn_bundle(
    csv_path: Path, images: Path, partitioning_paths: list[str], out: Path, model_id: str, backbone: str = "tiny",
    input_size_px: int = 224, epochs: int = 10, lr: float = 0.05, pretrained: bool = True,
) -> tuple[Path, ExportCheck, SkipReport]:
    """Train ISNs(S3) on the CSV's photos and write the checked bundle; returns it, the export check, the skips."""
    from trainer.method_export import export_isn_bundle

    partitionings, hierarchy = load_partitionings(partitioning_paths)
    names, lat, lon, probabilities = read_scene_rows(csv_path)
    report = SkipReport(considered=len(names))
    kept, classes = label_locations(names, lat, lon, partitionings, report)
    spec, crops = InputSpec(input_size_px, IMAGENET_MEAN, IMAGENET_STD), CropSpec(1, "mean", input_size_px)
    tensors, rows = [], []
    for index, row_classes in zip(kept, classes, strict=True):
        try:
            tensors.append(prepare_photo(images / names[int(index)], spec, crops, 1).crops[0])
        except OSError as error:
            report.skip(f"unreadable ({type(error).__name__})", names[int(index)])
            continue
        rows.append((row_classes, probabilities[int(index)]))
    if not tensors:
        raise ValueError(f"{csv_path}: no usable photo ({report.summary()})")
    model = build_isn_model(backbone, [len(p) for p in partitionings], pretrained=pretrained)
    fit_isn(model, torch.from_numpy(np.stack(tensors)), torch.from_numpy(np.stack([r[0] for r in rows])),
            torch.from_numpy(np.stack([r[1] for r in rows])), epochs=epochs, lr=lr)
    fields = CardFields(model_id, input_size_px=input_size_px, crops=CropSpec(1, "mean", input_size_px),
                        training={"images": len(tensors), "epochs": epochs, "threshold": ISN_THRESHOLD,
                                  "csv": csv_path.name})
    path, check = export_isn_bundle(model, fields, partitionings, hierarchy, out)
    return path, check, report
