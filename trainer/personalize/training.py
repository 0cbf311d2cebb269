"""Fit, evaluate on held-out days, calibrate, refit on everything: the numbers a personal bundle ships with.

1. Split by day (trainer.personalize.levels.grouped_split): whole days are held out.
2. Partitionings and heads from the training days; held-out accuracy tables; one temperature per head fitted on
   the held-out days (trainer.personalize.calibration); ECE before and after; the held-out days' similarity to the
   training photos gives the "looks like no place in your library" threshold.
3. Levels: the hierarchy multiplies every level's probability, so a coarse head that is less accurate than the
   finer ones (a region of many looks is harder for a linear head than one street) can only hurt. Every suffix of
   the level stack (finest only, the two finest, ... all) is scored on the held-out days (within 1 km + within
   25 km) and the best is kept, the most levels on a tie; the summary says which were dropped and why.
4. Partitionings, heads and the similarity bank again from every photo (the shipped heads see the whole library),
   with the held-out temperatures folded in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from geotagger.geocore.geo.distance import AccuracyTable
from geotagger.geocore.geo.hierarchy import Hierarchy
from geotagger.geocore.geo.partitioning import Partitioning, PartitioningError
from geotagger.geocore.inference.personal import RadiusTable, unit
from geotagger.geocore.inference.saliency import softmax
from geotagger.trainer.data.labels import SkipReport, label_locations
from geotagger.trainer.evaluate import accuracy_tables
from geotagger.trainer.personalize.calibration import (
    TEMPERATURES,
    UNKNOWN_PLACE,
    SimilarityBank,
    expected_calibration_error,
    similarity_threshold,
    tempered,
    unknown_place_rule,
)
from geotagger.trainer.personalize.heads import HeadOptions, LinearHead, train_heads
from geotagger.trainer.personalize.levels import SEMANTIC_TAUS, grouped_split, s2_partitionings
from geotagger.trainer.personalize.retrieval import RetrievalRule, build_gallery, compare, shown_errors_km


class TrainingError(ValueError):
    """The photos cannot make a model (no partitioning)."""


def build_partitionings(lat: np.ndarray, lon: np.ndarray, kind: str) -> list[Partitioning]:
    """Nested partitionings of the locations, coarse -> fine, holding every location."""
    if kind == "s2":
        return s2_partitionings(lat, lon)
    if kind != "semantic":
        raise TrainingError(f"unknown partitioning kind {kind!r} (s2 or semantic)")
    from geotagger.geocore.geo.semantic import build_semantic_partitionings

    built = build_semantic_partitionings(lat, lon, list(SEMANTIC_TAUS))
    unique: list[Partitioning] = []
    for partitioning in built:
        if len(partitioning) and (not unique or unique[-1].keys != partitioning.keys):
            unique.append(partitioning)
    return unique


@dataclass
class Fitted:
    """Partitionings, hierarchy and heads fitted on some photos, with the photos' class labels."""

    partitionings: list[Partitioning]
    hierarchy: Hierarchy
    heads: list[LinearHead]
    used: int
    outside: dict[str, int]  # partitioning name -> photos it does not hold


def fit(vectors: np.ndarray, lat: np.ndarray, lon: np.ndarray, names: Sequence[str], kind: str,
        options: HeadOptions, report: SkipReport) -> Fitted:
    """Partitionings of these locations and heads trained on these embeddings."""
    try:
        partitionings = build_partitionings(lat, lon, kind)
        hierarchy = Hierarchy(partitionings)
    except PartitioningError as error:
        raise TrainingError(str(error)) from None
    if not partitionings:
        raise TrainingError("no place holds photos that could be partitioned")
    labelled, classes = label_locations(names, lat, lon, partitionings, report)
    heads = train_heads(vectors[labelled], classes, [len(p) for p in partitionings], options)
    outside = {p.name: int((classes[:, i] < 0).sum() + len(lat) - len(labelled)) for i, p in enumerate(partitionings)}
    return Fitted(partitionings, hierarchy, heads, int(len(labelled)), outside)


