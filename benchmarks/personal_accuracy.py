"""Benchmark: how far a personal model can be trusted, on a generated library of realistic shape.

Generates the library of tests/trainer/personal_library.py (600 photos at home over ~3 km, 150 at a second city,
five trips of 20-40 photos including a 200 km road trip, 10% generic indoor-like shots; held-out photos from other
days; 60 photos of a never-visited place), runs `personalize()` on the library folders with the shipped base bundle,
then predicts the held-out and never-visited photos through the written bundle (the app's Predictor) and prints,
beside the targets of issue 13:

- within 1 / 25 / 200 / 750 km and the median error of the shipped pipeline, a kNN baseline (the nearest library
  photo in the base model's embedding space) and chance (a random library photo's position); for a photo the
  pipeline withholds, the point it would have proposed (its best cell) counts, so the columns stay comparable;
- the share of never-visited photos without a proposal and of known-place photos wrongly withheld, beside what the
  card measured on the library's own held-out days (every day held out in turn: photos of places other days also
  saw, whose 5% quantile is the threshold, and photos of places seen that day only, a never-visited place's stand-in);
- the expected calibration error (ECE, 10 bins) of the top cell's probability, and how often the truth lies inside
  the confidence radius (the held-out 68% error quantile of photos of similar confidence: about 68% expected);
- the same bundle with the heads alone choosing the cell ("heads only": the retrieval vote switched off), and the
  share of held-out generic shots taken away from home, which no look can place (the ceiling within 25 km).

Usage: python benchmarks/personal_accuracy.py [--scale 1.0] [--seed 0] [--keep DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geotagger.geocore.geo.distance import haversine_km  # noqa: E402
from geotagger.trainer.personalize.calibration import expected_calibration_error  # noqa: E402
from tests.trainer.personal_library import GeneratedLibrary, GeneratedPhoto, Shape, generate_library  # noqa: E402

THRESHOLDS_KM = (1.0, 25.0, 200.0, 750.0)
TARGETS = {"within 1 km %": ">= 85", "within 25 km %": ">= 95", "never-visited without proposal %": ">= 70",
           "known-place photos withheld %": "<= 5", "truth inside radius % (proposals)": "~68"}


def distance_figures(lat: np.ndarray, lon: np.ndarray, true_lat: np.ndarray, true_lon: np.ndarray) -> dict[str, float]:
    """Within-threshold percentages and the median error (km)."""
    error = haversine_km(lat, lon, true_lat, true_lon)
    figures = {f"within {t:g} km %": float(100 * np.mean(error <= t)) for t in THRESHOLDS_KM}
    figures["median km"] = float(np.median(error))
    return figures


def _library_embeddings(cache: Path, base: Any, folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(embeddings, lat, lon) of the library's geotagged photos from the cache personalize filled."""
    from geotagger.geocore.library.api import Library
    from geotagger.trainer.personalize.embeddings import feature_model_id

    library = Library(str(cache))
    try:
        records = [r for r in library.photos("all", folder=folder) if r.has_gps]
        vectors = library.get_features_many([r.id for r in records], feature_model_id(base))
    finally:
        library.close()
    kept = [r for r in records if r.id in vectors]
    return (np.stack([vectors[r.id] for r in kept]), np.array([r.gps_lat for r in kept]),
            np.array([r.gps_lon for r in kept]))


def knn_baseline(cache: Path, base: Any, folder: Path, photos: list[GeneratedPhoto]) -> tuple[np.ndarray, np.ndarray]:
    """Position of the nearest library photo (cosine similarity of base embeddings) for every photo."""
    from geotagger.trainer.data.labels import SkipReport
    from geotagger.trainer.personalize.embeddings import compute_embeddings

    bank, bank_lat, bank_lon = _library_embeddings(cache, base, folder)
    queries, _ = compute_embeddings(base, [str(p.path) for p in photos], SkipReport())

    def unit(array: np.ndarray) -> np.ndarray:
        return array / np.maximum(np.linalg.norm(array, axis=1, keepdims=True), 1e-12)

    nearest = (unit(queries) @ unit(bank).T).argmax(axis=1)
    return bank_lat[nearest], bank_lon[nearest]


