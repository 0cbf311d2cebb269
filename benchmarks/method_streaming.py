"""ISNs and TransLocator streamed through `fit`, side by side with the base multi-task model on the same shards.

    python benchmarks/method_streaming.py [--photos 240] [--rounds 3]

All three train one epoch from the same tar shards (CPU, tiny backbones, 48 px input, batch 16, no workers); the
multi-task run is the reference. Figures are training images per second (min / median / max over the rounds,
interleaved so load drifts hit all three alike) and the ratio of medians to the reference. The data-only rows
iterate the training DataLoader with and without the segmentation cache streamed beside the shards, isolating
what reading and cropping the class maps costs.
"""

from __future__ import annotations

import argparse
import copy
import csv
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geotagger.trainer.data.segmentation_cache import build_shard_cache  # noqa: E402
from geotagger.trainer.segmentation import import_segmentation, load_segmentation, tiny_segmentation_onnx  # noqa: E402
from geotagger.trainer.training.config import config_from_dict  # noqa: E402
from geotagger.trainer.training.distributed import init_distributed  # noqa: E402
from geotagger.trainer.training.loop import build_loaders, fit, load_partitionings  # noqa: E402
from tests.trainer.synthetic import training_setup  # noqa: E402
from tests.trainer.test_method_streaming import _probabilities, _write_tar_shards  # noqa: E402


def prepare(root: Path, photos: int) -> dict[str, dict]:
    """Shards, CSV with scene probabilities, the class-map cache; one run config per method."""
    base = training_setup(root, n_spots=12, per_spot=max(1, photos // 12), size_px=64, epochs=1, batch_size=16,
                          device="cpu")
    rows = list(csv.DictReader((root / "train.csv").read_text().splitlines()))
    with (root / "train.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["IMG_ID", "LAT", "LON", "Prob_indoor", "Prob_natural", "Prob_urban"])
        writer.writerows([r["IMG_ID"], r["LAT"], r["LON"], *_probabilities(i)] for i, r in enumerate(rows))
    shards = _write_tar_shards(root, 4)
    (root / "seg.onnx").write_bytes(tiny_segmentation_onnx(8))
    (root / "classes.txt").write_text("\n".join(f"class{i}" for i in range(8)) + "\n")
    geoseg = import_segmentation(root / "seg.onnx", root / "classes.txt", root / "s.geoseg", input_size_px=32)
    build_shard_cache(load_segmentation(geoseg), [str(shards)], root / "maps", short_side_px=55)
    base["model"].update({"input_size": 48, "eval_resize": 55})
    base["train"] = {"source": "shards", "shards": [str(shards)], "csv": str(root / "train.csv"),
                     "shuffle_buffer": 32, "scene_probabilities": True}
    configs = {"multitask": copy.deepcopy(base), "isn": copy.deepcopy(base), "translocator": copy.deepcopy(base)}
    configs["isn"]["model"]["method"] = "isn"
    configs["translocator"]["model"].update(method="translocator", vit_layout="tiny", segmentation=str(geoseg))
    configs["translocator"]["train"]["segmentation_cache"] = str(root / "maps")
    configs["translocator"]["optim"]["optimizer"] = "adamw"
    return configs


def train_rate(setup: dict) -> float:
    """Training images per second of one epoch (the loop's own figure)."""
    run_dir = fit(config_from_dict(copy.deepcopy(setup)))
    row = next(csv.DictReader((run_dir / "metrics.csv").read_text().splitlines()))
    return float(row["images_per_s"])


def data_rate(setup: dict) -> float:
    """Samples per second of the training DataLoader alone."""
    config = config_from_dict(copy.deepcopy(setup))
    partitionings, _ = load_partitionings(config.model.partitionings)
    loader, _ = build_loaders(config, partitionings, init_distributed("cpu"))
    started, samples = time.perf_counter(), 0
    for batch in loader:
        samples += batch["size"]
    return samples / (time.perf_counter() - started)


def summary(values: list[float]) -> str:
    return f"{min(values):8.1f} {statistics.median(values):8.1f} {max(values):8.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=240)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        configs = prepare(Path(folder), args.photos)
        load_before = os.getloadavg()
        rates: dict[str, list[float]] = {name: [] for name in configs}
        data = {"without maps": [], "with maps": []}
        for _ in range(args.rounds):
            for name, setup in configs.items():
                rates[name].append(train_rate(setup))
            data["without maps"].append(data_rate(configs["isn"]))
            data["with maps"].append(data_rate(configs["translocator"]))
        load_after = os.getloadavg()
    reference = statistics.median(rates["multitask"])
    print(f"{args.photos} photos, 4 tar shards, {args.rounds} rounds; load average {load_before[0]:.1f} -> "
          f"{load_after[0]:.1f}")
    print(f"{'training (img/s)':<28} {'min':>8} {'median':>8} {'max':>8}  ratio")
    for name, values in rates.items():
        print(f"{name:<28} {summary(values)}  {statistics.median(values) / reference:5.2f}")
    print(f"{'DataLoader only (samples/s)':<28}")
    for name, values in data.items():
        ratio = statistics.median(values) / statistics.median(data["without maps"])
        print(f"  {name:<26} {summary(values)}  {ratio:5.2f}")


if __name__ == "__main__":
    main()
