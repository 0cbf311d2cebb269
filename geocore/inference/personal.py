"""Personal bundles: retrieval over the library's own photos beside the heads, and a radius measured on held-out days.

Retrieval (card evaluation "retrieval", gallery.npz = the library photos' unit embeddings, positions and finest
cells): the `neighbours` library photos most similar to the photo (cosine of the raw embedding) vote, each with
weight exp((s - s_best) / temperature). The vote's *region* is the neighbour with the largest weighted support
within `region_km` (a mode in geographic space: a photo whose neighbours agree on a city goes there even when no
single cell has most of the vote). When that region holds less than `spread_share` of the vote (a look seen in many
places, such as a generic indoor shot), the region is instead the one holding most of the `wide_neighbours` nearest
photos, counted alike: where most photos of that look were taken. The cell shown is the best cell of the blend
(1 - w) p_hier + w vote among the cells inside that region; cells outside it get probability 0 (the others keep
their blended probability, so a photo whose neighbours disagree still shows a low top probability).

Radius (card evaluation "radius" "by_confidence"): on held-out days the error (km) of the shown point is grouped by
the top cell's probability; each group's `coverage` quantile (68%, the convention of a GPS fix's accuracy circle)
is the radius shown for a photo of that confidence. Groups are made monotone (a more confident group never gets a
larger radius).

Unknown place (card evaluation "unknown_place" with "rule": "relative_similarity"): a local outlier score over the
gallery. Embeddings are centred on the gallery mean; a photo's score is its similarity to the nearest library photo
less the mean, over its `neighbours` nearest library photos, of their own `reference_rank`-th neighbour's similarity
(within the gallery, themselves left out). A photo of a known place is as close to the library as library photos are
to each other; a never-visited place that merely resembles one spot is much less close than that spot's photos are
to one another. A photo scoring below `min_score` gets no proposal; the trainer sets `min_score` to the
`withheld_share` quantile of the library's photos scored with their own day held out (`day_out_scores`; trainer
.personalize.calibration). Measured on benchmarks/personal_accuracy.py seeds 0-4 against the nearest centred
similarity alone and combinations of it with the raw similarity, the k nearest neighbours' geographic agreement and
the blended probability (see trainer.personalize.calibration).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from geotagger.geocore.geo.distance import haversine_km
from geotagger.geocore.geo.hierarchy import Hierarchy
from geotagger.geocore.inference.gallery import Gallery

RADIUS_COVERAGE = 0.68
REFERENCE_RANK = 1  # unknown place: a library photo's nearest photo of another day is its reference


@dataclass(frozen=True)
class RetrievalRule:
    """How the library's nearest photos vote beside the heads (see the module docstring)."""

    neighbours: int = 30
    temperature: float = 0.02
    region_km: float = 25.0
    vote_weight: float = 0.5
    spread_share: float = 0.0  # below this share of the vote in its region: the region of the wider neighbourhood
    wide_neighbours: int = 60

    @classmethod
    def from_card(cls, entry: Any) -> RetrievalRule | None:
        """From the card's "retrieval" entry; None when absent, switched off or malformed."""
        if not isinstance(entry, Mapping) or not entry.get("enabled", False):
            return None
        try:
            rule = cls(int(entry["neighbours"]), float(entry["temperature"]), float(entry["region_km"]),
                       float(entry["vote_weight"]), float(entry.get("spread_share", 0.0)),
                       int(entry.get("wide_neighbours", 60)))
        except (KeyError, TypeError, ValueError):
            return None
        sane = (rule.neighbours >= 1 and rule.temperature > 0 and rule.region_km > 0 and 0 <= rule.vote_weight <= 1
                and 0 <= rule.spread_share <= 1 and rule.wide_neighbours >= 1)
        return rule if sane else None

    def to_card(self) -> dict[str, Any]:
        """The card's "retrieval" entry."""
        return {"enabled": True, "neighbours": self.neighbours, "temperature": self.temperature,
                "region_km": self.region_km, "vote_weight": self.vote_weight, "spread_share": self.spread_share,
                "wide_neighbours": self.wide_neighbours}


