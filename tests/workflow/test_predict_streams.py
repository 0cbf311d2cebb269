"""Predictions reach a listener as they arrive (in batches), with the same review flags as at the end of a run."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

import geotagger.geocore.workflow.predicting as predicting
from tests.photo_factory import make_jpeg
from tests.workflow.fixture import RecordingReporter, scripted_session

PARIS = (48.8584, 2.2945)
TOKYO = (35.68, 139.70)
TAKEN = datetime(2023, 5, 1, 12, 0, 0)


def _trip(folder: Path) -> None:
    make_jpeg(folder / "a_phone.jpg", (96, 72), gps=PARIS, datetime_original=TAKEN, color_seed=1)
    for index in range(1, 6):  # camera photos minutes later, placed by their time neighbour first
        make_jpeg(folder / f"b_camera_{index}.jpg", (96, 72), datetime_original=TAKEN + timedelta(minutes=index),
                  color_seed=index + 1)


def _streaming_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, at_most: int) -> tuple[list, list, object]:
    monkeypatch.setattr(predicting, "VIEWS_EVERY_S", 3600.0)  # batches by count only: the test sets the pace
    monkeypatch.setattr(predicting, "VIEWS_AT_MOST", at_most)
    trip = tmp_path / "trip"
    _trip(trip)
    answers = {f"b_camera_{i}.jpg": [(*TOKYO, 0.995), (*PARIS, 0.001)] if i % 2 else [(*PARIS, 0.6)]
               for i in range(1, 6)}
    answers["a_phone.jpg"] = [(*PARIS, 0.4)]
    session, predictor = scripted_session(tmp_path / "cache.sqlite", answers)
    reporter = RecordingReporter()
    seen_while_running: list[int] = []  # views reported each time the model was asked for its next photo
    original = predictor.predict_paths

    def watched(paths, progress=None, cancel=None):
        for prediction in original(paths, progress, cancel):
            seen_while_running.append(len(reporter.views))
            yield prediction

    predictor.predict_paths = watched  # type: ignore[method-assign]
    session.__enter__()
    scanned = session.scan([trip])
    session.sync_neighbours(photo_ids=scanned.photo_ids)
    result = session.predict(reporter=reporter, photo_ids=scanned.photo_ids)
    final = {view.path: view for view in session.views(scanned.photo_ids)}
    session.__exit__(None, None, None)
    return seen_while_running, reporter.views, (result, final)


def test_views_arrive_while_the_model_still_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen, views, (result, final) = _streaming_run(tmp_path, monkeypatch, at_most=2)
    assert len(result.outcomes) == 6 and all(o.kind == "predicted" for o in result.outcomes)
    assert seen == [0, 0, 2, 2, 4, 4]  # two photos' views went out before the model was asked for the third
    assert len(views) == 6 and len({view.path for view in views}) == 6
    for view in views:  # each streamed view already carries its prediction and the fusion rule's final flag
        assert view.prediction is not None
        assert (view.review, view.source, view.lat, view.lon) == (
            final[view.path].review, final[view.path].source, final[view.path].lat, final[view.path].lon)
    flagged = {Path(view.path).name for view in views if view.review}
    assert flagged == {"b_camera_1.jpg", "b_camera_3.jpg", "b_camera_5.jpg"}  # the image disagrees with the time


def test_one_batch_is_the_same_as_streaming(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen, views, (_result, final) = _streaming_run(tmp_path / "one", monkeypatch, at_most=10_000)
    assert seen == [0] * 6 and len(views) == 6  # everything at the end, as without a listener in a hurry
    _s, streamed, (_r, streamed_final) = _streaming_run(tmp_path / "many", monkeypatch, at_most=1)
    key = lambda v: (Path(v.path).name, v.review, v.source, v.lat, v.lon, v.state)  # noqa: E731
    assert sorted(map(key, views)) == sorted(map(key, streamed))
    assert sorted(map(key, final.values())) == sorted(map(key, streamed_final.values()))
