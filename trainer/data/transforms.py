"""Image transforms written with PIL and torch (no torchvision): the paper's training augmentation and tensors."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from geotagger.geocore.inference.card import IMAGENET_MEAN, IMAGENET_STD, CropSpec, InputSpec
from geotagger.geocore.inference.preprocess import crop_boxes, normalise, resized_dimensions, target_short_side


def input_spec(size: int, mean: Sequence[float], std: Sequence[float]) -> InputSpec:
    """The card's input description for these transforms: what training normalises with, the bundle ships."""
    return InputSpec(size, (mean[0], mean[1], mean[2]), (std[0], std[1], std[2]))


def to_normalized_tensor(image: Image.Image, spec: InputSpec) -> torch.Tensor:
    """RGB PIL image -> float tensor (3, H, W) normalised by geocore's own code, the one inference uses."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)[None]
    return torch.from_numpy(normalise(pixels, spec)[0])


Box = tuple[int, int, int, int]


def class_map_crop(classes: Image.Image, image: Image.Image, box: Box, size: int, flip: bool) -> torch.Tensor:
    """(size, size) int64 classes of the same region as `box` on `image` (class maps may be stored at another
    resolution of the same frame), resized by nearest, flipped with the photo."""
    scale_x, scale_y = classes.width / image.width, classes.height / image.height
    scaled = (box[0] * scale_x, box[1] * scale_y, box[2] * scale_x, box[3] * scale_y)
    crop = classes.resize((size, size), Image.Resampling.NEAREST, box=scaled)
    if flip:
        crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return torch.from_numpy(np.asarray(crop, dtype=np.int64).copy())


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
        self.spec = input_spec(size, mean, std)

    def __call__(self, image: Image.Image, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.paired(image, None, generator)[0]

    def paired(self, image: Image.Image, classes: Image.Image | None, generator: torch.Generator | None = None
               ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The photo's crop and the same crop of its class map (TransLocator's two branches see one region)."""
        box = random_resized_crop_box(image.width, image.height, self.scale, self.ratio, generator)
        crop = image.resize((self.size, self.size), Image.Resampling.BILINEAR, box=box)
        flip = float(torch.rand(1, generator=generator)) < self.flip_probability
        if flip:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        class_crop = None if classes is None else class_map_crop(classes, image, box, self.size, flip)
        return to_normalized_tensor(crop, self.spec), class_crop


class ResizeCenterCropTransform:
    """Evaluation view: geocore's own preprocessing (short side to `resize`, centred `size` crop, card mean/std),
    so validation during training sees exactly what the app's crop-count-1 scheme feeds the network."""

    def __init__(
        self, size: int = 224, resize: int = 256, mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        self.spec = input_spec(size, mean, std)
        self.crops = CropSpec(1, "mean", resize)

    def __call__(self, image: Image.Image, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.paired(image, None, generator)[0]

    def paired(self, image: Image.Image, classes: Image.Image | None, generator: torch.Generator | None = None
               ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The centre crop and the same region of the class map."""
        short_px = target_short_side(self.crops, self.spec.size_px, 1)
        resized = image.resize(resized_dimensions(image.width, image.height, short_px), Image.Resampling.BILINEAR)
        left, top, right, bottom = crop_boxes(resized.width, resized.height, 1, self.spec.size_px)[0]
        tensor = to_normalized_tensor(resized.crop((left, top, right, bottom)), self.spec)
        if classes is None:
            return tensor, None
        return tensor, class_map_crop(classes, resized, (left, top, right, bottom), self.spec.size_px, False)
