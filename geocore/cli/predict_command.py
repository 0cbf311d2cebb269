"""`geotag predict`: where and what are these photos? One JSON object per photo (JSON Lines)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

from geocore.inference.card import AGGREGATIONS, CROP_COUNTS, BundleError
from geocore.inference.files import BASE_BUNDLE, expand_paths
from geocore.inference.runtime import PROVIDER_CHOICES, ProviderError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `geotag predict`."""
    parser = subparsers.add_parser(
        "predict", help="predict where photos were taken (and their scene type)",
        description="Predict location hypotheses and scene type of photos with a .geomodel bundle.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="photos or folders (walked recursively)")
    parser.add_argument("--model", type=Path, default=BASE_BUNDLE, help=f"model bundle (default: {BASE_BUNDLE})")
    parser.add_argument("--top-k", type=int, default=5, help="cells listed per partitioning (default 5)")
    parser.add_argument("--crops", type=int, choices=CROP_COUNTS, help="test-time crops (default: the card's)")
    parser.add_argument("--aggregation", choices=AGGREGATIONS, help="combine crops by mean or max (default: card)")
    parser.add_argument("--provider", choices=PROVIDER_CHOICES, default="auto", help="execution provider")
    parser.add_argument("--batch", type=int, default=8, help="photos per inference batch (default 8)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the JSON Lines here instead of stdout")
    parser.set_defaults(handler=run_predict)


def run_predict(args: argparse.Namespace) -> int:
    """Run the command; exit status 0 unless no photo could be read (1) or the model cannot run (2)."""
    from geocore.inference.predictor import Predictor

    try:
        predictor = Predictor(args.model, provider=args.provider, crops=args.crops, aggregation=args.aggregation,
                              top_k=args.top_k, batch_photos=args.batch)
    except (BundleError, ProviderError, ValueError) as error:
        hint = "  (build it with: geotag-train base-model --out resources/models/base.geomodel)"
        missing_base = args.model == BASE_BUNDLE and not BASE_BUNDLE.exists()
        print(f"geotag predict: {error}{hint if missing_base else ''}", file=sys.stderr)
        return 2
    paths = list(expand_paths(args.paths))
    print(f"model {predictor.model_id} on {predictor.provider}, {len(paths)} file(s)", file=sys.stderr)
    if args.json:
        readable = _write_atomically(args.json, lambda handle: _predict_into(predictor, paths, handle))
    else:
        readable = _predict_into(predictor, paths, sys.stdout)
    print(f"{readable} of {len(paths)} photo(s) predicted", file=sys.stderr)
    return 0 if readable else 1


def _predict_into(predictor: Any, paths: list[Path], handle: TextIO) -> int:
    from tqdm import tqdm

    readable = 0
    with tqdm(total=len(paths), unit="photo", file=sys.stderr, disable=None) as bar:
        for prediction in predictor.predict_paths(paths, progress=lambda done, total: bar.update(1)):
            readable += prediction.ok
            if not prediction.ok:
                bar.write(f"{prediction.path}: {prediction.error}", file=sys.stderr)
            handle.write(json.dumps(prediction.to_json(), ensure_ascii=False) + "\n")
    return readable


def _write_atomically(target: Path, produce: Any) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            result = int(produce(handle))
        os.replace(temp_name, target)
    finally:
        if os.path.exists(temp_name):
            os.unlink(temp_name)
    return result
