"""The predict use case: visual predictions for photos, cached per model and settings, stored as proposals."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geotagger.geocore.inference.files import is_decodable
from geotagger.geocore.vocabulary import DecisionState
from geotagger.geocore.workflow.results import Outcome, Reporter, Result, Status

if TYPE_CHECKING:
    from geotagger.geocore.inference.predictor import Predictor
    from geotagger.geocore.library.api import Library
    from geotagger.geocore.library.records import PhotoRecord
    from geotagger.geocore.workflow.evidence import Assessment
    from geotagger.geocore.workflow.models import ModelProvider
    from geotagger.geocore.workflow.session import Selection

# While a listener wants views, predicted photos get their fusion rule and their views in batches this often (and
# at most this many at a time), so a list fills in as predictions arrive instead of all at the end of the run.
VIEWS_EVERY_S = 0.5
VIEWS_AT_MOST = 500


class PredictUseCases:
    """Mixed into Session."""

    library: Library
    models: ModelProvider

    if TYPE_CHECKING:
        def select(self, paths: Iterable[Path | str], *, scan_folders: bool = True,
                   include_hidden: bool = False) -> Selection: ...
        def refuse(self, photo_ids: Iterable[int]) -> dict[int, Assessment]: ...
        def _emit_views(self, reporter: Reporter, photo_ids: Iterable[int]) -> None: ...

    def predict(self, paths: Iterable[Path | str] = (), reporter: Reporter | None = None, *,
                photo_ids: Iterable[int] | None = None, force: bool = False) -> Result:
        """Predict photos (named by paths, folders recursed, or by id), reusing cached predictions unless `force`.

        Each photo's outcome carries its prediction record (`geotag predict`'s JSON) in `payload`. A new
        prediction replaces the same model source's earlier proposal and the fusion rule runs again.
        """
        reporter = reporter or Reporter()
        result = Result("predict")
        if photo_ids is not None:
            records = self.library.photos_in_order(photo_ids)  # one query per 500, not per photo
            problems: list[Outcome] = []
        else:
            selection = self.select(paths)
            records, problems = selection.records, selection.problems
        predictor = self.models.predictor()
        for problem in problems:
            payload = _error_record(problem.path, predictor, problem.reason)
            self._report(result, reporter, Outcome(problem.path, Status.FAILED, problem.kind, problem.reason,
                                                   payload=payload))
        if predictor is None:
            result.notes.append(f"no prediction: {self.models.problem}")
            for record in records:
                self._report(result, reporter, Outcome(record.path, Status.FAILED, "no_model", self.models.problem,
                                                       record.id))
            return result
        settled: set[int] = set()
        pending: list[int] = []
        last = time.monotonic()
        for outcome in self._predict_records(records, predictor, reporter, force):
            self._report(result, reporter, outcome)
            if reporter.wants_views and outcome.photo_id is not None:
                pending.append(outcome.photo_id)
                if len(pending) >= VIEWS_AT_MOST or time.monotonic() - last >= VIEWS_EVERY_S:
                    self._refuse_and_show(reporter, pending)  # per photo: a batch gives the same flags
                    settled.update(pending)
                    pending, last = [], time.monotonic()
        result.photo_ids = [record.id for record in records]
        self._refuse_and_show(reporter, [i for i in result.photo_ids if i not in settled])  # all, without a listener
        return result

    def _refuse_and_show(self, reporter: Reporter, photo_ids: list[int]) -> None:
        """The fusion rule again for these photos (they have new evidence), then their views to the listener."""
        self.refuse(photo_ids)
        self._emit_views(reporter, photo_ids)

    @staticmethod
    def _report(result: Result, reporter: Reporter, outcome: Outcome) -> None:
        result.outcomes.append(outcome)
        reporter.outcome(outcome)

    def _predict_records(self, records: list[PhotoRecord], predictor: Predictor, reporter: Reporter,
                         force: bool) -> Iterator[Outcome]:
        """Outcomes in input order: cached predictions at once, the rest as the predictor delivers them."""
        settings_key = f"crops={predictor.crops}"
        cached = {} if force else self.library.latest_predictions([r.id for r in records], predictor.model_id,
                                                                   settings_key)
        readable = [r for r in records if not r.error_kind and is_decodable(Path(r.path))]
        todo = [r for r in readable if not (r.id in cached and cached[r.id].payload_json)]
        fresh = predictor.predict_paths([r.path for r in todo], lambda d, t: reporter.progress(d, t, "Predicting"),
                                        reporter.cancel)
        todo_ids = {r.id for r in todo}
        source = self.models.source_for(predictor).value
        for record in records:
            if record.error_kind:
                reason = f"{record.error_kind}: {record.error or ''}".strip().rstrip(":")
                yield Outcome(record.path, Status.FAILED, record.error_kind, reason, record.id,
                              _error_record(record.path, predictor, reason))
            elif not is_decodable(Path(record.path)):
                reason = "the model cannot decode this format (RAW): place it by time or by hand"
                yield Outcome(record.path, Status.SKIPPED, "unsupported", reason, record.id,
                              _error_record(record.path, predictor, reason))
            elif record.id not in todo_ids:
                yield Outcome(record.path, Status.OK, "cached", "", record.id,
                              json.loads(cached[record.id].payload_json or "{}"))
            else:
                prediction = next(fresh, None)
                if prediction is None:  # cancelled: the predictor stopped early
                    return
                yield self._store_prediction(record, prediction, predictor, settings_key, source)

    def _store_prediction(self, record: PhotoRecord, prediction: Any, predictor: Predictor, settings_key: str,
                          source: str) -> Outcome:
        payload = prediction.to_json()
        if prediction.error:
            return Outcome(record.path, Status.FAILED, "unreadable", prediction.error, record.id, payload)
        if getattr(prediction, "unknown_place", None):
            # "I don't know": cached with its reason, no proposal, and this source's older proposal withdrawn.
            self.library.put_prediction(record.id, predictor.model_id, settings_key, payload, None, None, None)
            for old in self.library.decisions(photo_id=record.id, state=DecisionState.PROPOSED.value, source=source):
                self.library.reject(old.id)
            return Outcome(record.path, Status.OK, "unknown_place", prediction.unknown_place, record.id, payload)
        if prediction.lat is None or prediction.lon is None:
            # A bundle without location heads (scene type and saliency only): cached, but no proposal.
            self.library.put_prediction(record.id, predictor.model_id, settings_key, payload, None, None, None)
            return Outcome(record.path, Status.OK, "scene_only", "", record.id, payload)
        self.library.put_prediction(record.id, predictor.model_id, settings_key, payload, prediction.lat,
                                    prediction.lon, prediction.radius_km)
        for old in self.library.decisions(photo_id=record.id, state=DecisionState.PROPOSED.value, source=source):
            self.library.reject(old.id)  # one proposal per source: the newest prediction replaces the older one
        self.library.propose(record.id, prediction.lat, prediction.lon, prediction.radius_km, source,
                             notes=f"model {predictor.model_id}")
        return Outcome(record.path, Status.OK, "predicted", "", record.id, payload)


def _error_record(path: str, predictor: Predictor | None, reason: str) -> dict[str, Any]:
    """The JSON record of a photo that could not be predicted (same fields as a prediction)."""
    from geotagger.geocore.inference.predictor import PhotoPrediction

    model_id = predictor.model_id if predictor is not None else ""
    provider = predictor.provider if predictor is not None else ""
    return PhotoPrediction(path, model_id, provider, error=reason).to_json()
