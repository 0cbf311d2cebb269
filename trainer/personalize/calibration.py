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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from trainer.personalize.heads import LinearHead

TEMPERATURES = np.exp(np.linspace(np.log(0.05), np.log(20.0), 121))
WITHHELD_SHARE = 0.05  # issue 13: at most 5% of known-place photos withheld
MAX_BANK_PHOTOS = 4000
CENTRED = True
MAX_THRESHOLD = 0.99
FLOAT32_MARGIN = 1e-4
UNKNOWN_PLACE = "looks like no place in your library"


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
