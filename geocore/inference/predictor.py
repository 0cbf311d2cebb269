"""The public prediction API: `Predictor(bundle).predict_paths(paths)` -> one `PhotoPrediction` per photo.

Photos are decoded by a small thread pool (bounded: at most a few batches ahead) while the main thread runs the
network on the previous batch; onnxruntime and Pillow release the GIL, so both cores stay busy. A photo that
cannot be read yields a prediction with `error` set; the batch goes on.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from geotagger.geocore.inference.bundle import ModelBundle, load_bundle
from geotagger.geocore.inference.card import AGGREGATIONS, CROP_COUNTS
from geotagger.geocore.inference.companion import PreparedWithScene, SceneCompanion, find_scene_bundle, read_scene
from geotagger.geocore.inference.location import RankedCell, aggregate_crops, estimate_location
from geotagger.geocore.inference.personal import PersonalRules
from geotagger.geocore.inference.preprocess import PreparedPhoto, open_oriented, prepare_or_reason, prepare_photo
from geotagger.geocore.inference.runtime import ModelSession, create_session
from geotagger.geocore.inference.saliency import (
    compose_crops,
    hierarchy_saliency,
    overlay_png,
    resize_map,
    scene_saliency,
)
from geotagger.geocore.inference.scene_networks import pick_scene_network, route_outputs, routed_bundle

ProgressCallback = Callable[[int, int], None]
DEFAULT_BATCH_PHOTOS = 8
DEFAULT_DECODE_WORKERS = 2
DEFAULT_TOP_K = 5
UNKNOWN_PLACE = "looks like no place in your library"


@dataclass
class PhotoPrediction:
    """Where and what one photo is, or why it could not be read."""

    path: str
    model_id: str
    provider: str
    lat: float | None = None
    lon: float | None = None
    radius_km: float | None = None
    scene: dict[str, float] = field(default_factory=dict)
    scene_source: str = ""  # "places365:<model id>", "head:<model id>" or the ImageNet-mapping fallback
    scene_detail: dict[str, dict[str, float]] = field(default_factory=dict)  # "S16", "S365" from a scene model
    partitioning_top: dict[str, list[RankedCell]] = field(default_factory=dict)
    hierarchy_top: list[RankedCell] = field(default_factory=list)
    width_px: int | None = None
    height_px: int | None = None
    error: str | None = None
    unknown_place: str | None = None  # why no proposal is made although the photo was read (None: a proposal)
    library_similarity: float | None = None  # cosine similarity to the nearest library photo (personal bundles)
    scene_network: str | None = None  # ISN bundles: the scene whose network made the location prediction

    @property
    def ok(self) -> bool:
        """True when the photo was read and predicted."""
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-ready dict (the `geotag predict` record)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PhotoPrediction:
        """Back from `to_json()` (a `geotag predict` record or the library cache's payload)."""
        def cells(raw: Any) -> list[RankedCell]:
            return [RankedCell.from_json(cell) for cell in raw or []]

        return cls(
            path=str(data.get("path", "")), model_id=str(data.get("model_id", "")),
            provider=str(data.get("provider", "")), lat=data.get("lat"), lon=data.get("lon"),
            radius_km=data.get("radius_km"),
            scene={str(label): float(p) for label, p in (data.get("scene") or {}).items()},
            scene_source=str(data.get("scene_source") or ""),
            scene_detail={str(level): {str(label): float(p) for label, p in (values or {}).items()}
                          for level, values in (data.get("scene_detail") or {}).items()},
            partitioning_top={str(name): cells(raw) for name, raw in (data.get("partitioning_top") or {}).items()},
            hierarchy_top=cells(data.get("hierarchy_top")), width_px=data.get("width_px"),
            height_px=data.get("height_px"), error=data.get("error"), unknown_place=data.get("unknown_place"),
            library_similarity=data.get("library_similarity"),
            scene_network=data.get("scene_network"),
        )


@dataclass(frozen=True)
class Saliency:
    """A saliency map in the oriented photo's frame, its colour overlay and what it explains."""

    map: npt.NDArray[np.float32]  # (height, width) in [0, 1], at the preview size
    overlay_png: bytes
    target: str  # e.g. "cells_50_1000:1a2b" or "scene:urban"
    explains: str = ""  # in words: 'what made the model think "Lisbon, PT"'
    prediction: PhotoPrediction | None = None  # the prediction it explains (same crops, same aggregation)


class Predictor:
    """Runs a bundle on photos. `crops`/`aggregation` override the card; `provider` is auto, cpu or cuda.

    A location bundle without a scene output is combined with a scene bundle (`scene_bundle`, default "auto":
    geocore.inference.companion.find_scene_bundle; None: no companion).
    """

    def __init__(
        self,
        bundle: ModelBundle | str | Path,
        provider: str = "auto",
        crops: int | None = None,
        aggregation: str | None = None,
        top_k: int = DEFAULT_TOP_K,
        threads: int | None = None,
        decode_workers: int = DEFAULT_DECODE_WORKERS,
        batch_photos: int = DEFAULT_BATCH_PHOTOS,
        scene_bundle: ModelBundle | str | Path | None = "auto",
    ) -> None:
        self.bundle = bundle if isinstance(bundle, ModelBundle) else load_bundle(bundle)
        card = self.bundle.card
        self.crops = crops or card.crops.count
        self.aggregation = aggregation or card.crops.aggregation
        if self.crops not in CROP_COUNTS or self.aggregation not in AGGREGATIONS:
            raise ValueError(f"crops must be one of {CROP_COUNTS} and aggregation one of {AGGREGATIONS}")
        self.top_k = max(1, top_k)
        self.decode_workers = max(1, decode_workers)
        self.batch_photos = max(1, batch_photos)
        self.session: ModelSession = create_session(self.bundle, provider, threads)
        self.unknown_place = _unknown_place_rule(self.bundle, self.session)
        self.personal = PersonalRules.from_bundle(self.bundle)  # retrieval blend and measured radius
        self.scene_companion = self._companion(scene_bundle, provider, threads)

    def _companion(
        self, scene_bundle: ModelBundle | str | Path | None, provider: str, threads: int | None
    ) -> SceneCompanion | None:
        if self.bundle.card.scene is not None or scene_bundle is None:
            return None
        if isinstance(scene_bundle, str) and scene_bundle == "auto":
            found = find_scene_bundle(self.bundle.path)
            return SceneCompanion(found, provider, threads) if found is not None else None
        return SceneCompanion(scene_bundle, provider, threads)

    @property
    def provider(self) -> str:
        """The execution provider really in use: "cpu" or "cuda"."""
        return self.session.provider

    @property
    def model_id(self) -> str:
        """The bundle's model id."""
        return self.bundle.model_id

    def prepare(self, path: str | Path, crops: int | None = None) -> PreparedPhoto:
        """Decode and crop one photo as the card and this predictor's crop setting (or `crops`) say."""
        return prepare_photo(path, self.bundle.card.input, self.bundle.card.crops, crops or self.crops)

    def predict_paths(
        self,
        paths: Iterable[str | Path],
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[PhotoPrediction]:
        """Predict every photo, in input order; `progress(done, total)` after each, stops when `cancel` is set."""
        path_list = [Path(path) for path in paths]
        done = 0
        with ThreadPoolExecutor(self.decode_workers, thread_name_prefix="geotag-decode") as pool:
            pending: deque[tuple[Path, Future[PreparedPhoto | str]]] = deque()
            upcoming = iter(path_list)
            ahead = self.batch_photos * 2
            while True:
                while len(pending) < ahead and not (cancel and cancel.is_set()):
                    path = next(upcoming, None)
                    if path is None:
                        break
                    pending.append((path, pool.submit(self._prepare_or_reason, path)))
                if not pending or (cancel and cancel.is_set()):
                    break
                batch = [pending.popleft() for _ in range(min(self.batch_photos, len(pending)))]
                for prediction in self._predict_batch([(path, future.result()) for path, future in batch]):
                    done += 1
                    if progress:
                        progress(done, len(path_list))
                    yield prediction
            for _, future in pending:
                future.cancel()

    def _prepare_or_reason(self, path: Path) -> PreparedPhoto | str:
        prepared = prepare_or_reason(path, self.bundle.card.input, self.bundle.card.crops, self.crops)
        if self.scene_companion is None or isinstance(prepared, str):
            return prepared
        try:
            return self.scene_companion.attach(path, prepared)
        except Exception as error:  # decoded once already: a second failure is still this photo's problem
            return f"cannot read photo: {type(error).__name__}: {error}"

    def _output_names(self) -> list[str]:
        names = list(self.bundle.card.heads)  # no feature map: saliency only
        if self.unknown_place:
            names.append(self.unknown_place[0])
        if self.bundle.gallery is not None:
            names.append(self.bundle.card.embedding_output)  # the gallery refinement scores the embedding
        return names

    def _run_batch(self, photos: list[PreparedPhoto]) -> dict[str, np.ndarray]:
        outputs = self.session.run(np.concatenate([photo.crops for photo in photos]), self._output_names())
        if self.scene_companion is not None:
            scene_crops = [photo.scene_crops for photo in photos if isinstance(photo, PreparedWithScene)]
            outputs.update(self.scene_companion.run(np.concatenate([c for c in scene_crops if c is not None])))
        return outputs

    def predict_path(self, path: str | Path) -> PhotoPrediction:
        """Predict one photo."""
        return next(iter(self.predict_paths([path])))

    def _predict_batch(self, items: list[tuple[Path, PreparedPhoto | str]]) -> list[PhotoPrediction]:
        good = [(path, photo) for path, photo in items if isinstance(photo, PreparedPhoto)]
        results: dict[Path, PhotoPrediction] = {}
        if good:
            try:
                outputs = self._run_batch([photo for _, photo in good])
            except Exception as error:  # onnxruntime failure: report it on every photo of the batch
                outputs = None
                message = f"inference failed: {error}"
            offset, scene_offset = 0, 0
            for path, photo in good:
                count = len(photo.crops)
                scene_count = len(photo.scene_crops) if isinstance(photo, PreparedWithScene) and \
                    photo.scene_crops is not None else 0
                if outputs is None:
                    results[path] = self._failure(path, message)
                else:
                    sliced = {name: value[offset:offset + count] for name, value in outputs.items()}
                    if self.scene_companion is not None:
                        head = self.scene_companion.head
                        sliced[head] = outputs[head][scene_offset:scene_offset + scene_count]
                    results[path] = self._interpret(path, photo, sliced)
                offset += count
                scene_offset += scene_count
        return [results[path] if isinstance(photo, PreparedPhoto) else self._failure(path, photo)
                for path, photo in items]

    def _failure(self, path: Path, message: str) -> PhotoPrediction:
        return PhotoPrediction(str(path), self.model_id, self.provider, error=message)

    def _interpret(self, path: Path, photo: PreparedPhoto, outputs: dict[str, np.ndarray]) -> PhotoPrediction:
        prediction = PhotoPrediction(
            str(path), self.model_id, self.provider, width_px=photo.original_size[0], height_px=photo.original_size[1]
        )
        reading = (self.scene_companion.read(outputs) if self.scene_companion is not None
                   else read_scene(self.bundle, outputs, self.aggregation))
        prediction.scene, prediction.scene_source, prediction.scene_detail = reading.s3, reading.source, reading.detail
        bundle = self.bundle
        prediction.scene_network = pick_scene_network(bundle.card, prediction.scene)
        if prediction.scene_network is not None:
            outputs = route_outputs(bundle.card, outputs, prediction.scene_network)
        if bundle.hierarchy is not None:
            probabilities = [aggregate_crops(outputs[ref.head], self.aggregation) for ref in bundle.card.partitionings]
            estimate = (self._personal_estimate(probabilities, outputs) if self.personal is not None
                        else estimate_location(bundle.hierarchy, probabilities, self.top_k))
            prediction.lat, prediction.lon, prediction.radius_km = estimate.lat, estimate.lon, estimate.radius_km
            prediction.partitioning_top = estimate.partitioning_top
            prediction.hierarchy_top = estimate.hierarchy_top
            self._refine_in_gallery(prediction, outputs)
            self._judge_novelty(prediction, outputs)
        return prediction

    def _personal_estimate(self, probabilities: list[npt.NDArray[np.float64]], outputs: dict[str, np.ndarray]) -> Any:
        assert self.personal is not None and self.bundle.hierarchy is not None
        output = self.bundle.card.embedding_output
        embedding = outputs[output].mean(axis=0) if self.personal.needs_embedding and output in outputs else None
        return self.personal.estimate(self.bundle.hierarchy, probabilities, embedding, self.top_k)

    def _judge_novelty(self, prediction: PhotoPrediction, outputs: dict[str, np.ndarray]) -> None:
        """No proposal for a photo unlike every library photo (the personal card's measured threshold)."""
        output = self.bundle.card.embedding_output
        judged = (self.personal.unknown_place(outputs[output].mean(axis=0))
                  if self.personal is not None and output in outputs else None)
        if judged is not None:  # geocore.inference.personal: relative similarity to the library's photos
            prediction.library_similarity, reason = judged
            if reason is not None:
                prediction.unknown_place = reason
                prediction.lat = prediction.lon = prediction.radius_km = None
            return
        if not self.unknown_place or self.unknown_place[0] not in outputs:
            return
        output, threshold = self.unknown_place
        prediction.library_similarity = float(np.max(outputs[output]))
        if prediction.library_similarity < threshold:
            prediction.unknown_place = UNKNOWN_PLACE
            prediction.lat = prediction.lon = prediction.radius_km = None

    def _refine_in_gallery(self, prediction: PhotoPrediction, outputs: dict[str, np.ndarray]) -> None:
        """Move the point from the winning cell's Class2GPS centroid to its best gallery point (GeoCLIP bundles)."""
        gallery, hierarchy = self.bundle.gallery, self.bundle.hierarchy
        if gallery is None or hierarchy is None or not prediction.hierarchy_top or self.personal is not None:
            return  # a personal gallery votes for the cell instead (geocore.inference.personal)
        embedding = np.asarray(outputs[self.bundle.card.embedding_output], dtype=np.float64).mean(axis=0)
        embedding /= max(float(np.linalg.norm(embedding)), 1e-12)
        best_cell = hierarchy.finest.keys.index(prediction.hierarchy_top[0].key)
        point = gallery.best_in_cell(embedding, best_cell)
        if point is not None:
            prediction.lat, prediction.lon = point.lat, point.lon

    def _scene(self, outputs: dict[str, np.ndarray]) -> dict[str, float]:
        return read_scene(self.bundle, outputs, self.aggregation).s3

    def saliency(self, path: str | Path, preview_long_px: int = 512) -> Saliency:
        """Map of what made the model show its prediction, as map + overlay PNG (and the prediction explained).

        On the prediction's own crops and aggregation: the gradient x input map of log p_hier of the displayed cell
        (or, without location heads, of the top scene's probability); geocore.inference.saliency derives it. A
        bundle without a feature map (a ViT) gets an occlusion map instead (geocore.inference.occlusion).
        """
        if self.bundle.card.feature_map_output is None:
            from geotagger.geocore.inference.occlusion import occlusion_saliency

            return occlusion_saliency(self, path, preview_long_px)
        feature_map = self.bundle.card.feature_map_output
        photo = self.prepare(path)
        if self.scene_companion is not None:
            photo = self.scene_companion.attach(path, photo)
        outputs = self._run_batch([photo])
        outputs.update(self.session.run(photo.crops, [feature_map]))
        prediction = self._interpret(Path(path), photo, outputs)
        cams, target, explains = self._explain(prediction, outputs)
        saliency = compose_crops(cams, photo.boxes, photo.resized_size)
        preview, _ = open_oriented(path, min_short_px=preview_long_px // 2)
        preview.thumbnail((preview_long_px, preview_long_px))
        fitted = resize_map(saliency, preview.size)
        return Saliency(fitted, overlay_png(preview, fitted), target, explains, prediction)

    def _explain(self, prediction: PhotoPrediction, outputs: dict[str, np.ndarray]) -> tuple[
        list[npt.NDArray[np.float32]], str, str
    ]:
        """Per-crop maps of the displayed cell's log p_hier (or the top scene's log probability) and their names."""
        bundle = self.bundle
        feature_maps = outputs[str(bundle.card.feature_map_output)]
        if bundle.hierarchy is not None and prediction.hierarchy_top:
            finest = bundle.hierarchy.finest
            shown = prediction.hierarchy_top[0]
            if prediction.scene_network is not None:  # the maps explain the network that made the prediction
                bundle = routed_bundle(bundle, prediction.scene_network)
            cams = hierarchy_saliency(bundle, feature_maps, finest.keys.index(shown.key), self.aggregation)
            return cams, f"{finest.name}:{shown.key}", f'what made the model think "{shown.label}"'
        if bundle.card.scene is not None:
            scene = read_scene(bundle, outputs, self.aggregation).s3  # the bundle's own head: its maps explain it
            best_label = max(scene, key=lambda label: scene[label])
            cams = scene_saliency(bundle, feature_maps, bundle.card.scene.labels.index(best_label), self.aggregation)
            return cams, f"scene:{best_label}", f'what made the model think "{best_label}"'
        raise ValueError(f"{bundle.path}: the bundle has neither location nor scene heads to explain")


def _unknown_place_rule(bundle: ModelBundle, session: ModelSession) -> tuple[str, float] | None:
    """(similarity output, minimum similarity) from a personal card's "unknown_place" entry, when the graph has it."""
    rule = bundle.card.evaluation.get("unknown_place")
    if not isinstance(rule, dict):
        return None
    output, threshold = rule.get("output"), rule.get("min_similarity")
    graph_outputs = {item.name for item in session.session.get_outputs()}
    if not isinstance(output, str) or output not in graph_outputs or not isinstance(threshold, (int, float)):
        return None
    return output, float(threshold)
