"""Benchmark: writing GPS into 12 MP JPEGs with full safety vs one exiftool process doing the same (target >= 1.0).

Printed side by side in one run, on identical copies of the same generated files:
- ours: `Library.write_batch` (identity check, in-memory patch + verification, journal, temp file + fsync, read
  back, os.replace, folder fsync, cache refresh);
- exiftool: a single process given an argument file (`-@`, one `-execute` per file) writing the same GPS tags
  with `-overwrite_original` (its own temp file + rename, no fsync);
- the ratio exiftool time / our time (>= 1.0 means we are at least as fast).
The scan that our write needs (exiftool needs none) is timed and printed separately. Dirty pages are flushed
(`os.sync()`) before each timed run; exiftool's own unflushed writes are not billed to it, our fsyncs are.
Rounds alternate which writer goes first; every round is printed, then min/median/max of each and of the
per-round ratios, with the load average.

Then undo and memory, on `--undo-count` (default 1,000) small JPEGs, whole processes as a user runs them:
- ours: `geotag set` (scan + write, full safety) and `geotag undo --batch` (identity check, journal, temp file +
  fsync, read back, folder fsync, cache re-read), each a fresh process, with its peak RSS (GNU time);
- reference: exiftool writing the same tags keeping `_original` backups, then `exiftool -restore_original`
  (renames the backups back, no fsync, no check of what it puts back); target: our undo within 2x of it;
- floor: a stdlib-only loop in a fresh process doing the file steps of a safe restore and nothing else (temp file
  created and written, one syncfs per 128 files, read back and compared, the target re-read and compared, rename,
  folder fsync), on a third copy of the written files: what the kernel charges for the safety, without journal,
  checks of the patches or the cache;
- imports: a fresh interpreter importing what `geotag undo` imports, and one importing SQLAlchemy alone, so that
  the undo splits into what the process pays before it touches a file and the work set against the floor;
- CPU time (user + system, GNU time) of each process beside its wall time: on a loaded machine the wall time of
  both sides waits for cores unevenly, the CPU time does not;
- memory: peak RSS (GNU time) of `geotag set` and of exiftool writing 48 copies of the 12 MP (~5 MB) JPEGs, where
  the bytes held per chunk show (exiftool holds one file at a time).
Usage: python benchmarks/write.py [--count 500] [--rounds 3] [--undo-count 1000] [--folder PATH]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geotagger.geocore.library.api import Library  # noqa: E402
from tests.photo_factory import make_jpeg  # noqa: E402

SIZE_12MP = (4000, 3000)
DISTINCT = 4
ROOT = Path(__file__).resolve().parents[1]
UNDO_TARGET_RATIO = 2.0
GPS_ARGS = ["-GPSVersionID=2 3 0 0", "-GPSLatitudeRef=N", "-GPSLatitude=45.5", "-GPSLongitudeRef=E",
            "-GPSLongitude=7.25", "-GPSMapDatum=WGS-84", "-GPSProcessingMethod=MANUAL"]


def child(command: list[str]) -> tuple[float, float, float]:
    """(wall seconds, peak RSS MiB, CPU seconds) of one whole child process, from GNU time (started small, so the
    child's RSS is its own: a child forked from this process would start with this process's pages). CPU time is
    what a loaded machine cannot hide: waiting for a core inflates the wall time of both sides unevenly."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        started = time.perf_counter()
        subprocess.run(["/usr/bin/time", "-f", "%M %U %S", "-o", rss.name, *command], check=True,
                       stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
        seconds = time.perf_counter() - started
        kib, user, system = rss.read().split()[-3:]
        return seconds, int(kib) / 1024, float(user) + float(system)


# What `geotag set` and `geotag undo` import before they touch a file.
UNDO_IMPORTS = "import geotagger.geocore.cli.library_commands, geotagger.geocore.workflow.session"

# What the write's peak RSS is made of: each line a fresh interpreter importing one more thing and doing nothing.
# NumPy is not among them: `geotag set` and `undo` no longer import it (tests/test_import_boundaries.py).
IMPORT_STEPS = [("the interpreter", "pass"), ("+ SQLAlchemy", "import sqlalchemy"),
                ("+ Pillow", "import sqlalchemy, PIL.Image"),
                ("+ what `geotag set` imports", UNDO_IMPORTS)]


def memory_breakdown(write_mib: float) -> None:
    """Peak RSS of importing what the write imports, step by step, beside the write's own peak: the rest is data."""
    print("what holds the write's peak RSS (fresh processes, imports only):")
    before = 0.0
    for label, code in IMPORT_STEPS:
        _, mib, _ = child([sys.executable, "-c", code])
        print(f"  {label:32} {mib:6.1f} MiB  ({mib - before:+.1f})")
        before = mib
    print(f"  {'the write of 1,000 files':32} {write_mib:6.1f} MiB  ({write_mib - before:+.1f}: files, rows, caches)")


def memory_of_large_writes(args: argparse.Namespace) -> dict[str, float]:
    """Peak RSS of `geotag set` and of exiftool on 48 copies of the 12 MP (~5 MB) originals."""
    originals = make_originals(args.folder)
    ours = copies(originals, args.folder / "mem-ours", 48)
    theirs = copies(originals, args.folder / "mem-exiftool", 48)
    for leftover in args.folder.glob("mem.sqlite3*"):
        leftover.unlink()
    _, ours_mib, _ = child([sys.executable, "-m", "geotagger.geocore.cli.main", "set", "-q", "--lat", "45.5",
                         "--lon", "7.25", "--db", str(args.folder / "mem.sqlite3"), str(ours[0].parent)])
    _, exiftool_mib, _ = child(["exiftool", "-q", "-q", "-overwrite_original", *GPS_ARGS, str(theirs[0].parent)])
    shutil.rmtree(args.folder / "mem-ours")
    shutil.rmtree(args.folder / "mem-exiftool")
    return {"ours write 12 MP MiB": ours_mib, "exiftool write 12 MP MiB": exiftool_mib}


def small_originals(folder: Path) -> list[Path]:
    """16 small camera-like JPEGs (made once)."""
    paths = []
    for seed in range(16):
        path = folder / "small-originals" / f"o{seed}.jpg"
        if not path.exists():
            make_jpeg(path, size=(320, 240), color_seed=seed)
        paths.append(path)
    return paths


# The floor: the same file steps as our undo (see the module docstring), nothing else; argv: written folder,
# originals folder (the bytes to put back, as the journal's patches would give them).
FLOOR_RESTORE = """
import ctypes, os, sys
written, originals = sys.argv[1], sys.argv[2]
names = sorted(n for n in os.listdir(written) if not n.startswith("."))
syncfs = ctypes.CDLL(None, use_errno=True).syncfs
for start in range(0, len(names), 128):
    chunk = []
    for name in names[start:start + 128]:
        path, temp = os.path.join(written, name), os.path.join(written, "." + name + ".tmp")
        current = open(path, "rb").read()
        original = open(os.path.join(originals, name), "rb").read()
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, original)
        os.close(fd)
        os.chmod(temp, 0o644)
        chunk.append((path, temp, current, original))
    fd = os.open(written, os.O_RDONLY)
    syncfs(fd)
    for path, temp, current, original in chunk:
        assert open(temp, "rb").read() == original and open(path, "rb").read() == current
        os.replace(temp, path)
    os.fsync(fd)
    os.close(fd)
"""


def undo_round(args: argparse.Namespace, originals: list[Path]) -> dict[str, float]:
    """Write then undo with ours and with exiftool on fresh copies: seconds and peak RSS of each process."""
    ours, theirs = copies(originals, args.folder / "undo-ours", args.undo_count), \
        copies(originals, args.folder / "undo-exiftool", args.undo_count)
    database = args.folder / "undo.sqlite3"
    for leftover in args.folder.glob("undo.sqlite3*"):
        leftover.unlink()
    geotag = [sys.executable, "-m", "geotagger.geocore.cli.main"]
    figures: dict[str, float] = {}
    os.sync()  # earlier writes must not be flushed during (and billed to) the timed runs
    figures["ours write"], figures["ours write MiB"], figures["ours write cpu"] = child(
        [*geotag, "set", "-q", "--lat", "45.5", "--lon", "7.25", "--db", str(database), str(ours[0].parent)])
    with sqlite3.connect(database) as connection:
        batch = connection.execute("SELECT id FROM batches WHERE operation = 'write'").fetchone()[0]
    floor_copy = args.folder / "undo-floor"
    shutil.rmtree(floor_copy, ignore_errors=True)
    shutil.copytree(ours[0].parent, floor_copy)
    os.sync()
    figures["ours undo"], figures["ours undo MiB"], figures["ours undo cpu"] = child(
        [*geotag, "undo", "-q", "--batch", batch, "--db", str(database)])
    os.sync()
    figures["floor restore"], figures["floor restore MiB"], figures["floor restore cpu"] = child(
        [sys.executable, "-c", FLOOR_RESTORE, str(floor_copy), str(ours[0].parent)])
    assert all(p.read_bytes() == q.read_bytes() for p, q in zip(ours, sorted(floor_copy.iterdir()), strict=True))
    # What the undo's process pays before it touches a file: importing what `geotag undo` imports (of which
    # SQLAlchemy), each in a fresh interpreter; the rest of `ours undo` is the work set against the floor.
    figures["undo imports"], _, _ = child([sys.executable, "-c", UNDO_IMPORTS])
    figures["SQLAlchemy import"], _, _ = child([sys.executable, "-c", "import sqlalchemy"])
    os.sync()
    figures["exiftool write"], figures["exiftool write MiB"], figures["exiftool write cpu"] = child(
        ["exiftool", "-q", "-q", *GPS_ARGS, str(theirs[0].parent)])
    os.sync()
    figures["exiftool restore"], figures["exiftool restore MiB"], figures["exiftool restore cpu"] = child(
        ["exiftool", "-q", "-q", "-restore_original", str(theirs[0].parent)])
    assert all(p.read_bytes() == originals[i % len(originals)].read_bytes() for i, p in enumerate(ours))
    shutil.rmtree(args.folder / "undo-ours")
    shutil.rmtree(args.folder / "undo-exiftool")
    shutil.rmtree(floor_copy)
    figures.update(memory_of_large_writes(args))
    return figures


def spread(values: list[float]) -> str:
    """min / median / max."""
    return f"{min(values):8.2f} {statistics.median(values):8.2f} {max(values):8.2f}"


def undo_and_memory(args: argparse.Namespace) -> None:
    """Print the undo and memory rounds and their min/median/max."""
    originals = small_originals(args.folder)
    size_kb = originals[0].stat().st_size / 1000
    print(f"\nundo and memory: {args.undo_count} small JPEGs (320x240, ~{size_kb:.0f} kB), {args.rounds} rounds, "
          f"load average {os.getloadavg()[0]:.2f}")
    rounds = []
    for index in range(args.rounds):
        figures = undo_round(args, originals)
        rounds.append(figures)
        print(f"round {index + 1}: " + ", ".join(f"{k} {v:.1f}" for k, v in figures.items())
              + f"; undo ours/exiftool {figures['ours undo'] / figures['exiftool restore']:.2f}"
              f"   load {os.getloadavg()[0]:.2f}")
    print(f"{'':28} {'min':>8} {'median':>8} {'max':>8}")
    for name in rounds[0]:
        unit = " (MiB)" if "MiB" in name else " (s)"
        print(f"{name.replace(' MiB', '').replace(' cpu', ' CPU') + unit:28} {spread([r[name] for r in rounds])}")
    ratios = [r["ours undo"] / r["exiftool restore"] for r in rounds]
    print(f"undo ours / exiftool -restore_original, per round: {spread(ratios)}   target <= {UNDO_TARGET_RATIO} "
          f"({'meets' if statistics.median(ratios) <= UNDO_TARGET_RATIO else 'MISSES'} on the median)")
    floors = [r["ours undo"] / r["floor restore"] for r in rounds]
    print(f"undo ours / floor (the same file steps, stdlib only), per round: {spread(floors)}; "
          f"floor / exiftool: {spread([r['floor restore'] / r['exiftool restore'] for r in rounds])}")
    work = [(r["ours undo"] - r["undo imports"]) / r["floor restore"] for r in rounds]
    print(f"undo ours without its imports / floor, per round: {spread(work)}; the imports / exiftool's whole restore: "
          f"{spread([r['undo imports'] / r['exiftool restore'] for r in rounds])} (SQLAlchemy alone: "
          f"{spread([r['SQLAlchemy import'] / r['exiftool restore'] for r in rounds])})")
    cpu_ratios = [r["ours undo cpu"] / r["exiftool restore cpu"] for r in rounds]
    print(f"undo CPU time ours / exiftool, per round: {spread(cpu_ratios)}")
    memory_breakdown(statistics.median(r["ours write MiB"] for r in rounds))
    memory = [r["ours write MiB"] / r["exiftool write MiB"] for r in rounds]
    print(f"peak RSS of the write, ours / exiftool, per round: {spread(memory)}   (ours: "
          f"{statistics.median(r['ours write MiB'] for r in rounds):.0f} MiB, exiftool: "
          f"{statistics.median(r['exiftool write MiB'] for r in rounds):.0f} MiB)")


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


def precompile() -> None:
    """Bytecode for geocore, as an installed package has it: with PYTHONDONTWRITEBYTECODE set (CI, some shells) every
    whole-process run would compile ~1 s of sources again, which no user's run does."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "geocore")], check=True)


def main() -> int:
    """Run both writers on copies of the same files, in interleaved rounds, and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (the machine may be shared)")
    parser.add_argument("--undo-count", type=int, default=1000, help="small JPEGs for undo and memory (0: skip)")
    parser.add_argument("--skip-12mp", action="store_true", help="only the undo and memory part")
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "geotag-bench-write")
    args = parser.parse_args()
    precompile()
    if not args.skip_12mp:
        write_12mp(args)
    if args.undo_count:
        undo_and_memory(args)
    return 0


