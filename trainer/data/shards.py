"""Streamed shards: msgpack files of `{"id", "image"}` records (MP-16) and tar files in the WebDataset layout.

Shards are split across distributed ranks and DataLoader workers (by shard when there are enough of them, else by
record), shuffled by shard order and a buffer, and reseeded every epoch so all ranks agree on the split.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import random
import tarfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import msgpack
import torch
from torch.utils.data import IterableDataset, get_worker_info

from geotagger.trainer.data.images import ImageReadError, has_image_extension, open_rgb
from geotagger.trainer.data.sources import NO_SCENE, Transform, make_sample

LOG = logging.getLogger(__name__)
Record = tuple[str, bytes, dict[str, Any]]  # (id, encoded image, per-record metadata such as a WebDataset .json)
MSGPACK_SUFFIXES = (".msg", ".msgpack")


def iter_msgpack_shard(path: str | os.PathLike[str]) -> Iterator[Record]:
    """Records of one msgpack shard (a stream of maps with "id" and "image")."""
    with open(path, "rb") as handle:
        for record in msgpack.Unpacker(handle, raw=False, max_buffer_size=1 << 30):
            if isinstance(record, dict) and "id" in record and isinstance(record.get("image"), bytes):
                yield str(record["id"]), record["image"], {}
            else:
                yield "<malformed record>", b"", {"malformed": True}


def iter_tar_shard(path: str | os.PathLike[str]) -> Iterator[Record]:
    """Samples of one WebDataset tar: consecutive members sharing a key (`key.jpg` + optional `key.json`)."""
    key, image, meta = None, b"", {}
    with tarfile.open(path, "r:*") as archive:
        for member in archive:
            if not member.isfile():
                continue
            stem, _, extension = member.name.partition(".")  # WebDataset: the key ends at the first dot of the name
            if stem != key and key is not None:
                yield key, image, meta
                image, meta = b"", {}
            key = stem
            handle = archive.extractfile(member)
            payload = handle.read() if handle else b""
            if has_image_extension(member.name) and not image:
                image, meta["image_name"] = payload, member.name
            elif extension.lower() == "json":
                meta = _parse_json(payload)
    if key is not None:
        yield key, image, meta


def _parse_json(payload: bytes) -> dict[str, Any]:
    try:
        value = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return {"malformed": True}
    return value if isinstance(value, dict) else {"malformed": True}


def iter_shard(path: str | os.PathLike[str]) -> Iterator[Record]:
    """Records of a msgpack or tar shard, chosen by the file name."""
    name = str(path).lower()
    return iter_msgpack_shard(path) if name.endswith(MSGPACK_SUFFIXES) else iter_tar_shard(path)


def expand_shards(patterns: Sequence[str]) -> list[str]:
    """Shard files from paths, folders and glob patterns, sorted; a pattern matching nothing is an error."""
    found: list[str] = []
    for pattern in patterns:
        if Path(pattern).is_dir():
            matches = [str(p) for p in Path(pattern).iterdir() if p.name.lower().endswith((*MSGPACK_SUFFIXES, ".tar"))]
        else:
            matches = glob.glob(pattern)
        if not matches:
            raise FileNotFoundError(f"no shards match {pattern}")
        found.extend(matches)
    return sorted(set(found))


def distributed_position() -> tuple[int, int]:
    """(rank, world size) of this process: torch.distributed when initialised, else (0, 1)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class ShardDataset(IterableDataset):
    """Located, labelled samples streamed from shards; records without a location are yielded as skip markers.

    `labels` maps a record id to (class row, scene[, S3 probabilities]); ids missing there are counted as "no
    location". Records carrying a WebDataset `.json` with lat/lon are labelled through `label_fn` instead.
    `segmentation_cache`: folder of the shards' class maps (trainer.data.segmentation_cache), streamed beside them.
    """

    def __init__(
        self, shards: Sequence[str], labels: Mapping[str, tuple[Any, ...]], transform: Transform,
        min_side_px: int, shuffle_buffer: int = 1000, seed: int = 0, label_fn: Any = None,
        segmentation_cache: str | None = None,
    ) -> None:
        super().__init__()
        self.shards, self.labels, self.transform = list(shards), labels, transform
        self.min_side_px, self.shuffle_buffer, self.seed, self.label_fn = min_side_px, shuffle_buffer, seed, label_fn
        self.segmentation_cache = segmentation_cache
        if segmentation_cache is not None:
            from geotagger.trainer.data.segmentation_cache import check_cache_covers

            check_cache_covers(segmentation_cache, self.shards)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Reseed shuffling for `epoch` (call on every rank before iterating)."""
        self.epoch = epoch

    def _my_records(self) -> Iterator[Record]:
        rank, world = distributed_position()
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info else (1, 0)
        total, mine = world * workers, rank * workers + worker
        order = list(self.shards)
        random.Random(self.seed + self.epoch).shuffle(order)  # same permutation on every rank and worker
        # Whole shards while they divide evenly, then the remainder record by record: every reader gets about the
        # same number of samples, so no rank waits long for the others (they stop together when one runs out).
        whole = len(order) - len(order) % total
        for shard in order[mine:whole:total]:
            yield from self._records_of(shard)
        remainder = (record for shard in order[whole:] for record in self._records_of(shard))
        for index, record in enumerate(remainder):
            if index % total == mine:
                yield record

    def _records_of(self, shard: str) -> Iterator[Record]:
        if self.segmentation_cache is None:
            return iter_shard(shard)
        from geotagger.trainer.data.segmentation_cache import records_with_maps

        return records_with_maps(shard, self.segmentation_cache)

    def _shuffled(self, records: Iterator[Record]) -> Iterator[Record]:
        rank, _ = distributed_position()
        info = get_worker_info()
        rng = random.Random(hash((self.seed, self.epoch, rank, info.id if info else 0)))
        buffer: list[Record] = []
        for record in records:
            if len(buffer) < self.shuffle_buffer:
                buffer.append(record)
                continue
            slot = rng.randrange(len(buffer))
            yield buffer[slot]
            buffer[slot] = record
        rng.shuffle(buffer)
        yield from buffer

    def _label(self, record_id: str, meta: dict[str, Any]) -> tuple[Any, ...] | str:
        if meta.get("malformed"):
            return "malformed record"
        for candidate in (record_id, meta.get("image_name")):  # tar keys drop the extension a meta CSV id keeps
            if isinstance(candidate, str) and candidate in self.labels:
                return self.labels[candidate]
        if self.label_fn is not None and "lat" in meta and "lon" in meta:
            return self.label_fn(meta)
        return "no location for record"

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for record_id, payload, meta in self._shuffled(self._my_records()):
            label = self._label(record_id, meta)
            if isinstance(label, str):
                yield {"skipped": label, "name": record_id}
                continue
            class_map = None
            if self.segmentation_cache is not None:
                from geotagger.trainer.data.segmentation_cache import sample_class_map

                class_map = sample_class_map(meta)
                if isinstance(class_map, str):
                    yield {"skipped": class_map, "name": record_id}
                    continue
            try:
                image = open_rgb(payload, self.min_side_px, name=record_id)
            except ImageReadError as error:
                yield {"skipped": f"unreadable image: {error.reason}", "name": record_id}
                continue
            classes, scene, probabilities = (*label, None)[:3]
            yield make_sample(image, self.transform, classes, NO_SCENE if scene is None else scene, probabilities,
                              class_map)
