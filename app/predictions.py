"""What the GUI shows of a prediction: a plain view built from geocore's PhotoPrediction JSON (fresh or cached)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from geotagger.geocore.inference.location import RankedCell
from geotagger.geocore.inference.predictor import PhotoPrediction

CELLS_ON_MAP = 8  # top cells of the finest partitioning drawn on the map


@dataclass
class PredictionView:
    """Scene probabilities and top cells per partitioning (coarse -> fine), plus the hierarchy's top cells."""

    model_id: str
    lat: float | None = None
    lon: float | None = None
    radius_km: float | None = None
    scene_probabilities: dict[str, float] = field(default_factory=dict)
    top_cells: dict[str, list[RankedCell]] = field(default_factory=dict)
    hierarchy_top: list[RankedCell] = field(default_factory=list)
    kinds: dict[str, str] = field(default_factory=dict)  # partitioning name -> "s2" | "semantic"
    error: str | None = None
    unknown_place: str | None = None  # why the model proposed nothing ("looks like no place in your library")
    scene_network: str | None = None  # individual scene networks: the scene whose network located the photo
    scene_source: str = ""  # which model gave the scene type (a scene head, Places365, the ImageNet fallback)

    @property
    def confidence(self) -> float | None:
        """The probability of the best hierarchical cell, shown as the photo's confidence."""
        return self.hierarchy_top[0].probability if self.hierarchy_top else None

    @classmethod
    def from_json(cls, data: dict[str, Any], kinds: dict[str, str] | None = None) -> PredictionView:
        """From `PhotoPrediction.to_json()` (also what the cache stores)."""
        prediction = PhotoPrediction.from_json(data)
        return cls(
            model_id=prediction.model_id, lat=prediction.lat, lon=prediction.lon, radius_km=prediction.radius_km,
            scene_probabilities=prediction.scene, top_cells=prediction.partitioning_top,
            hierarchy_top=prediction.hierarchy_top, kinds=dict(kinds or data.get("kinds") or {}),
            error=prediction.error, unknown_place=prediction.unknown_place,
            scene_network=prediction.scene_network, scene_source=prediction.scene_source,
        )


def map_cells(view: PredictionView | None) -> list[dict[str, Any]]:
    """The finest partitioning's top cells for the map: S2 cells as corner polygons, semantic areas as circles."""
    if view is None or not view.top_cells:
        return []
    name = list(view.top_cells)[-1]
    kind = view.kinds.get(name, "s2")
    out = []
    for cell in view.top_cells[name][:CELLS_ON_MAP]:
        entry: dict[str, Any] = {"label": cell.label, "probability": cell.probability, "lat": cell.lat,
                                 "lon": cell.lon}
        if kind == "s2":
            entry["polygon"] = _s2_polygon(cell.key)
        else:
            entry["radius_km"] = 25.0
        out.append(entry)
    return out


def _s2_polygon(token: str) -> list[list[float]] | None:
    from geotagger.geocore.geo.s2cells import cell_polygon

    try:
        return [[float(lat), float(lon)] for lat, lon in cell_polygon(token)]
    except (ValueError, KeyError):
        return None  # a semantic key in an S2 slot: fall back to a circle in the page
