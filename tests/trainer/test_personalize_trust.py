"""A personal model a user can trust: estimates never teach it, every place keeps its class at every level, it is
measured on held-out days, calibrated, and says "looks like no place in your library" instead of guessing."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path

import numpy as np
import piexif
import pytest
from PIL import Image

from geotagger.geocore.geo.hierarchy import Hierarchy
from geotagger.geocore.geo.semantic import build_semantic_partitionings
from geotagger.geocore.inference.predictor import UNKNOWN_PLACE, Predictor
from geotagger.geocore.library import provenance
from geotagger.geocore.library.api import Library
from geotagger.geocore.library.records import DecisionRecord
from geotagger.geocore.workflow import Session
from geotagger.geocore.workflow.models import ModelProvider
from geotagger.geocore.workflow.view import describe
from geotagger.trainer.personalize import PersonalizeOptions, personalize
from geotagger.trainer.personalize.calibration import SimilarityBank, expected_calibration_error, similarity_threshold
from geotagger.trainer.personalize.levels import day_groups, grouped_split, s2_partitionings
from geotagger.trainer.personalize.provenance import MARKED_REASON, estimate_written_by_us, marked_as_estimate
from tests.trainer.personal_library import GeneratedLibrary, Place, Shape, generate_library, write_jpeg

BASE = Path(__file__).resolve().parents[2] / "resources" / "models" / "base.geomodel"
HOME = (38.7223, -9.1393)
TRIPS = [(48.8566, 2.3522), (41.9028, 12.4964), (40.4168, -3.7038), (44.84, -0.58), (43.60, 1.44)]


def _mark(path: Path, method: bytes) -> None:
    exif = piexif.load(str(path))
    exif["GPS"][piexif.GPSIFD.GPSProcessingMethod] = b"ASCII\x00\x00\x00" + method
    piexif.insert(piexif.dump(exif), str(path))


def test_our_estimate_markers_are_recognised_and_a_manual_placement_is_not(tmp_path: Path) -> None:
    photo = tmp_path / "a.jpg"
    write_jpeg(photo, np.zeros((8, 8, 3), np.uint8), HOME, dt.datetime(2024, 1, 1))
    assert not marked_as_estimate(photo)
    _mark(photo, b"MANUAL")  # the user's own placement (EXIF gives estimates the same method)
    assert not marked_as_estimate(photo)
    _mark(photo, b"ESTIMATED")  # what earlier versions wrote for estimates
    assert marked_as_estimate(photo)
    other = tmp_path / "b.jpg"
    write_jpeg(other, np.zeros((8, 8, 3), np.uint8), HOME, dt.datetime(2024, 1, 1))
    _mark(other, b"MANUAL")
    other.with_suffix(".xmp").write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description xmlns:geotagger="{provenance.NAMESPACE}" geotagger:Estimated="True"/>'
        '</rdf:RDF></x:xmpmeta>')
    assert marked_as_estimate(other)


def _decision(decision_id: int, photo_id: int, state: str, source: str) -> DecisionRecord:
    return DecisionRecord(decision_id, photo_id, state, source, 0.0, 0.0, None, None, None, None, None, None, None,
                          None, None, None, None)


def test_positions_we_wrote_from_an_estimate_are_recognised_by_their_latest_write() -> None:
    decisions = [_decision(1, 10, "written", "personal_model"), _decision(2, 11, "written", "time_neighbour"),
                 _decision(3, 12, "written", "model"), _decision(4, 12, "written", "manual"),
                 _decision(5, 13, "written", "gps_track"), _decision(6, 14, "proposed", "model")]
    assert estimate_written_by_us(decisions) == {10: "personal", 11: "neighbour"}


@pytest.mark.skipif(not BASE.exists(), reason="needs the shipped base bundle")
def test_photos_marked_as_estimates_are_never_training_data(tmp_path: Path) -> None:
    places = (Place("Lisbon", *HOME, 40, 4, 6, 1.0), Place("Paris", 48.8566, 2.3522, 24, 3, 4, 1.0))
    generated = generate_library(tmp_path, Shape(width=96, height=72), places,
                                 Place("Tokyo", 35.6762, 139.6503, 12, 4, 2, 2.0))
    # Estimates at a place no real fix is: if any of them taught the model, a class would appear there.
    estimates = generate_library(tmp_path / "est", Shape(width=96, height=72),
                                 (Place("Reykjavik", 64.1466, -21.9426, 12, 2, 2, 1.0),)).library
    for photo in estimates:
        _mark(photo.path, b"ESTIMATED")
    (tmp_path / "library" / "est").symlink_to(tmp_path / "est" / "library", target_is_directory=True)
    options = PersonalizeOptions(base_model=str(BASE), cache_path=str(tmp_path / "c.sqlite3"), epochs=30)
    result = personalize([tmp_path / "library"], tmp_path / "me.geomodel", options)
    assert result.skipped.counts[MARKED_REASON] == len(estimates) == 12
    assert result.shipped_photos == len(generated.library)
    assert MARKED_REASON in result.format()
    card = json.loads(zipfile.ZipFile(result.bundle_path).read("model_card.json"))
    assert card["training"]["excluded"][MARKED_REASON] == 12
    from geotagger.geocore.inference.bundle import load_bundle

    finest = load_bundle(result.bundle_path).hierarchy.finest
    assert (finest.lat < 60).all(), "an estimate became training data"
    _check_unknown_places(result.bundle_path, generated, tmp_path)


def _check_unknown_places(bundle: Path, generated: GeneratedLibrary, tmp_path: Path) -> None:
    """Photos like no library place get no proposal, with the reason in the record and the photo's line."""
    predictor = Predictor(bundle, provider="cpu")
    never = list(predictor.predict_paths([p.path for p in generated.never_visited]))
    known = list(predictor.predict_paths([p.path for p in generated.heldout]))
    assert np.mean([p.unknown_place == UNKNOWN_PLACE for p in never]) >= 0.6
    assert np.mean([p.unknown_place is not None for p in known]) <= 0.25
    assert all(p.lat is None for p in never if p.unknown_place)
    Image.new("RGB", (640, 480), (40, 90, 200)).save(tmp_path / "flat_blue.png")  # once "personal · 100%"
    flat = predictor.predict_path(tmp_path / "flat_blue.png")
    assert flat.unknown_place == UNKNOWN_PLACE and flat.lat is None
    from geotagger.geocore.cli.main import main as geotag

    records_path = tmp_path / "never.jsonl"
    assert geotag(["predict", str(tmp_path / "never"), "--model", str(bundle), "--provider", "cpu",
                   "--db", str(tmp_path / "cli.sqlite3"), "--json", str(records_path)]) == 0
    records = [json.loads(line) for line in records_path.read_text().splitlines() if line.strip()]
    assert len(records) == len(never)
    cli_withheld = [r for r in records if r.get("unknown_place")]
    assert len(cli_withheld) >= 0.6 * len(never)
    assert all(r["unknown_place"] == UNKNOWN_PLACE and r["lat"] is None for r in cli_withheld)
    with Session(Library(tmp_path / "session.sqlite3"), ModelProvider(bundle, provider="cpu")) as session:
        result = session.predict([tmp_path / "never"])
        withheld = [o for o in result.outcomes if o.kind == "unknown_place"]
        assert len(withheld) >= 0.6 * len(never) and all(o.reason == UNKNOWN_PLACE for o in withheld)
        for outcome in withheld:
            view = session.view(outcome.photo_id)
            assert not view.has_location and view.prediction is not None
            assert view.prediction.unknown_place == UNKNOWN_PLACE
            assert f"no proposal: {UNKNOWN_PLACE}" in describe(view)
            assert not session.library.decisions(photo_id=outcome.photo_id, state="proposed")


