"""Trust: temperatures fitted on held-out days, calibration error, and the "looks like no place" threshold.

- Temperature scaling (Guo et al. 2017): one temperature for the heads, chosen on the held-out days (see
  trainer.personalize.training.fit_temperature); folded into the heads (W / T, b / T), so the graph's softmax is
  calibrated.
- ECE: equal-width bins of the top hierarchical cell's probability; |accuracy - confidence| weighted by bin size.
- Unknown place: the cosine similarity of a photo's embedding, centred on the library mean, to its nearest library
  photo. Raw (uncentred) embeddings were measured on benchmarks/personal_accuracy.py, seeds 0-4: never-visited
  photos withheld 85/75/90/40/72% raw against 80/58/75/60/78% centred (known places 2.7/3.1/2.7/2.7/0.9% against
  2.7/2.2/1.8/3.1/2.7%): no better on average and a worse worst case, so the embeddings stay centred. The
  threshold is the `WITHHELD_SHARE` quantile of the held-out days' similarities to the training photos, so about
  that share of photos of known places is withheld; the shipped bank holds every photo, so no fewer are proposed.
  That graph output is still written (PhotoPrediction.library_similarity of older cards), but the card's rule is now:
- Unknown place, relative similarity (geocore.inference.personal.NoveltyIndex, a local outlier score): the nearest
  centred similarity less the nearest photos' own similarity to their nearest photo of another day. Its threshold
  is the `WITHHELD_SHARE` quantile of the library's photos, each scored with its own capture day held out
  (`unknown_place_rule`), recorded in the card with the share of those photos withheld. Measured with
  benchmarks/personal_accuracy.py, seeds 0-4 (never-visited withheld / known-place withheld, %):
    nearest centred similarity (before)            80.0/58.3/75.0/60.0/78.3   2.7/2.2/1.8/3.1/2.7
    nearest raw similarity                         85.0/75.0/90.0/40.0/72.0   2.7/3.1/2.7/2.7/0.9
    raw + centred (Fisher's sum of held-out log p) 83.3/73.3/88.3/51.7/..     2.7/3.5/1.3/2.7/..
    raw + centred + blended probability            91.7/81.7/88.3/61.7/81.7   1.8/5.8/3.1/2.7/5.8
    raw + centred + neighbours' 25 km agreement    90.0/71.7/91.7/55.0/..     1.3/4.0/1.8/1.8/..
    relative, 5th neighbour, 20% held-out days     83.3/76.7/98.3/73.3/80.0   1.8/3.5/4.0/0.4/1.8
    relative, nearest other day, days held out     86.7/78.3/91.7/76.7/78.3   3.5/0.9/3.1/3.5/1.3   (shipped)
  (the first five rows scored offline on the benchmark's embeddings, the last two through the benchmark itself).
  Combining the relative similarity with the others (Fisher) lowered the worst seed (68.3 on seed 3), so it stands
  alone. The 5th-neighbour variant with a 20% held-out split withheld 13 of 16 new-day photos of a 64-photo library
  (its 15 held-out photos gave a noisy quantile, and the shipped gallery's denser neighbours raised every
  reference); scoring every day held out, with the nearest photo of another day as the reference, withholds 1 of 16
  there and 11 of its 12 never-visited photos. A held-out photo counts as a known place when another day has a
  library photo within KNOWN_PLACE_KM; photos of places seen that day only are a never-visited place's stand-in and
  the card records how many of them are withheld (67-90% on seeds 0-4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from geotagger.geocore.geo.distance import haversine_km
from geotagger.geocore.inference.personal import NoveltyIndex, UnknownPlaceRule
from geotagger.trainer.personalize.heads import LinearHead

TEMPERATURES = np.exp(np.linspace(np.log(0.05), np.log(20.0), 121))
WITHHELD_SHARE = 0.05  # issue 13: at most 5% of known-place photos withheld
MAX_BANK_PHOTOS = 4000
CENTRED = True
MAX_THRESHOLD = 0.99
FLOAT32_MARGIN = 1e-4
UNKNOWN_PLACE = "looks like no place in your library"
KNOWN_PLACE_KM = 1.0  # a held-out photo with a library photo of another day this close is of a known place


def tempered(head: LinearHead, temperature: float) -> LinearHead:
    """The head with its temperature folded in: softmax(logits / T)."""
    return LinearHead((head.weight / temperature).astype(np.float32), (head.bias / temperature).astype(np.float32))


def expected_calibration_error(confidence: npt.ArrayLike, correct: npt.ArrayLike, bins: int = 10) -> float:
    """Weighted mean |accuracy - confidence| over equal-width confidence bins."""
    confidence, correct = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    if not len(confidence):
        return 0.0
    index = np.clip(np.digitize(confidence, np.linspace(0, 1, bins + 1)[1:-1]), 0, bins - 1)
    total = sum(abs(correct[index == b].mean() - confidence[index == b].mean()) * (index == b).sum()
                for b in range(bins) if (index == b).any())
    return float(total / len(confidence))


@dataclass(frozen=True)
class SimilarityBank:
    """Library embeddings (less `mean`: zero unless centred) scaled to unit length, for nearest-photo similarity."""

    mean: npt.NDArray[np.float32]
    vectors: npt.NDArray[np.float32]  # (N, C) unit rows

    @classmethod
    def build(cls, embeddings: np.ndarray, seed: int = 0, limit: int = MAX_BANK_PHOTOS,
              centred: bool = CENTRED) -> SimilarityBank:
        """From library embeddings (a random `limit` of them when there are more)."""
        mean = np.zeros(embeddings.shape[1], dtype=np.float32) if not centred else embeddings.mean(axis=0)
        rows = embeddings
        if len(rows) > limit:
            rows = rows[np.sort(np.random.default_rng(seed).choice(len(rows), limit, replace=False))]
        return cls(mean.astype(np.float32), unit_rows(rows - mean).astype(np.float32))

    def similarity(self, embeddings: np.ndarray) -> npt.NDArray[np.float64]:
        """Cosine similarity of every embedding to its nearest bank photo."""
        queries = unit_rows(embeddings.astype(np.float64) - self.mean)
        return np.asarray((queries @ self.vectors.T.astype(np.float64)).max(axis=1))


def unit_rows(array: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    return array / np.maximum(np.linalg.norm(array, axis=1, keepdims=True), 1e-12)


def similarity_threshold(heldout_similarity: Sequence[float] | np.ndarray, share: float = WITHHELD_SHARE) -> float:
    """The similarity below which a photo is 'no place in the library': the `share` quantile of held-out days.

    Capped at MAX_THRESHOLD and lowered by the graph's float32 rounding: held-out near-duplicates (similarity 1)
    must not make a library photo itself (0.9999999 in float32) an unknown place.
    """
    values = np.asarray(heldout_similarity, dtype=np.float64)
    if not len(values):
        return -1.0
    return float(min(np.quantile(values, share), MAX_THRESHOLD) - FLOAT32_MARGIN)


def unknown_place_rule(embedding: np.ndarray, days: np.ndarray, lat: np.ndarray, lon: np.ndarray,
                       share: float = WITHHELD_SHARE) -> tuple[UnknownPlaceRule, dict[str, Any]] | None:
    """The relative-similarity rule whose threshold withholds `share` of the known-place photos of held-out days.

    Every capture day is held out in turn against the library's other days (`embedding`: the shipped gallery's
    unit rows). A held-out photo is of a known place when another day has a library photo within KNOWN_PLACE_KM;
    the others (a spot seen that day only) are places the rest of the library never saw, and the share of them the
    rule withholds is recorded beside the threshold. Returns the rule and what it measured; None without known-place
    photos of two days.
    """
    days = np.asarray(days)
    if len(embedding) < 2 or len(days) != len(embedding) or len(np.unique(days)) < 2:
        return None
    index = NoveltyIndex.build(embedding, days=days)
    scores = index.day_out_scores(days)
    known = np.isfinite(scores) & (other_day_distance_km(days, lat, lon) <= KNOWN_PLACE_KM)
    if known.sum() < 2:
        return None
    threshold = float(np.quantile(scores[known], share)) - FLOAT32_MARGIN
    alone = np.isfinite(scores) & ~known
    rule = UnknownPlaceRule(threshold)
    return rule, {"withheld_share_target": share, "heldout_days": int(len(np.unique(days))),
                  "heldout_known_place_photos": int(known.sum()),
                  "heldout_withheld_percent": float(100 * np.mean(scores[known] < threshold)),
                  "heldout_unseen_place_photos": int(alone.sum()),
                  "heldout_unseen_place_withheld_percent": (float(100 * np.mean(scores[alone] < threshold))
                                                            if alone.any() else None),
                  "known_place_km": KNOWN_PLACE_KM,
                  "threshold_from": "every capture day held out in turn against the library's other days"}


def other_day_distance_km(days: np.ndarray, lat: np.ndarray, lon: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Per photo: the distance (km) to the nearest library photo of another day (inf where there is none)."""
    lat, lon, days = np.asarray(lat, np.float64), np.asarray(lon, np.float64), np.asarray(days)
    nearest = np.full(len(lat), np.inf)
    for start in range(0, len(lat), chunk):
        rows = slice(start, start + chunk)
        distance = np.asarray(haversine_km(lat[rows, None], lon[rows, None], lat[None, :], lon[None, :]))
        distance[days[rows, None] == days[None, :]] = np.inf
        nearest[rows] = distance.min(axis=1) if len(lat) else np.inf
    return nearest
