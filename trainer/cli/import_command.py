"""`geotag-train import geoclip|places365`: published models converted into checked bundles."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from geotagger.trainer.cli.checked import run_checked


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `import` with its two sources."""
    parser = subparsers.add_parser("import", help="convert a published model (GeoCLIP, Places365) into a bundle")
    sources = parser.add_subparsers(dest="source", required=True)
    geoclip = sources.add_parser("geoclip", help="GeoCLIP (planet-scale location) as a hierarchical bundle")
    geoclip.add_argument("--out", required=True, type=Path, help="bundle to write, e.g. planet.geomodel")
    geoclip.add_argument("--clip", type=Path, help="local CLIP ViT-L/14 snapshot folder (else fetched once, ~1.7 GB)")
    geoclip.add_argument("--gallery", type=Path, help="LAT,LON CSV replacing GeoCLIP's 100,000-point gallery")
    geoclip.add_argument("--tau-min", type=int, help="minimum points per cell (default: METHOD.md's, scaled)")
    geoclip.add_argument("--tau-max", type=int, nargs=3, help="split thresholds coarse, middle, fine (default: scaled)")
    geoclip.add_argument("--model-id", default="geoclip-vitl14-s2-hierarchy")
    geoclip.set_defaults(handler=run_import_geoclip)
    places = sources.add_parser("places365", help="a Places365 ResNet-18 as a scene bundle (S365, S16, S3)")
    places.add_argument("--weights", required=True, type=Path, help="resnet18_places365.pth.tar (CSAIL, CC BY)")
    places.add_argument("--categories", required=True, type=Path, help="categories_places365.txt")
    places.add_argument("--hierarchy", required=True, type=Path, help="scene hierarchy CSV (3 + 16 columns of 0/1)")
    places.add_argument("--out", required=True, type=Path, help="bundle to write, e.g. scene.geomodel")
    places.add_argument("--model-id", default="places365-resnet18")
    places.set_defaults(handler=run_import_places365)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_import_geoclip(args: argparse.Namespace) -> int:
    """Convert GeoCLIP; exit 0 when the bundle passed its self-check and was written."""
    from geotagger.geocore.geo.coordinates_file import CoordinateFileError, read_coordinates
    from geotagger.trainer.importers.geoclip import GeoclipImportError, import_geoclip

    def build() -> tuple[Path, dict]:
        gallery = read_coordinates(args.gallery, None, None) if args.gallery else None
        return import_geoclip(args.out, args.clip, gallery, args.tau_min, args.tau_max, args.model_id, say=_say)

    status, built = run_checked("import geoclip", build, (CoordinateFileError, OSError), GeoclipImportError)
    if status:
        return status
    path, report = built
    measured = report["hierarchy_vs_geoclip"]
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB); against GeoCLIP's torch forward on "
          f"{report['check_photos']} photos: embedding cosine >= {report['embedding_min_cosine']}, gallery logits "
          f"within {report['gallery_logit_max_abs_diff']}, same top gallery point {report['top_point_same']}/"
          f"{report['check_photos']}; refined point vs GeoCLIP top-1: median "
          f"{measured['median_km_refined_to_geoclip_top1']} km")
    return 0


def run_import_places365(args: argparse.Namespace) -> int:
    """Convert a Places365 ResNet-18; exit 0 when the bundle passed its self-check and was written."""
    from geotagger.trainer.export import ExportError
    from geotagger.trainer.importers.places365 import Places365Error, import_places365

    status, built = run_checked(
        "import places365",
        lambda: import_places365(args.weights, args.categories, args.hierarchy, args.out, args.model_id),
        (Places365Error, OSError), ExportError)
    if status:
        return status
    path, worst = built
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB); onnxruntime vs torch max abs diff {worst:.2e}")
    return 0
