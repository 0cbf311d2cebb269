"""Segmentation maps cached for TransLocator in the shard format: msgpack `{"id", "image": 16-bit PNG class map}`.

For a streamed source every image shard `NAME` gets a cache shard `NAME.seg.msgpack` holding one record per image
record, in the same order, so the two stream side by side (constant memory, split across ranks and workers with
the image shard). For a CSV or folder source the cache is `photos.seg.msgpack`, read into memory as PNG bytes.
Maps cover the whole upright photo (short side `short_side_px`), so the training crop takes the same region of the
photo and of its map. A record whose photo could not be read has an empty map; the trainer skips it.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import msgpack
import numpy as np
import numpy.typing as npt
from PIL import Image

from geotagger.trainer.data.images import ImageReadError, open_rgb
from geotagger.trainer.data.shards import Record, expand_shards, iter_msgpack_shard, iter_shard

CACHE_SUFFIX = ".seg.msgpack"
PHOTOS_CACHE = "photos" + CACHE_SUFFIX
OUT_OF_STEP = "segmentation cache out of step with its image shard"
NO_MAP = "no segmentation map in the cache"


class Segmenter(Protocol):
    """What the cache needs of a segmentation model (trainer.segmentation.SegmentationModel)."""

    def segment(self, image: Image.Image, size: tuple[int, int] | None = None) -> npt.NDArray[np.int64]: ...


def encode_class_map(classes: npt.NDArray[np.integer]) -> bytes:
    """16-bit greyscale PNG of a (h, w) class map."""
    if classes.size and (classes.min() < 0 or classes.max() > 0xFFFF):
        raise ValueError("class indices must lie in [0, 65535]")
    buffer = io.BytesIO()
    Image.fromarray(classes.astype(np.uint16)).save(buffer, format="PNG")
    return buffer.getvalue()


def decode_class_map(data: bytes) -> Image.Image:
    """A cached map as a 32-bit integer PIL image (mode "I", resizable by nearest); ValueError when unusable."""
    if not data:
        raise ValueError("empty map (its photo was unreadable when the cache was built)")
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.convert("I")
    except (OSError, SyntaxError) as error:
        raise ValueError(f"unreadable map ({error})") from None


def cache_shard_path(cache_dir: str | os.PathLike[str], shard: str | os.PathLike[str]) -> Path:
    """Where the cache of image shard `shard` lives."""
    return Path(cache_dir) / (Path(shard).name + CACHE_SUFFIX)


def check_cache_covers(cache_dir: str | os.PathLike[str], shards: Sequence[str]) -> None:
    """FileNotFoundError naming the first image shard without its cache shard."""
    for shard in shards:
        if not cache_shard_path(cache_dir, shard).is_file():
            raise FileNotFoundError(f"no segmentation cache for shard {shard} in {cache_dir} "
                                    "(run geotag-train segment)")


def records_with_maps(shard: str, cache_dir: str | os.PathLike[str]) -> Iterator[Record]:
    """The records of an image shard, each with its map's PNG as meta["segmentation"] (or a reason it has none)."""
    maps = iter_msgpack_shard(cache_shard_path(cache_dir, shard))
    for record_id, payload, meta in iter_shard(shard):
        cached = next(maps, None)
        meta = dict(meta)
        if cached is None or cached[0] != record_id:
            meta["segmentation_error"] = OUT_OF_STEP
        else:
            meta["segmentation"] = cached[1]
        yield record_id, payload, meta


def photo_key(name: str, image_root: str | None) -> str:
    """The id a photo's map is cached under: its path relative to the CSV's image root (the CSV id), else the path."""
    return os.path.relpath(name, image_root) if image_root else name


def read_photo_cache(cache_dir: str | os.PathLike[str]) -> dict[str, bytes]:
    """id -> map PNG of a CSV or folder source's cache."""
    path = Path(cache_dir) / PHOTOS_CACHE
    if not path.is_file():
        raise FileNotFoundError(f"no segmentation cache {path} (run geotag-train segment)")
    return {record_id: data for record_id, data, meta in iter_msgpack_shard(path) if not meta.get("malformed")}


def class_map_record(segmenter: Segmenter, record_id: str, source: str | bytes, short_side_px: int) -> bytes:
    """One packed cache record: the map of the upright photo at `short_side_px` (empty when unreadable)."""
    try:
        image = open_rgb(source, short_side_px, name=record_id)
    except ImageReadError:
        return msgpack.packb({"id": record_id, "image": b""}, use_bin_type=True)
    scale = short_side_px / min(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    classes = segmenter.segment(image, size)
    return msgpack.packb({"id": record_id, "image": encode_class_map(classes)}, use_bin_type=True)


def _write_atomically(path: Path, records: Iterator[bytes]) -> int:
    partial, count = path.with_name(path.name + ".partial"), 0
    with partial.open("wb") as handle:
        for record in records:
            handle.write(record)
            count += 1
    os.replace(partial, path)  # an interrupted build leaves no half cache that would read as complete
    return count


def build_shard_cache(segmenter: Segmenter, patterns: Sequence[str], cache_dir: str | os.PathLike[str],
                      short_side_px: int = 256, rank: int = 0, world_size: int = 1) -> dict[str, int]:
    """Cache shards for every image shard this rank owns (shards[rank::world]); existing ones are kept."""
    shards = expand_shards(patterns)
    names = [Path(shard).name for shard in shards]
    if len(set(names)) != len(names):
        raise ValueError("two image shards share a file name; their caches would collide")
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    written: dict[str, int] = {}
    for shard in shards[rank::world_size]:
        target = cache_shard_path(cache_dir, shard)
        if target.is_file():
            continue
        written[shard] = _write_atomically(target, (class_map_record(segmenter, record_id, payload, short_side_px)
                                                    for record_id, payload, _ in iter_shard(shard)))
    return written


def build_photo_cache(segmenter: Segmenter, photos: Mapping[str, str], cache_dir: str | os.PathLike[str],
                      short_side_px: int = 256) -> int:
    """The cache of a CSV or folder source: {key: photo path} -> photos.seg.msgpack; returns the records written."""
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    return _write_atomically(Path(cache_dir) / PHOTOS_CACHE, (class_map_record(segmenter, key, path, short_side_px)
                                                              for key, path in photos.items()))


def sample_class_map(meta: Mapping[str, Any]) -> Image.Image | str:
    """The decoded map a record carries, or the reason to skip the record."""
    if "segmentation_error" in meta:
        return str(meta["segmentation_error"])
    try:
        return decode_class_map(meta.get("segmentation", b""))
    except ValueError as error:
        return f"segmentation map: {error}"
