"""Concept influence: the ci score on hand-made maps equals the formula; aggregation per error band; CSV and PNG."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from PIL import Image

from geotagger.trainer.concepts import (
    aggregate,
    concept_influence,
    dilate,
    error_band,
    image_concept_scores,
    plot_png,
    write_csv,
)


def _explanation() -> np.ndarray:
    explanation = np.zeros((10, 10))
    for rank, (y, x) in enumerate([(5, 5), (5, 6), (0, 0), (9, 9)]):
        explanation[y, x] = 10.0 - rank  # the four brightest pixels
    explanation[2, 2] = 0.5  # fifth: outside the top 4
    return explanation


def test_dilation_is_a_disk_of_beta_pixels() -> None:
    mask = np.zeros((7, 7), dtype=bool)
    mask[3, 3] = True
    assert dilate(mask, 0).sum() == 1 and dilate(mask, 1).sum() == 5 and dilate(mask, 2).sum() == 13
    assert dilate(mask, 1)[2, 3] and not dilate(mask, 1)[2, 2]


def test_ci_on_a_hand_made_pair_equals_the_formula() -> None:
    mask = np.zeros((10, 10), dtype=bool)
    mask[5, 5] = True
    # beta 1: the dilated mask is the plus (5 pixels, 5 % of the image); 2 of the top 4 pixels lie in it
    assert concept_influence(_explanation(), mask, k=4, beta_px=1) == pytest.approx((2 / 4) / (5 / 100))
    # beta 0: one pixel (1 %), one of the top 4 in it
    assert concept_influence(_explanation(), mask, k=4, beta_px=0) == pytest.approx((1 / 4) / (1 / 100))
    # k 5 brings in (2, 2), outside the mask
    assert concept_influence(_explanation(), mask, k=5, beta_px=1) == pytest.approx((2 / 5) / (5 / 100))


def test_a_concept_everywhere_scores_chance_and_an_absent_one_nothing() -> None:
    segmentation = np.zeros((10, 10), dtype=np.int64)
    segmentation[:, 8:] = 1  # class 1: two right-hand columns (20 %), holds (9, 9) of the top 4
    scores = image_concept_scores(_explanation(), segmentation, ["sky", "building", "tree"], k=4, beta_px=0)
    assert set(scores) == {"sky", "building"}  # tree is absent
    assert scores["building"] == pytest.approx((1 / 4) / (20 / 100))
    assert scores["sky"] == pytest.approx((3 / 4) / (80 / 100))
    assert math.isnan(concept_influence(_explanation(), np.zeros((10, 10), dtype=bool), 4, 2))
    assert concept_influence(_explanation(), np.ones((10, 10), dtype=bool), 4, 2) == pytest.approx(1.0)


def test_bands_are_the_accuracy_thresholds() -> None:
    assert [error_band(km) for km in (0.5, 1.0, 3, 200, 700, 2500, 9000)] == [
        "1 km", "1 km", "25 km", "200 km", "750 km", "2500 km", "> 2500 km"]


def test_aggregation_orders_by_magnitude_within_each_band(tmp_path) -> None:
    scored = [(0.4, {"sky": 0.5, "building": 3.0}), (0.9, {"sky": 1.5, "building": 1.0, "road": math.nan}),
              (5000.0, {"tree": 2.0, "sky": 0.2})]
    rows = aggregate(scored)
    assert [(row.band, row.concept, row.images) for row in rows] == [
        ("1 km", "building", 2), ("1 km", "sky", 2), ("> 2500 km", "tree", 1), ("> 2500 km", "sky", 1)]
    assert rows[0].mean_ci == pytest.approx(2.0) and rows[1].mean_ci == pytest.approx(1.0)
    written = list(csv.DictReader(write_csv(rows, tmp_path / "ci.csv").open()))
    assert written[0] == {"band": "1 km", "concept": "building", "mean_ci": "2.0000", "images": "2"}
    with Image.open(plot_png(rows, tmp_path / "ci.png")) as image:
        assert image.format == "PNG" and image.height > 60


def test_import_segmentation_and_concepts_end_to_end(tmp_path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from geotagger.geocore.geo.hierarchy import Hierarchy
    from geotagger.geocore.geo.partitioning import build_s2_partitionings
    from geotagger.geocore.inference.card import CropSpec
    from geotagger.trainer.cli.main import main
    from geotagger.trainer.export import CardFields, export_bundle
    from geotagger.trainer.models import build_model
    from geotagger.trainer.segmentation import tiny_segmentation_onnx
    from tests.inference.conftest import clustered_points
    from tests.photo_factory import make_jpeg

    partitionings = build_s2_partitionings(*clustered_points(), 20, [300, 100, 50])
    model = build_model("tiny", [len(p) for p in partitionings], pretrained=False).eval()
    bundle, _ = export_bundle(model, CardFields("ci-test", input_size_px=32, crops=CropSpec(1, "mean", 32)),
                              partitionings, Hierarchy(partitionings), tmp_path / "m.geomodel")
    (tmp_path / "seg.onnx").write_bytes(tiny_segmentation_onnx(4))
    (tmp_path / "classes.txt").write_text("sky\nbuilding\ntree\nroad\n")
    assert main(["import", "segmentation", "--onnx", str(tmp_path / "seg.onnx"), "--classes",
                 str(tmp_path / "classes.txt"), "--out", str(tmp_path / "s.geoseg"), "--input-size", "32"]) == 0
    (tmp_path / "img").mkdir()
    for index in range(2):
        make_jpeg(tmp_path / "img" / f"p{index}.jpg", size=(64, 48), color_seed=index)
    (tmp_path / "truth.csv").write_text("IMG_ID,LAT,LON\np0.jpg,48.8,2.3\np1.jpg,-33.8,151.2\n")
    assert main(["concepts", "--model", str(bundle), "--segmentation", str(tmp_path / "s.geoseg"), "--images",
                 str(tmp_path / "img"), "--csv", str(tmp_path / "truth.csv"), "--out", str(tmp_path / "out"),
                 "--top-k", "50"]) == 0
    rows = list(csv.DictReader((tmp_path / "out" / "concepts.csv").open()))
    assert rows and sum(int(row["images"]) for row in rows) >= 2
    assert {row["concept"] for row in rows} <= {"sky", "building", "tree", "road"}
    assert (tmp_path / "out" / "concepts.png").stat().st_size > 100


def test_a_graph_with_the_wrong_number_of_classes_is_refused(tmp_path) -> None:
    pytest.importorskip("torch")
    from geotagger.trainer.cli.main import main
    from geotagger.trainer.segmentation import tiny_segmentation_onnx

    (tmp_path / "seg.onnx").write_bytes(tiny_segmentation_onnx(5))
    (tmp_path / "classes.txt").write_text("sky\nbuilding\n")
    assert main(["import", "segmentation", "--onnx", str(tmp_path / "seg.onnx"), "--classes",
                 str(tmp_path / "classes.txt"), "--out", str(tmp_path / "s.geoseg"), "--input-size", "32"]) == 1
    assert not (tmp_path / "s.geoseg").exists()
