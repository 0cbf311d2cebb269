"""`geotag-train concepts` (SemP), `isn` (ECCV'18 ISNs), `translocator` (ECCV'22) and `import segmentation`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from geotagger.trainer.cli.checked import EXIT_BAD_INPUT, run_checked

# Bad data or configuration (ConfigError, NoUsableDataError, SegmentationError are ValueErrors) -> 2; a check that
# refuses the bundle (ExportError) or ranks that diverged -> 1.
TRAINING_INPUT_ERRORS = (OSError, ValueError, KeyError)
TRAINING_REFUSALS = RuntimeError
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".heic", ".tif", ".tiff")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `concepts`, and `segmentation` as a source of `import` (registered after trainer.cli.import_command)."""
    concepts = subparsers.add_parser("concepts", help="concept influence (SemP): which segments drive the guesses")
    concepts.add_argument("--model", required=True, type=Path, help="location bundle (*.geomodel)")
    concepts.add_argument("--segmentation", required=True, type=Path, help="segmentation file from `import "
                          "segmentation` (*.geoseg)")
    concepts.add_argument("--images", required=True, type=Path, help="folder of photos")
    concepts.add_argument("--csv", required=True, type=Path, help="truth: IMG_ID/name column, LAT, LON")
    concepts.add_argument("--out", type=Path, default=Path("concepts"), help="folder for concepts.csv/.png")
    concepts.add_argument("--top-k", type=int, default=1000, help="explanation pixels counted (of the preview)")
    concepts.add_argument("--beta", type=int, default=3, help="concept mask dilation in pixels")
    concepts.set_defaults(handler=run_concepts)
    isn = subparsers.add_parser("isn", help="individual scene networks (ECCV'18) from a meta CSV with Prob_* columns")
    _method_arguments(isn, "isn-s3", lr=0.05)
    isn.add_argument("--backbone", default="efficientnet_lite0", choices=("efficientnet_lite0", "tiny"))
    isn.add_argument("--input-size", type=int, default=224)
    isn.set_defaults(handler=run_isn)
    tl = subparsers.add_parser("translocator", help="TransLocator (ECCV'22): dual-branch ViT on photo + segmentation")
    _method_arguments(tl, "translocator", lr=1e-4)
    tl.add_argument("--segmentation", required=True, type=Path, help="file from `import segmentation` (*.geoseg)")
    tl.add_argument("--layout", choices=("vit_b16", "tiny"), default="vit_b16")
    tl.add_argument("--input-size", type=int, help="square input in pixels (default 224 for vit_b16, 32 for tiny)")
    tl.add_argument("--vit-weights", type=Path, help="timm-layout ViT-B/16 state dict (.pth) for both branches")
    tl.add_argument("--cache", type=Path, help="folder of cached class maps (shard format): built once, then read "
                    "(default: OUT's name + .segcache)")
    tl.set_defaults(handler=run_translocator)
    segment = subparsers.add_parser("segment", help="cache class maps for TransLocator training (shard format)")
    segment.add_argument("--segmentation", required=True, type=Path, help="file from `import segmentation` (*.geoseg)")
    segment.add_argument("--shards", nargs="+", help="image shards (files, folders, globs): one cache shard each")
    segment.add_argument("--csv", type=Path, help="meta CSV (with --images) instead of shards")
    segment.add_argument("--images", type=Path, help="folder the CSV's IMG_IDs are relative to")
    segment.add_argument("--out", required=True, type=Path, help="cache folder (the run config's segmentation_cache)")
    segment.add_argument("--short-side", type=int, default=256, help="maps' short side in pixels (>= eval_resize)")
    segment.set_defaults(handler=run_segment)
    scenes = subparsers.add_parser("scene-probabilities", help="add Prob_indoor/natural/urban to a meta CSV from a "
                                   "scene bundle (for isn when the CSV has none)")
    scenes.add_argument("--scene-bundle", required=True, type=Path, help="bundle with an S3 scene (e.g. Places365)")
    scenes.add_argument("--csv", required=True, type=Path, help="meta CSV (IMG_ID, LAT, LON, ...)")
    scenes.add_argument("--images", type=Path, help="folder the IMG_IDs are relative to")
    scenes.add_argument("--shards", nargs="+", help="the photos as msgpack/tar shards instead of --images")
    scenes.add_argument("--out", required=True, type=Path, help="annotated CSV to write")
    scenes.add_argument("--provider", choices=("auto", "cpu", "cuda"), default="auto")
    scenes.set_defaults(handler=run_scene_probabilities)
    segmentation = _import_sources(subparsers).add_parser(
        "segmentation", help="an ONNX segmentation model (ADE20K-style class maps) as a checked .geoseg file")
    segmentation.set_defaults(handler=run_import_segmentation)
    segmentation.add_argument("--onnx", required=True, type=Path, help="graph: (N, 3, S, S) -> logits or classes")
    segmentation.add_argument("--classes", required=True, type=Path, help="class names, one a line")
    segmentation.add_argument("--out", required=True, type=Path, help="file to write (*.geoseg)")
    segmentation.add_argument("--input-size", type=int, default=512, help="square input side in pixels")


