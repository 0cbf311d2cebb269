"""`geotag-train fit`, `evaluate` and `personalize`."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from geotagger.geocore.child_protocol import message

LOG = logging.getLogger("geotagger.trainer")


PROGRESS_INTERVAL_S = 0.2


def _setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")


def _fail(message: object) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def run_fit(args: argparse.Namespace) -> int:
    """Train from a YAML config, or continue a run folder."""
    _setup_logging(args.verbose)
    from geotagger.geocore.geo.partitioning import PartitioningError
    from geotagger.trainer.data.builder import NoUsableDataError
    from geotagger.trainer.training.config import ConfigError, load_config
    from geotagger.trainer.training.distributed import launched_rank, launched_world_size
    from geotagger.trainer.training.loop import fit, resume

    if not args.config and not args.resume:
        return _fail("give --config RUN.yaml or --resume RUN_DIR")
    try:
        run_dir = resume(args.resume) if args.resume else fit(load_config(args.config))
    except (ConfigError, NoUsableDataError, PartitioningError, ValueError, OSError) as error:
        if args.verbose:
            raise
        return _fail(error)
    if launched_rank() == 0:  # every torchrun rank gets here; two prints interleave on the shared stdout
        print(run_dir)
    if launched_world_size() > 1:
        exit_without_teardown(0)
    return 0


def exit_without_teardown(status: int) -> None:
    """End a finished torchrun rank at once, skipping interpreter and C++ teardown.

    The ranks have met at a barrier and everything is written; what is left is the teardown of gloo's threads,
    which under load sometimes aborts a rank ("terminate called without an active exception", SIGABRT) and
    turns a finished run into a failed one.
    """
    import os

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def run_evaluate(args: argparse.Namespace) -> int:
    """Print the accuracy table of a bundle on a test CSV."""
    _setup_logging(args.verbose)
    from geotagger.trainer.evaluate import EvaluationError, evaluate_bundle

    try:
        result = evaluate_bundle(args.model, args.csv, args.images, crops=args.crops, batch_size=args.batch_size)
    except (EvaluationError, FileNotFoundError, ValueError) as error:
        return _fail(error)
    print(result.format())
    if args.json:
        result.write_json(args.json)
    return 0


def run_personalize(args: argparse.Namespace) -> int:
    """Learn a user's places from their geotagged photos."""
    _setup_logging(args.verbose)
    from geotagger.trainer.personalize import PersonalizeError, PersonalizeOptions, personalize

    options = PersonalizeOptions(base_model=args.base_model, holdout_share=args.holdout, epochs=args.epochs,
                                 cache_path=args.cache, partitioning=args.partitioning, seed=args.seed)
    bar = _JsonProgress() if args.json_lines else _EmbeddingProgress()
    try:
        result = personalize(args.library, args.out, options, progress=bar.update)
    except (PersonalizeError, ValueError, OSError, RuntimeError) as error:  # bundle/graph/cache problems too
        if args.verbose:
            raise
        if args.json_lines:
            message("error", str(error))
            return 1
        return _fail(error)
    finally:
        bar.close()
    if args.json_lines:  # the app's LearnProcess reads this: typed, versioned (geocore.child_protocol)
        message("result", {"bundle": str(result.bundle_path), "train_photos": result.train_photos,
                           "holdout_photos": result.holdout_photos, "summary": result.format()})
    else:
        print(result.format())
    return 0


class _JsonProgress:
    """Progress as geocore.child_protocol lines on stdout, at most every PROGRESS_INTERVAL_S and the last one."""

    def __init__(self) -> None:
        self.last = 0.0

    def update(self, done: int, total: int) -> None:
        import time

        now = time.monotonic()
        if done >= total or now - self.last >= PROGRESS_INTERVAL_S:
            self.last = now
            message("progress", [done, total, "embeddings"])

    def close(self) -> None:
        pass


class _EmbeddingProgress:
    """tqdm bar on stderr ("embeddings: 40%|...| 800/2000"); the app parses the done/total it shows."""

    def __init__(self) -> None:
        self.bar: Any = None

    def update(self, done: int, total: int) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, desc="embeddings", unit="photo", file=sys.stderr, mininterval=0.5)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `fit`, `evaluate` and `personalize`."""
    fit = subparsers.add_parser("fit", help="train a model from a YAML run configuration")
    fit.add_argument("--config", help="run configuration (YAML; example: trainer/training/example_run.yaml)")
    fit.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its latest checkpoint")
    fit.add_argument("-v", "--verbose", action="store_true")
    fit.set_defaults(handler=run_fit)

    evaluate = subparsers.add_parser("evaluate", help="accuracy table of a bundle on a test CSV (Im2GPS3k style)")
    evaluate.add_argument("--model", required=True, help="model bundle (*.geomodel)")
    evaluate.add_argument("--csv", required=True, help="test meta CSV with image id, LAT, LON")
    evaluate.add_argument("--images", required=True, help="folder the CSV's image ids are relative to")
    evaluate.add_argument("--crops", type=int, choices=(1, 3, 5), default=None, help="override the card's crops")
    evaluate.add_argument("--batch-size", type=int, default=32)
    evaluate.add_argument("--json", help="also write the tables as JSON here")
    evaluate.add_argument("-v", "--verbose", action="store_true")
    evaluate.set_defaults(handler=run_evaluate)

    personal = subparsers.add_parser("personalize", help="learn your own places from your geotagged photos")
    personal.add_argument("--library", nargs="+", required=True, metavar="FOLDER", help="folders of your photos")
    personal.add_argument("--out", required=True, help="personal bundle to write (*.geomodel)")
    personal.add_argument("--base-model", default=None, help="base bundle with an 'embedding' output")
    personal.add_argument("--partitioning", choices=("s2", "semantic"), default="s2")
    personal.add_argument("--holdout", type=float, default=0.2, help="share of photos held out for the card's table")
    personal.add_argument("--epochs", type=int, default=60, help="epochs of head training on cached embeddings")
    personal.add_argument("--cache", default=None, help="SQLite cache for embeddings (default: the app's cache)")
    personal.add_argument("--seed", type=int, default=0)
    personal.add_argument("--json-lines", action="store_true", help="progress and result as JSON lines (for programs)")
    personal.add_argument("-v", "--verbose", action="store_true")
    personal.set_defaults(handler=run_personalize)
