"""`geotag predict`: where and what are these photos? One JSON object per photo (JSON Lines).

Runs the session's predict use case: the photos go into the library cache, each prediction is cached (a second
run is instant) and becomes a model proposal that `geotag write --all-proposed` can write.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from geotagger.geocore.cli.library_commands import add_db_option
from geotagger.geocore.cli.output import MODE, progress_line
from geotagger.geocore.inference.card import AGGREGATIONS, CROP_COUNTS
from geotagger.geocore.inference.files import BASE_BUNDLE
from geotagger.geocore.inference.runtime import PROVIDER_CHOICES
from geotagger.geocore.library.paths import display_path, json_line
from geotagger.geocore.workflow.results import Outcome, Reporter, Result

if TYPE_CHECKING:
    from geotagger.geocore.workflow.session import Session


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `geotag predict`."""
    parser = subparsers.add_parser(
        "predict", help="predict where photos were taken (and their scene type)",
        description="Predict location hypotheses and scene type of photos with a .geomodel bundle. One JSON object "
                    "per photo (JSON Lines) on stdout or in --json OUT; predictions are cached and become proposals "
                    "that `geotag write --all-proposed` writes.",
        epilog="""examples:
  geotag predict ~/Pictures/trip --json trip.jsonl      every photo under a folder, records in a file
  geotag predict IMG_0001.JPG --model my.geomodel --top-k 3 --crops 5
  geotag predict ~/Pictures/trip | jq -r '.path + " " + (.lat|tostring)'""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="photos or folders (walked recursively)")
    parser.add_argument("--model", type=Path, default=BASE_BUNDLE, help=f"model bundle (default: {BASE_BUNDLE})")
    parser.add_argument("--top-k", type=int, default=5, help="cells listed per partitioning (default 5)")
    parser.add_argument("--crops", type=int, choices=CROP_COUNTS, help="test-time crops (default: the card's)")
    parser.add_argument("--aggregation", choices=AGGREGATIONS, help="combine crops by mean or max (default: card)")
    parser.add_argument("--provider", choices=PROVIDER_CHOICES, default="auto", help="execution provider")
    parser.add_argument("--batch", type=int, default=8, help="photos per inference batch (default 8)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the JSON Lines here instead of stdout")
    add_db_option(parser)
    parser.set_defaults(handler=run_predict)


def run_predict(args: argparse.Namespace) -> int:
    """Exit status 0 when every photo was predicted, 1 when any could not be, 2 when the model cannot run."""
    from geotagger.geocore.library.api import Library
    from geotagger.geocore.workflow.models import ModelProvider
    from geotagger.geocore.workflow.session import Session

    models = ModelProvider(args.model, provider=args.provider, crops=args.crops, aggregation=args.aggregation,
                           top_k=args.top_k, batch_photos=args.batch)
    predictor = models.predictor()
    if predictor is None:
        hint = "  (build it with: geotag-train base-model --out resources/models/base.geomodel)"
        missing_base = args.model == BASE_BUNDLE and not BASE_BUNDLE.exists()
        print(f"geotag predict: {models.problem}{hint if missing_base else ''}", file=sys.stderr)
        return 2
    if not MODE.quiet:
        print(f"model {predictor.model_id} on {predictor.provider}", file=sys.stderr)
    with Session(Library(args.db), models) as session:
        if args.json:
            result = _write_atomically(args.json, lambda handle: _predict_into(session, args.paths, handle))
        else:
            result = _predict_into(session, args.paths, sys.stdout)
    if not MODE.quiet:
        print(f"{len(result.ok)} of {len(result.outcomes)} photo(s) predicted", file=sys.stderr)
    return result.exit_status


def _predict_into(session: Session, paths: list[str], handle: TextIO) -> Result:
    progress = progress_line("predict")

    def record(outcome: Outcome) -> None:
        if not outcome.ok and not MODE.quiet:
            print(f"{display_path(outcome.path)}: {display_path(outcome.reason)}", file=sys.stderr)
        if outcome.payload is not None:
            # json_line: no bare NaN (not JSON); a non-UTF-8 file name as display text plus its bytes in base64
            handle.write(json_line(outcome.payload) + "\n")

    return session.predict(paths, Reporter(lambda done, total, _: progress(done, total, ""), outcome=record))


def _write_atomically(target: Path, produce: Callable[[TextIO], Result]) -> Result:
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            result = produce(handle)
        os.replace(temp_name, target)
    finally:
        if os.path.exists(temp_name):
            os.unlink(temp_name)
    return result