def _method_arguments(parser: argparse.ArgumentParser, model_id: str, lr: float) -> None:
    """Data and schedule arguments of `isn` and `translocator` (both train through `fit`)."""
    parser.add_argument("--csv", required=True, type=Path, help="IMG_ID,LAT,LON,Prob_indoor,Prob_natural,Prob_urban")
    parser.add_argument("--images", type=Path, help="folder the IMG_IDs are relative to")
    parser.add_argument("--shards", nargs="+", help="streamed msgpack/tar shards instead of --images (MP-16)")
    parser.add_argument("--partitionings", required=True, nargs="+", help="cells CSV files, coarse -> fine")
    parser.add_argument("--out", required=True, type=Path, help="bundle to write (*.geomodel)")
    parser.add_argument("--model-id", default=model_id)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=lr)
    parser.add_argument("--batch-size", type=int, default=32, help="per process")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    parser.add_argument("--runs-dir", type=Path, help="where the run folder goes (default: OUT's folder/runs)")


def _method_run(args: argparse.Namespace) -> Any:
    from geotagger.trainer.isn_training import MethodRun

    return MethodRun(args.csv, args.partitionings, args.images, args.shards or (), args.epochs, args.lr,
                     args.batch_size, args.workers, args.device, args.runs_dir)


def _import_sources(subparsers: argparse._SubParsersAction) -> argparse._SubParsersAction:
    if "import" not in subparsers.choices:
        subparsers.add_parser("import", help="convert a published model into a bundle").add_subparsers(
            dest="source", required=True)
    parser = subparsers.choices["import"]
    return next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))


def run_import_segmentation(args: argparse.Namespace) -> int:
    """Check the graph on a test input and write the .geoseg file."""
    from geotagger.trainer.segmentation import SegmentationError, import_segmentation, load_segmentation

    status, path = run_checked("import segmentation",
                               lambda: import_segmentation(args.onnx, args.classes, args.out, args.input_size),
                               OSError, SegmentationError)
    if status:
        return status
    model = load_segmentation(path)
    print(f"wrote {path}: {len(model.class_names)} classes, {model.output} output, {model.input_size_px} px input")
    return 0


