"""Map-style sources: photo folders with EXIF GPS, and meta CSVs (MP-16 / Im2GPS3k conventions) with an image root."""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from geotagger.geocore.library.errors import LibraryError
from geotagger.trainer.data.images import ImageReadError, has_image_extension, open_rgb
from geotagger.trainer.data.labels import SkipReport

LOG = logging.getLogger(__name__)
ID_COLUMNS = ("IMG_ID", "img_id", "image_id", "id", "image", "path", "filename", "file")
LAT_COLUMNS = ("LAT", "lat", "latitude", "Latitude")
LON_COLUMNS = ("LON", "lon", "lng", "longitude", "Longitude")
NO_SCENE = -1
PROBABILITY_COLUMNS = ("Prob_indoor", "Prob_natural", "Prob_urban")  # MP-16's S3 scene probabilities
Transform = Callable[[Image.Image], torch.Tensor]


@dataclass
class LocatedPhotos:
    """Photos with a known location: names (paths or record ids), coordinates and optional scene labels."""

    names: list[str]
    lat: np.ndarray
    lon: np.ndarray
    scene: np.ndarray  # int64, NO_SCENE where unknown
    scene_probabilities: np.ndarray | None = None  # (N, 3) float32 S3 probabilities, when the CSV has them

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, indices: np.ndarray) -> LocatedPhotos:
        """The photos at `indices`, in that order."""
        probabilities = None if self.scene_probabilities is None else self.scene_probabilities[indices]
        return LocatedPhotos([self.names[i] for i in indices], self.lat[indices], self.lon[indices],
                             self.scene[indices], probabilities)


def read_exif_gps(path: str | os.PathLike[str]) -> tuple[float, float] | None:
    """(lat, lon) in degrees of a photo, read by geocore's library code (EXIF GPS, embedded XMP, then an XMP
    sidecar: the same rules as the app); None when it has none. Raises LibraryError/OSError for unreadable files."""
    from geotagger.geocore.library.formats import sniff
    from geotagger.geocore.library.metadata import read_metadata

    path = Path(path)
    with open(path, "rb") as handle:
        head = handle.read(64)
    metadata = read_metadata(path, sniff(head, path.suffix))
    return None if metadata.gps is None else (float(metadata.gps.lat), float(metadata.gps.lon))


def walk_photos(folders: Sequence[str | os.PathLike[str]], report: SkipReport) -> list[Path]:
    """Photo files under `folders`, recursively, extensions matched case-insensitively, hidden files skipped."""
    found: list[Path] = []
    for folder in folders:
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"photo folder not found: {folder}")
        for root, dirs, files in os.walk(folder, onerror=lambda error: report.skip("unreadable folder", str(error))):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found.extend(Path(root) / name for name in sorted(files)
                         if not name.startswith(".") and has_image_extension(name))
    return found


def photos_from_folders(folders: Sequence[str | os.PathLike[str]], report: SkipReport) -> LocatedPhotos:
    """Every photo under `folders` whose EXIF carries GPS; the others are counted in `report`."""
    names, lats, lons = [], [], []
    for path in walk_photos(folders, report):
        report.considered += 1
        try:
            location = read_exif_gps(path)
        except (OSError, SyntaxError, ValueError, LibraryError) as error:
            report.skip("unreadable file", f"{path} ({getattr(error, 'reason', error)})")
            continue
        if location is None:
            report.skip("no GPS in EXIF", str(path))
            continue
        names.append(str(path))
        lats.append(location[0])
        lons.append(location[1])
    scene = np.full(len(names), NO_SCENE, dtype=np.int64)
    return LocatedPhotos(names, np.asarray(lats, dtype=np.float64), np.asarray(lons, dtype=np.float64), scene)


def _pick_column(header: Sequence[str], candidates: Iterable[str], what: str, path: str) -> str:
    for name in candidates:
        if name in header:
            return name
    raise ValueError(f"{path}: no {what} column (expected one of {', '.join(candidates)}; found {', '.join(header)})")


def read_meta_csv(path: str | os.PathLike[str], report: SkipReport, scene_column: str | None = None,
                  scene_probabilities: bool = False) -> LocatedPhotos:
    """Rows of a meta CSV (`IMG_ID,AUTHOR,LAT,LON,S3_Label,...` or `id,lat,lon`); bad rows counted, not fatal.

    `scene_probabilities`: also read Prob_indoor/natural/urban (a row without finite, non-negative ones is skipped).
    """
    try:
        return _read_meta_rows(path, report, scene_column, PROBABILITY_COLUMNS if scene_probabilities else ())
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not a UTF-8 CSV file ({error.reason} at byte {error.start})") from None
    except csv.Error as error:
        raise ValueError(f"{path}: malformed CSV ({error})") from None


def _probabilities(row: dict[str, Any], columns: Sequence[str]) -> list[float]:
    values = [float(row[name]) for name in columns]
    if not all(np.isfinite(values)) or min(values, default=0.0) < 0:
        raise ValueError("scene probabilities must be finite and >= 0")
    return values


