"""Scene probabilities from a scene bundle, written into the meta CSV as Prob_indoor/natural/urban (for ISNs).

MP-16's meta CSV ships these columns; for other data a scene bundle (Places365 import, or any bundle whose card
has an S3 scene) computes them once with the prediction's own preprocessing, and `fit` then streams them with
the photos (DataConfig.scene_probabilities). Every row of the CSV is kept: a photo the bundle could not read gets
empty probabilities, which training counts as an unparsable row instead of guessing a scene.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from geotagger.trainer.data.sources import ID_COLUMNS, PROBABILITY_COLUMNS

S3 = tuple(name.removeprefix("Prob_") for name in PROBABILITY_COLUMNS)
BATCH_PHOTOS = 16
Source = tuple[str, str | bytes]  # (id, photo path or encoded photo)


def _prepared(companion: object, source: str | bytes) -> np.ndarray | None:
    """The scene bundle's crops of one photo (encoded bytes go through a temporary file), None if unreadable."""
    from geotagger.geocore.inference.preprocess import prepare_or_reason

    card = companion.bundle.card  # type: ignore[attr-defined]
    if isinstance(source, str):
        prepared = prepare_or_reason(source, card.input, card.crops)
    else:
        handle, name = tempfile.mkstemp(suffix=".img")
        try:
            with os.fdopen(handle, "wb") as temporary:
                temporary.write(source)
            prepared = prepare_or_reason(name, card.input, card.crops)
        finally:
            os.unlink(name)
    return None if isinstance(prepared, str) else prepared.crops


def _batch_scenes(companion: object, batch: list[tuple[str, np.ndarray]]) -> Iterator[tuple[str, list[float]]]:
    outputs = companion.run(np.concatenate([crops for _, crops in batch]))  # type: ignore[attr-defined]
    start = 0
    for record_id, crops in batch:
        own = {name: value[start:start + len(crops)] for name, value in outputs.items()}
        start += len(crops)
        reading = companion.read(own)  # type: ignore[attr-defined]
        yield record_id, [float(reading.s3[label]) for label in S3]


def scene_probabilities(companion: object, sources: Iterable[Source]) -> Iterator[tuple[str, list[float] | None]]:
    """(id, [p_indoor, p_natural, p_urban]) per photo, batched through the bundle; None for an unreadable one."""
    batch: list[tuple[str, np.ndarray]] = []
    for record_id, source in sources:
        crops = _prepared(companion, source)
        if crops is None:
            yield record_id, None
            continue
        batch.append((record_id, crops))
        if len(batch) == BATCH_PHOTOS:
            yield from _batch_scenes(companion, batch)
            batch = []
    if batch:
        yield from _batch_scenes(companion, batch)


def load_scene_companion(path: str | Path, provider: str = "auto") -> object:
    """A scene bundle whose card reads S3 (indoor, natural, urban); ValueError otherwise."""
    from geotagger.geocore.inference.companion import SceneCompanion

    companion = SceneCompanion(path, provider)
    scene = companion.bundle.card.scene
    if scene is None or set(S3) - set(scene.labels):
        raise ValueError(f"{path}: its scene labels are not S3 ({', '.join(S3)})")
    return companion


def shard_sources(patterns: Sequence[str]) -> Iterator[Source]:
    """(id, bytes) of every record of the shards; a tar record is also known by its member name (the CSV's id)."""
    from geotagger.trainer.data.shards import expand_shards, iter_shard

    for shard in expand_shards(patterns):
        for record_id, payload, meta in iter_shard(shard):
            if payload:
                yield f"{record_id}\0{meta.get('image_name', record_id)}", payload


def csv_sources(csv_path: Path, images: Path) -> Iterator[Source]:
    """(IMG_ID, path) of every CSV row whose photo exists under `images`."""
    with csv_path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        id_column = next((name for name in ID_COLUMNS if name in (reader.fieldnames or [])), None)
        if id_column is None:
            raise ValueError(f"{csv_path}: no image id column (one of {', '.join(ID_COLUMNS)})")
        for row in reader:
            path = images / str(row[id_column]).strip()
            if path.is_file():
                yield str(row[id_column]).strip(), str(path)


def write_with_probabilities(csv_path: Path, out: Path, found: dict[str, list[float] | None]) -> tuple[int, int]:
    """The meta CSV with Prob_* columns set from `found` (blank where unknown); returns (rows, rows filled)."""
    with csv_path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        rows = list(reader)
    id_column = next(name for name in ID_COLUMNS if name in header)
    fields = header + [name for name in PROBABILITY_COLUMNS if name not in header]
    filled = 0
    partial = out.with_name(out.name + ".partial")
    with partial.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            values = found.get(str(row[id_column]).strip())
            row.update(dict.fromkeys(PROBABILITY_COLUMNS, "") if values is None else
                       {name: f"{value:.6f}" for name, value in zip(PROBABILITY_COLUMNS, values, strict=True)})
            filled += values is not None
            writer.writerow(row)
    os.replace(partial, out)
    return len(rows), filled


def annotate_csv(scene_bundle: Path, csv_path: Path, out: Path, images: Path | None = None,
                 shards: Sequence[str] = (), provider: str = "auto") -> tuple[int, int]:
    """Compute S3 probabilities for the photos (image folder or shards) and write the annotated CSV."""
    companion = load_scene_companion(scene_bundle, provider)
    if shards:
        sources: Iterable[Source] = shard_sources(shards)
    elif images is not None:
        sources = csv_sources(csv_path, images)
    else:
        raise ValueError("give the photos: an image folder or shards")
    found: dict[str, list[float] | None] = {}
    for key, values in scene_probabilities(companion, sources):
        for alias in key.split("\0"):  # tar records: the key and the member name
            found[alias] = values
    return write_with_probabilities(csv_path, out, found)