def test_every_photo_is_used_by_every_s2_level_and_the_levels_do_not_drift_with_library_size() -> None:
    rng = np.random.default_rng(0)
    for home_photos in (300, 10_000):
        lat = [HOME[0] + rng.normal(0, 0.01, home_photos)]
        lon = [HOME[1] + rng.normal(0, 0.012, home_photos)]
        for trip_lat, trip_lon in TRIPS:  # short trips: 20 photos each, and one lone photo
            lat.append(trip_lat + rng.normal(0, 0.005, 20))
            lon.append(trip_lon + rng.normal(0, 0.005, 20))
        lat.append(np.array([60.17]))
        lon.append(np.array([24.94]))
        all_lat, all_lon = np.concatenate(lat), np.concatenate(lon)
        partitionings = s2_partitionings(all_lat, all_lon)
        Hierarchy(partitionings)  # nested
        assert [p.name for p in partitionings] == ["s2_level6", "s2_level10", "s2_level14_to16"]
        for partitioning in partitionings:
            assert (partitioning.assign(all_lat, all_lon) >= 0).all()
            assert partitioning.counts.sum() == len(all_lat)
        coarse = partitionings[0].assign(all_lat, all_lon)
        assert len(set(coarse[-101:-1].tolist())) >= 4  # the coarsest level separates the trips' regions


def test_semantic_partitionings_keep_every_place_that_has_photos() -> None:
    rng = np.random.default_rng(1)
    lat = np.concatenate([HOME[0] + rng.normal(0, 0.01, 300)] + [np.full(4, t[0]) for t in TRIPS])
    lon = np.concatenate([HOME[1] + rng.normal(0, 0.01, 300)] + [np.full(4, t[1]) for t in TRIPS])
    partitionings = build_semantic_partitionings(lat, lon, [24, 8, 3])
    Hierarchy(partitionings)
    for partitioning in partitionings:
        classes = partitioning.assign(lat, lon)
        assert (classes >= 0).all(), partitioning.name
        trip_classes = {int(c) for c in classes[300:]}
        assert int(classes[0]) not in trip_classes  # no trip is merged into home
        assert len(trip_classes) >= (5 if partitioning is partitionings[-1] else 3)  # FR, IT, ES; finest: each town


def test_held_out_split_takes_whole_days() -> None:
    times = [f"2024-01-{1 + i // 10:02d}T10:{i % 10:02d}:00" for i in range(200)] + [None] * 10
    groups = day_groups(times)
    train, holdout = grouped_split(groups, 0.2, seed=3)
    assert 0.15 * 210 <= len(holdout) <= 0.3 * 210
    assert not set(groups[train].tolist()) & set(groups[holdout].tolist())
    assert sorted(np.concatenate([train, holdout]).tolist()) == list(range(210))


def test_calibration_error_and_similarity_threshold() -> None:
    assert expected_calibration_error([0.9] * 10, [True] * 9 + [False]) == pytest.approx(0.0)
    assert expected_calibration_error([1.0] * 4, [False] * 4) == pytest.approx(1.0)
    rng = np.random.default_rng(2)
    library = rng.normal(size=(50, 16))
    bank = SimilarityBank.build(library)
    assert bank.similarity(library) == pytest.approx(np.ones(50))
    near = library[:20] + rng.normal(0, 0.05, (20, 16))
    threshold = similarity_threshold(bank.similarity(near), 0.05)
    assert (bank.similarity(near) >= threshold).mean() >= 0.95
    assert (bank.similarity(rng.normal(size=(20, 16)) * 3) < threshold).all()
    duplicates = similarity_threshold(np.ones(8))  # held-out photos identical to library ones
    assert duplicates < 0.9999 and bank.similarity(library[:1].astype(np.float32))[0] > duplicates
