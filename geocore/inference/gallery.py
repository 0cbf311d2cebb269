"""A bundle's gallery: reference photo locations with their embeddings, each inside one finest cell.

A retrieval model such as GeoCLIP scores an image against the embeddings of known locations. A bundle made from one
carries cell heads (class vectors derived from those embeddings, see trainer.importers.geoclip) for the hierarchical
prediction, and this gallery to refine the winning cell to a point: the gallery point inside the winning finest cell
whose embedding is most similar to the image's. Only the winning cell's points are scored (a few dozen dot
products), not the whole gallery.

Member `gallery.npz`: "lat" (G,), "lon" (G,) degrees; "embedding" (G, D) unit vectors (stored float16), D = the
heads' embedding size; "fine_index" (G,) index of the finest cell holding the point, -1 for none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from geotagger.geocore.inference.card import BundleError

GALLERY_MEMBER = "gallery.npz"


@dataclass(frozen=True)
class GalleryPoint:
    """The refined prediction: one gallery point, its index and its similarity to the image."""

    index: int
    lat: float
    lon: float
    similarity: float


@dataclass(frozen=True)
class Gallery:
    """Gallery points, their unit embeddings and the finest cell each lies in."""

    lat: npt.NDArray[np.float64]
    lon: npt.NDArray[np.float64]
    embedding: npt.NDArray[np.float32]
    fine_index: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.lat)

    def best_in_cell(self, image_embedding: npt.ArrayLike, fine_cell: int) -> GalleryPoint | None:
        """The point of `fine_cell` most similar to the image (None when the cell holds no point)."""
        members = np.flatnonzero(self.fine_index == fine_cell)
        if not len(members):
            return None
        similarity = self.embedding[members] @ np.asarray(image_embedding, dtype=np.float32)
        best = int(np.argmax(similarity))
        return self._point(int(members[best]), float(similarity[best]))

    def best_overall(self, image_embedding: npt.ArrayLike) -> GalleryPoint:
        """The most similar point of the whole gallery (GeoCLIP's own top-1; checks and comparisons only)."""
        similarity = self.embedding @ np.asarray(image_embedding, dtype=np.float32)
        best = int(np.argmax(similarity))
        return self._point(best, float(similarity[best]))

    def _point(self, index: int, similarity: float) -> GalleryPoint:
        return GalleryPoint(index, float(self.lat[index]), float(self.lon[index]), similarity)


def read_gallery(
    arrays: Mapping[str, npt.NDArray[np.float32]], origin: str, fine_classes: int, dim: int | None
) -> Gallery:
    """Validate the arrays of a gallery member; raises BundleError naming `origin`."""
    missing = {"lat", "lon", "embedding", "fine_index"} - set(arrays)
    if missing:
        raise BundleError(f"{origin}: gallery lacks {', '.join(sorted(missing))}")
    lat, lon = np.asarray(arrays["lat"], np.float64), np.asarray(arrays["lon"], np.float64)
    embedding, fine_index = arrays["embedding"], arrays["fine_index"]
    count = len(lat)
    if lat.shape != (count,) or lon.shape != (count,) or fine_index.shape != (count,) or embedding.ndim != 2:
        raise BundleError(f"{origin}: gallery arrays disagree in shape")
    if embedding.shape[0] != count or (dim is not None and embedding.shape[1] != dim):
        raise BundleError(f"{origin}: gallery embeddings {embedding.shape} do not fit {count} points of size {dim}")
    if not (np.isfinite(lat).all() and np.isfinite(lon).all() and np.isfinite(embedding).all()):
        raise BundleError(f"{origin}: gallery holds NaN or infinite values")
    if (np.abs(lat) > 90).any() or (np.abs(lon) > 180).any():
        raise BundleError(f"{origin}: gallery holds points that are not positions")
    index = fine_index.astype(np.int64)
    if (index != fine_index).any() or (index < -1).any() or (index >= fine_classes).any():
        raise BundleError(f"{origin}: gallery fine_index must be -1 or a class of the finest partitioning")
    return Gallery(lat, lon, np.ascontiguousarray(embedding, dtype=np.float32), index)
