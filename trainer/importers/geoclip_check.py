"""The GeoCLIP conversion checks itself against GeoCLIP's own torch forward before anything is written.

On the same photos, prepared exactly as the bundle's card says:
- image embeddings: onnxruntime (float16-stored weights) vs `geoclip.GeoCLIP.image_encoder`, L2-normalised:
  cosine >= EMBEDDING_MIN_COSINE for every photo;
- gallery: the bundle's stored gallery (order, positions, float16 embeddings) scored with GeoCLIP's image embedding
  must give GeoCLIP's own logits, `GeoCLIP.forward(image, gallery)`, within LOGIT_TOLERANCE;
- heads: the graph's per-level probabilities vs the same softmax computed from GeoCLIP's embedding;
- top gallery point: the bundle's (its embedding against its gallery) must be GeoCLIP's, or one GeoCLIP scores
  within TIE_LOGITS of its best (neighbouring gallery points a few hundred metres apart score alike).
Then, as a measurement (not a gate), what the hierarchy and the refinement change against GeoCLIP's top-1.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from geotagger.geocore.geo.distance import haversine_km
from geotagger.geocore.inference.bundle import ModelBundle, load_bundle, write_bundle
from geotagger.geocore.inference.card import ModelCard
from geotagger.geocore.inference.preprocess import prepare_photo
from geotagger.geocore.resources import resource_path
from geotagger.trainer.importers.geoclip import LOCATION_BATCH, GeoclipImportError, GeoclipSource

EMBEDDING_MIN_COSINE = 0.999
LOGIT_TOLERANCE = 0.05  # GeoCLIP logit units (s * cosine, s ~ 39.7): float16 gallery storage moves them ~0.01
HEAD_TOLERANCE = 1e-2  # absolute, on probabilities
TIE_LOGITS = 0.25  # a point GeoCLIP scores within this of its best (probability ratio >= 0.78) counts as the same


def default_check_photos() -> list[Path]:
    """The shipped sample and calibration photos (licensed, in resources/)."""
    photos = sorted(resource_path("samples").glob("*.jpg")) + sorted(resource_path("calibration").glob("*.jpg"))
    if not photos:
        raise GeoclipImportError("no check photos found in resources/samples or resources/calibration")
    return photos


def check_conversion(card: ModelCard, contents: dict[str, bytes], source: GeoclipSource,
                     photos: list[Path]) -> dict[str, Any]:
    """Run every check on a draft of the bundle; the figures for the card, or GeoclipImportError."""
    with tempfile.TemporaryDirectory(prefix="geotag-geoclip-") as folder:
        bundle = load_bundle(write_bundle(Path(folder) / "draft.geomodel", card, contents))
        images = np.concatenate([prepare_photo(path, card.input, card.crops).crops for path in photos])
        onnx_outputs = _run_onnx(bundle, images)
        reference = _reference(source, images)
        figures = _compare(bundle, onnx_outputs, reference)
        figures["hierarchy_vs_geoclip"] = _measure_hierarchy(bundle, photos, reference)
    figures["check_photos"] = len(photos)
    return figures


def _run_onnx(bundle: ModelBundle, images: np.ndarray) -> dict[str, np.ndarray]:
    from geotagger.geocore.inference.runtime import import_onnxruntime

    session = import_onnxruntime().InferenceSession(bundle.model_source, providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(names, {session.get_inputs()[0].name: images}), strict=True))


def _reference(source: GeoclipSource, images: np.ndarray) -> dict[str, np.ndarray]:
    """GeoCLIP's own torch forward: its normalised image embedding and its logits over its gallery."""
    model = source.model
    pixels = torch.from_numpy(images)
    with torch.no_grad():
        embedding = torch.nn.functional.normalize(model.image_encoder(pixels), dim=1)
        logits = torch.cat([model.forward(pixels, chunk) for chunk in model.gps_gallery.split(LOCATION_BATCH)], dim=1)
    gallery = model.gps_gallery.numpy().astype(np.float64)
    return {"embedding": embedding.numpy(), "logits": logits.numpy(), "lat": gallery[:, 0], "lon": gallery[:, 1],
            "scale": np.array(float(model.logit_scale.detach().exp()))}


