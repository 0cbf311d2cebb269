"""End-to-end prediction throughput on generated 12 MP JPEGs, side by side with its references (2 cores).

    python benchmarks/predict.py [--count 200] [--model resources/models/base.geomodel] [--crops N]
    python benchmarks/predict.py --kinds [--count 64] [--planet P] [--scene S]   photos/s per bundle kind (CPU)

Prints photos/s of
  ours       geocore Predictor: DCT-scaled decoding in 2 worker threads overlapped with onnxruntime inference;
  same       (a1) same model, same crops: the bundle's ONNX model in onnxruntime (same threads), full PIL decode,
             resize and the same crops as ours, one photo at a time: what the engineering (draft decode, overlap,
             batching) gains, with model, precision, runtime and crop count held equal;
  paper      (a2) the paper's protocol: full PIL decode, resize short side to 256, five 224 crops, the float32
             network in torch eager mode; it mixes crop count, precision and runtime, so its ratio is not ours alone;
  bound      (b) an independent decode-only loop: Pillow `draft` to the short side the crops need, convert to RGB,
             2 threads, no resize, no crops, no model; no geocore code, so the ratio is not circular;
every round of each (interleaved) and min/median/max over the rounds, and the ratios ours/(a1), ours/(a2)
(target >= 5x) and ours/(b) (target >= 85%), on the medians, with the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
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
    from geotagger.trainer.export import build_base_bundle

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
    from geotagger.geocore.inference.predictor import Predictor

    predictor = Predictor(bundle, provider="cpu", crops=crops, threads=CORES, decode_workers=CORES, batch_photos=8)
    list(predictor.predict_paths(paths[:8]))  # warm-up: session, thread pool, page cache
    with Timer() as timer:
        results = list(predictor.predict_paths(paths))
    assert all(result.ok for result in results), [r.error for r in results if not r.ok][:3]
    return timer.rates(len(paths))


def run_decode_bound(paths: list[Path], short_px: int) -> tuple[float, float]:
    """(b): decoding alone, independently of geocore: Pillow draft to `short_px`, RGB, 2 threads."""

    def decode(path: Path) -> None:
        with Image.open(path) as image:
            scale = short_px / min(image.size)
            image.draft("RGB", (int(image.width * scale) + 1, int(image.height * scale) + 1))
            image.convert("RGB").load()

    with ThreadPoolExecutor(CORES) as pool:
        list(pool.map(decode, paths[:8]))
        with Timer() as timer:
            list(pool.map(decode, paths))
        return timer.rates(len(paths))


def run_same_model(bundle_path: Path, paths: list[Path], crops: int | None) -> tuple[float, float]:
    """(a1): the same ONNX model and crops as ours, straightforwardly: full decode, one photo at a time."""
    from PIL import ImageOps

    from geotagger.geocore.inference.bundle import load_bundle
    from geotagger.geocore.inference.preprocess import crop_boxes, resized_dimensions, target_short_side
    from geotagger.geocore.inference.runtime import create_session

    bundle = load_bundle(bundle_path)
    card = bundle.card
    count = crops or card.crops.count
    session = create_session(bundle, "cpu", CORES)
    mean, std = np.asarray(card.input.mean, np.float32), np.asarray(card.input.std, np.float32)

    def predict(path: Path) -> None:
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGB")
        size = resized_dimensions(*image.size, target_short_side(card.crops, card.input.size_px, count))
        pixels = np.asarray(image.resize(size, Image.Resampling.BILINEAR), dtype=np.float32)
        boxes = crop_boxes(*size, count, card.input.size_px)
        batch = np.stack([pixels[top:bottom, left:right] for left, top, right, bottom in boxes])
        session.run(np.ascontiguousarray(((batch / 255 - mean) / std).transpose(0, 3, 1, 2), dtype=np.float32))

    predict(paths[0])
    with Timer() as timer:
        for path in paths:
            predict(path)
    return timer.rates(len(paths))


def run_reference(paths: list[Path]) -> tuple[float, float]:
    """(a2): what a straightforward PyTorch script does (the paper's five crops, torch eager)."""
    import torch
    from PIL import ImageOps

    from geotagger.trainer.models import build_imagenet_model

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


def spread(values: list[float]) -> str:
    """min / median / max."""
    return f"{min(values):>8.2f}{statistics.median(values):>8.2f}{max(values):>8.2f}"


def print_table(rounds: dict[str, list[tuple[float, float]]], load: float) -> None:
    """Every pipeline over the rounds (min/median/max), and the ratios of the medians, wall and CPU time."""
    labels = {
        "ours": "ours (draft decode || onnxruntime)",
        "same": "(a1) same model, same crops, full decode",
        "reference": "(a2) paper's protocol: 5 crops, f32 torch",
        "bound": "(b) decode only: Pillow draft, 2 threads",
    }
    print(f"{'photos/s over the rounds':<46}{'min':>8}{'median':>8}{'max':>8}{'CPU ms/photo (median)':>24}")
    for name, label in labels.items():
        print(f"{label:<46}{spread([r[0] for r in rounds[name]])}"
              f"{statistics.median(r[1] for r in rounds[name]):>24.1f}")
    median = {name: (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
              for name, runs in rounds.items()}
    ours = median["ours"]
    for name, text in (("same", "(a1) same model, same crops"), ("reference", "(a2) the paper's protocol")):
        other = median[name]
        print(f"ours / {text} = {ours[0] / other[0]:.2f}x wall, {other[1] / ours[1]:.2f}x by CPU time (target >= 5x)")
    bound = median["bound"]
    print(f"ours / (b) decode-only bound = {100 * ours[0] / bound[0]:.0f}% wall, {100 * bound[1] / ours[1]:.0f}% by "
          f"CPU time (target >= 85%); load average at the end {load:.1f} on {CORES} cores")


def main() -> int:
    if "--kinds" in sys.argv[1:]:  # photos/s for each bundle kind (base, planet, scene, planet+scene), 2 CPU cores
        from benchmarks.gpu import main as kinds_main

        limit_to_cores(CORES)
        return kinds_main([arg for arg in sys.argv[1:] if arg != "--kinds"], default_provider="cpu")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200, help="generated 12 MP JPEGs (default 200)")
    parser.add_argument("--reference-count", type=int, default=40, help="photos timed for (a1) and (a2)")
    parser.add_argument("--model", type=Path, default=REPO / "resources" / "models" / "base.geomodel")
    parser.add_argument("--crops", type=int, choices=(1, 3, 5), help="override the card's crops for 'ours'")
    parser.add_argument("--photos", type=Path, default=Path(tempfile.gettempdir()) / "geotag-bench-12mp")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds, all reported (default 3)")
    args = parser.parse_args()
    limit_to_cores(CORES)
    bundle = ensure_base_bundle(args.model)
    paths = generate_photos(args.photos, args.count)
    from geotagger.geocore.inference.bundle import read_card

    precision = str(read_card(bundle).training.get("precision", "float32")).split(" ")[0]
    print(f"{len(paths)} JPEGs of 4000x3000 in {args.photos}, {CORES} cores, model {bundle.name} ({precision}), "
          f"crops {args.crops or 'from the card'}; reference timed on {min(args.reference_count, len(paths))} photos")
    # Rounds interleave the pipelines, so that load from other processes on a shared machine falls on all of them;
    # every round is kept and reported (no best-of).
    reference_paths = paths[: max(2, min(args.reference_count, len(paths)))]
    card = read_card(bundle)
    count = args.crops or card.crops.count
    short_px = card.input.size_px if count == 3 else card.crops.resize_short_px
    rounds: dict[str, list[tuple[float, float]]] = {}
    runs = {
        "ours": lambda: run_ours(bundle, paths, args.crops),
        "same": lambda: run_same_model(bundle, reference_paths, args.crops),
        "reference": lambda: run_reference(reference_paths),
        "bound": lambda: run_decode_bound(paths, short_px),
    }
    for round_index in range(max(1, args.repeat)):
        for name, run in runs.items():
            rounds.setdefault(name, []).append(run())
        figures = ", ".join(f"{name} {rounds[name][-1][0]:.2f}" for name in runs)
        print(f"round {round_index + 1}: {figures} photos/s   load {os.getloadavg()[0]:.2f}")
    print_table(rounds, os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
