"""Generated data where location is learnable from pixels: colour and texture vary smoothly with lat/lon, plus noise.

Photos cluster around "spots" (a few hundred metres across) spread over a region, the way real photos cluster
around places; each photo's pixels are a smooth function of its spot's coordinates with per-photo noise, so the
fine classifier can tell far spots apart reliably and near spots only partly: the situation the hierarchy helps in.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import piexif
from PIL import Image

from tests.photo_factory import gps_ifd

REGION = (40.0, 52.0, -4.0, 16.0)  # lat min/max, lon min/max (western Europe)


@dataclass
class SyntheticSet:
    """Locations of generated photos and their file names (relative to the image folder)."""

    names: list[str]
    lat: np.ndarray
    lon: np.ndarray


def spot_locations(n_spots: int, per_spot: int, seed: int, spread_km: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """`per_spot` points scattered `spread_km` around each of `n_spots` random spots in REGION."""
    rng = np.random.default_rng(seed)
    spot_lat = rng.uniform(REGION[0], REGION[1], n_spots)
    spot_lon = rng.uniform(REGION[2], REGION[3], n_spots)
    lat = np.repeat(spot_lat, per_spot) + rng.normal(0, spread_km / 111.0, n_spots * per_spot)
    lon = np.repeat(spot_lon, per_spot) + rng.normal(0, spread_km / 75.0, n_spots * per_spot)
    return lat, lon


def location_pixels(lat: float, lon: float, size_px: int, rng: np.random.Generator, noise: float) -> np.ndarray:
    """RGB pixels whose colour and stripe texture are smooth functions of (lat, lon), plus noise."""
    u = (lat - REGION[0]) / (REGION[1] - REGION[0])
    v = (lon - REGION[2]) / (REGION[3] - REGION[2])
    yy, xx = np.mgrid[0:size_px, 0:size_px].astype(np.float32) / size_px
    frequency = 2.0 + 6.0 * u
    angle = np.pi * v
    stripes = np.sin(2 * np.pi * frequency * (xx * np.cos(angle) + yy * np.sin(angle)) + rng.uniform(0, 2 * np.pi))
    base = np.array([255 * u, 255 * v, 255 * (1 - 0.5 * u - 0.5 * v)], dtype=np.float32)
    pixels = base + 60.0 * stripes[..., None] * np.array([1.0, -1.0, 0.5], dtype=np.float32)
    pixels += rng.normal(0, noise, pixels.shape).astype(np.float32)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def write_photo(path: Path, pixels: np.ndarray, gps: tuple[float, float] | None) -> None:
    """A JPEG with EXIF GPS (when given)."""
    exif = piexif.dump({"0th": {}, "Exif": {}, "GPS": gps_ifd(gps) if gps else {}, "1st": {}}) if gps else b""
    Image.fromarray(pixels, "RGB").save(path, "JPEG", quality=92, exif=exif)


def make_photo_set(
    folder: Path, lat: np.ndarray, lon: np.ndarray, seed: int, size_px: int = 48, noise: float = 25.0,
    with_gps: bool = True, prefix: str = "p",
) -> SyntheticSet:
    """Write one JPEG per location into `folder` (EXIF GPS included unless `with_gps` is False)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = []
    for index, (la, lo) in enumerate(zip(lat, lon, strict=True)):
        name = f"{prefix}{index:05d}.jpg"
        write_photo(folder / name, location_pixels(la, lo, size_px, rng, noise), (la, lo) if with_gps else None)
        names.append(name)
    return SyntheticSet(names, np.asarray(lat), np.asarray(lon))


def write_meta_csv(path: Path, photos: SyntheticSet, scene: list[int] | None = None) -> Path:
    """An MP-16 style meta CSV (IMG_ID,AUTHOR,LAT,LON,S3_Label)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["IMG_ID", "AUTHOR", "LAT", "LON", "S3_Label"])
        for index, name in enumerate(photos.names):
            label = scene[index] if scene else 0
            writer.writerow([name, "someone", f"{photos.lat[index]:.7f}", f"{photos.lon[index]:.7f}", label])
    return path


def training_setup(
    root: Path, n_spots: int = 12, per_spot: int = 20, tau_min: int = 8, tau_max_values: tuple[int, ...] = (120, 30),
    seed: int = 1, size_px: int = 40, **optim: object,
) -> dict:
    """Photos, meta CSV and partitionings under `root`; returns a run-config dict for the tiny backbone."""
    from geotagger.geocore.geo.partitioning import build_s2_partitionings

    lat, lon = spot_locations(n_spots, per_spot, seed)
    photos = make_photo_set(root / "img", lat, lon, seed=seed + 1, size_px=size_px)
    write_meta_csv(root / "train.csv", photos)
    partitionings = build_s2_partitionings(lat, lon, tau_min, list(tau_max_values))
    for partitioning in partitionings:
        partitioning.write_csv(root / f"{partitioning.name}.csv")
    return {
        "train": {"source": "csv", "csv": str(root / "train.csv"), "images": str(root / "img")},
        "model": {"backbone": "tiny", "pretrained": False, "input_size": 32, "eval_resize": 36,
                  "partitionings": [str(root / f"{p.name}.csv") for p in partitionings]},
        "optim": {"epochs": 2, "batch_size": 16, "lr": 0.05, "num_workers": 0, "lr_milestones": [1], "amp": False,
                  **optim},
        "runs_dir": str(root / "runs"),
    }


def train_test_split_by_spot(
    n_spots: int, train_per_spot: int, test_per_spot: int, seed: int
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Locations of train and test photos taken at the same spots (different photos, same places)."""
    lat, lon = spot_locations(n_spots, train_per_spot + test_per_spot, seed)
    index = np.arange(len(lat)).reshape(n_spots, -1)
    train, test = index[:, :train_per_spot].ravel(), index[:, train_per_spot:].ravel()
    return (lat[train], lon[train]), (lat[test], lon[test])


def write_tar_shards(root: Path, n_shards: int) -> Path:
    """root/img's photos dealt round-robin into root/shards/part-NNN.tar (the webdataset-style shards fit reads)."""
    import tarfile

    (root / "shards").mkdir()
    names = sorted(p.name for p in (root / "img").iterdir())
    for shard in range(n_shards):
        with tarfile.open(root / "shards" / f"part-{shard:03d}.tar", "w") as archive:
            for name in names[shard::n_shards]:
                archive.add(root / "img" / name, arcname=name)
    return root / "shards"
