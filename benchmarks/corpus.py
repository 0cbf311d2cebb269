"""Corpus figures: hostile and real-camera files written through `Library`, judged by exiftool and metadata_diff.

Prints one line per file (written in place, written to its sidecar, or refused with the reason), then the figures
the closing note quotes: files, written, refused, lost tags (must be 0). With --verify-cost it also times the
whole-metadata check (`check_only_intended`) on written 12 MP JPEGs, against the time of writing them.
Usage: python benchmarks/corpus.py [--verify-cost] [--count 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geotagger.geocore.library.api import Library  # noqa: E402
from geotagger.geocore.library.formats import JpegWriter  # noqa: E402
from geotagger.geocore.library.metadata_diff import Intended, check_only_intended  # noqa: E402
from geotagger.geocore.library.patches import apply_patches  # noqa: E402
from tests.library.hostile_corpus import FIX, build_corpus, run_corpus  # noqa: E402
from tests.photo_factory import make_jpeg  # noqa: E402


def corpus_figures(folder: Path) -> int:
    """Print the per-file outcomes and the figures; returns the number of lost tags."""
    build_corpus(folder / "corpus")
    figures = run_corpus(folder / "corpus", folder / "cache.sqlite3")
    for outcome in figures.outcomes:
        verdict = f"written ({outcome.target})" if outcome.written else f"refused: {outcome.reason[:110]}"
        print(f"{outcome.name:30} {verdict}")
        for line in outcome.lost + sorted(outcome.new_warnings):
            print(f"{'':30}   LOST/WARNING {line}")
    print(figures.summary())
    return figures.lost_tags


def verify_cost(folder: Path, count: int) -> None:
    """Median time of the metadata check per 12 MP JPEG vs the median time of a full-safety write of one."""
    photos = folder / "photos"
    sources = [make_jpeg(photos / f"IMG_{i:03d}.JPG", size=(4000, 3000), color_seed=i % 3,
                         makernote=bytes(range(256)) * 40, quality=88) for i in range(count)]
    checks = []
    for path in sources:
        old = path.read_bytes()
        new = apply_patches(old, JpegWriter().set_gps(old, FIX))
        started = time.perf_counter()
        check_only_intended(old, new, Intended.for_write(FIX))
        checks.append(time.perf_counter() - started)
    with Library(folder / "cost.sqlite3") as library:
        library.scan([photos])
        for path in sources:
            library.accept(library.propose(library.photo_by_path(path).id, FIX.lat, FIX.lon, 0.5, "manual"))
        started = time.perf_counter()
        report = library.write_batch()
        write_s = (time.perf_counter() - started) / count
    assert not report.failed, report.failed[:2]
    check_ms = statistics.median(checks) * 1e3
    print(f"verify cost: {check_ms:.2f} ms per 12 MP JPEG (median of {count}); full write {write_s * 1e3:.1f} ms "
          f"per file including the check: the check is {100 * check_ms / (write_s * 1e3):.1f}% of a write")


def main() -> int:
    """Run the corpus (and optionally the cost measurement) in a temporary folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verify-cost", action="store_true")
    parser.add_argument("--count", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        lost = corpus_figures(Path(folder))
        if args.verify_cost:
            verify_cost(Path(folder), args.count)
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