def run_concepts(args: argparse.Namespace) -> int:
    """Score every photo with a truth; write concepts.csv and concepts.png; print the top concepts per band."""
    from geotagger.geocore.inference.predictor import Predictor
    from geotagger.trainer.concepts import aggregate, plot_png, read_truth, score_photos, write_csv
    from geotagger.trainer.segmentation import SegmentationError, load_segmentation

    try:
        truth = read_truth(args.csv)
        segmentation = load_segmentation(args.segmentation)
        predictor = Predictor(args.model, scene_bundle=None)
    except (OSError, ValueError, SegmentationError) as error:
        print(f"geotag-train concepts: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    photos = sorted(p for p in args.images.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    rows = aggregate(score_photos(predictor, segmentation, photos, truth, args.top_k, args.beta))
    if not rows:
        print("geotag-train concepts: no photo had both a truth and a location prediction", file=sys.stderr)
        return EXIT_BAD_INPUT
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, args.out / "concepts.csv")
    plot_png(rows, args.out / "concepts.png")
    for row in rows:
        print(f"{row.band:>10}  {row.concept:<24} ci {row.mean_ci:6.2f}  ({row.images} photos)")
    print(f"wrote {args.out / 'concepts.csv'} and {args.out / 'concepts.png'}")
    return 0


def run_isn(args: argparse.Namespace) -> int:
    """Train ISNs(S3) through `fit` and write the checked bundle."""
    from geotagger.trainer.isn_training import train_isn_bundle

    status, built = run_checked("isn", lambda: train_isn_bundle(
        _method_run(args), args.out, args.model_id, args.backbone, args.input_size,
        pretrained=args.backbone != "tiny"), TRAINING_INPUT_ERRORS, TRAINING_REFUSALS)
    return _report_bundle(status, built)


def run_translocator(args: argparse.Namespace) -> int:
    """Cache the class maps, train TransLocator through `fit` and write the checked bundle."""
    from geotagger.trainer.translocator_training import train_translocator_bundle

    status, built = run_checked("translocator", lambda: train_translocator_bundle(
        _method_run(args), args.segmentation, args.out, args.model_id, args.layout, args.vit_weights, args.cache,
        args.input_size), TRAINING_INPUT_ERRORS, TRAINING_REFUSALS)
    return _report_bundle(status, built)


def _report_bundle(status: int, built: Any) -> int:
    if status:
        return status
    path, check, report = built
    print(f"wrote {path}: {report.summary()}; onnxruntime vs torch max abs diff {check.worst:.2e}")
    return 0


def run_segment(args: argparse.Namespace) -> int:
    """Write the cache shards this process owns (shards split over torchrun's RANK/WORLD_SIZE when set)."""
    import os

    from geotagger.trainer.data.segmentation_cache import build_shard_cache
    from geotagger.trainer.isn_training import MethodRun
    from geotagger.trainer.segmentation import SegmentationError, load_segmentation
    from geotagger.trainer.translocator_training import build_cache

    if bool(args.shards) == bool(args.csv):
        print("geotag-train segment: give --shards, or --csv with --images", file=sys.stderr)
        return EXIT_BAD_INPUT

    def build() -> dict[str, int]:
        if args.shards:
            rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
            return build_shard_cache(load_segmentation(args.segmentation), args.shards, args.out, args.short_side,
                                     rank, world)
        return build_cache(MethodRun(args.csv, [], args.images), args.segmentation, args.out, args.short_side)

    status, written = run_checked("segment", build, (OSError, ValueError, SegmentationError), RuntimeError)
    if status:
        return status
    print(f"{args.out}: {sum(written.values())} maps written in {len(written)} cache shard(s)")
    return 0


def run_scene_probabilities(args: argparse.Namespace) -> int:
    """Write the meta CSV with the scene bundle's S3 probabilities; rows it could not read stay, blank."""
    from geotagger.geocore.inference.card import BundleError
    from geotagger.trainer.scene_probabilities import annotate_csv

    status, counted = run_checked("scene-probabilities", lambda: annotate_csv(
        args.scene_bundle, args.csv, args.out, args.images, args.shards or (), args.provider),
        (OSError, ValueError, BundleError), RuntimeError)
    if status:
        return status
    rows, filled = counted
    print(f"wrote {args.out}: scene probabilities for {filled} of {rows} rows")
    return 0
