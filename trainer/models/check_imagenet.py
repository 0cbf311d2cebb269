"""Sanity check of the ImageNet EfficientNet-Lite0 on the licensed sample photos: top-1 and log p(correct).

Run `python -m trainer.models.check_imagenet` to compare input normalisations; `imagenet_sanity_views` is also used
to check that the int8 base bundle keeps its top-1 within a point of float32.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from geotagger.geocore.inference.card import IMAGENET_MEAN, IMAGENET_STD
from geotagger.geocore.resources import resource_path
from geotagger.trainer.quantize import five_crop_views

SAMPLES_DIR = resource_path("samples")
# ImageNet class indices that are a correct answer for each sample photo.
SANITY_LABELS = {
    "chelsea_the_cat.jpg": (281, 282, 285),  # tabby, tiger cat, Egyptian cat
    "coffee_cup.jpg": (967, 968),  # espresso, cup
    "rocket_dscovr_launch.jpg": (657, 744, 812),  # missile, projectile, space shuttle
}


SANITY_SHORT_SIDES = (224, 256, 288, 320)


def imagenet_sanity_views(samples_dir: Path = SAMPLES_DIR) -> Iterator[tuple[np.ndarray, tuple[int, ...]]]:
    """(224x224x3 float image in [0, 1], correct classes): 4 scales x 5 crops x 2 flips of every labelled sample.

    120 views, so one view is 0.83 points of top-1: fine enough to tell whether quantisation costs a point. The
    corner crops sometimes miss the object, which is why float32 does not score 100%.
    """
    for name, labels in SANITY_LABELS.items():
        with Image.open(samples_dir / name) as opened:
            image = opened.convert("RGB")
        for view in five_crop_views(image, SANITY_SHORT_SIDES):
            yield view, labels


def normalised_sanity_batch(samples_dir: Path = SAMPLES_DIR) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """The sanity views as one (N, 3, 224, 224) float32 batch with ImageNet mean/std, and their correct classes."""
    views = list(imagenet_sanity_views(samples_dir))
    images = np.stack([(view - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD) for view, _ in views])
    return np.ascontiguousarray(images.astype(np.float32).transpose(0, 3, 1, 2)), [labels for _, labels in views]


def score_probabilities(probabilities: np.ndarray, labels: list[tuple[int, ...]]) -> tuple[float, float]:
    """(top-1 accuracy in percent, mean log probability of the correct classes)."""
    top1 = [int(np.argmax(row)) in correct for row, correct in zip(probabilities, labels, strict=True)]
    log_p = [float(np.log(row[list(correct)].sum())) for row, correct in zip(probabilities, labels, strict=True)]
    return 100.0 * float(np.mean(top1)), float(np.mean(log_p))


def main() -> int:
    import torch

    from geotagger.trainer.models import build_imagenet_model

    model = build_imagenet_model()
    views = list(imagenet_sanity_views())
    images = np.stack([view for view, _ in views])
    labels = [correct for _, correct in views]
    normalisations = {
        "imagenet mean/std": (np.array(IMAGENET_MEAN), np.array(IMAGENET_STD)),
        "(x*255-127)/128": (np.full(3, 127 / 255), np.full(3, 128 / 255)),
    }
    for name, (mean, std) in normalisations.items():
        batch = torch.from_numpy(((images - mean) / std).astype(np.float32)).permute(0, 3, 1, 2)
        with torch.no_grad():
            probabilities = model(batch)["imagenet"].softmax(-1).numpy()
        top1, log_p = score_probabilities(probabilities, labels)
        print(f"{name:20s} top-1 {top1:5.1f}%  mean log p(correct) {log_p:.4f}  ({len(views)} views)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
