"""A scene bundle run beside a location bundle that has no scene output (GeoCLIP has none).

The predictor uses one when the location bundle's card has no `scene`: the photo is prepared a second time as the
scene bundle's card says (its own input size and normalisation), both graphs run on the same batch, and the
prediction's scene comes from the companion, labelled with its source. Where no companion is found the location
bundle's own scene is used, and a bundle whose scene comes from the ImageNet mapping says it is that fallback.

Where a companion is found: an explicit path, else `scene.geomodel` beside the location bundle, else in the
shipped models folder (resources/models). Nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from geotagger.geocore.inference.bundle import ModelBundle, load_bundle
from geotagger.geocore.inference.location import aggregate_crops
from geotagger.geocore.inference.preprocess import PreparedPhoto, prepare_photo
from geotagger.geocore.inference.runtime import ModelSession, create_session
from geotagger.geocore.inference.scene import scene_from_class_probabilities
from geotagger.geocore.resources import resource_path

SCENE_BUNDLE_NAME = "scene.geomodel"
FALLBACK_SOURCE = "imagenet_mapping (fallback: ImageNet classes summed to S3, no scene model)"
DETAIL_TOP_K = 5


@dataclass(frozen=True)
class SceneReading:
    """S3 probabilities, where they come from, and the finer levels when the scene model has them."""

    s3: dict[str, float]
    source: str
    detail: dict[str, dict[str, float]] = field(default_factory=dict)  # "S16": all 16, "S365": the top few


@dataclass(frozen=True)
class PreparedWithScene(PreparedPhoto):
    """A photo prepared for the location bundle, plus its crops for the scene companion."""

    scene_crops: npt.NDArray[np.float32] | None = None


def find_scene_bundle(location_bundle: Path) -> Path | None:
    """`scene.geomodel` beside the location bundle, else in resources/models; None when neither exists."""
    for candidate in (Path(location_bundle).parent / SCENE_BUNDLE_NAME, resource_path("models", SCENE_BUNDLE_NAME)):
        if candidate.is_file() and candidate.resolve() != Path(location_bundle).resolve():
            return candidate
    return None


def read_scene(bundle: ModelBundle, outputs: Mapping[str, npt.NDArray[np.float32]], aggregation: str) -> SceneReading:
    """The scene of one photo from `bundle`'s outputs over its crops (an empty reading when it has no scene)."""
    scene = bundle.card.scene
    if scene is None:
        return SceneReading({}, "")
    probabilities = aggregate_crops(outputs[scene.head], aggregation)
    detail: dict[str, dict[str, float]] = {}
    if bundle.scene_weights is not None:
        s3 = scene_from_class_probabilities(probabilities[None, :], bundle.scene_weights)[0]
    else:
        s3 = probabilities
    if bundle.scene_fine_weights is not None and bundle.class_names is not None:
        s16 = scene_from_class_probabilities(probabilities[None, :], bundle.scene_fine_weights)[0]
        detail["S16"] = {label: float(p) for label, p in zip(scene.fine_labels, s16, strict=True)}
        top = np.argsort(-probabilities, kind="stable")[:DETAIL_TOP_K]
        detail["S365"] = {bundle.class_names[i]: float(probabilities[i]) for i in top}
    source = FALLBACK_SOURCE if scene.source == "imagenet_mapping" else f"{scene.source}:{bundle.model_id}"
    return SceneReading({label: float(p) for label, p in zip(scene.labels, s3, strict=True)}, source, detail)


class SceneCompanion:
    """A loaded scene bundle and its session, run on the same photos as the location bundle."""

    def __init__(self, bundle: ModelBundle | str | Path, provider: str = "auto", threads: int | None = None) -> None:
        self.bundle = bundle if isinstance(bundle, ModelBundle) else load_bundle(bundle)
        if self.bundle.card.scene is None:
            raise ValueError(f"{self.bundle.path}: not a scene bundle (its card has no scene)")
        self.session: ModelSession = create_session(self.bundle, provider, threads)

    def attach(self, path: str | Path, photo: PreparedPhoto) -> PreparedWithScene:
        """`photo` with this bundle's crops of the same file (its card's crops, input size and normalisation)."""
        card = self.bundle.card
        crops = prepare_photo(path, card.input, card.crops).crops
        return PreparedWithScene(photo.crops, photo.boxes, photo.resized_size, photo.original_size, crops)

    @property
    def head(self) -> str:
        """The scene bundle's output that the scene is read from."""
        scene = self.bundle.card.scene
        assert scene is not None
        return scene.head

    def run(self, crops: npt.NDArray[np.float32]) -> dict[str, npt.NDArray[np.float32]]:
        """The scene head over a stacked batch of crops."""
        return self.session.run(crops, [self.head])

    def read(self, outputs: Mapping[str, npt.NDArray[np.float32]]) -> SceneReading:
        """One photo's scene from its slice of `run`'s outputs."""
        return read_scene(self.bundle, outputs, self.bundle.card.crops.aggregation)
