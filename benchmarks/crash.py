"""Benchmark: SIGKILL at random moments during `write`, `undo` and `strip`, then the run after the crash.

Each trial copies the same generated photos (JPEG and TIFF written in place, RAW-like files with sidecars) into a
fresh folder and library, brings them to the state the operation needs, starts the operation in a child process
and kills it with SIGKILL at a random moment. The next run then opens the library (recovery) and counts:
- corrupt files: neither as they were before the killed batch nor exactly what its journal says was written
  (or not decodable, or a temp file left behind);
- false failures: failures of the same command run again, rewrites of files the killed batch had finished,
  journal rows left pending, cached identities that no longer match their files;
- undo mismatches: files not byte-identical to the originals after `undo` of everything.
Printed side by side with the reference, which is 0 for every count (kills aside).
Usage: python benchmarks/crash.py [--trials 60] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.library.test_crash import OPERATIONS, TrialResult, make_pristine, run_trial  # noqa: E402

COUNTS = ("corrupt", "false_failures", "undo_mismatches")


def _print_table(results: list[TrialResult], seconds: float) -> None:
    rows = [("trials", len(results), len(results)), ("kills", sum(r.killed for r in results), "-"),
            ("kills after a file was finished", sum(r.killed and r.written > 0 for r in results), "-")]
    rows += [(name.replace("_", " "), sum(getattr(r, name) for r in results), 0) for name in COUNTS]
    print(f"{'':32} {'ours':>8} {'reference':>10}")
    for label, ours, reference in rows:
        print(f"{label:32} {ours:>8} {reference!s:>10}")
    for operation in OPERATIONS:
        mine = [r for r in results if r.operation == operation]
        bad = sum(getattr(r, name) for r in mine for name in COUNTS)
        print(f"  {operation:8} trials {len(mine):3}  kills {sum(r.killed for r in mine):3}  problems {bad}")
    print(f"{seconds:.1f} s")


def main() -> int:
    """Run the trials and print the figures; exit status 1 if any count is not 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    started = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="geotag-crash-") as root:
        pristine = Path(root) / "pristine"
        make_pristine(pristine)
        for trial in range(args.trials):
            work = Path(root) / f"trial{trial}"
            results.append(run_trial(pristine, work, OPERATIONS[trial % 3], rng))
            shutil.rmtree(work)
    _print_table(results, time.perf_counter() - started)
    return 1 if any(getattr(r, name) for r in results for name in COUNTS) else 0


if __name__ == "__main__":
    sys.exit(main())
