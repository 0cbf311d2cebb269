"""End-to-end prediction time for each bundle kind on CUDA (or CPU), one table; unattended.

    python benchmarks/gpu.py [--provider cuda|cpu] [--count 64] [--base B] [--planet P] [--scene S]

Kinds: base (ImageNet EfficientNet-Lite0, int8), planet (GeoCLIP ViT-L/14 bundle from `geotag-train import
geoclip`), scene (Places365 ResNet-18 from `geotag-train import places365`), planet+scene (the predictor combining
them). Each row: bundle size, load time (bundle + session), the provider really used, photos/s over generated
12 MP JPEGs through the public Predictor (decode threads overlapped with inference, batches of 8). A bundle that is
not there is listed as missing; nothing is downloaded. With `--provider cuda` and no usable GPU the rows say "cpu"
(the app's quiet fallback), they do not fail. Exit status 0 whenever the table was printed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
MODELS = REPO / "resources" / "models"


@dataclass
class Row:
    """One bundle kind's figures."""

    kind: str
    bundle: str
    size_mb: float | None = None
    load_s: float | None = None
    provider: str = ""
    photos_per_s: float | None = None
    note: str = ""


def time_kind(kind: str, bundle: Path, scene: Path | None, provider: str, photos: list[Path]) -> Row:
    """Load `bundle` (with `scene` as companion, or none), warm up, time `photos`."""
    from geotagger.geocore.inference.predictor import Predictor

    row = Row(kind, bundle.name)
    if not bundle.is_file() or (scene is not None and not scene.is_file()):
        row.note = "missing (not built here)"
        return row
    row.size_mb = (bundle.stat().st_size + (scene.stat().st_size if scene else 0)) / 1e6
    start = time.perf_counter()
    try:
        predictor = Predictor(bundle, provider=provider, scene_bundle=scene, batch_photos=8)
    except Exception as error:  # a provider that cannot start is a figure too
        row.note = f"cannot load: {error}"
        return row
    row.load_s, row.provider = time.perf_counter() - start, predictor.provider
    list(predictor.predict_paths(photos[:8]))  # warm-up: session allocations, page cache
    start = time.perf_counter()
    results = list(predictor.predict_paths(photos))
    row.photos_per_s = len(photos) / (time.perf_counter() - start)
    failed = sum(not result.ok for result in results)
    row.note = f"{failed} failed" if failed else ""
    return row


def time_kinds(provider: str, count: int, base: Path, planet: Path, scene: Path, folder: Path) -> list[Row]:
    """Every kind's row on `provider` over `count` generated photos."""
    from benchmarks.predict import generate_photos

    photos = generate_photos(folder, count)
    kinds = [("base", base, None), ("planet", planet, None), ("scene", scene, None), ("planet+scene", planet, scene)]
    return [time_kind(kind, bundle, companion, provider, photos) for kind, bundle, companion in kinds]


def print_rows(rows: list[Row], wanted: str) -> None:
    """The one table."""
    print(f"provider asked: {wanted}")
    print(f"{'kind':<14}{'bundle':<28}{'MB':>8}{'load s':>8}{'provider':>10}{'photos/s':>10}{'ms/photo':>10}  note")
    for row in rows:
        size = f"{row.size_mb:8.1f}" if row.size_mb is not None else f"{'-':>8}"
        load = f"{row.load_s:8.2f}" if row.load_s is not None else f"{'-':>8}"
        rate = f"{row.photos_per_s:10.2f}{1000 / row.photos_per_s:10.1f}" if row.photos_per_s else f"{'-':>10}{'-':>10}"
        print(f"{row.kind:<14}{row.bundle[:27]:<28}{size}{load}{row.provider or '-':>10}{rate}  {row.note}")


def main(argv: list[str] | None = None, default_provider: str = "cuda") -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--provider", choices=("cuda", "cpu", "auto"), default=default_provider)
    parser.add_argument("--count", type=int, default=64, help="generated 12 MP JPEGs (default 64)")
    parser.add_argument("--base", type=Path, default=MODELS / "base.geomodel")
    parser.add_argument("--planet", type=Path, default=MODELS / "planet.geomodel")
    parser.add_argument("--scene", type=Path, default=MODELS / "scene.geomodel")
    parser.add_argument("--photos", type=Path, default=Path(tempfile.gettempdir()) / "geotag-bench-12mp")
    args = parser.parse_args(argv)
    rows = time_kinds(args.provider, args.count, args.base, args.planet, args.scene, args.photos)
    print_rows(rows, args.provider)
    return 0


if __name__ == "__main__":
    sys.exit(main())
