"""Whole workflows through the Session, without Qt: what the app and the CLI both run."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from geotagger.geocore.library.metadata import read_exif_gps_pil
from geotagger.geocore.vocabulary import PhotoState, Source
from geotagger.geocore.workflow import Session, Status, WorkflowSettings
from tests.photo_factory import make_jpeg
from tests.workflow.fixture import RecordingReporter, scripted_session

PARIS = (48.8584, 2.2945)
TOKYO = (35.68, 139.70)
TAKEN = datetime(2023, 5, 1, 12, 0, 0)


@pytest.fixture
def trip(tmp_path: Path) -> Path:
    """A phone photo with GPS in Paris, two camera photos minutes later without, one with no time at all."""
    folder = tmp_path / "trip"
    make_jpeg(folder / "phone.jpg", (160, 120), gps=PARIS, datetime_original=TAKEN, color_seed=1)
    make_jpeg(folder / "camera_disagrees.jpg", (160, 120), datetime_original=TAKEN + timedelta(minutes=4),
              color_seed=2)
    make_jpeg(folder / "camera_agrees.jpg", (160, 120), datetime_original=TAKEN + timedelta(minutes=6), color_seed=3)
    make_jpeg(folder / "no_time.jpg", (160, 120), color_seed=4)
    return folder


def by_name(views) -> dict:
    return {Path(view.path).name: view for view in views}


def test_scan_neighbours_predict_accept_write_undo(trip: Path, tmp_path: Path) -> None:
    answers = {  # the image of one camera photo is sure it is Tokyo; the other agrees with Paris
        "camera_disagrees.jpg": [(*TOKYO, 0.995), (*PARIS, 0.001)],
        "camera_agrees.jpg": [(*PARIS, 0.6), (*TOKYO, 0.3)],
        "no_time.jpg": [(*TOKYO, 0.9)],
        "phone.jpg": [(*PARIS, 0.4)],
    }
    session, predictor = scripted_session(tmp_path / "cache.sqlite", answers)
    originals = {path.name: path.read_bytes() for path in trip.iterdir()}
    with session:
        scanned = session.scan([trip])
        assert len(scanned.photo_ids) == 4 and not scanned.failed
        synced = session.sync_neighbours(photo_ids=scanned.photo_ids)
        assert synced.placed == 2 and [Path(o.path).name for o in synced.unlocated] == ["no_time.jpg"]
        before = by_name(session.views(scanned.photo_ids))
        assert before["camera_disagrees.jpg"].source is Source.TIME_NEIGHBOUR
        assert not before["camera_disagrees.jpg"].review  # no image evidence yet

        reporter = RecordingReporter()
        predicted = session.predict([trip], reporter)
        assert [o.kind for o in predicted.outcomes] == ["predicted"] * 4  # phone.jpg too (scene type, saliency)
        views = by_name(session.views(scanned.photo_ids))
        disagrees, agrees, no_time = views["camera_disagrees.jpg"], views["camera_agrees.jpg"], views["no_time.jpg"]
        # The prediction is new evidence: the fusion rule ran again for the neighbour proposals
        assert disagrees.source is Source.TIME_NEIGHBOUR and disagrees.review
        assert "the image disagrees" in disagrees.review_reason and disagrees.visual_probability < 0.01
        assert agrees.source is Source.TIME_NEIGHBOUR and not agrees.review
        assert agrees.visual_probability == pytest.approx(0.6)
        assert no_time.source is Source.MODEL and no_time.prediction is not None
        assert no_time.prediction.scene == "urban"
        assert by_name(reporter.views)["camera_disagrees.jpg"].review  # the reporter got the fresh views
        stored = session.library.decision(disagrees.decision_id)
        assert stored.review  # and the flag is in the cache for `photos("review")`

        accepted = session.accept([agrees.photo_id, disagrees.photo_id])
        assert len(accepted.ok) == 2
        written = session.write([agrees.photo_id, disagrees.photo_id, no_time.photo_id])
        assert len(written.ok) == 2 and written.batch_id  # no_time.jpg was only proposed
        gps = read_exif_gps_pil((trip / "camera_agrees.jpg").read_bytes())
        assert (gps.lat, gps.lon) == pytest.approx(PARIS, abs=1e-5)
        if shutil.which("exiftool"):
            method = subprocess.run(["exiftool", "-s3", "-GPSProcessingMethod", str(trip / "camera_agrees.jpg")],
                                    capture_output=True, text=True, check=True).stdout.strip()
            assert method == "MANUAL"  # what EXIF allows for a position no receiver measured
        from geotagger.geocore.library.metadata import written_estimate

        assert written_estimate(trip / "camera_agrees.jpg")  # a time-neighbour position is an estimate (our XMP)
        assert session.view(agrees.photo_id).state is PhotoState.WRITTEN

        undone = session.undo_last()
        assert len(undone.ok) == 2
        assert {path.name: path.read_bytes() for path in trip.iterdir()} == originals
        assert session.view(agrees.photo_id).state is PhotoState.ACCEPTED


def test_a_second_predict_uses_the_cache_and_a_new_prediction_replaces_the_proposal(trip: Path,
                                                                                   tmp_path: Path) -> None:
    session, predictor = scripted_session(tmp_path / "cache.sqlite", {"no_time.jpg": [(*TOKYO, 0.9)]})
    with session:
        first = session.predict([trip / "no_time.jpg"])
        again = session.predict([trip / "no_time.jpg"])
        assert [o.kind for o in first.outcomes] == ["predicted"] and [o.kind for o in again.outcomes] == ["cached"]
        assert len(predictor.calls) == 1  # the second run asked the model nothing
        predictor.answers["no_time.jpg"] = [(*PARIS, 0.8)]
        session.predict([trip / "no_time.jpg"], force=True)
        photo_id = first.photo_ids[0]
        live = [d for d in session.library.decisions(photo_id=photo_id) if d.state != "rejected"]
        assert [(d.source, round(d.lat, 2)) for d in live] == [("model", round(PARIS[0], 2))]


def test_a_personal_model_is_known_by_its_card_and_outranks_the_planet_model(trip: Path, tmp_path: Path) -> None:
    session, _ = scripted_session(tmp_path / "cache.sqlite", {"no_time.jpg": [(*PARIS, 0.7)]}, kind="personal")
    with session:
        session.predict([trip / "no_time.jpg"])
        view = by_name(session.views(session.ids_of([trip / "no_time.jpg"])))["no_time.jpg"]
        assert view.source is Source.PERSONAL_MODEL and view.source_label == "personal"


def test_a_manual_placement_outranks_everything_and_undo_decision_puts_it_back(trip: Path, tmp_path: Path) -> None:
    session, _ = scripted_session(tmp_path / "cache.sqlite", {})
    with session:
        ids = session.scan([trip]).photo_ids
        session.sync_neighbours(photo_ids=ids)
        camera = session.ids_of([trip / "camera_agrees.jpg"])[0]
        other = session.ids_of([trip / "no_time.jpg"])[0]
        session.place([camera], 45.0, 7.0)
        assert session.view(camera).source is Source.MANUAL and session.view(camera).state is PhotoState.ACCEPTED
        session.apply_to([other], camera)
        assert (session.view(other).lat, session.view(other).lon) == (45.0, 7.0)
        session.undo_last()  # the copy
        session.undo_last()  # the placement
        assert session.view(camera).source is Source.TIME_NEIGHBOUR
        assert session.view(camera).state is PhotoState.PROPOSED and session.view(other).state is PhotoState.SCANNED


def test_write_defaults_are_shared_and_a_write_with_nothing_to_do_records_no_batch(trip: Path,
                                                                                  tmp_path: Path) -> None:
    with Session.open(tmp_path / "cache.sqlite") as session:
        assert session.settings == WorkflowSettings()  # the CLI's and the app's defaults are one object
        assert not session.library.writer.backup_originals and not session.library.place_names
        session.scan([trip])
        nothing = session.write()
        assert not nothing.outcomes and not nothing.batch_id
        assert session.library.batches() == []


def test_cancel_stops_a_prediction_and_keeps_what_was_done(trip: Path, tmp_path: Path) -> None:
    answers = {name: [(*PARIS, 0.5)] for name in ("camera_agrees.jpg", "camera_disagrees.jpg", "no_time.jpg",
                                                   "phone.jpg")}
    session, _ = scripted_session(tmp_path / "cache.sqlite", answers)
    with session:
        reporter = RecordingReporter(cancel_after_outcomes=1)
        result = session.predict([trip], reporter)
        assert len(result.outcomes) < 4 and all(o.status is Status.OK for o in result.outcomes)
        assert len(session.library.latest_predictions(session.ids_of(trip.iterdir()))) == len(result.outcomes)


def test_all_proposed_writes_only_what_the_views_show_proposed(trip: Path, tmp_path: Path) -> None:
    """A proposal left behind by a later placement, or by GPS another tool wrote, is never written over them."""
    session, _ = scripted_session(tmp_path / "cache.sqlite", {})
    with session:
        scanned = session.scan([trip])
        assert session.sync_neighbours(photo_ids=scanned.photo_ids).placed == 2
        placed_by_hand, got_gps_elsewhere = trip / "camera_disagrees.jpg", trip / "camera_agrees.jpg"
        ids = {Path(v.path).name: v.photo_id for v in session.views(scanned.photo_ids)}
        exiftool = shutil.which("exiftool")
        assert exiftool is not None
        subprocess.run([exiftool, "-q", "-overwrite_original", "-GPSLatitude=51.5", "-GPSLatitudeRef=N",
                        "-GPSLongitude=0.12", "-GPSLongitudeRef=W", str(got_gps_elsewhere)], check=True)
        session.scan([trip])
        session.place([ids[placed_by_hand.name]], *TOKYO)  # by hand, over its time-neighbour proposal
        assert not session.write([ids[placed_by_hand.name]]).failed
        views = by_name(session.views(scanned.photo_ids))
        assert views[placed_by_hand.name].state is PhotoState.WRITTEN
        assert views[got_gps_elsewhere.name].state is PhotoState.HAS_GPS
        before = {name: (trip / name).read_bytes() for name in (placed_by_hand.name, got_gps_elsewhere.name)}
        result = session.write(all_proposed=True)
        assert not result.failed and not [o for o in result.outcomes if o.status is Status.OK]
        assert {name: (trip / name).read_bytes() for name in before} == before
        fix = read_exif_gps_pil(placed_by_hand.read_bytes())
        assert fix is not None and (fix.lat, fix.lon) == pytest.approx(TOKYO)
