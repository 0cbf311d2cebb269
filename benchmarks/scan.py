"""Benchmark: rescan of unchanged photos (target: 10,000 files in at most 1 s), next to the first scan.

Printed side by side in one run:
- first scan: every file opened, head-hashed and its metadata read;
- rescan: nothing changed, so only `stat` (via scandir) and one cache query; compared with the 1 s target.
The photos (small generated JPEGs with real EXIF) are made once and kept in a temp folder between runs.
Usage: python benchmarks/scan.py [--count 10000] [--folder PATH]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geocore.library.api import Library  # noqa: E402
from tests.photo_factory import make_jpeg  # noqa: E402

TARGET_S_PER_10K = 1.0
DISTINCT = 64


def make_photos(folder: Path, count: int) -> None:
    """`count` small JPEGs in 100-file subfolders (copies of DISTINCT generated originals), made once."""
    marker = folder / f".complete-{count}"
    if marker.exists():
        return
    originals = [make_jpeg(folder / "originals" / f"o{i}.jpg", size=(96, 64), color_seed=i,
                           gps=(45.0, 7.0) if i % 4 == 0 else None) for i in range(DISTINCT)]
    for index in range(count):
        target = folder / "photos" / f"{index // 100:03d}" / f"IMG_{index:05d}.JPG"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(originals[index % DISTINCT], target)
    marker.touch()


def main() -> int:
    """Run the benchmark and print first scan vs rescan vs target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "geotag-bench-scan")
    args = parser.parse_args()
    make_photos(args.folder, args.count)
    database = args.folder / f"bench-{args.count}.sqlite3"
    for leftover in args.folder.glob(f"bench-{args.count}.sqlite3*"):
        leftover.unlink()
    library = Library(database)
    started = time.perf_counter()
    first = library.scan([args.folder / "photos"])
    first_s = time.perf_counter() - started
    started = time.perf_counter()
    again = library.scan([args.folder / "photos"])
    rescan_s = time.perf_counter() - started
    assert again.unchanged == args.count == first.new, (first, again)
    target_s = TARGET_S_PER_10K * args.count / 10_000
    print(f"files                 {args.count}")
    print(f"first scan            {first_s:8.2f} s  ({args.count / first_s:,.0f} files/s)")
    print(f"rescan (unchanged)    {rescan_s:8.3f} s  ({args.count / rescan_s:,.0f} files/s)")
    print(f"target for rescan     {target_s:8.3f} s")
    print(f"ratio target/rescan   {target_s / rescan_s:8.2f}  ({'meets' if rescan_s <= target_s else 'MISSES'} target)")
    library.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