def _compare(bundle: ModelBundle, onnx_outputs: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> dict[
    str, Any
]:
    gallery = bundle.gallery
    assert gallery is not None
    embedding, ref_embedding, ref_logits = onnx_outputs["embedding"], reference["embedding"], reference["logits"]
    cosine = float(np.min(np.sum(embedding * ref_embedding, axis=1)))
    stored_logits = float(reference["scale"]) * ref_embedding @ gallery.embedding.T
    logit_diff = float(np.max(np.abs(stored_logits - ref_logits)))
    head_diff = max(float(np.max(np.abs(onnx_outputs[name] - _softmax(ref_embedding @ bundle.heads[name].weight.T))))
                    for name in bundle.card.heads)
    ours = np.argmax(embedding @ gallery.embedding.T, axis=1)
    theirs = np.argmax(ref_logits, axis=1)
    rows = np.arange(len(ours))
    shortfall = float(np.max(ref_logits[rows, theirs] - ref_logits[rows, ours]))
    figures = {"embedding_min_cosine": round(cosine, 6), "gallery_logit_max_abs_diff": round(logit_diff, 5),
               "head_probability_max_abs_diff": round(head_diff, 6),
               "top_point_same": int(np.sum(ours == theirs)), "top_point_logit_shortfall": round(shortfall, 5)}
    problems = _problems(figures, len(ours))
    if problems:
        raise GeoclipImportError("the converted bundle disagrees with GeoCLIP: " + "; ".join(problems))
    return figures


def _problems(figures: dict[str, Any], photos: int) -> list[str]:
    problems = []
    if figures["embedding_min_cosine"] < EMBEDDING_MIN_COSINE:
        problems.append(f"image embedding cosine {figures['embedding_min_cosine']} < {EMBEDDING_MIN_COSINE}")
    if not figures["gallery_logit_max_abs_diff"] <= LOGIT_TOLERANCE:
        problems.append(f"gallery logits differ by {figures['gallery_logit_max_abs_diff']} > {LOGIT_TOLERANCE}")
    if not figures["head_probability_max_abs_diff"] <= HEAD_TOLERANCE:
        problems.append(f"head probabilities differ by {figures['head_probability_max_abs_diff']} > {HEAD_TOLERANCE}")
    if not figures["top_point_logit_shortfall"] <= TIE_LOGITS:
        problems.append(f"top gallery point differs ({figures['top_point_same']} of {photos} the same, GeoCLIP scores "
                        f"ours {figures['top_point_logit_shortfall']} below its best)")
    return problems


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _measure_hierarchy(bundle: ModelBundle, photos: list[Path], reference: dict[str, np.ndarray]) -> dict[str, Any]:
    """How far the bundle's answers lie from GeoCLIP's top-1: winning cell centroid, refined point (km)."""
    from geotagger.geocore.inference.predictor import Predictor

    predictor = Predictor(bundle, provider="cpu", scene_bundle=None, top_k=1)
    predictions = list(predictor.predict_paths(photos))
    best = np.argmax(reference["logits"], axis=1)
    top_lat, top_lon = reference["lat"][best], reference["lon"][best]
    centroid = np.array([[p.hierarchy_top[0].lat, p.hierarchy_top[0].lon] for p in predictions])
    refined = np.array([[p.lat, p.lon] for p in predictions], dtype=np.float64)
    to_centroid = haversine_km(centroid[:, 0], centroid[:, 1], top_lat, top_lon)
    to_refined = haversine_km(refined[:, 0], refined[:, 1], top_lat, top_lon)
    return {
        "photos": len(predictions),
        "refined_is_geoclip_top1": int(np.sum(to_refined < 1e-3)),
        "median_km_centroid_to_geoclip_top1": round(float(np.median(to_centroid)), 1),
        "median_km_refined_to_geoclip_top1": round(float(np.median(to_refined)), 1),
        "note": "measured on the check photos at import; says how far the hierarchy moves answers, not accuracy",
    }
