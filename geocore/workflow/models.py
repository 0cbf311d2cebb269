"""Which model bundle predicts, loaded once: the shipped base bundle, a personal one, or an imported one.

A personal model is recognised by its card (`training.kind == "personal"`, written by `geotag-train
personalize`), never by its file name: an imported file may be called anything.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geotagger.geocore.inference.files import BASE_BUNDLE
from geotagger.geocore.resources import resource_path
from geotagger.geocore.vocabulary import Source

if TYPE_CHECKING:
    from geotagger.geocore.inference.predictor import Predictor

PERSONAL_KIND = "personal"


def shipped_bundles() -> list[Path]:
    """Bundles shipped in resources/models (*.geomodel files or unpacked folders with a model card)."""
    folder = resource_path("models")
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix == ".geomodel" or (p / "model_card.json").is_file())


def base_bundle() -> Path | None:
    """The shipped base bundle (personal models are built on its embedding); None when none is installed."""
    if BASE_BUNDLE.exists():
        return BASE_BUNDLE
    shipped = shipped_bundles()
    return shipped[0] if shipped else None


def is_personal(bundle: Path) -> bool:
    """True when the bundle's card says it was trained on the user's own photos."""
    from geotagger.geocore.inference.bundle import read_card

    try:
        return read_card(bundle).training.get("kind") == PERSONAL_KIND
    except Exception:  # an unreadable card is not a personal model; loading it will say why
        return False


class ModelProvider:
    """Loads the Predictor for a bundle once; `reset()` (settings changed) never waits for a load in progress.

    Args:
        bundle: which bundle; None = the shipped base bundle.
        options: keyword arguments for Predictor (provider, crops, threads, decode_workers, top_k, ...).
    """

    def __init__(self, bundle: Path | None = None, **options: Any) -> None:
        self.bundle = bundle
        self.options = options
        self.problem = ""
        self._predictor: Predictor | None = None
        self._lock = threading.Lock()
        self._generation = 0  # bumped by reset on the GUI thread, which must never wait for a load

    def configure(self, bundle: Path | None, **options: Any) -> None:
        """Choose another bundle or options; the next `predictor()` loads it."""
        self.bundle, self.options = bundle, options
        self.reset()

    def reset(self) -> None:
        self._generation += 1
        self._predictor = None

    @property
    def loaded(self) -> Predictor | None:
        """The predictor if one is loaded (never loads)."""
        return self._predictor

    def chosen_bundle(self) -> Path | None:
        if self.bundle is not None and Path(self.bundle).exists():
            return Path(self.bundle)
        if self.bundle is not None:
            self.problem = f"{self.bundle}: no such model bundle"
            return None
        return base_bundle()

    def predictor(self) -> Predictor | None:
        """The loaded Predictor, or None with `problem` saying why (no bundle, broken bundle, no provider)."""
        with self._lock:
            if self._predictor is not None:
                return self._predictor
            generation = self._generation
            bundle = self.chosen_bundle()
            if bundle is None:
                self.problem = self.problem or "no model bundle installed (resources/models is empty)"
                return None
            from geotagger.geocore.inference.card import BundleError
            from geotagger.geocore.inference.predictor import Predictor
            from geotagger.geocore.inference.runtime import ProviderError

            try:
                loaded = Predictor(bundle, **self.options)
            except (BundleError, ProviderError, OSError, ValueError) as error:
                self.problem = f"{bundle.name}: {error}"
                return None
            self.problem = ""
            if generation == self._generation:  # settings changed during the load: serve this caller only
                self._predictor = loaded
            return loaded

    def source_for(self, predictor: Predictor) -> Source:
        """The decision source of this predictor's proposals (fusion ranks personal above planet models)."""
        personal = predictor.bundle.card.training.get("kind") == PERSONAL_KIND
        return Source.PERSONAL_MODEL if personal else Source.MODEL

    def status(self) -> str:
        """One line: the model in use and where it runs, or why there is none."""
        predictor = self._predictor
        if predictor is None:
            return f"No model: {self.problem}" if self.problem else "Model not loaded"
        return f"Model: {predictor.model_id} ({predictor.provider}, {predictor.crops} crop(s))"