def _read_meta_rows(path: str | os.PathLike[str], report: SkipReport, scene_column: str | None,
                    probability_columns: Sequence[str]) -> LocatedPhotos:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        id_col = _pick_column(header, ID_COLUMNS, "image id", str(path))
        lat_col = _pick_column(header, LAT_COLUMNS, "latitude", str(path))
        lon_col = _pick_column(header, LON_COLUMNS, "longitude", str(path))
        if scene_column is not None and scene_column not in header:
            raise ValueError(f"{path}: scene column {scene_column!r} not in header ({', '.join(header)})")
        missing = [name for name in probability_columns if name not in header]
        if missing:
            raise ValueError(f"{path}: scene probability column(s) {', '.join(missing)} not in header "
                             f"({', '.join(header)})")
        names, lats, lons, scenes, probabilities = [], [], [], [], []
        for line_number, row in enumerate(reader, start=2):
            report.considered += 1
            try:
                lat, lon = float(row[lat_col]), float(row[lon_col])
                scene = int(float(row[scene_column])) if scene_column else NO_SCENE
                probabilities.append(_probabilities(row, probability_columns))
            except (TypeError, ValueError):
                report.skip("unparsable CSV row", f"{path}:{line_number}")
                continue
            names.append(str(row[id_col]).strip())
            lats.append(lat)
            lons.append(lon)
            scenes.append(scene)
    scene_probabilities = np.asarray(probabilities, np.float32).reshape(len(names), -1) if probability_columns \
        else None
    return LocatedPhotos(names, np.asarray(lats, dtype=np.float64), np.asarray(lons, dtype=np.float64),
                         np.asarray(scenes, dtype=np.int64), scene_probabilities)


def resolve_image_paths(photos: LocatedPhotos, image_root: str | os.PathLike[str], report: SkipReport) -> LocatedPhotos:
    """Join ids onto `image_root`, dropping (and counting) the ones whose file does not exist."""
    root = Path(image_root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {image_root}")
    keep, paths = [], []
    for index, name in enumerate(photos.names):
        path = root / name
        if path.is_file():
            keep.append(index)
            paths.append(str(path))
        else:
            report.skip("image file missing", str(path))
    kept = photos.subset(np.asarray(keep, dtype=np.int64))
    kept.names = paths
    return kept


def make_sample(image: Image.Image, transform: Transform, classes: np.ndarray, scene: int,
                probabilities: np.ndarray | None = None, class_map: Image.Image | None = None) -> dict[str, Any]:
    """One training sample: the image tensor, its classes and scene, and (when the method uses them) its scene
    probabilities and the class map cropped like the image."""
    sample: dict[str, Any] = {"geo": torch.from_numpy(np.asarray(classes, dtype=np.int64)),
                              "scene": torch.tensor(int(scene if scene is not None else NO_SCENE), dtype=torch.int64)}
    if class_map is None:
        sample["image"] = transform(image)
    else:
        sample["image"], sample["segmentation"] = transform.paired(image, class_map)  # type: ignore[attr-defined]
    if probabilities is not None:
        sample["scene_probs"] = torch.from_numpy(np.asarray(probabilities, dtype=np.float32))
    return sample


class PhotoDataset(Dataset):
    """Photos on disk with their classes; an unreadable photo yields a skip marker that the collate counts.

    `class_maps`: cached segmentation PNGs by photo key (TransLocator), aligned with the photos through `keys`.
    """

    def __init__(self, photos: LocatedPhotos, classes: np.ndarray, transform: Transform, min_side_px: int,
                 class_maps: dict[str, bytes] | None = None, keys: Sequence[str] | None = None) -> None:
        self.photos, self.classes, self.transform, self.min_side_px = photos, classes, transform, min_side_px
        self.class_maps, self.keys = class_maps, list(keys) if keys is not None else list(photos.names)

    def __len__(self) -> int:
        return len(self.photos)

    def __getitem__(self, index: int) -> dict[str, Any]:
        from geotagger.trainer.data.segmentation_cache import NO_MAP, sample_class_map

        name = self.photos.names[index]
        class_map = None
        if self.class_maps is not None:
            class_map = sample_class_map({"segmentation": self.class_maps[self.keys[index]]}) \
                if self.keys[index] in self.class_maps else NO_MAP
            if isinstance(class_map, str):
                return {"skipped": class_map, "name": name}
        try:
            image = open_rgb(name, self.min_side_px)
        except ImageReadError as error:
            LOG.warning("skipping %s", error)
            return {"skipped": f"unreadable image: {error.reason}", "name": name}
        probabilities = None if self.photos.scene_probabilities is None else self.photos.scene_probabilities[index]
        return make_sample(image, self.transform, self.classes[index], int(self.photos.scene[index]), probabilities,
                           class_map)


def collate_skipping(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack the usable samples; `skipped` lists (reason, name) of the others so the trainer can count them."""
    good = [item for item in items if "skipped" not in item]
    skipped = [(item["skipped"], item["name"]) for item in items if "skipped" in item]
    batch: dict[str, Any] = {"skipped": skipped, "size": len(good)}
    if good:
        batch["image"] = torch.stack([item["image"] for item in good])
        batch["geo"] = torch.stack([item["geo"] for item in good])
        batch["scene"] = torch.stack([item["scene"] for item in good])
        for key in ("scene_probs", "segmentation"):  # the methods' extras; a source gives all samples or none
            if all(key in item for item in good):
                batch[key] = torch.stack([item[key] for item in good])
    return batch
