"""`geotag-train concepts` (SemP), `isn` (ECCV'18 ISNs), `translocator` (ECCV'22) and `import segmentation`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trainer.cli.checked import EXIT_BAD_INPUT, run_checked

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
    isn.add_argument("--csv", required=True, type=Path, help="IMG_ID,LAT,LON,Prob_indoor,Prob_natural,Prob_urban")
    isn.add_argument("--images", required=True, type=Path, help="folder the IMG_IDs are relative to")
    isn.add_argument("--partitionings", required=True, nargs="+", help="cells CSV files, coarse -> fine")
    isn.add_argument("--out", required=True, type=Path, help="bundle to write (*.geomodel)")
    isn.add_argument("--model-id", default="isn-s3")
    isn.add_argument("--backbone", default="efficientnet_lite0", choices=("efficientnet_lite0", "tiny"))
    isn.add_argument("--input-size", type=int, default=224)
    isn.add_argument("--epochs", type=int, default=10)
    isn.add_argument("--lr", type=float, default=0.05)
    isn.set_defaults(handler=run_isn)
    tl = subparsers.add_parser("translocator", help="TransLocator (ECCV'22): dual-branch ViT on photo + segmentation")
    tl.add_argument("--csv", required=True, type=Path, help="IMG_ID,LAT,LON,Prob_indoor,Prob_natural,Prob_urban")
    tl.add_argument("--images", required=True, type=Path, help="folder the IMG_IDs are relative to")
    tl.add_argument("--partitionings", required=True, nargs="+", help="cells CSV files, coarse -> fine")
    tl.add_argument("--segmentation", required=True, type=Path, help="file from `import segmentation` (*.geoseg)")
    tl.add_argument("--out", required=True, type=Path, help="bundle to write (*.geomodel)")
    tl.add_argument("--model-id", default="translocator")
    tl.add_argument("--layout", choices=("vit_b16", "tiny"), default="vit_b16")
    tl.add_argument("--vit-weights", type=Path, help="timm-layout ViT-B/16 state dict (.pth) for both branches")
    tl.add_argument("--cache", type=Path, help="segmentation map shard (*.msgpack), written once, then read")
    tl.add_argument("--epochs", type=int, default=10)
    tl.add_argument("--lr", type=float, default=1e-4)
    tl.set_defaults(handler=run_translocator)
    segmentation = _import_sources(subparsers).add_parser(
        "segmentation", help="an ONNX segmentation model (ADE20K-style class maps) as a checked .geoseg file")
    segmentation.set_defaults(handler=run_import_segmentation)
    segmentation.add_argument("--onnx", required=True, type=Path, help="graph: (N, 3, S, S) -> logits or classes")
    segmentation.add_argument("--classes", required=True, type=Path, help="class names, one a line")
    segmentation.add_argument("--out", required=True, type=Path, help="file to write (*.geoseg)")
    segmentation.add_argument("--input-size", type=int, default=512, help="square input side in pixels")


def _import_sources(subparsers: argparse._SubParsersAction) -> argparse._SubParsersAction:
    if "import" not in subparsers.choices:
        subparsers.add_parser("import", help="convert a published model into a bundle").add_subparsers(
            dest="source", required=True)
    parser = subparsers.choices["import"]
    return next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))


def run_import_segmentation(args: argparse.Namespace) -> int:
    """Check the graph on a test input and write the .geoseg file."""
    from trainer.segmentation import SegmentationError, import_segmentation, load_segmentation

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
    from geocore.inference.predictor import Predictor
    from trainer.concepts import aggregate, plot_png, read_truth, score_photos, write_csv
    from trainer.segmentation import SegmentationError, load_segmentation

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
    """Train ISNs(S3) and write the checked bundle."""
    from trainer.export import ExportError
    from trainer.isn_training import train_isn_bundle

    status, built = run_checked("isn", lambda: train_isn_bundle(
        args.csv, args.images, args.partitionings, args.out, args.model_id, args.backbone, args.input_size,
        args.epochs, args.lr, pretrained=args.backbone != "tiny"), (OSError, ValueError), ExportError)
    if status:
        return status
    path, check, report = built
    print(f"wrote {path}: {report.summary()}; onnxruntime vs torch max abs diff {check.worst:.2e}")
    return 0


def run_translocator(args: argparse.Namespace) -> int:
    """Train TransLocator and write the checked bundle (the segmentation runs inside it)."""
    from trainer.export import ExportError
    from trainer.segmentation import SegmentationError
    from trainer.translocator_training import train_translocator_bundle

    status, built = run_checked("translocator", lambda: train_translocator_bundle(
        args.csv, args.images, args.partitionings, args.segmentation, args.out, args.model_id, args.layout,
        args.vit_weights, args.epochs, args.lr, args.cache),
        (OSError, ValueError, SegmentationError), (ExportError, RuntimeError))  # RuntimeError: another ViT layout
    if status:
        return status
    path, check, report = built
    print(f"wrote {path}: {report.summary()}; onnxruntime vs torch max abs diff {check.worst:.2e}")
    return 0