def write_12mp(args: argparse.Namespace) -> None:
    """The 12 MP write rounds against one exiftool process."""
    originals = make_originals(args.folder)
    where = positions(args.count)
    rounds = [one_round(args, originals, where, exiftool_first=bool(i % 2)) for i in range(args.rounds)]
    ours_s, exiftool_s = [r[0] for r in rounds], [r[1] for r in rounds]
    print(f"files {args.count} x 12 MP JPEG ({rounds[0][3]:.1f} MB each), {args.rounds} rounds, "
          f"load average {os.getloadavg()[0]:.2f}")
    for index, (ours, theirs, scan, _) in enumerate(rounds):
        print(f"round {index + 1}: ours {ours:7.2f} s, exiftool {theirs:7.2f} s, ratio {theirs / ours:5.2f}"
              f"   [our scan {scan:.2f} s]")
    ratios = [t / o for o, t in zip(ours_s, exiftool_s, strict=True)]
    print(f"{'':28} {'min':>8} {'median':>8} {'max':>8}   load average {os.getloadavg()[0]:.2f}")
    print(f"{'ours (full safety) s':28} {spread(ours_s)}")
    print(f"{'exiftool (1 process) s':28} {spread(exiftool_s)}")
    print(f"{'ratio exiftool/ours':28} {spread(ratios)}   (target >= 1.0 on the median)")


if __name__ == "__main__":
    sys.exit(main())
