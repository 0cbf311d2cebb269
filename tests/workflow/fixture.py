"""A scripted workflow fixture (in the manner of beets' ImportSessionFixture): a real Session on a temporary
cache, a reporter that records everything, and a predictor whose answers the test writes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from geotagger.geocore.geo import s2cells
from geotagger.geocore.inference.location import RankedCell
from geotagger.geocore.inference.predictor import PhotoPrediction
from geotagger.geocore.workflow import Outcome, PhotoView, Reporter, Session
from geotagger.geocore.workflow.models import ModelProvider


class RecordingReporter(Reporter):
    """Keeps every progress call, outcome and view a use case reports."""

    def __init__(self, cancel_after_outcomes: int | None = None) -> None:
        self.progress_calls: list[tuple[int, int, str]] = []
        self.outcomes: list[Outcome] = []
        self.views: list[PhotoView] = []
        self.cancel_after_outcomes = cancel_after_outcomes
        super().__init__(lambda *call: self.progress_calls.append(call), self._keep, self.views.append,
                         threading.Event())

    def _keep(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        if self.cancel_after_outcomes is not None and len(self.outcomes) >= self.cancel_after_outcomes:
            self.cancel.set()


def cell_at(lat: float, lon: float, level: int = 10) -> str:
    """The S2 token of the level-`level` cell holding a point."""
    return s2cells.cell_ids_to_tokens(s2cells.parent_ids(s2cells.latlon_to_cell_ids([lat], [lon]), level))[0]


@dataclass
class ScriptedPredictor:
    """Answers `predict_paths` with the cells the test scripted per file name: [(lat, lon, probability), ...]."""

    answers: dict[str, list[tuple[float, float, float]]]
    model_id: str = "scripted-planet"
    provider: str = "cpu"
    crops: int = 1
    kind: str = "planet"
    calls: list[list[str]] = field(default_factory=list)

    @property
    def bundle(self) -> Any:
        return SimpleNamespace(card=SimpleNamespace(training={"kind": self.kind}), partitionings=[],
                               path="scripted.geomodel")

    def predict_paths(self, paths: Iterable[str | Path], progress: Callable[[int, int], None] | None = None,
                      cancel: threading.Event | None = None) -> Iterator[PhotoPrediction]:
        paths = [str(path) for path in paths]
        self.calls.append(paths)
        for done, path in enumerate(paths, 1):
            if cancel is not None and cancel.is_set():
                return
            cells = self.answers.get(Path(path).name)
            if cells is None:
                yield PhotoPrediction(path, self.model_id, self.provider, error="scripted: cannot decode")
            else:
                ranked = [RankedCell(cell_at(lat, lon), cell_at(lat, lon), p, lat, lon) for lat, lon, p in cells]
                best = ranked[0]
                yield PhotoPrediction(path, self.model_id, self.provider, best.lat, best.lon, 25.0,
                                      scene={"indoor": 0.1, "natural": 0.2, "urban": 0.7}, hierarchy_top=ranked)
            if progress is not None:
                progress(done, len(paths))


class ScriptedModels(ModelProvider):
    """A model provider that serves the scripted predictor (no bundle on disk)."""

    def __init__(self, predictor: ScriptedPredictor) -> None:
        super().__init__(None)
        self.scripted = predictor

    def predictor(self) -> Any:
        self._predictor = self.scripted  # type: ignore[assignment]
        return self.scripted


def scripted_session(db: Path, answers: dict[str, list[tuple[float, float, float]]], **predictor: Any
                     ) -> tuple[Session, ScriptedPredictor]:
    from geotagger.geocore.library.api import Library

    scripted = ScriptedPredictor(answers, **predictor)
    return Session(Library(db), ScriptedModels(scripted)), scripted
