"""Scene type (S3: indoor / natural / urban) from a scene head or from ImageNet classes through a mapping table."""

from __future__ import annotations

import csv
import io

import numpy as np
import numpy.typing as npt

from geotagger.geocore.resources import resource_path

S3_LABELS = ("indoor", "natural", "urban")
MAPPING_RESOURCE = resource_path("scene", "imagenet_s3.csv")


class SceneMappingError(ValueError):
    """A class-to-scene mapping table that cannot be used."""


def read_scene_mapping(
    text: str, labels: tuple[str, ...] = S3_LABELS, origin: str = "mapping", column: str = "scenes"
) -> tuple[npt.NDArray[np.float64], list[str]]:
    """Parse `class_index,class_name,scenes` into a (n_classes, n_scenes) weight matrix and the class names.

    A class listed under k scenes gives each 1/k of its probability; a class with no scene has a zero row.
    `column` picks another scene column of the same table (Places365 bundles add `scenes16`).
    """
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or {"class_index", "class_name", column} - set(rows[0]):
        raise SceneMappingError(f"{origin}: expected columns class_index,class_name,{column}")
    if [int(row["class_index"]) for row in rows] != list(range(len(rows))):
        raise SceneMappingError(f"{origin}: class_index must run 0..{len(rows) - 1} in order")
    weights = np.zeros((len(rows), len(labels)), dtype=np.float64)
    for index, row in enumerate(rows):
        scenes = [scene for scene in (row[column] or "").split("|") if scene]
        unknown = set(scenes) - set(labels)
        if unknown:
            raise SceneMappingError(f"{origin}: class {index} has unknown scenes {sorted(unknown)}")
        for scene in scenes:
            weights[index, labels.index(scene)] = 1.0 / len(scenes)
    return weights, [row["class_name"] for row in rows]


def scene_from_class_probabilities(
    class_probabilities: npt.ArrayLike, weights: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Scene probabilities (N, n_scenes): class probabilities summed per scene, renormalised over mapped classes."""
    summed = np.asarray(class_probabilities, dtype=np.float64) @ weights
    total = summed.sum(axis=1, keepdims=True)
    uniform = np.full_like(summed, 1.0 / summed.shape[1])
    # Only if every mapped class had zero probability (never in practice) fall back to "no idea".
    return np.where(total > 1e-12, summed / np.maximum(total, 1e-12), uniform)
