"""Benchmark: writing GPS into 12 MP JPEGs with full safety vs one exiftool process doing the same (target >= 1.0).

Printed side by side in one run, on identical copies of the same generated files:
- ours: `Library.write_batch` (identity check, in-memory patch + verification, journal, temp file + fsync, read
  back, os.replace, folder fsync, cache refresh);
- exiftool: a single process given an argument file (`-@`, one `-execute` per file) writing the same GPS tags
  with `-overwrite_original` (its own temp file + rename, no fsync);
- the ratio exiftool time / our time (>= 1.0 means we are at least as fast).
The scan that our write needs (exiftool needs none) is timed and printed separately. Dirty pages are flushed
(`os.sync()`) before each timed run; exiftool's own unflushed writes are not billed to it, our fsyncs are.
Rounds alternate which writer goes first; best round of each is compared (the machine is shared), the median of
the per-round ratios is printed too.
Usage: python benchmarks/write.py [--count 500] [--rounds 3] [--folder PATH]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geocore.library.api import Library  # noqa: E402
from tests.photo_factory import make_jpeg  # noqa: E402

SIZE_12MP = (4000, 3000)
DISTINCT = 4


def make_originals(folder: Path) -> list[Path]:
    """A few distinct 12 MP camera-like JPEGs (made once, reused between runs)."""
    paths = []
    for seed in range(DISTINCT):
        path = folder / "originals" / f"base{seed}.jpg"
        if not path.exists():
            make_jpeg(path, size=SIZE_12MP, color_seed=seed, makernote=bytes(range(256)) * 40, quality=88)
        paths.append(path)
    return paths


def copies(originals: list[Path], target: Path, count: int) -> list[Path]:
    """`count` copies of the originals in a fresh folder."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    out = []
    for index in range(count):
        path = target / f"IMG_{index:04d}.JPG"
        shutil.copyfile(originals[index % len(originals)], path)
        out.append(path)
    return out


def positions(count: int) -> list[tuple[float, float, float]]:
    """Deterministic positions (lat, lon, radius_km) per file."""
    rng = random.Random(7)
    return [(rng.uniform(-70, 70), rng.uniform(-179, 179), rng.uniform(0.01, 50)) for _ in range(count)]


def run_ours(paths: list[Path], where: list[tuple[float, float, float]], database: Path) -> tuple[float, float]:
    """(scan seconds, write seconds) for our full-safety write."""
    library = Library(database)
    started = time.perf_counter()
    library.scan([paths[0].parent])
    scan_s = time.perf_counter() - started
    for path, (lat, lon, radius_km) in zip(paths, where, strict=True):
        library.propose(library.photo_by_path(path).id, lat, lon, radius_km, "gps_track", state="accepted")
    started = time.perf_counter()
    report = library.write_batch()
    write_s = time.perf_counter() - started
    assert not report.failed and len(report.written) == len(paths), report.failed[:3]
    library.close()
    return scan_s, write_s


def run_exiftool(paths: list[Path], where: list[tuple[float, float, float]], argfile: Path) -> float:
    """Seconds for one exiftool process writing the same tags to every file."""
    lines = []
    for path, (lat, lon, radius_km) in zip(paths, where, strict=True):
        lines += ["-overwrite_original", "-GPSVersionID=2 3 0 0", f"-GPSLatitudeRef={'N' if lat >= 0 else 'S'}",
                  f"-GPSLatitude={abs(lat)}", f"-GPSLongitudeRef={'E' if lon >= 0 else 'W'}",
                  f"-GPSLongitude={abs(lon)}", "-GPSMapDatum=WGS-84", "-GPSProcessingMethod=GPS",
                  f"-GPSHPositioningError={radius_km * 1000}", str(path), "-execute"]
    argfile.write_text("\n".join(lines) + "\n")
    started = time.perf_counter()
    subprocess.run(["exiftool", "-@", str(argfile), "-common_args", "-q", "-q"], check=True)
    return time.perf_counter() - started


def one_round(args: argparse.Namespace, originals: list[Path], where: list, exiftool_first: bool) -> tuple:
    """(ours s, exiftool s, scan s, MB per file) for one round on fresh copies; dirty pages flushed between."""
    ours = copies(originals, args.folder / "ours", args.count)
    theirs = copies(originals, args.folder / "exiftool", args.count)
    megabytes = sum(p.stat().st_size for p in ours) / 1e6 / args.count
    for leftover in args.folder.glob("bench.sqlite3*"):
        leftover.unlink()
    timings = {}
    for name in (["exiftool", "ours"] if exiftool_first else ["ours", "exiftool"]):
        os.sync()  # earlier writes must not be flushed during (and billed to) this timed run
        if name == "ours":
            timings["scan"], timings["ours"] = run_ours(ours, where, args.folder / "bench.sqlite3")
        else:
            timings["exiftool"] = run_exiftool(theirs, where, args.folder / "args.txt")
    shutil.rmtree(args.folder / "ours")
    shutil.rmtree(args.folder / "exiftool")
    return timings["ours"], timings["exiftool"], timings["scan"], megabytes


def main() -> int:
    """Run both writers on copies of the same files, in interleaved rounds, and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (the machine may be shared)")
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "geotag-bench-write")
    args = parser.parse_args()
    originals = make_originals(args.folder)
    where = positions(args.count)
    rounds = [one_round(args, originals, where, exiftool_first=bool(i % 2)) for i in range(args.rounds)]
    ours_s, exiftool_s = [r[0] for r in rounds], [r[1] for r in rounds]
    print(f"files                  {args.count} x 12 MP JPEG ({rounds[0][3]:.1f} MB each), {args.rounds} rounds")
    for index, (ours, theirs, scan, _) in enumerate(rounds):
        print(f"round {index + 1}: ours {ours:7.2f} s, exiftool {theirs:7.2f} s, ratio {theirs / ours:5.2f}"
              f"   [our scan {scan:.2f} s]")
    best_ours, best_exiftool = min(ours_s), min(exiftool_s)
    print(f"ours (full safety)     {best_ours:8.2f} s  ({args.count / best_ours:6.1f} files/s)  best round")
    print(f"exiftool (1 process)   {best_exiftool:8.2f} s  ({args.count / best_exiftool:6.1f} files/s)  best round")
    print(f"ratio exiftool/ours    {best_exiftool / best_ours:8.2f}  (target >= 1.0; median of rounds "
          f"{statistics.median(t / o for o, t in zip(ours_s, exiftool_s, strict=True)):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