def _predict(bundle_path: Path, photos: list[GeneratedPhoto], retrieval: bool = True) -> list[Any]:
    """The app's predictions; `retrieval=False`: the same bundle with the heads alone choosing the cell."""
    from dataclasses import replace

    from geotagger.geocore.inference.predictor import Predictor

    predictor = Predictor(bundle_path, provider="cpu")
    if not retrieval and predictor.personal is not None:
        predictor.personal = replace(predictor.personal, retrieval=None)
    return list(predictor.predict_paths([p.path for p in photos]))


def withheld(prediction: Any) -> bool:
    """True when the prediction makes no proposal (no point, or an 'unknown place' abstention)."""
    return prediction.lat is None or bool(getattr(prediction, "unknown_place", None))


def _point(prediction: Any) -> tuple[float, float]:
    """The proposed point, or for a withheld photo the point of its best cell (nan when there is none)."""
    if prediction.lat is not None:
        return prediction.lat, prediction.lon
    top = prediction.hierarchy_top
    return (top[0].lat, top[0].lon) if top else (np.nan, np.nan)


def shipped_figures(bundle_path: Path, generated: GeneratedLibrary, retrieval: bool = True) -> dict[str, float]:
    """The shipped pipeline's figures on the held-out days and the never-visited place."""
    from geotagger.geocore.inference.bundle import load_bundle

    known = _predict(bundle_path, generated.heldout, retrieval)
    never = _predict(bundle_path, generated.never_visited, retrieval)
    true_lat = np.array([p.lat for p in generated.heldout])
    true_lon = np.array([p.lon for p in generated.heldout])
    lat = np.array([_point(p)[0] for p in known])
    lon = np.array([_point(p)[1] for p in known])
    figures = distance_figures(np.nan_to_num(lat), np.nan_to_num(lon), true_lat, true_lon)
    if retrieval:
        _print_misses(generated.heldout, haversine_km(np.nan_to_num(lat), np.nan_to_num(lon), true_lat, true_lon))
    figures["never-visited without proposal %"] = float(100 * np.mean([withheld(p) for p in never]))
    figures["known-place photos withheld %"] = float(100 * np.mean([withheld(p) for p in known]))
    finest = load_bundle(bundle_path).hierarchy.finest
    true_cell = finest.assign(true_lat, true_lon)
    best = [finest.keys.index(p.hierarchy_top[0].key) for p in known]
    confidence = np.array([p.hierarchy_top[0].probability for p in known])
    figures["ECE (top cell)"] = expected_calibration_error(confidence, np.asarray(best) == true_cell)
    proposed = np.array([not withheld(p) for p in known])
    radius = np.array([p.radius_km or 0.0 for p in known])[proposed]
    error = haversine_km(np.nan_to_num(lat), np.nan_to_num(lon), true_lat, true_lon)[proposed]
    figures["truth inside radius % (proposals)"] = float(100 * np.mean(error <= radius))
    figures["median radius km (proposals)"] = float(np.median(radius))
    never_radius = [p.radius_km for p in never if p.radius_km is not None]  # proposals only
    figures["never-visited median top-cell probability"] = float(
        np.median([p.hierarchy_top[0].probability for p in never if p.hierarchy_top] or [np.nan]))
    figures["never-visited median radius km (proposals)"] = float(np.median(never_radius or [np.nan]))
    return figures


def _print_misses(photos: list[GeneratedPhoto], error_km: np.ndarray, beyond_km: float = 25.0) -> None:
    """Where the shipped pipeline misses by more than `beyond_km`: per place, generic shots apart."""
    rows: dict[str, list[int]] = {}
    for photo, error in zip(photos, error_km.tolist(), strict=True):
        row = rows.setdefault(photo.place, [0, 0, 0, 0])
        row[2 if photo.generic else 0] += 1
        row[3 if photo.generic else 1] += int(error > beyond_km)
    print(f"held-out photos more than {beyond_km:g} km off, by place (scene / generic shots):")
    for place, (scenes, scene_misses, generic, generic_misses) in rows.items():
        print(f"  {place:<30} {scene_misses:>3} of {scenes:<4} {generic_misses:>3} of {generic}")


