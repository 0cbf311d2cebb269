"""The papers' further methods on synthetic tasks built so that each method's premise holds, against its baseline.

    python benchmarks/seed_methods.py [--quick] [--seed N]

1. Individual scene networks (ECCV'18): the colour that marks a place differs by scene type (a different
   permutation per scene), so one set of heads must learn scene x cue interactions, one network per scene need not.
   ISNs(S3) vs the multi-task net on the same frozen random trunk (batch-norm statistics from the training images),
   same optimiser and steps: only the heads and the routing differ. (With a trainable trunk both learn the
   conjunctions on a task this small; the frozen trunk makes the capacity of the heads the question.)
2. TransLocator (ECCV'22): the place is carried by which segment class lies where (top / bottom); region colours
   are random, so the RGB image alone cannot tell. Dual branch (+ Seg + MFF) vs RGB-only ViT (same layout).
3. Concept influence (SemP, WACV'22): only the 'building' region's colour carries the place; the ci ranking of a
   trained CNN's class activation maps (exact for GAP + linear heads) should put 'building' first.

Places are eight cities; a prediction is the predicted city's location; tables give the percentage of test images
within 1 / 25 / 200 / 750 / 2500 km, as the papers do. --quick: fewer images and epochs (under 3 minutes).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geotagger.geocore.geo.distance import haversine_km  # noqa: E402
from geotagger.trainer.concepts import ERROR_THRESHOLDS_KM, aggregate, image_concept_scores  # noqa: E402
from geotagger.trainer.models import build_model  # noqa: E402
from geotagger.trainer.models.isn import build_isn_model, fit_isn  # noqa: E402
from geotagger.trainer.models.translocator import TransLocator, VitConfig, fit_translocator  # noqa: E402
from geotagger.trainer.training.loss import geo_scene_loss  # noqa: E402

CITIES = np.array([(48.86, 2.35), (40.71, -74.01), (-33.87, 151.21), (35.68, 139.69), (30.04, 31.24),
                   (-22.91, -43.17), (55.76, 37.62), (-33.92, 18.42)])
PALETTE = np.random.default_rng(1234).uniform(-1.5, 1.5, (len(CITIES), 3))


def accuracy_row(predicted: np.ndarray, truth: np.ndarray) -> list[float]:
    """Percent of images within each threshold, predicted/true city indices -> great-circle errors."""
    errors = haversine_km(CITIES[predicted, 0], CITIES[predicted, 1], CITIES[truth, 0], CITIES[truth, 1])
    errors = errors + 0.3  # a photo lies ~0.3 km from its city's mean location: the street level is not free
    return [100.0 * float(np.mean(errors <= threshold)) for threshold in ERROR_THRESHOLDS_KM]


def print_table(title: str, rows: dict[str, list[float]]) -> None:
    print(f"\n{title}\n| model | " + " | ".join(f"{t:g} km" for t in ERROR_THRESHOLDS_KM) + " |")
    print("|---|" + "---|" * len(ERROR_THRESHOLDS_KM))
    for name, values in rows.items():
        print(f"| {name} | " + " | ".join(f"{v:.1f}" for v in values) + " |")


def fit_multitask(model: torch.nn.Module, images: torch.Tensor, geo: torch.Tensor, scene: torch.Tensor | None,
                  epochs: int, lr: float = 0.05, batch_size: int = 32, seed: int = 0,
                  freeze_backbone: bool = False) -> torch.nn.Module:
    """The baseline's loop: SGD on the multi-task loss (the same optimiser and steps as fit_isn)."""
    for parameter in model.backbone.parameters():  # type: ignore[union-attr]
        parameter.requires_grad_(not freeze_backbone)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr, momentum=0.9)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    if freeze_backbone:
        model.backbone.eval()  # type: ignore[union-attr]
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=generator)
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            loss, _ = geo_scene_loss(model(images[batch]), geo[batch], None if scene is None else scene[batch], 1.0)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def calibrated(model: torch.nn.Module, images: torch.Tensor) -> torch.nn.Module:
    """Batch-norm statistics of the random trunk measured on the training images (a random-feature trunk whose
    features are standardised; it is then frozen, identical for both models)."""
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None  # cumulative average over the pass
            module.reset_running_stats()
    model.train()
    with torch.no_grad():
        model.backbone.forward_features(images)  # type: ignore[union-attr, operator]
    return model.eval()


