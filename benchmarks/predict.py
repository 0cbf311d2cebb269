"""End-to-end prediction throughput on generated 12 MP JPEGs, side by side with its references (2 cores).

    python benchmarks/predict.py [--count 200] [--model resources/models/base.geomodel] [--crops N]
    python benchmarks/predict.py --kinds [--count 64] [--planet P] [--scene S]   photos/s per bundle kind (CPU)

Prints photos/s of
  ours       geocore Predictor: DCT-scaled decoding in 2 worker threads overlapped with onnxruntime inference;
  reference  (a) full PIL decode, resize short side to 256, five 224 crops, the same network in torch eager mode;
  bound      (b) geocore's draft decoding + preprocessing of the same files with 2 workers and no model;
and the ratios ours/reference (target >= 5x) and ours/bound (target >= 85%).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CORES = 2


def limit_to_cores(cores: int) -> None:
    """Pin the process to `cores` CPUs so the figures mean '2 cores' on any machine."""
    if hasattr(os, "sched_setaffinity"):
        available = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, set(available[:cores]))


def generate_photos(folder: Path, count: int, size: tuple[int, int] = (4000, 3000)) -> list[Path]:
    """`count` distinct 12 MP camera-like JPEGs (gradients, texture, noise), reused when already there."""
    folder.mkdir(parents=True, exist_ok=True)
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([xx / width * 200, yy / height * 200, (np.sin(xx / 37) * np.cos(yy / 23) + 1) * 100], -1)
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 10, size=(height, width, 3)).astype(np.float32)
    paths = []
    for index in range(count):
        path = folder / f"photo_{index:04d}.jpg"
        if not path.exists():
            shifted = np.roll(base + noise, shift=index * 97, axis=1) + rng.uniform(-30, 30, 3).astype(np.float32)
            Image.fromarray(np.clip(shifted, 0, 255).astype(np.uint8)).save(path, "JPEG", quality=92)
        paths.append(path)
    return paths


def ensure_base_bundle(path: Path) -> Path:
    """The base bundle, built into a temp folder when it is not in resources/models."""
    if path.is_file():
        return path
    from trainer.export import build_base_bundle

    built = Path(tempfile.gettempdir()) / "geotag-bench-base.geomodel"
    if not built.is_file():
        print(f"building the base bundle at {built} ...", file=sys.stderr)
        build_base_bundle(built)
    return built


class Timer:
    """Wall-clock and process CPU time (all threads) of a block."""

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu

    def rates(self, count: int) -> tuple[float, float]:
        """(photos per second, CPU milliseconds per photo)."""
        return count / self.wall, 1000 * self.cpu / count


def run_ours(bundle: Path, paths: list[Path], crops: int | None) -> tuple[float, float]:
    from geocore.inference.predictor import Predictor

    predictor = Predictor(bundle, provider="cpu", crops=crops, threads=CORES, decode_workers=CORES, batch_photos=8)
    list(predictor.predict_paths(paths[:8]))  # warm-up: session, thread pool, page cache
    with Timer() as timer:
        results = list(predictor.predict_paths(paths))
    assert all(result.ok for result in results), [r.error for r in results if not r.ok][:3]
    return timer.rates(len(paths))


def run_bound(bundle: Path, paths: list[Path], crops: int | None) -> tuple[float, float]:
    from geocore.inference.bundle import load_bundle
    from geocore.inference.preprocess import prepare_photo

    card = load_bundle(bundle).card
    count = crops or card.crops.count
    with ThreadPoolExecutor(CORES) as pool:
        list(pool.map(lambda p: prepare_photo(p, card.input, card.crops, count), paths[:8]))
        with Timer() as timer:
            list(pool.map(lambda p: prepare_photo(p, card.input, card.crops, count), paths))
        return timer.rates(len(paths))


def run_reference(paths: list[Path]) -> tuple[float, float]:
    """(a): what a straightforward PyTorch script does (the reference's five crops, torch eager)."""
    import torch
    from PIL import ImageOps

    from trainer.models import build_imagenet_model

    torch.set_num_threads(CORES)
    model = build_imagenet_model().eval()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def predict(path: Path) -> None:
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGB")
        scale = 256 / min(image.size)
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BILINEAR)
        w, h = image.size
        boxes = [(0, 0), (w - 224, 0), (0, h - 224), (w - 224, h - 224), ((w - 224) // 2, (h - 224) // 2)]
        crops = np.stack([np.asarray(image.crop((x, y, x + 224, y + 224)), dtype=np.float32) / 255 for x, y in boxes])
        batch = (torch.from_numpy(crops).permute(0, 3, 1, 2) - mean) / std
        with torch.no_grad():
            torch.softmax(model(batch)["imagenet"], -1).max(0)

    predict(paths[0])
    with Timer() as timer:
        for path in paths:
            predict(path)
    return timer.rates(len(paths))


def print_table(best: dict[str, tuple[float, float]], load: float) -> None:
    """The figures side by side, wall-clock ratios and the CPU-time ratios that load from others cannot skew."""
    labels = {
        "ours": "ours (draft decode || onnxruntime)",
        "reference": "(a) reference: full decode, 5 crops, torch",
        "bound": "(b) bound: draft decode, 2 workers, no model",
    }
    print(f"{'pipeline':<46}{'photos/s':>10}{'CPU ms/photo':>14}")
    for name, label in labels.items():
        print(f"{label:<46}{best[name][0]:>10.2f}{best[name][1]:>14.1f}")
    ours, reference, bound = best["ours"], best["reference"], best["bound"]
    print(f"ours / (a) = {ours[0] / reference[0]:.2f}x wall, {reference[1] / ours[1]:.2f}x by CPU time (target >= 5x)")
    print(f"ours / (b) = {100 * ours[0] / bound[0]:.0f}% wall, {100 * bound[1] / ours[1]:.0f}% by CPU time "
          f"(target >= 85%); load average at the end {load:.1f} on {CORES} cores")


def main() -> int:
    if "--kinds" in sys.argv[1:]:  # photos/s for each bundle kind (base, planet, scene, planet+scene), 2 CPU cores
        from benchmarks.gpu import main as kinds_main

        limit_to_cores(CORES)
        return kinds_main([arg for arg in sys.argv[1:] if arg != "--kinds"], default_provider="cpu")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200, help="generated 12 MP JPEGs (default 200)")
    parser.add_argument("--reference-count", type=int, default=40, help="photos timed for the slow reference (a)")
    parser.add_argument("--model", type=Path, default=REPO / "resources" / "models" / "base.geomodel")
    parser.add_argument("--crops", type=int, choices=(1, 3, 5), help="override the card's crops for 'ours'")
    parser.add_argument("--photos", type=Path, default=Path(tempfile.gettempdir()) / "geotag-bench-12mp")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds; the best round counts (default 3)")
    args = parser.parse_args()
    limit_to_cores(CORES)
    bundle = ensure_base_bundle(args.model)
    paths = generate_photos(args.photos, args.count)
    from geocore.inference.bundle import read_card

    precision = str(read_card(bundle).training.get("precision", "float32")).split(" ")[0]
    print(f"{len(paths)} JPEGs of 4000x3000 in {args.photos}, {CORES} cores, model {bundle.name} ({precision}), "
          f"crops {args.crops or 'from the card'}; reference timed on {min(args.reference_count, len(paths))} photos")
    # Rounds interleave the three pipelines and the best round of each counts, so that load from other processes
    # on a shared machine disturbs the ratios as little as possible.
    reference_paths = paths[: max(2, min(args.reference_count, len(paths)))]
    best: dict[str, tuple[float, float]] = {}
    runs = {
        "ours": lambda: run_ours(bundle, paths, args.crops),
        "reference": lambda: run_reference(reference_paths),
        "bound": lambda: run_bound(bundle, paths, args.crops),
    }
    for round_index in range(max(1, args.repeat)):
        for name, run in runs.items():
            rate, cpu_ms = run()
            if rate > best.get(name, (0.0, 0.0))[0]:
                best[name] = (rate, cpu_ms)
        figures = ", ".join(f"{name} {best[name][0]:.2f}" for name in runs)
        print(f"round {round_index + 1}: {figures} photos/s (best so far)")
    print_table(best, os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
