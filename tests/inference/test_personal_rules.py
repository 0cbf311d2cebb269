"""Personal bundles' retrieval vote beside the heads and the confidence radius measured on held-out errors."""

from __future__ import annotations

import numpy as np
import pytest

from geotagger.geocore.geo.hierarchy import Hierarchy
from geotagger.geocore.geo.partitioning import Partitioning
from geotagger.geocore.inference.gallery import Gallery
from geotagger.geocore.inference.personal import PersonalRules, RadiusTable, RetrievalRule, retrieval_blend

# Finest cells: two streets of a home city (A), one street of a town 300 km away (B).
CELLS = [(38.72, -9.14), (38.73, -9.13), (41.15, -8.61)]


def _hierarchy() -> Hierarchy:
    keys = ["a1", "a2", "b1"]
    finest = Partitioning("fine", "semantic", keys, keys, np.ones(3, np.int64), np.array([c[0] for c in CELLS]),
                          np.array([c[1] for c in CELLS]))
    return Hierarchy([finest], np.arange(3)[:, None])


def _gallery(cells: list[int], directions: np.ndarray) -> Gallery:
    lat = np.array([CELLS[c][0] for c in cells])
    lon = np.array([CELLS[c][1] for c in cells])
    unit = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    return Gallery(lat, lon, unit.astype(np.float32), np.array(cells, np.int64))


def test_tight_neighbours_outvote_a_confidently_wrong_head() -> None:
    rng = np.random.default_rng(0)
    look = rng.normal(size=8)
    directions = np.vstack([look + rng.normal(0, 0.05, (5, 8)), rng.normal(size=(10, 8))])
    gallery = _gallery([2] * 5 + [0] * 10, directions)  # five photos of B look like the query
    heads = np.array([0.7, 0.2, 0.1])  # the head says home street a1
    finest = _hierarchy().finest
    shown = retrieval_blend(gallery, RetrievalRule(neighbours=5), look, heads, finest.lat, finest.lon)
    assert int(np.argmax(shown)) == 2
    assert shown[0] == shown[1] == 0.0  # home lies outside the vote's region
    assert shown[2] == pytest.approx(0.5 * 0.1 + 0.5 * 1.0, abs=1e-3)


def test_a_look_shared_by_many_places_goes_where_most_such_photos_were_taken() -> None:
    rng = np.random.default_rng(1)
    generic = rng.normal(size=8)
    # A generic shot: 12 near-identical library photos, 8 at home (split over two streets), 4 in town B.
    directions = generic + rng.normal(0, 0.01, (12, 8))
    gallery = _gallery([0, 1] * 4 + [2] * 4, directions)
    heads = np.array([0.3, 0.3, 0.4])  # the head leans to B
    finest = _hierarchy().finest
    shown = retrieval_blend(gallery, RetrievalRule(neighbours=12, temperature=1.0), generic, heads, finest.lat,
                            finest.lon)
    assert int(np.argmax(shown)) in (0, 1) and shown[2] == 0.0  # no single home cell had most of the vote
    assert shown.max() < 0.5  # and the shown probability stays low


def test_radius_is_the_error_quantile_of_photos_of_similar_confidence() -> None:
    rng = np.random.default_rng(2)
    confidence = rng.uniform(0, 1, 4000)
    error_km = rng.exponential(1 + 50 * (1 - confidence))  # less confident, larger errors
    table = RadiusTable.fit(confidence, error_km, groups=5)
    assert table is not None and len(table.upper) == 5 and table.upper[-1] == 1.0
    assert list(table.radius_km) == sorted(table.radius_km, reverse=True)
    radius = table.radii(confidence)
    inside = error_km <= radius
    assert inside.mean() == pytest.approx(0.68, abs=0.01)
    for low, high in ((0, 0.2), (0.8, 1.0)):  # each confidence group, not only the whole
        group = (confidence >= low) & (confidence < high)
        assert inside[group].mean() == pytest.approx(0.68, abs=0.04)
    fresh_confidence = rng.uniform(0, 1, 4000)  # photos the table never saw
    fresh_error = rng.exponential(1 + 50 * (1 - fresh_confidence))
    assert (fresh_error <= table.radii(fresh_confidence)).mean() == pytest.approx(0.68, abs=0.03)
    assert RadiusTable.from_card(table.to_card()) == table


def test_malformed_card_entries_mean_no_rule() -> None:
    assert RadiusTable.fit([0.5] * 5, [1.0] * 5) is None  # too few held-out photos
    assert RadiusTable.from_card({"upper_confidence": [0.5, 1.0], "radius_km": [3.0]}) is None
    assert RadiusTable.from_card({"upper_confidence": [1.0], "radius_km": [float("nan")]}) is None
    assert RadiusTable.from_card("1 km") is None
    assert RetrievalRule.from_card({**RetrievalRule().to_card(), "enabled": False}) is None
    assert RetrievalRule.from_card({**RetrievalRule().to_card(), "temperature": 0}) is None
    assert RetrievalRule.from_card({"enabled": True, "neighbours": "many"}) is None
    assert RetrievalRule.from_card(RetrievalRule().to_card()) == RetrievalRule()


def test_rules_apply_to_personal_bundles_only() -> None:
    class Card:
        def __init__(self, kind: str) -> None:
            self.training = {"kind": kind}
            self.evaluation = {"retrieval": RetrievalRule().to_card(),
                               "radius": {"by_confidence": {"upper_confidence": [1.0], "radius_km": [2.0]}}}

    class Bundle:
        def __init__(self, kind: str, gallery: Gallery | None) -> None:
            self.card, self.hierarchy, self.gallery = Card(kind), _hierarchy(), gallery

    gallery = _gallery([0, 2], np.eye(2, 8))
    assert PersonalRules.from_bundle(Bundle("geoclip", gallery)) is None
    rules = PersonalRules.from_bundle(Bundle("personal", None))  # no gallery: the radius still applies
    assert rules is not None and rules.retrieval is None and rules.radius is not None
    rules = PersonalRules.from_bundle(Bundle("personal", gallery))
    assert rules is not None and rules.needs_embedding
    estimate = rules.estimate(_hierarchy(), [np.array([0.6, 0.3, 0.1])], np.eye(1, 8)[0], top_k=3)
    assert estimate.radius_km == 2.0 and estimate.hierarchy_top[0].key == "a1"