def unit(vectors: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Rows (or one vector) scaled to unit length."""
    array = np.asarray(vectors, dtype=np.float64)
    return array / np.maximum(np.linalg.norm(array, axis=-1, keepdims=True), 1e-12)


def retrieval_vote(gallery: Gallery, rule: RetrievalRule, embedding: npt.ArrayLike,
                   finest_lat: npt.NDArray[np.float64], finest_lon: npt.NDArray[np.float64]) -> tuple[
                       npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """(vote over the finest cells summing to 1, cells inside the vote's region) for one photo."""
    similarity = gallery.embedding.astype(np.float64) @ unit(embedding)
    count = min(rule.neighbours, len(similarity))
    top = np.argpartition(-similarity, count - 1)[:count]
    weight = np.exp((similarity[top] - similarity[top].max()) / rule.temperature)
    weight /= weight.sum()
    lat, lon = gallery.lat[top], gallery.lon[top]
    support = _near(lat, lon, rule.region_km).astype(np.float64) @ weight
    mode = int(top[int(np.argmax(support))])
    if support.max() < rule.spread_share:  # no region holds the vote: a look seen in many places
        wide = np.argpartition(-similarity, min(rule.wide_neighbours, len(similarity)) - 1)[:rule.wide_neighbours]
        mode = int(wide[int(np.argmax(_near(gallery.lat[wide], gallery.lon[wide], rule.region_km).sum(axis=1)))])
    vote = np.zeros(len(finest_lat))
    cells = gallery.fine_index[top]
    np.add.at(vote, cells[cells >= 0], weight[cells >= 0])
    inside = np.asarray(haversine_km(gallery.lat[mode], gallery.lon[mode], finest_lat, finest_lon) <= rule.region_km)
    if gallery.fine_index[mode] >= 0:
        inside[gallery.fine_index[mode]] = True  # the mode's own cell, whatever its centroid's distance
    return vote, inside


def _near(lat: npt.NDArray[np.float64], lon: npt.NDArray[np.float64], km: float) -> npt.NDArray[np.bool_]:
    """(n, n): which of these points lie within `km` of each other."""
    return np.asarray(haversine_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :]) <= km)


def blend_vote(hierarchical: npt.NDArray[np.float64], vote: npt.NDArray[np.float64], inside: npt.NDArray[np.bool_],
               rule: RetrievalRule) -> npt.NDArray[np.float64]:
    """(1 - w) p_hier + w vote inside the region, 0 outside (rows or one photo)."""
    blend = (1 - rule.vote_weight) * np.asarray(hierarchical, dtype=np.float64) + rule.vote_weight * vote
    return np.where(inside, blend, 0.0)


