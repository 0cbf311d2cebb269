"""One entry point for the three sources: a torch Dataset of (image, classes, scene) plus the skip report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from torch.utils.data import Dataset

from geotagger.trainer.data.labels import SkipReport, label_locations
from geotagger.trainer.data.shards import ShardDataset, expand_shards
from geotagger.trainer.data.sources import (
    NO_SCENE,
    LocatedPhotos,
    PhotoDataset,
    Transform,
    photos_from_folders,
    read_meta_csv,
    resolve_image_paths,
)

if TYPE_CHECKING:
    from geotagger.geocore.geo.partitioning import Partitioning
    from geotagger.trainer.training.config import DataConfig


class NoUsableDataError(ValueError):
    """Every image of a source was skipped: training on it would give a silently wrong model."""


def located_photos(data: DataConfig, report: SkipReport) -> LocatedPhotos:
    """Locations of a map-style source (folders or CSV + image root), before labelling."""
    if data.source == "folders":
        return photos_from_folders(data.folders, report)
    assert data.csv is not None and data.images is not None
    return resolve_image_paths(read_meta_csv(data.csv, report, data.scene_column, data.scene_probabilities),
                               data.images, report)


def labelled_photos(
    data: DataConfig, partitionings: Sequence[Partitioning], report: SkipReport
) -> tuple[LocatedPhotos, np.ndarray]:
    """Located photos inside the partitionings and their (N, P) classes; everything else counted in `report`."""
    photos = located_photos(data, report)
    kept, classes = label_locations(photos.names, photos.lat, photos.lon, partitionings, report)
    return photos.subset(kept), classes


def _record_labeller(partitionings: Sequence[Partitioning]) -> Any:
    def label(meta: dict[str, Any]) -> tuple[np.ndarray, int, None] | str:
        try:
            lat, lon = np.array([float(meta["lat"])]), np.array([float(meta["lon"])])
        except (TypeError, ValueError):
            return "invalid coordinates"
        report = SkipReport()
        kept, classes = label_locations(["record"], lat, lon, partitionings, report)
        if not len(kept):
            return next(iter(report.counts))
        return classes[0], int(meta.get("scene", NO_SCENE)), None

    return label


def shard_dataset(
    data: DataConfig, partitionings: Sequence[Partitioning], transform: Transform, min_side_px: int, seed: int,
    report: SkipReport,
) -> ShardDataset:
    """A streamed dataset over shards; locations from the meta CSV (by record id) or per-record `.json`."""
    labels: dict[str, tuple[Any, ...]] = {}
    if data.csv:
        rows = read_meta_csv(data.csv, report, data.scene_column, data.scene_probabilities)
        kept, classes = label_locations(rows.names, rows.lat, rows.lon, partitionings, report)
        probabilities = rows.scene_probabilities
        labels = {rows.names[i]: (classes[n], int(rows.scene[i]), None if probabilities is None else probabilities[i])
                  for n, i in enumerate(kept)}
    # Scene probabilities come from the CSV only: a record located by its own .json would lack them.
    label_fn = None if data.scene_probabilities else _record_labeller(partitionings)
    return ShardDataset(expand_shards(data.shards), labels, transform, min_side_px, data.shuffle_buffer, seed,
                        label_fn=label_fn, segmentation_cache=data.segmentation_cache)


def build_dataset(
    data: DataConfig, partitionings: Sequence[Partitioning], transform: Transform, min_side_px: int, seed: int = 0
) -> tuple[Dataset, SkipReport]:
    """The dataset of one source; raises NoUsableDataError when nothing is left after skipping."""
    report = SkipReport()
    if data.source == "shards":
        dataset: Dataset = shard_dataset(data, partitionings, transform, min_side_px, seed, report)
        if data.csv and report.kept == 0:
            raise NoUsableDataError(f"{data.csv}: no usable locations\n{report.summary('meta rows')}")
        return dataset, report
    photos, classes = labelled_photos(data, partitionings, report)
    if len(photos) == 0:
        raise NoUsableDataError(f"no usable photos in {data.csv or ', '.join(data.folders)}\n{report.summary()}")
    class_maps, keys = None, None
    if data.segmentation_cache:
        from geotagger.trainer.data.segmentation_cache import photo_key, read_photo_cache

        class_maps = read_photo_cache(data.segmentation_cache)
        keys = [photo_key(name, data.images if data.source == "csv" else None) for name in photos.names]
    return PhotoDataset(photos, classes, transform, min_side_px, class_maps, keys), report