@dataclass
class Evaluation:
    """What the held-out days say about a model fitted on the other days."""

    tables: dict[str, AccuracyTable] = field(default_factory=dict)
    temperatures: dict[str, float] = field(default_factory=dict)  # partitioning name -> T
    ece_raw: float | None = None
    ece_calibrated: float | None = None
    min_similarity: float | None = None
    holdout_photos: int = 0
    train_photos: int = 0
    dropped_levels: dict[str, str] = field(default_factory=dict)  # partitioning name -> why it is not shipped
    radius: dict[str, Any] = field(default_factory=dict)  # truth inside the radius (%), median error / radius km
    retrieval: dict[str, Any] = field(default_factory=dict)  # the card's "retrieval" entry
    retrieval_rule: RetrievalRule | None = None  # the blend the bundle ships (None: heads alone)
    ece_shown: float | None = None  # ECE of the shown cell's probability (after the blend, when kept)
    unknown_place: dict[str, Any] = field(default_factory=dict)  # the card's "unknown_place" entry (relative rule)

    def kept(self, partitionings: Sequence[Partitioning]) -> int:
        """Index of the first level to ship among `partitionings` (coarse -> fine)."""
        return sum(1 for p in partitionings[:-1] if p.name in self.dropped_levels)

    def card_entries(self) -> dict[str, Any]:
        """The card's "calibration" and "unknown_place" entries (plain JSON)."""
        entries: dict[str, Any] = {"calibration": {"temperatures": self.temperatures, "ece_raw": self.ece_raw,
                                                   "ece_calibrated": self.ece_calibrated, "bins": 10},
                                   "radius": self.radius, "retrieval": self.retrieval}
        entries["calibration"]["ece_shown"] = self.ece_shown
        if self.unknown_place:
            entries["unknown_place"] = self.unknown_place
        elif self.min_similarity is not None:
            entries["unknown_place"] = {"output": "library_similarity", "min_similarity": self.min_similarity,
                                        "reason": UNKNOWN_PLACE}
        return entries


def _top_cell_ece(fitted: Fitted, probabilities: list[np.ndarray], lat: np.ndarray, lon: np.ndarray) -> float:
    hierarchical = fitted.hierarchy.hierarchical_probabilities(probabilities)
    hierarchical = hierarchical / np.maximum(hierarchical.sum(axis=1, keepdims=True), 1e-300)
    truth = fitted.hierarchy.finest.assign(lat, lon)
    return expected_calibration_error(hierarchical.max(axis=1), hierarchical.argmax(axis=1) == truth)