def chance_figures(generated: GeneratedLibrary, seed: int = 0) -> dict[str, float]:
    """A random library photo's position for every held-out photo."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(generated.library), len(generated.heldout))
    lat = np.array([generated.library[i].lat for i in picks])
    lon = np.array([generated.library[i].lon for i in picks])
    return distance_figures(lat, lon, np.array([p.lat for p in generated.heldout]),
                            np.array([p.lon for p in generated.heldout]))


def print_table(columns: dict[str, dict[str, float]]) -> None:
    """Rows: figures; columns: the pipelines and the target."""
    rows = list(dict.fromkeys(name for figures in columns.values() for name in figures))
    header = f"{'figure':<44}" + "".join(f"{name:>12}" for name in columns) + f"{'target':>10}"
    print(header)
    print("-" * len(header))
    for row in rows:
        cells = "".join(f"{columns[name][row]:>12.3g}" if row in columns[name] else f"{'-':>12}" for name in columns)
        print(f"{row:<44}{cells}{TARGETS.get(row, ''):>10}")


def run(scratch: Path, scale: float, seed: int = 0) -> dict[str, dict[str, float]]:
    """Generate, personalize, predict; the figures per column."""
    from benchmarks.personalize import base_bundle
    from geotagger.geocore.inference.bundle import load_bundle
    from geotagger.trainer.personalize import PersonalizeOptions, personalize

    base_path = base_bundle(scratch)
    started = time.perf_counter()
    generated = generate_library(scratch, Shape(scale=scale, seed=seed))
    print(f"generated {len(generated.library)} library photos, {len(generated.heldout)} held-out, "
          f"{len(generated.never_visited)} never-visited in {time.perf_counter() - started:.1f} s")
    cache = scratch / "cache.sqlite3"
    started = time.perf_counter()
    result = personalize([scratch / "library"], scratch / "personal.geomodel",
                         PersonalizeOptions(base_model=str(base_path), cache_path=str(cache), seed=seed))
    print(result.format())
    print(f"personalize: {time.perf_counter() - started:.1f} s\n")
    known_lat, known_lon = knn_baseline(cache, load_bundle(base_path), scratch / "library", generated.heldout)
    knn = distance_figures(known_lat, known_lon, np.array([p.lat for p in generated.heldout]),
                           np.array([p.lon for p in generated.heldout]))
    shipped = shipped_figures(result.bundle_path, generated)
    shipped["generic shots away from home % (no look)"] = unlocatable_percent(generated)
    unknown = load_bundle(result.bundle_path).card.evaluation.get("unknown_place") or {}
    for row, key in (("card: held-out known places withheld %", "heldout_withheld_percent"),
                     ("card: held-out one-day places withheld %", "heldout_unseen_place_withheld_percent")):
        value = unknown.get(key)
        shipped[row] = float(value) if isinstance(value, (int, float)) else float("nan")
    return {"shipped": shipped, "heads only": shipped_figures(result.bundle_path, generated, retrieval=False),
            "kNN": knn, "chance": chance_figures(generated)}


def unlocatable_percent(generated: GeneratedLibrary) -> float:
    """Held-out generic shots taken away from the place with most generic library shots: no look can place them.

    They look alike everywhere, so the best any image model can do is send them all where most such shots were
    taken; 100 minus this is the ceiling of "within 25 km" for the pixels alone.
    """
    places = [p.place for p in generated.library if p.generic]
    home = max(set(places), key=places.count) if places else ""
    return float(100 * np.mean([p.generic and p.place != home for p in generated.heldout]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="photo counts times this (1.0: the issue's library)")
    parser.add_argument("--seed", type=int, default=0, help="another library of the same shape, and training seed")
    parser.add_argument("--keep", type=Path, help="work in this folder (kept) instead of a temporary one")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="geotag-personal-accuracy-") as temporary:
        scratch = args.keep or Path(temporary)
        scratch.mkdir(parents=True, exist_ok=True)
        columns = run(scratch, args.scale, args.seed)
    print_table(columns)
    if args.json:
        args.json.write_text(json.dumps(columns, indent=2))
    shipped = columns["shipped"]
    met = (shipped["within 1 km %"] >= 85 and shipped["within 25 km %"] >= 95
           and shipped["never-visited without proposal %"] >= 70 and shipped["known-place photos withheld %"] <= 5)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
