"""The fusion rule: which of a photo's location proposals is shown, and when it is flagged for review.

This module is the one place where the rule lives (the CLI, the library and the GUI call `fuse`).

Rule:
1. Every source gives at most one proposal per photo, each with a point and a confidence radius (km).
2. The decision is the proposal of the most reliable source, in this order:
   manual > gps_track > time_neighbour > personal_model > model (the planet-scale visual model).
   A manual position is the user's own word and outranks everything; the rest is issue 7's order. Between two
   proposals of the same source the smaller radius wins, then the first given (stable).
3. When a visual prediction is given, the probability it assigns to the cell containing the chosen point is
   attached to the decision (`visual_probability`; None when the point lies in no cell of the model's
   partitioning, e.g. open ocean, where the model cannot have an opinion). From a cached top-k list of cells
   (`VisualEvidence.from_top_cells`) an unlisted cell gets an upper bound of its probability, so a flag raised
   from it is never a false alarm.
4. A time-based decision (gps_track or time_neighbour) is flagged for review when the image strongly disagrees:
   the chosen point's cell is less than FLAG_RATIO (1/100) as probable as the visual model's most probable cell,
   i.e. the image makes some other cell at least 100 times more likely. A ratio rather than an absolute
   probability keeps the threshold meaningful whatever the number of cells and however sharp the model is.
   It is also flagged when the two time-based sources disagree: their points are farther apart than the sum of
   their radii.
5. Model decisions are never flagged by the visual check (they are the visual model), manual ones never at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from geotagger.geocore.vocabulary import SOURCES_BY_PRIORITY, Source, priority_key

SOURCE_MANUAL = Source.MANUAL.value
SOURCE_GPS_TRACK = Source.GPS_TRACK.value
SOURCE_TIME_NEIGHBOUR = Source.TIME_NEIGHBOUR.value
SOURCE_PERSONAL_MODEL = Source.PERSONAL_MODEL.value
SOURCE_MODEL = Source.MODEL.value
# Both derived from geocore.vocabulary's one table of sources.
SOURCE_PRIORITY = tuple(source.value for source in SOURCES_BY_PRIORITY)
TIME_BASED_SOURCES = frozenset(source.value for source in Source if source.time_based)
FLAG_RATIO = 0.01
if TYPE_CHECKING:  # NumPy is imported where visual evidence is built: `geotag undo` and `set` never need it
    import numpy as np
    import numpy.typing as npt

    CellAssigner = Callable[[npt.NDArray[np.float64], npt.NDArray[np.float64]], npt.ArrayLike]


@dataclass(frozen=True)
class LocationProposal:
    """Where one source puts a photo.

    Attributes:
        source: one of SOURCE_PRIORITY.
        lat, lon: degrees.
        radius_km: confidence radius (how the source computes it is documented with the source).
        altitude_m: metres, when the source knows it (GPS tracks with elevation).
        visual_probability: the visual model's probability of the cell containing (lat, lon), set by `fuse`.
        flagged: set by `fuse` when the decision needs review; `note` says why and how it was found.
    """

    source: str
    lat: float
    lon: float
    radius_km: float
    altitude_m: float | None = None
    visual_probability: float | None = None
    flagged: bool = False
    note: str = ""

    def __post_init__(self) -> None:
        if self.source not in SOURCE_PRIORITY:
            raise ValueError(f"unknown proposal source {self.source!r}")


@dataclass(frozen=True)
class VisualEvidence:
    """The visual prediction as the fusion rule needs it: probability of the cell at a point, and the top one."""

    probability_at: Callable[[float, float], float | None]
    top_probability: float

    @classmethod
    def from_cells(cls, probabilities: npt.ArrayLike, assign: CellAssigner) -> VisualEvidence:
        """From per-cell probabilities and a point-to-cell function such as `Partitioning.assign` (-1 = no cell)."""
        import numpy as np

        cells = np.asarray(probabilities, dtype=np.float64)

        def probability_at(lat: float, lon: float) -> float | None:
            index = int(np.asarray(assign(np.array([lat]), np.array([lon]))).reshape(-1)[0])
            return None if index < 0 else float(cells[index])

        return cls(probability_at, float(cells.max()))

    @classmethod
    def from_mapping(
        cls, probabilities: Mapping[str, float], cell_key_at: Callable[[float, float], str | None]
    ) -> VisualEvidence:
        """From a precomputed {cell key: probability} mapping and a point-to-key function (None = no cell)."""

        def probability_at(lat: float, lon: float) -> float | None:
            key = cell_key_at(lat, lon)
            return None if key is None else float(probabilities.get(key, 0.0))

        return cls(probability_at, max(probabilities.values(), default=0.0))

    @classmethod
    def from_top_cells(cls, cells: Sequence[tuple[str, float]]) -> VisualEvidence | None:
        """From a prediction's ranked finest S2 cells (token, normalised probability), as `geotag predict` keeps them.

        A point in a listed cell gets that cell's probability. A point in no listed cell gets an upper bound of its
        cell's probability: the smaller of the lowest listed probability and the mass the list leaves over, so the
        flag raised from it is never a false alarm (a short list can miss a disagreement, never invent one).
        Keys that are not S2 tokens (semantic areas) are skipped; None when no cell is usable.
        """
        import numpy as np

        from geotagger.geocore.geo import s2cells

        usable = []
        for key, probability in cells:
            try:
                usable.append((int(s2cells.tokens_to_cell_ids([key])[0]), float(probability)))
            except ValueError:
                continue
        if not usable:
            return None
        ids = np.array([cell_id for cell_id, _ in usable], dtype=np.uint64)
        low, high = s2cells.cell_ranges(ids)
        listed = np.array([probability for _, probability in usable])
        unlisted_bound = float(min(listed.min(), max(0.0, 1.0 - listed.sum())))

        def probability_at(lat: float, lon: float) -> float | None:
            leaf = s2cells.latlon_to_cell_ids(np.array([lat]), np.array([lon]))[0]
            inside = np.flatnonzero((low <= leaf) & (leaf <= high))
            return float(listed[inside[0]]) if inside.size else unlisted_bound

        return cls(probability_at, float(listed.max()))


@dataclass(frozen=True)
class FusedDecision:
    """The proposal shown to the user (visual probability and flag filled in) and all candidates in rule order."""

    chosen: LocationProposal
    candidates: tuple[LocationProposal, ...] = field(default=())


def rule_order(proposals: Iterable[LocationProposal]) -> list[LocationProposal]:
    """Proposals sorted by the fusion rule: source priority, then smaller radius (stable)."""
    return sorted(proposals, key=lambda p: priority_key(p.source, p.radius_km))


def fuse(
    proposals: Iterable[LocationProposal], visual: VisualEvidence | None = None, flag_ratio: float = FLAG_RATIO
) -> FusedDecision | None:
    """Apply the fusion rule of this module's docstring; None when there is no proposal (photo stays unlocated)."""
    ordered = rule_order(proposals)
    if not ordered:
        return None
    chosen = ordered[0]
    reasons = []
    probability = visual.probability_at(chosen.lat, chosen.lon) if visual is not None else None
    if chosen.source in TIME_BASED_SOURCES:
        if probability is not None and visual is not None and probability < flag_ratio * visual.top_probability:
            reasons.append(f"the image disagrees (visual probability {probability:.2g}, best cell "
                           f"{visual.top_probability:.2g})")
        reasons.extend(_time_source_conflicts(chosen, ordered[1:]))
    note = "; ".join([chosen.note, *reasons]) if chosen.note else "; ".join(reasons)
    decided = replace(chosen, visual_probability=probability, flagged=bool(reasons), note=note)
    return FusedDecision(decided, tuple(ordered))


def _time_source_conflicts(chosen: LocationProposal, others: Iterable[LocationProposal]) -> list[str]:
    from geotagger.geocore.geo.distance import haversine_km

    conflicts = []
    for other in others:
        if other.source not in TIME_BASED_SOURCES or other.source == chosen.source:
            continue
        distance_km = float(haversine_km(chosen.lat, chosen.lon, other.lat, other.lon))
        if distance_km > chosen.radius_km + other.radius_km:
            conflicts.append(f"{other.source} is {distance_km:.3g} km away (radii {chosen.radius_km:.3g} + "
                             f"{other.radius_km:.3g} km)")
    return conflicts