def scene_task(n: int, rng: np.random.Generator, size: int = 16) -> tuple[torch.Tensor, ...]:
    """Background channel = scene; centre patch colour = PALETTE[perm_scene[city]]."""
    permutations = [np.arange(8), np.array([3, 0, 1, 2, 7, 4, 5, 6]), np.array([5, 6, 7, 4, 1, 2, 3, 0])]
    scene, city = rng.integers(0, 3, n), rng.integers(0, 8, n)
    images = rng.normal(0, 0.3, (n, 3, size, size))
    images[np.arange(n), scene] += 1.0
    colours = PALETTE[[permutations[s][c] for s, c in zip(scene, city, strict=True)]]
    low, high = size // 4, size - size // 4
    images[:, :, low:high, low:high] = colours[:, :, None, None] + rng.normal(0, 0.2, (n, 3, high - low, high - low))
    probabilities = np.full((n, 3), 0.1)
    probabilities[np.arange(n), scene] = 0.8
    return (torch.tensor(images, dtype=torch.float32), torch.tensor(city)[:, None], torch.tensor(scene),
            torch.tensor(probabilities, dtype=torch.float32))


def run_isn(n_train: int, n_test: int, epochs: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    train, test = scene_task(n_train, rng), scene_task(n_test, rng)
    torch.manual_seed(seed)
    base = fit_multitask(calibrated(build_model("tiny", [8], scene_classes=3, pretrained=False), train[0]),
                         train[0], train[1], train[2], epochs, lr=0.5, seed=seed, freeze_backbone=True)
    torch.manual_seed(seed)  # the same random trunk, frozen in both: only the heads and the routing differ
    isn = fit_isn(calibrated(build_isn_model("tiny", [8], pretrained=False), train[0]), train[0], train[1],
                  train[3], epochs=epochs, lr=0.5, seed=seed, freeze_backbone=True)
    with torch.no_grad():
        base_pred = base(test[0])["geo_0"].argmax(1).numpy()
        outputs = isn(test[0])
        isn_pred = isn.routed(outputs)["geo_0"].argmax(1).numpy()
        scene_accuracy = float((outputs["scene"].argmax(1) == test[2]).float().mean())
    truth = test[1][:, 0].numpy()
    print_table(f"Individual scene networks (cues differ by scene; {n_train} train / {n_test} test images, "
                f"scene routing accuracy {100 * scene_accuracy:.1f} %)",
                {"base(M) multi-task, frozen tiny CNN": accuracy_row(base_pred, truth),
                 "ISNs(M, S3), frozen tiny CNN": accuracy_row(isn_pred, truth)})


def layout_task(n: int, rng: np.random.Generator, size: int = 16) -> tuple[torch.Tensor, ...]:
    """Top/bottom halves of classes (a, b) with random colours; city = (4a + b) mod 8."""
    top, bottom = rng.integers(0, 4, n), rng.integers(0, 4, n)
    classes = np.zeros((n, size, size), dtype=np.int64)
    classes[:, : size // 2] = top[:, None, None]
    classes[:, size // 2:] = bottom[:, None, None]
    images = rng.normal(0, 0.2, (n, 3, size, size))
    images[:, :, : size // 2] += rng.uniform(-1, 1, (n, 3, 1, 1))
    images[:, :, size // 2:] += rng.uniform(-1, 1, (n, 3, 1, 1))
    city = (4 * top + bottom) % 8
    return (torch.tensor(images, dtype=torch.float32), torch.tensor(classes), torch.tensor(city)[:, None])


def run_translocator(n_train: int, n_test: int, epochs: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    train, test = layout_task(n_train, rng), layout_task(n_test, rng)
    rows = {}
    for name, options in (("ViT RGB only (tiny)", {"rgb_only": True}), ("+ Seg (tiny)", {"fusion": False}),
                          ("+ Seg + MFF, TransLocator (tiny)", {})):
        torch.manual_seed(seed)
        model = TransLocator(VitConfig.tiny(16), [8], segmentation_classes=4, scene_classes=None, **options)
        fit_translocator(model, train[0], train[1], train[2], epochs=epochs, lr=3e-3, seed=seed)
        with torch.no_grad():
            predicted = model(test[0], test[1])["geo_0"].argmax(1).numpy()
        rows[name] = accuracy_row(predicted, test[2][:, 0].numpy())
    print_table(f"TransLocator (place carried by the segment layout; {n_train} train / {n_test} test images)", rows)


CONCEPTS = ("sky", "building", "road")


def concept_task(n: int, rng: np.random.Generator, size: int = 32) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """Sky / building / road bands of random heights, in random order; only the building's colour marks the city."""
    city = rng.integers(0, 8, n)
    images = rng.normal(0, 0.2, (n, 3, size, size))
    classes = np.zeros((n, size, size), dtype=np.int64)
    for index in range(n):
        first, second = sorted(rng.choice(np.arange(6, size - 5), 2, replace=False))
        order = rng.permutation(3)  # which concept lies on top, in the middle, at the bottom: position tells nothing
        classes[index, :first], classes[index, first:second], classes[index, second:] = order
        for concept in range(3):
            colour = PALETTE[city[index]] if concept == 1 else rng.uniform(-1.5, 1.5, 3)
            images[index][:, classes[index] == concept] += colour[:, None]
    return torch.tensor(images, dtype=torch.float32), classes, city


def run_concepts(n_train: int, n_test: int, epochs: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    train_images, _, train_city = concept_task(n_train, rng)
    test_images, test_classes, test_city = concept_task(n_test, rng)
    torch.manual_seed(seed)
    model = fit_multitask(build_model("tiny", [8], pretrained=False), train_images,
                          torch.tensor(train_city)[:, None], None, epochs, seed=seed)
    with torch.no_grad():
        feature_map = model.forward_features(test_images)
        predicted = model.forward_head(feature_map)["geo_0"].argmax(1)
        head = model.heads["geo_0"]
        cams = torch.einsum("nc,nchw->nhw", head.weight[predicted], feature_map)  # + bias: no effect on ranking
        cams = functional.interpolate(cams[:, None], size=test_images.shape[-2:], mode="bilinear",
                                      align_corners=False)[:, 0].numpy()
    errors = haversine_km(CITIES[predicted.numpy(), 0], CITIES[predicted.numpy(), 1], CITIES[test_city, 0],
                          CITIES[test_city, 1]) + 0.3
    top_k = int(0.1 * cams[0].size)
    rows = aggregate((float(error), image_concept_scores(cam, classes, CONCEPTS, k=top_k, beta_px=1))
                     for error, cam, classes in zip(errors, cams, test_classes, strict=True))
    accuracy = accuracy_row(predicted.numpy(), test_city)
    print(f"\nConcept influence (only the building's colour marks the place; CNN accuracy within 25 km "
          f"{accuracy[1]:.1f} %; top 10 % of CAM pixels, beta 1 px)\n| error band | concept | mean ci | images |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row.band} | {row.concept} | {row.mean_ci:.2f} | {row.images} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer images and epochs (under 3 minutes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=("isn", "translocator", "concepts"), help="one method's table")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    n_train, n_test, epochs = (400, 200, 8) if args.quick else (3000, 1000, 30)
    only = {"isn": run_isn, "translocator": run_translocator, "concepts": run_concepts}
    for run in [only[args.only]] if args.only else only.values():
        started = time.perf_counter()
        run(n_train, n_test, epochs, args.seed)
        print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