def fit_temperature(fitted: Fitted, vectors: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> float:
    """One temperature for every head: the one whose top hierarchical cell is best calibrated (lowest ECE).

    Minimising the held-out NLL instead was measured to leave the top cell underconfident (ECE 0.35 against 0.34
    raw): a few confidently wrong generic shots dominate the NLL and push the temperature to ~4.7.
    """
    logits = [vectors.astype(np.float64) @ h.weight.T.astype(np.float64) + h.bias for h in fitted.heads]
    errors = [_top_cell_ece(fitted, [softmax(z / t) for z in logits], lat, lon) for t in TEMPERATURES]
    return float(TEMPERATURES[int(np.argmin(errors))])  # logits once: a large library has thousands of cells


def evaluate(vectors: np.ndarray, lat: np.ndarray, lon: np.ndarray, names: Sequence[str], groups: np.ndarray,
             kind: str, options: HeadOptions, share: float) -> Evaluation:
    """Fit on the training days, measure on the held-out days (see the module docstring)."""
    train, holdout = grouped_split(groups, share, options.seed)
    if not len(holdout) or len(train) < 2:
        return Evaluation(train_photos=len(train))
    fitted = fit(vectors[train], lat[train], lon[train], [names[i] for i in train], kind, options, SkipReport())
    held_vectors, held_lat, held_lon = vectors[holdout], lat[holdout], lon[holdout]
    start, _, dropped = choose_levels(fitted.partitionings, [h.probabilities(held_vectors) for h in fitted.heads],
                                      held_lat, held_lon)
    fitted = Fitted(fitted.partitionings[start:], Hierarchy(fitted.partitionings[start:]), fitted.heads[start:],
                    fitted.used, fitted.outside)
    temperature = fit_temperature(fitted, held_vectors, held_lat, held_lon)
    temperatures = {p.name: temperature for p in fitted.partitionings}
    raw = [head.probabilities(held_vectors) for head in fitted.heads]
    calibrated = [tempered(head, temperature).probabilities(held_vectors) for head in fitted.heads]
    bank = SimilarityBank.build(vectors[train], options.seed)
    gallery = build_gallery(vectors[train], lat[train], lon[train], fitted.hierarchy)
    comparison = compare(fitted.hierarchy, calibrated, gallery, held_vectors, held_lat, held_lon)
    shown = comparison.distribution
    truth = fitted.hierarchy.finest.assign(held_lat, held_lon)
    unknown = unknown_place_rule(unit(vectors).astype(np.float16).astype(np.float32), groups, lat, lon)
    return Evaluation(
        unknown_place=unknown[0].to_card(**unknown[1]) if unknown is not None else {},
        radius=radius_figures(fitted, shown, held_lat, held_lon),
        retrieval=comparison.card_entry(), retrieval_rule=comparison.rule,
        ece_shown=expected_calibration_error(shown.max(axis=1), shown.argmax(axis=1) == truth),
        tables=accuracy_tables(fitted.partitionings, fitted.hierarchy, calibrated, held_lat, held_lon),
        dropped_levels=dropped, temperatures=temperatures, ece_raw=_top_cell_ece(fitted, raw, held_lat, held_lon),
        ece_calibrated=_top_cell_ece(fitted, calibrated, held_lat, held_lon),
        min_similarity=similarity_threshold(bank.similarity(held_vectors)),
        holdout_photos=len(holdout), train_photos=len(train))


def radius_figures(fitted: Fitted, shown: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> dict[str, Any]:
    """The radius by confidence measured on held-out days (geocore.inference.personal.RadiusTable) and how it fares.

    The radius is the 68% error quantile of held-out photos of similar confidence, so about 68% of held-out photos
    have the truth inside it; without enough photos the app keeps the probability-mass radius.
    """
    error = shown_errors_km(fitted.hierarchy, shown, lat, lon)
    confidence = shown.max(axis=1)
    table = RadiusTable.fit(confidence, error)
    if table is None:
        return {"median_error_km": float(np.median(error)), "p90_error_km": float(np.quantile(error, 0.9))}
    radius = table.radii(confidence)
    return {"truth_inside_percent": float(100 * np.mean(error <= radius)), "median_radius_km": float(np.median(radius)),
            "median_error_km": float(np.median(error)), "p90_error_km": float(np.quantile(error, 0.9)),
            "by_confidence": table.to_card()}


def _score(table: AccuracyTable) -> float:
    return table.within_percent[1.0] + table.within_percent[25.0]


def choose_levels(partitionings: Sequence[Partitioning], probabilities: Sequence[np.ndarray], lat: np.ndarray,
                  lon: np.ndarray) -> tuple[int, dict[str, AccuracyTable], dict[str, str]]:
    """(first level kept, its held-out tables, dropped level -> why): the best suffix of the level stack."""
    best_start, best_tables, best_score = 0, {}, -1.0
    scores = []
    for start in range(len(partitionings)):
        kept = list(partitionings[start:])
        tables = accuracy_tables(kept, Hierarchy(kept), probabilities[start:], lat, lon)
        scores.append(_score(tables["hierarchy"]))
        if scores[-1] > best_score + 1e-9:
            best_start, best_tables, best_score = start, tables, scores[-1]
    dropped = {p.name: (f"the hierarchy scored {scores[0]:.1f} with it and {best_score:.1f} without it on held-out "
                        "days (within 1 km + within 25 km)") for p in partitionings[:best_start]}
    return best_start, best_tables, dropped


def shipped(fitted: Fitted, evaluation: Evaluation) -> Fitted:
    """The everything-fitted levels the evaluation kept, heads with the held-out temperatures folded in."""
    start = evaluation.kept(fitted.partitionings)
    partitionings = fitted.partitionings[start:]
    known = list(evaluation.temperatures.values())
    heads = []
    for index, (partitioning, head) in enumerate(zip(partitionings, fitted.heads[start:], strict=True)):
        fallback = known[min(index, len(known) - 1)] if known else 1.0
        heads.append(tempered(head, evaluation.temperatures.get(partitioning.name, fallback)))
    outside = {p.name: fitted.outside[p.name] for p in partitionings}
    return Fitted(partitionings, Hierarchy(partitionings), heads, fitted.used, outside)
