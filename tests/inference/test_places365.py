"""Places365 scene bundle from a randomly initialised ResNet-18 of the published layout and files made here; the
predictor combines it with a location bundle that has no scene output; the ImageNet mapping stays the fallback."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from geotagger.geocore.inference.bundle import load_bundle  # noqa: E402
from geotagger.geocore.inference.companion import FALLBACK_SOURCE, SCENE_BUNDLE_NAME  # noqa: E402
from geotagger.geocore.inference.predictor import Predictor  # noqa: E402
from geotagger.trainer.importers.places365 import S16_LABELS, Places365Error, ResNet18  # noqa: E402
from tests.inference.conftest import TINY_INPUT_PX  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"
PHOTO = SAMPLES / "chelsea_the_cat.jpg"


def _flags(index: int) -> list[int]:
    s3 = [0, 0, 0]
    s3[index % 3] = 1
    if index % 7 == 0:
        s3[(index + 1) % 3] = 1  # in two super-categories: half the probability each
    s16 = [0] * 16
    s16[index % 16] = 1
    return s3 + s16


@pytest.fixture(scope="module")
def places_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("places")
    torch.manual_seed(0)
    model = ResNet18().eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 2.0)
    state = {f"module.{key}": value for key, value in model.state_dict().items()}
    torch.save({"epoch": 90, "arch": "resnet18", "state_dict": state}, folder / "resnet18_places365.pth.tar")
    names = [f"/{chr(97 + i % 26)}/scene_{i:03d}" + ("/outdoor" if i % 5 == 0 else "") for i in range(365)]
    (folder / "categories_places365.txt").write_text("".join(f"{n} {i}\n" for i, n in enumerate(names)))
    with open(folder / "hierarchy.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["category", "level1", "", "", "level2"] + [""] * 15)
        writer.writerow(["", "indoor", "outdoor, natural", "outdoor, man-made", *S16_LABELS])
        for index, name in enumerate(names):
            writer.writerow([f"'{name}'", *_flags(index)])
    return {"weights": folder / "resnet18_places365.pth.tar", "categories": folder / "categories_places365.txt",
            "hierarchy": folder / "hierarchy.csv", "folder": folder}


@pytest.fixture(scope="module")
def scene_bundle(places_files: dict[str, Path]) -> Path:
    from geotagger.trainer.cli.main import main

    out = places_files["folder"] / "models" / SCENE_BUNDLE_NAME
    assert main(["import", "places365", "--weights", str(places_files["weights"]), "--categories",
                 str(places_files["categories"]), "--hierarchy", str(places_files["hierarchy"]),
                 "--out", str(out)]) == 0
    return out


def test_scene_bundle_gives_s365_s16_s3(scene_bundle: Path) -> None:
    bundle = load_bundle(scene_bundle)
    assert bundle.card.scene is not None and bundle.card.scene.source == "places365"
    assert bundle.card.scene.fine_labels == S16_LABELS and bundle.card.feature_map_output == "feature_map"
    assert bundle.class_names[5] == "scene_005/outdoor"
    assert bundle.scene_weights[7].tolist() == [0.0, 0.5, 0.5] and bundle.scene_weights[1].tolist() == [0, 1, 0]
    assert bundle.scene_fine_weights[17, 1] == 1.0
    prediction = Predictor(bundle, provider="cpu").predict_path(PHOTO)
    assert prediction.ok and prediction.scene_source == "places365:places365-resnet18"
    assert sum(prediction.scene.values()) == pytest.approx(1.0)
    assert sum(prediction.scene_detail["S16"].values()) == pytest.approx(1.0)
    assert len(prediction.scene_detail["S365"]) == 5
    # S3 is the class probabilities summed through the hierarchy
    raw = Predictor(bundle, provider="cpu").session.run(Predictor(bundle).prepare(PHOTO).crops, ["places365"])
    expected = raw["places365"].mean(axis=0) @ bundle.scene_weights
    assert list(prediction.scene.values()) == pytest.approx(list(expected / expected.sum()), abs=1e-6)
    saliency = Predictor(bundle, provider="cpu").saliency(PHOTO, preview_long_px=96)
    assert saliency.target.startswith("scene:") and saliency.map.max() <= 1.0


def test_onnx_matches_the_torch_layers(places_files: dict[str, Path], scene_bundle: Path) -> None:
    from geotagger.geocore.inference.runtime import import_onnxruntime
    from geotagger.trainer.importers.places365 import load_weights

    model = load_weights(places_files["weights"])
    images = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        expected = model(images)[0].numpy()
    session = import_onnxruntime().InferenceSession(load_bundle(scene_bundle).model_bytes)
    assert np.max(np.abs(session.run(["places365"], {"image": images.numpy()})[0] - expected)) < 1e-2


def test_location_bundle_without_scene_is_combined(scene_bundle: Path, tiny_partitionings, tmp_path: Path) -> None:
    from geotagger.geocore.inference.card import CropSpec
    from geotagger.trainer.export import CardFields, export_bundle
    from geotagger.trainer.models import build_model

    torch.manual_seed(1)
    model = build_model("tiny", [len(p) for p in tiny_partitionings]).eval()
    from geotagger.geocore.geo.hierarchy import Hierarchy

    location = scene_bundle.parent / "location.geomodel"
    export_bundle(model, CardFields("tiny-no-scene", input_size_px=TINY_INPUT_PX, crops=CropSpec(3, "mean", 72)),
                  tiny_partitionings, Hierarchy(tiny_partitionings), location)
    combined = Predictor(location, provider="cpu").predict_path(PHOTO)  # scene.geomodel beside it: found
    alone = Predictor(scene_bundle, provider="cpu").predict_path(PHOTO)
    assert combined.ok and combined.hierarchy_top and combined.scene_source == alone.scene_source
    assert combined.scene == pytest.approx(alone.scene) and combined.scene_detail["S16"] == pytest.approx(
        alone.scene_detail["S16"])
    batch = list(Predictor(location, provider="cpu", batch_photos=3).predict_paths(sorted(SAMPLES.glob("*.jpg"))))
    assert all(p.ok and p.scene_source.startswith("places365") for p in batch)
    assert Predictor(location, provider="cpu", scene_bundle=None).predict_path(PHOTO).scene == {}


def test_imagenet_mapping_is_labelled_as_the_fallback() -> None:
    base = Path(__file__).resolve().parents[2] / "resources" / "models" / "base.geomodel"
    if not base.is_file():
        pytest.skip("no base bundle in resources/models")
    prediction = Predictor(base, provider="cpu").predict_path(PHOTO)
    assert prediction.scene_source == FALLBACK_SOURCE and "fallback" in prediction.scene_source


def test_bad_inputs_are_named(places_files: dict[str, Path], tmp_path: Path) -> None:
    from geotagger.trainer.importers.places365 import import_places365

    short = tmp_path / "categories.txt"
    short.write_text("".join(f"/a/x{i} {i}\n" for i in range(364)))
    with pytest.raises(Places365Error, match="0..364"):
        import_places365(places_files["weights"], short, places_files["hierarchy"], tmp_path / "x.geomodel")
    broken = tmp_path / "broken.pth.tar"
    torch.save({"state_dict": {"conv1.weight": torch.zeros(64, 3, 7, 7)}}, broken)
    with pytest.raises(Places365Error, match="not a Places365 ResNet-18"):
        import_places365(broken, places_files["categories"], places_files["hierarchy"], tmp_path / "x.geomodel")
    assert not (tmp_path / "x.geomodel").exists()
