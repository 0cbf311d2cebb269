"""Backbone embeddings of a user's photos through the base bundle's ONNX graph, computed once and cached in the
library's SQLite cache (keyed by photo version and model), so a second run only embeds new or changed photos."""

from __future__ import annotations

import hashlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from geotagger.geocore.inference.bundle import ModelBundle
from geotagger.geocore.inference.card import CropSpec
from geotagger.geocore.inference.preprocess import prepare_or_reason
from geotagger.geocore.inference.runtime import create_session
from geotagger.trainer.data.labels import SkipReport

LOG = logging.getLogger(__name__)
EMBEDDING_CROPS = 1  # one centre crop: the personal bundle's card says so too, so training and the app agree
BATCH_PHOTOS = 16
Progress = Callable[[int, int], None]


@dataclass
class EmbeddingStats:
    """How many embeddings came from the cache and how many were computed."""

    cached: int = 0
    computed: int = 0
    seconds: float = 0.0


def feature_model_id(bundle: ModelBundle) -> str:
    """Cache key of the embedding: the base model, its exact ONNX bytes and the crop scheme."""
    digest = hashlib.sha256(bundle.model_bytes).hexdigest()[:16]
    return f"{bundle.model_id}:{digest}:crop{EMBEDDING_CROPS}"


def embedding_crop_spec(bundle: ModelBundle) -> CropSpec:
    """The crop scheme used for embeddings (and written into the personal card)."""
    return CropSpec(EMBEDDING_CROPS, bundle.card.crops.aggregation, bundle.card.crops.resize_short_px)


def _prepare(bundle: ModelBundle, path: str) -> np.ndarray | str:
    photo = prepare_or_reason(path, bundle.card.input, embedding_crop_spec(bundle), EMBEDDING_CROPS)
    return photo if isinstance(photo, str) else photo.crops


def _prepared_in_order(
    bundle: ModelBundle, paths: Sequence[str], pool: ThreadPoolExecutor, ahead: int = 4 * BATCH_PHOTOS
) -> Iterator[tuple[int, np.ndarray | str]]:
    """Decoded crops in input order, at most `ahead` photos decoded in advance (bounded memory)."""
    pending: deque[tuple[int, Future[np.ndarray | str]]] = deque()
    for index, path in enumerate(paths):
        pending.append((index, pool.submit(_prepare, bundle, path)))
        if len(pending) >= ahead:
            first, future = pending.popleft()
            yield first, future.result()
    while pending:
        first, future = pending.popleft()
        yield first, future.result()


def compute_embeddings(
    bundle: ModelBundle, paths: Sequence[str], report: SkipReport, progress: Progress | None = None,
    threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(embeddings (N_ok, C) float32, ok mask) for `paths`; decoding runs in 2 threads beside inference."""
    session = create_session(bundle, "auto", threads)
    output = bundle.card.embedding_output
    vectors: list[np.ndarray] = []
    ok = np.zeros(len(paths), dtype=bool)
    with ThreadPoolExecutor(2, thread_name_prefix="personal-decode") as pool:
        batch: list[tuple[int, np.ndarray]] = []
        for index, item in _prepared_in_order(bundle, paths, pool):
            if isinstance(item, str):
                report.skip(f"unreadable image: {item}", paths[index])
            else:
                batch.append((index, item))
            if len(batch) == BATCH_PHOTOS or (index == len(paths) - 1 and batch):
                result = session.run(np.concatenate([crops for _, crops in batch]))[output]
                vectors.extend(result.reshape(len(batch), EMBEDDING_CROPS, -1).mean(axis=1))
                ok[[i for i, _ in batch]] = True
                batch = []
            if progress:
                progress(index + 1, len(paths))
    dim = len(vectors[0]) if vectors else 0
    return (np.stack(vectors).astype(np.float32) if vectors else np.zeros((0, dim), np.float32)), ok


def cached_embeddings(
    library: Any, bundle: ModelBundle, photo_ids: Sequence[int], paths: Sequence[str], report: SkipReport,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray, EmbeddingStats]:
    """Embeddings of the photos (cache first, the rest computed and stored); returns (vectors, ok mask, stats)."""
    started = time.perf_counter()
    model_key = feature_model_id(bundle)
    cached = library.get_features_many(list(photo_ids), model_key)
    missing = [n for n, photo_id in enumerate(photo_ids) if photo_id not in cached]
    computed, computed_ok = compute_embeddings(bundle, [paths[n] for n in missing], report, progress)
    fresh = dict(zip([photo_ids[n] for n, ok in zip(missing, computed_ok, strict=True) if ok], computed, strict=True))
    if fresh:
        library.put_features_many(model_key, fresh)  # one transaction for the whole library
    vectors = {**cached, **fresh}
    ok = np.array([photo_id in vectors for photo_id in photo_ids], dtype=bool)
    dim = len(next(iter(vectors.values()))) if vectors else 0
    stacked = np.stack([vectors[p] for p in photo_ids if p in vectors]) if vectors else np.zeros((0, dim))
    stats = EmbeddingStats(len(cached), len(fresh), time.perf_counter() - started)
    LOG.info("embeddings: %d from the cache, %d computed in %.1f s", stats.cached, stats.computed, stats.seconds)
    return stacked.astype(np.float32), ok, stats
