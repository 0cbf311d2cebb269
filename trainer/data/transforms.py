"""Image transforms written with PIL and torch (no torchvision): the paper's training augmentation and tensors."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def to_normalized_tensor(image: Image.Image, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """RGB PIL image -> float tensor (3, H, W), scaled to [0, 1] then normalised per channel."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    array = (array - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


def random_resized_crop_box(
    width: int, height: int, scale: tuple[float, float], ratio: tuple[float, float], generator: torch.Generator | None
) -> tuple[int, int, int, int]:
    """Sample a crop box (left, top, right, bottom) covering `scale` of the area with aspect in `ratio`."""
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        draws = torch.rand(4, generator=generator).tolist()
        target_area = area * (scale[0] + (scale[1] - scale[0]) * draws[0])
        aspect = math.exp(log_ratio[0] + (log_ratio[1] - log_ratio[0]) * draws[1])
        crop_w = int(round(math.sqrt(target_area * aspect)))
        crop_h = int(round(math.sqrt(target_area / aspect)))
        if 0 < crop_w <= width and 0 < crop_h <= height:
            left = int(draws[2] * (width - crop_w + 1))
            top = int(draws[3] * (height - crop_h + 1))
            return left, top, left + crop_w, top + crop_h
    # Fallback as torchvision: the centred crop of the largest box within the allowed aspect range.
    aspect_in = width / height
    if aspect_in < ratio[0]:
        crop_w, crop_h = width, int(round(width / ratio[0]))
    elif aspect_in > ratio[1]:
        crop_w, crop_h = int(round(height * ratio[1])), height
    else:
        crop_w, crop_h = width, height
    left, top = (width - crop_w) // 2, (height - crop_h) // 2
    return left, top, left + crop_w, top + crop_h


class TrainTransform:
    """RandomResizedCrop(size, scale 0.66-1) + horizontal flip + normalisation, as the paper trains."""

    def __init__(
        self,
        size: int = 224,
        scale: tuple[float, float] = (0.66, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        flip_probability: float = 0.5,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        self.size, self.scale, self.ratio = size, scale, ratio
        self.flip_probability, self.mean, self.std = flip_probability, tuple(mean), tuple(std)

    def __call__(self, image: Image.Image, generator: torch.Generator | None = None) -> torch.Tensor:
        box = random_resized_crop_box(image.width, image.height, self.scale, self.ratio, generator)
        crop = image.resize((self.size, self.size), Image.Resampling.BILINEAR, box=box)
        if float(torch.rand(1, generator=generator)) < self.flip_probability:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return to_normalized_tensor(crop, self.mean, self.std)


class ResizeCenterCropTransform:
    """Resize the short side to `resize` and take the centred `size` square (the reference's validation)."""

    def __init__(
        self, size: int = 224, resize: int = 256, mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        self.size, self.resize, self.mean, self.std = size, resize, tuple(mean), tuple(std)

    def __call__(self, image: Image.Image, generator: torch.Generator | None = None) -> torch.Tensor:
        scale = self.resize / min(image.width, image.height)
        new_w, new_h = max(self.size, round(image.width * scale)), max(self.size, round(image.height * scale))
        resized = image.resize((new_w, new_h), Image.Resampling.BILINEAR)
        left, top = (new_w - self.size) // 2, (new_h - self.size) // 2
        crop = resized.crop((left, top, left + self.size, top + self.size))
        return to_normalized_tensor(crop, self.mean, self.std)