def retrieval_blend(gallery: Gallery, rule: RetrievalRule, embedding: npt.ArrayLike,
                    hierarchical: npt.NDArray[np.float64], finest_lat: npt.NDArray[np.float64],
                    finest_lon: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The finest-cell distribution shown for one photo: the blend, zero outside the vote's region."""
    vote, inside = retrieval_vote(gallery, rule, embedding, finest_lat, finest_lon)
    return blend_vote(hierarchical, vote, inside, rule)


def retrieval_votes(gallery: Gallery, rule: RetrievalRule, embeddings: npt.ArrayLike, hierarchy: Hierarchy) -> tuple[
        npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """`retrieval_vote` for a batch: (N, finest cells) votes and region masks."""
    finest = hierarchy.finest
    rows = [retrieval_vote(gallery, rule, vector, finest.lat, finest.lon) for vector in np.asarray(embeddings)]
    if not rows:
        return np.zeros((0, len(finest))), np.zeros((0, len(finest)), dtype=bool)
    return np.stack([vote for vote, _ in rows]), np.stack([inside for _, inside in rows])


@dataclass(frozen=True)
class RadiusTable:
    """Radius (km) by the top cell's probability: group i holds confidences up to `upper[i]`."""

    upper: tuple[float, ...]
    radius_km: tuple[float, ...]
    coverage: float = RADIUS_COVERAGE

    @classmethod
    def fit(cls, confidence: npt.ArrayLike, error_km: npt.ArrayLike, groups: int = 5,
            coverage: float = RADIUS_COVERAGE) -> RadiusTable | None:
        """Equal-count confidence groups of held-out photos, each with its error quantile; None for < 10 photos."""
        values = np.asarray(confidence, dtype=np.float64)
        errors = np.asarray(error_km, dtype=np.float64)
        keep = np.isfinite(values) & np.isfinite(errors)
        values, errors = values[keep], errors[keep]
        if len(values) < 10:
            return None
        order = np.argsort(values, kind="stable")
        chunks = [chunk for chunk in np.array_split(order, min(groups, len(order) // 5)) if len(chunk)]
        upper = [float(values[chunk].max()) for chunk in chunks]
        quantiles = np.array([np.quantile(errors[chunk], coverage) for chunk in chunks])
        radius = np.maximum.accumulate(quantiles[::-1])[::-1]  # more confident: never a larger radius
        upper[-1] = 1.0
        return cls(tuple(upper), tuple(float(r) for r in radius), coverage)

    @classmethod
    def from_card(cls, entry: Any) -> RadiusTable | None:
        """From the card's "radius" "by_confidence" entry; None when absent or malformed."""
        if not isinstance(entry, Mapping):
            return None
        try:
            upper = tuple(float(x) for x in entry["upper_confidence"])
            radius = tuple(float(x) for x in entry["radius_km"])
            coverage = float(entry.get("coverage", RADIUS_COVERAGE))
        except (KeyError, TypeError, ValueError):
            return None
        values = np.array(upper + radius)
        if not upper or len(upper) != len(radius) or not np.isfinite(values).all() or min(radius) < 0:
            return None
        return cls(upper, radius, coverage)

    def to_card(self) -> dict[str, Any]:
        """The card's "by_confidence" entry."""
        return {"coverage": self.coverage, "upper_confidence": list(self.upper), "radius_km": list(self.radius_km)}

    def radius_for(self, confidence: float) -> float:
        """The radius of the group this confidence falls in."""
        index = int(np.searchsorted(np.asarray(self.upper), confidence, side="left"))
        return self.radius_km[min(index, len(self.radius_km) - 1)]

    def radii(self, confidence: Sequence[float] | npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """`radius_for` of every confidence."""
        return np.array([self.radius_for(float(c)) for c in np.asarray(confidence)])


@dataclass(frozen=True)
class UnknownPlaceRule:
    """No proposal below `min_score` of `relative_similarity` (see the module docstring)."""

    min_score: float
    neighbours: int = 3
    reference_rank: int = REFERENCE_RANK
    reason: str = "looks like no place in your library"

    @classmethod
    def from_card(cls, entry: Any) -> UnknownPlaceRule | None:
        """From the card's "unknown_place" entry when it is this rule; None when absent, another rule or malformed."""
        if not isinstance(entry, Mapping) or entry.get("rule") != "relative_similarity":
            return None
        try:
            rule = cls(float(entry["min_score"]), int(entry.get("neighbours", 3)),
                       int(entry.get("reference_rank", REFERENCE_RANK)), str(entry.get("reason", cls.reason)))
        except (KeyError, TypeError, ValueError):
            return None
        sane = np.isfinite(rule.min_score) and rule.neighbours >= 1 and rule.reference_rank >= 1
        return rule if sane else None

    def to_card(self, **measured: Any) -> dict[str, Any]:
        """The card's "unknown_place" entry, with what the held-out days measured."""
        return {"rule": "relative_similarity", "min_score": self.min_score, "neighbours": self.neighbours,
                "reference_rank": self.reference_rank, "reason": self.reason, **measured}


def reference_similarity(vectors: npt.NDArray[np.float32], rank: int = REFERENCE_RANK,
                         days: npt.ArrayLike | None = None, chunk: int = 1024) -> npt.NDArray[np.float32]:
    """Each (centred, unit) gallery row's `rank`-th neighbour similarity among the photos of other days.

    A new photo is never of a library photo's own day, so the photos of its day (bursts, near-duplicates) do not
    count; without days only the photo itself is left out. Fewer than `rank` such photos: the last one there is;
    none: 1.0 (no known spread, so only a very close photo counts as known).
    """
    day = np.arange(len(vectors)) if days is None else np.asarray(days)
    reference = np.ones(len(vectors), dtype=np.float32)
    for start in range(0, len(vectors), chunk):
        block = vectors[start:start + chunk] @ vectors.T
        block[day[start:start + chunk, None] == day[None, :]] = -np.inf
        block[np.arange(len(block)), np.arange(start, start + len(block))] = -np.inf
        others = np.isfinite(block).sum(axis=1)
        rows = np.flatnonzero(others > 0)
        if len(rows):
            ranks = np.minimum(rank, others[rows]) - 1
            ordered = -np.sort(-block[rows], axis=1)
            reference[start + rows] = ordered[np.arange(len(rows)), ranks]
    return reference


def day_codes(days: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Days (any labels) as codes 0..n-1."""
    return np.unique(np.asarray(days), return_inverse=True)[1].astype(np.int64).reshape(-1)


def _two_days_references(vectors: npt.NDArray[np.float32], day: npt.NDArray[Any], chunk: int = 1024) -> tuple[
        npt.NDArray[np.float64], npt.NDArray[Any], npt.NDArray[np.float64]]:
    """Per row: its nearest similarity among other days, that photo's day code (-1: none; codes: `day_codes`) and its
    nearest similarity among a third day (1.0 where there is none)."""
    best = np.ones(len(vectors))
    second = np.ones(len(vectors))
    best_day = np.full(len(vectors), -1, dtype=np.int64)
    codes = day_codes(day)
    for start in range(0, len(vectors), chunk):
        block = (vectors[start:start + chunk] @ vectors.T).astype(np.float64)
        rows = np.arange(len(block))
        block[codes[start:start + chunk, None] == codes[None, :]] = -np.inf
        nearest = block.argmax(axis=1)
        found = np.isfinite(block[rows, nearest])
        best[start:start + len(block)] = np.where(found, block[rows, nearest], 1.0)
        best_day[start:start + len(block)] = np.where(found, codes[nearest], -1)
        block[codes[nearest][:, None] == codes[None, :]] = -np.inf
        third = block.max(axis=1)
        second[start:start + len(block)] = np.where(np.isfinite(third), third, 1.0)
    return best, best_day, second


@dataclass(frozen=True)
class NoveltyIndex:
    """The gallery centred on its mean, unit rows, and each photo's `reference_rank`-th neighbour similarity."""

    mean: npt.NDArray[np.float32]
    vectors: npt.NDArray[np.float32]
    reference: npt.NDArray[np.float32]

    @classmethod
    def build(cls, embedding: npt.ArrayLike, reference_rank: int = REFERENCE_RANK, days: npt.ArrayLike | None = None,
              reference: npt.ArrayLike | None = None) -> NoveltyIndex:
        """From gallery embeddings (N, C) and either their stored `reference` or the `days` to compute it with."""
        rows = np.asarray(embedding, dtype=np.float32)
        mean = rows.mean(axis=0) if len(rows) else np.zeros(rows.shape[1], np.float32)
        vectors = unit(rows - mean).astype(np.float32)
        values = (np.asarray(reference, dtype=np.float32) if reference is not None
                  else reference_similarity(vectors, reference_rank, days))
        return cls(mean.astype(np.float32), vectors, values)

    def day_out_scores(self, days: npt.ArrayLike, neighbours: int = 3, chunk: int = 1024) -> npt.NDArray[np.float64]:
        """`relative_similarity` of every gallery photo with its own day held out, as if that day were new.

        The day leaves the gallery and the references: a neighbour whose nearest photo of another day lies on the
        held-out day takes its nearest photo of a third day instead (none: 1.0), so no reference leans on the very
        photos being scored. Exact for the nearest-photo reference (`reference_rank` 1), which the rule uses.
        """
        day = day_codes(days)
        best, best_day, second = _two_days_references(self.vectors, day, chunk)
        scores = np.full(len(self.vectors), -np.inf)
        count = max(1, min(neighbours, len(self.vectors)))
        for start in range(0, len(self.vectors), chunk):
            block = (self.vectors[start:start + chunk] @ self.vectors.T).astype(np.float64)
            own = day[start:start + chunk, None]
            block[own == day[None, :]] = -np.inf
            top = np.argpartition(-block, count - 1, axis=1)[:, :count]
            similarity = np.take_along_axis(block, top, axis=1)
            known = np.isfinite(similarity)
            reference = np.where(best_day[top] == own, second[top], best[top])
            reference = np.where(known, reference, 0.0).sum(axis=1) / np.maximum(known.sum(axis=1), 1)
            scores[start:start + len(block)] = np.where(known.any(axis=1), similarity.max(axis=1) - reference,
                                                        -np.inf)
        return scores

    def relative_similarity(self, embeddings: npt.ArrayLike, neighbours: int = 3) -> npt.NDArray[np.float64]:
        """Per photo (rows, or one vector): nearest similarity less its nearest photos' mean reference similarity."""
        queries = np.atleast_2d(np.asarray(embeddings, dtype=np.float64))
        if not len(self.vectors):
            return np.full(len(queries), -np.inf)
        centred = unit(unit(queries) - self.mean.astype(np.float64))
        similarity = centred @ self.vectors.T.astype(np.float64)
        count = max(1, min(neighbours, len(self.vectors)))
        top = np.argpartition(-similarity, count - 1, axis=1)[:, :count]
        nearest = np.take_along_axis(similarity, top, axis=1).max(axis=1)
        return np.asarray(nearest - self.reference[top].astype(np.float64).mean(axis=1))


@dataclass(frozen=True)
class PersonalRules:
    """What a personal card adds to the hierarchical prediction: the retrieval blend and the measured radius."""

    retrieval: RetrievalRule | None
    gallery: Gallery | None
    radius: RadiusTable | None
    unknown: UnknownPlaceRule | None = None
    novelty: NoveltyIndex | None = None

    @classmethod
    def from_bundle(cls, bundle: Any) -> PersonalRules | None:
        """From a loaded bundle; None for bundles that are not personal or carry neither rule."""
        evaluation = bundle.card.evaluation
        if bundle.card.training.get("kind") != "personal" or bundle.hierarchy is None:
            return None
        retrieval = RetrievalRule.from_card(evaluation.get("retrieval"))
        radius_entry = evaluation.get("radius")
        radius = RadiusTable.from_card(radius_entry.get("by_confidence") if isinstance(radius_entry, Mapping)
                                       else None)
        unknown = UnknownPlaceRule.from_card(evaluation.get("unknown_place"))
        if bundle.gallery is None or not len(bundle.gallery.embedding):
            retrieval = unknown = None
        novelty = (NoveltyIndex.build(bundle.gallery.embedding, unknown.reference_rank,
                                      reference=_stored_reference(bundle)) if unknown is not None else None)
        if retrieval is None and radius is None and unknown is None:
            return None
        return cls(retrieval, bundle.gallery, radius, unknown, novelty)

    @property
    def needs_embedding(self) -> bool:
        """True when the prediction scores the photo's embedding against the gallery."""
        return self.gallery is not None and (self.retrieval is not None or self.unknown is not None)

    def unknown_place(self, embedding: npt.ArrayLike | None) -> tuple[float, str | None] | None:
        """(score, reason or None) of the unknown-place rule for one photo; None without the rule or embedding."""
        if self.unknown is None or self.novelty is None or embedding is None:
            return None
        score = float(self.novelty.relative_similarity(embedding, self.unknown.neighbours)[0])
        return score, (self.unknown.reason if not score >= self.unknown.min_score else None)

    def estimate(self, hierarchy: Hierarchy, head_probabilities: Sequence[npt.NDArray[np.float64]],
                 embedding: npt.ArrayLike | None, top_k: int) -> Any:
        """The LocationEstimate of one photo: blended with retrieval when the card says so, measured radius."""
        from geotagger.geocore.inference.location import estimate_from_finest, normalised_hierarchical

        distribution = normalised_hierarchical(hierarchy, head_probabilities)
        if self.retrieval is not None and self.gallery is not None and embedding is not None:
            finest = hierarchy.finest
            distribution = retrieval_blend(self.gallery, self.retrieval, embedding, distribution, finest.lat,
                                           finest.lon)
        estimate = estimate_from_finest(hierarchy, distribution, head_probabilities, top_k)
        if self.radius is None or not estimate.hierarchy_top:
            return estimate
        from dataclasses import replace

        return replace(estimate, radius_km=self.radius.radius_for(estimate.hierarchy_top[0].probability))


def _stored_reference(bundle: Any) -> npt.NDArray[np.float32] | None:
    """The gallery's "reference" array (its photos' reference similarity among other days), when it is sound."""
    import io
    import zipfile

    ref = bundle.card.files.get("gallery")
    try:
        with zipfile.ZipFile(bundle.path) as archive:
            arrays = np.load(io.BytesIO(archive.read(ref.file)), allow_pickle=False)
            values = np.asarray(arrays["reference"], dtype=np.float32) if "reference" in arrays.files else None
    except (AttributeError, OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    if values is None or values.shape != (len(bundle.gallery),) or not np.isfinite(values).all():
        return None
    return values
