"""The retrieval vote ships only where held-out days say it helps; the card's radius is what the app shows."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from geotagger.geocore.geo.hierarchy import Hierarchy
from geotagger.geocore.geo.partitioning import Partitioning
from geotagger.geocore.inference.personal import RadiusTable
from geotagger.geocore.inference.predictor import Predictor
from geotagger.trainer.personalize import PersonalizeOptions, personalize
from geotagger.trainer.personalize.retrieval import RULES, build_gallery, compare
from tests.trainer.personal_library import Place, Shape, generate_library

BASE = Path(__file__).resolve().parents[2] / "resources" / "models" / "base.geomodel"
CITIES = [(38.72, -9.14), (41.15, -8.61), (48.86, 2.35), (41.90, 12.50)]


def _hierarchy() -> Hierarchy:
    keys = [f"c{i}" for i in range(len(CITIES))]
    finest = Partitioning("fine", "semantic", keys, keys, np.ones(len(keys), np.int64),
                          np.array([c[0] for c in CITIES]), np.array([c[1] for c in CITIES]))
    return Hierarchy([finest], np.arange(len(keys))[:, None])


def _photos(rng: np.random.Generator, per_city: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(embeddings, lat, lon, city) of photos whose embedding says their city."""
    looks = rng.normal(size=(len(CITIES), 16))
    city = np.repeat(np.arange(len(CITIES)), per_city)
    vectors = looks[city] + rng.normal(0, 0.3, (len(city), 16))
    lat = np.array([CITIES[c][0] for c in city]) + rng.normal(0, 0.002, len(city))
    lon = np.array([CITIES[c][1] for c in city]) + rng.normal(0, 0.002, len(city))
    return vectors, lat, lon, city


def test_the_vote_is_kept_where_it_helps_and_left_out_where_it_does_not() -> None:
    rng = np.random.default_rng(0)
    hierarchy = _hierarchy()
    vectors, lat, lon, city = _photos(rng, 30)
    held, held_lat, held_lon, held_city = _photos(np.random.default_rng(0), 10)
    held = held + rng.normal(0, 0.05, held.shape)
    confused = np.full((len(held), len(CITIES)), 0.1)
    confused[np.arange(len(held)), (held_city + 1) % len(CITIES)] = 0.7  # heads one city off
    comparison = compare(hierarchy, [confused], build_gallery(vectors, lat, lon, hierarchy), held, held_lat, held_lon)
    assert comparison.rule in RULES
    assert comparison.figures["with_retrieval"]["within_25km_percent"] > comparison.figures["heads"][
        "within_25km_percent"]
    assert (comparison.distribution.argmax(axis=1) == held_city).mean() > 0.9
    right = np.full((len(held), len(CITIES)), 0.01)
    right[np.arange(len(held)), held_city] = 0.97
    scrambled = build_gallery(vectors, lat[rng.permutation(len(lat))], lon[rng.permutation(len(lon))], hierarchy)
    comparison = compare(hierarchy, [right], scrambled, held, held_lat, held_lon)
    assert comparison.rule is None and comparison.card_entry()["enabled"] is False
    assert (comparison.distribution.argmax(axis=1) == held_city).all()


@pytest.mark.skipif(not BASE.exists(), reason="needs the shipped base bundle")
def test_the_shown_radius_is_the_cards_held_out_error_quantile(tmp_path: Path) -> None:
    places = (Place("Lisbon", 38.7223, -9.1393, 80, 6, 10, 2.0), Place("Porto", 41.1496, -8.6110, 40, 4, 6, 1.5),
              Place("Paris", 48.8566, 2.3522, 30, 3, 5, 2.0))
    generated = generate_library(tmp_path, Shape(width=96, height=72), places,
                                 Place("Tokyo", 35.6762, 139.6503, 6, 2, 1, 1.0))
    options = PersonalizeOptions(base_model=str(BASE), cache_path=str(tmp_path / "c.sqlite3"), epochs=30)
    result = personalize([tmp_path / "library"], tmp_path / "me.geomodel", options)
    card = json.loads(zipfile.ZipFile(result.bundle_path).read("model_card.json"))
    retrieval = card["evaluation"]["retrieval"]
    assert set(retrieval["heldout"]) == {"heads", "with_retrieval", "candidates"}
    assert len(retrieval["heldout"]["candidates"]) == len(RULES)
    assert ("gallery" in card["files"]) == retrieval["enabled"]
    assert "retrieval vote beside the heads" in result.format()
    table = RadiusTable.from_card(card["evaluation"]["radius"]["by_confidence"])
    assert table is not None and table.coverage == pytest.approx(0.68)
    assert 50 <= card["evaluation"]["radius"]["truth_inside_percent"] <= 85
    predictions = list(Predictor(result.bundle_path, provider="cpu").predict_paths([p.path for p in generated.heldout]))
    proposals = [p for p in predictions if p.lat is not None]
    assert proposals
    for prediction in proposals:
        assert prediction.radius_km == pytest.approx(table.radius_for(prediction.hierarchy_top[0].probability))
