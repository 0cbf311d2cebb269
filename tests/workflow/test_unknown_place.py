"""The predict use case honours the model's "I don't know": no proposal, the reason in the record and the view,
an older proposal of the same source withdrawn, and the cells are no visual evidence for other sources."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from geotagger.geocore.inference.predictor import UNKNOWN_PLACE, PhotoPrediction
from geotagger.geocore.workflow.evidence import visual_evidence
from geotagger.geocore.workflow.view import describe
from tests.photo_factory import make_jpeg
from tests.workflow.fixture import ScriptedPredictor, scripted_session

LISBON = (38.72, -9.14)


class DoubtingPredictor(ScriptedPredictor):
    """The scripted predictor, but photos named in `unknown` look like no place in the library."""

    unknown: set[str]

    def predict_paths(self, paths: Any, progress: Any = None, cancel: Any = None) -> Iterator[PhotoPrediction]:
        for prediction in super().predict_paths(paths, progress, cancel):
            if Path(prediction.path).name in getattr(self, "unknown", set()):
                prediction = replace(prediction, lat=None, lon=None, radius_km=None, unknown_place=UNKNOWN_PLACE,
                                     library_similarity=0.2)
            yield prediction


def test_an_unknown_place_gets_no_proposal_and_says_why(tmp_path: Path) -> None:
    photo = make_jpeg(tmp_path / "beach.jpg", (64, 48), color_seed=3)
    session, predictor = scripted_session(tmp_path / "cache.sqlite", {"beach.jpg": [(*LISBON, 0.9)]},
                                          kind="personal")
    doubting = DoubtingPredictor(predictor.answers, kind="personal")
    session.models.scripted = doubting  # type: ignore[attr-defined]
    with session:
        first = session.predict([photo])
        photo_id = first.photo_ids[0]
        assert [o.kind for o in first.outcomes] == ["predicted"]
        assert [d.state for d in session.library.decisions(photo_id=photo_id)] == ["proposed"]

        doubting.unknown = {"beach.jpg"}  # a newer personal model no longer recognises the place
        again = session.predict([photo], force=True)
        outcome = again.outcomes[0]
        assert (outcome.kind, outcome.reason) == ("unknown_place", UNKNOWN_PLACE)
        assert outcome.payload["unknown_place"] == UNKNOWN_PLACE and outcome.payload["lat"] is None
        assert not session.library.decisions(photo_id=photo_id, state="proposed")  # the old guess withdrawn
        view = session.view(photo_id)
        assert not view.has_location and view.prediction is not None
        assert view.prediction.unknown_place == UNKNOWN_PLACE
        assert describe(view).endswith(f"no proposal: {UNKNOWN_PLACE}")
        cached = session.predict([photo])  # from the cache: still no proposal
        assert cached.outcomes[0].kind == "cached" and not session.library.decisions(photo_id=photo_id,
                                                                                      state="proposed")
        record = session.library.latest_predictions([photo_id], doubting.model_id, "crops=1")[photo_id]
        assert visual_evidence(record.payload_json) is None
