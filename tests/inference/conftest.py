"""Fixtures for inference tests: a tiny three-level model exported to a bundle, and photos made on the fly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import piexif
import pytest
from PIL import Image

from geotagger.geocore.geo.hierarchy import Hierarchy
from geotagger.geocore.geo.partitioning import Partitioning, build_s2_partitionings

TINY_INPUT_PX = 64


def clustered_points(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Photo locations around Paris, New York and Sydney."""
    rng = np.random.default_rng(seed)
    centres = [(48.85, 2.35), (40.71, -74.0), (-33.87, 151.21)]
    lat = np.concatenate([rng.normal(c[0], 1.0, 300) for c in centres])
    lon = np.concatenate([rng.normal(c[1], 1.0, 300) for c in centres])
    return lat, lon


@pytest.fixture(scope="session")
def tiny_partitionings() -> list[Partitioning]:
    lat, lon = clustered_points()
    partitionings = build_s2_partitionings(lat, lon, 20, [300, 100, 50])
    assert len(partitionings) == 3 and len(partitionings[0]) < len(partitionings[2])
    return partitionings


@pytest.fixture(scope="session")
def tiny_model(tiny_partitionings: list[Partitioning]):
    torch = pytest.importorskip("torch")
    from geotagger.trainer.models import build_model

    torch.manual_seed(0)
    model = build_model("tiny", [len(p) for p in tiny_partitionings], scene_classes=3).eval()
    with torch.no_grad():  # non-trivial BN statistics and head biases, so a mistake cannot hide behind zeros
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
        for head in model.heads.values():
            head.weight.mul_(20.0)
            head.bias.uniform_(-1.0, 1.0)
    return model


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory, tiny_model, tiny_partitionings) -> Path:
    from geotagger.geocore.inference.card import CropSpec
    from geotagger.trainer.export import CardFields, export_bundle

    out = tmp_path_factory.mktemp("bundle") / "tiny.geomodel"
    fields = CardFields("tiny-test", input_size_px=TINY_INPUT_PX, crops=CropSpec(3, "mean", 72),
                        training={"data": "synthetic"}, license="CC0")
    path, check = export_bundle(tiny_model, fields, tiny_partitionings, Hierarchy(tiny_partitionings), out)
    assert check.worst <= 1e-4
    return path


@pytest.fixture(scope="session")
def base_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real base bundle (ImageNet EfficientNet-Lite0): the checked-in one, or built once for the session."""
    shipped = Path(__file__).resolve().parents[2] / "resources" / "models" / "base.geomodel"
    if shipped.is_file():
        return shipped
    pytest.importorskip("torch")
    from geotagger.trainer.export import build_base_bundle

    path, _, _ = build_base_bundle(tmp_path_factory.mktemp("base") / "base.geomodel")
    return path


def write_photo(path: Path, image: Image.Image, orientation: int = 1, fmt: str = "JPEG", **options) -> Path:
    """Save `image` with an EXIF orientation tag (real EXIF written by piexif)."""
    exif = piexif.dump({"0th": {piexif.ImageIFD.Orientation: orientation, piexif.ImageIFD.Make: b"Test"}})
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, fmt, exif=exif, **options)
    return path


def halves(size: tuple[int, int], first: tuple[int, int, int], second: tuple[int, int, int]) -> Image.Image:
    """An image whose left half is `first` and right half `second` (as stored, before orientation)."""
    width, height = size
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[:, : width // 2] = first
    pixels[:, width // 2 :] = second
    return Image.fromarray(pixels, "RGB")
