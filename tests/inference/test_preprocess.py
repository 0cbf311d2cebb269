"""Preprocessing: crop geometry, EXIF orientation, DCT-scaled decoding, formats, and unreadable inputs."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from geotagger.geocore.inference.card import CropSpec, InputSpec
from geotagger.geocore.inference.preprocess import (
    PhotoError,
    crop_boxes,
    normalise,
    open_oriented,
    prepare_photo,
    resized_dimensions,
)
from tests.inference.conftest import halves, write_photo
from tests.photo_factory import make_heic, make_jpeg, make_png, make_tiff, make_webp

RAW_SPEC = InputSpec(32, (0.0, 0.0, 0.0), (1 / 255, 1 / 255, 1 / 255))  # normalised values = raw 0..255 pixels


def test_three_crops_are_evenly_spaced_along_the_longer_side() -> None:
    landscape = crop_boxes(300, 100, 3, 100)
    assert landscape == [(0, 0, 100, 100), (100, 0, 200, 100), (200, 0, 300, 100)]
    portrait = crop_boxes(100, 301, 3, 100)
    assert [box[1] for box in portrait] == [0, 100, 201] and all(box[0] == 0 for box in portrait)
    assert all(box[3] - box[1] == 100 and box[2] - box[0] == 100 for box in portrait)


def test_one_and_five_crops() -> None:
    assert crop_boxes(256, 341, 1, 224) == [(16, 58, 240, 282)]
    five = crop_boxes(341, 256, 5, 224)
    assert five[:4] == [(0, 0, 224, 224), (117, 0, 341, 224), (0, 32, 224, 256), (117, 32, 341, 256)]
    assert five[4] == (58, 16, 282, 240)
    with pytest.raises(ValueError):
        crop_boxes(100, 100, 4, 50)


def test_resize_keeps_aspect_ratio_short_side_to_target() -> None:
    assert resized_dimensions(4000, 3000, 224) == (299, 224)
    assert resized_dimensions(3000, 4000, 256) == (256, 341)


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_exif_orientation_is_applied_before_cropping(tmp_path, orientation: int) -> None:
    # Stored landscape: left half red, right half blue. Displayed, orientation 6 (90 deg clockwise) puts red on top,
    # 8 (90 deg counter-clockwise) puts red at the bottom, 3 (180 deg) puts red on the right.
    path = write_photo(tmp_path / f"o{orientation}.jpg", halves((128, 64), (255, 0, 0), (0, 0, 255)), orientation,
                       quality=95)
    prepared = prepare_photo(path, RAW_SPEC, CropSpec(3, "mean", 32))
    expected_size = (64, 128) if orientation in (6, 8) else (128, 64)
    assert prepared.original_size == expected_size
    first, last = prepared.crops[0], prepared.crops[-1]  # first/last crop along the longer side
    red_first = first[0].mean() > 200 and first[2].mean() < 60
    red_last = last[0].mean() > 200 and last[2].mean() < 60
    assert red_first == (orientation in (1, 6)) and red_last == (orientation in (3, 8))


def test_large_jpeg_is_decoded_at_reduced_scale(tmp_path) -> None:
    path = make_jpeg(tmp_path / "big.jpg", size=(4000, 3000), color_seed=1, quality=80)
    image, full_size = open_oriented(path, min_short_px=256)
    assert full_size == (4000, 3000)
    assert image.size == (500, 375)  # 1/8 DCT scaling: the full 12 MP never materialises
    assert min(open_oriented(path, min_short_px=400)[0].size) == 750  # 1/4 when 1/8 would be too small


@pytest.mark.parametrize("maker", [make_png, make_tiff, make_webp, make_heic])
def test_other_formats_decode(tmp_path, maker) -> None:
    path = maker(tmp_path / f"photo.{maker.__name__.removeprefix('make_')}", size=(96, 80))
    prepared = prepare_photo(path, RAW_SPEC, CropSpec(1, "mean", 40))
    assert prepared.crops.shape == (1, 3, 32, 32) and prepared.original_size == (96, 80)


def test_normalisation_uses_card_mean_and_std() -> None:
    pixels = np.full((1, 2, 2, 3), 255.0, dtype=np.float32)
    spec = InputSpec(2, (0.5, 0.25, 0.0), (0.5, 0.25, 1.0))
    out = normalise(pixels, spec)
    assert out.shape == (1, 3, 2, 2)
    np.testing.assert_allclose(out[0, :, 0, 0], [1.0, 3.0, 1.0], rtol=1e-6)


def _truncated(tmp_path):
    data = make_jpeg(tmp_path / "full.jpg", size=(640, 480)).read_bytes()
    target = tmp_path / "truncated.jpg"
    target.write_bytes(data[: len(data) // 3])
    return target


@pytest.mark.parametrize("kind", ["zero", "text", "corrupt", "truncated", "missing"])
def test_unreadable_inputs_raise_photo_error(tmp_path, kind: str) -> None:
    path = tmp_path / f"{kind}.jpg"
    if kind == "zero":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("this is not a photo")
    elif kind == "corrupt":
        data = bytearray(make_jpeg(tmp_path / "ok.jpg").read_bytes())
        data[200:4000] = bytes(3800)
        path.write_bytes(bytes(data[:4000]))
    elif kind == "truncated":
        path = _truncated(tmp_path)
    with pytest.raises(PhotoError):
        prepare_photo(path, RAW_SPEC, CropSpec(3, "mean", 32))


def test_decoding_never_loads_more_than_needed(tmp_path, monkeypatch) -> None:
    seen: list[tuple[int, int]] = []
    original = Image.Image.resize

    def spy(self, size, *args, **kwargs):
        seen.append(self.size)
        return original(self, size, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "resize", spy)
    path = make_jpeg(tmp_path / "big.jpg", size=(4000, 3000), quality=70)
    prepare_photo(path, InputSpec(224, (0.5,) * 3, (0.5,) * 3), CropSpec(3, "mean", 256))
    assert seen and max(w * h for w, h in seen) < 4000 * 3000 / 16
