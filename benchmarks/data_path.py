"""The data path "dropped folder -> GPS on disk", counted: SQL statements and seconds per written photo.

Runs the CLI's sequence (scan, sync-neighbours --accept, write) on N generated photos (one geotagged phone photo
per ten camera photos taken minutes later) and counts every SQL statement the cache executes. Run it on two
checkouts to compare them (PYTHONPATH=OTHER_CHECKOUT python benchmarks/data_path.py): the figures are per
written photo, so machines and N matter little.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.photo_factory import make_jpeg  # noqa: E402

STATEMENTS: Counter[str] = Counter()


@sa.event.listens_for(sa.engine.Engine, "before_cursor_execute")
def _count(_conn, _cursor, statement, _parameters, _context, executemany) -> None:  # type: ignore[no-untyped-def]
    STATEMENTS[statement.split()[0].upper()] += 1


def make_trip(folder: Path, photos: int) -> None:
    start = datetime(2024, 5, 1, 9, 0, 0)
    for index in range(photos):
        taken = start + timedelta(minutes=index)
        if index % 11 == 0:
            make_jpeg(folder / f"phone_{index:04d}.jpg", (64, 48), gps=(45.0 + index * 1e-4, 7.0),
                      datetime_original=taken, offset="+02:00")
        else:
            make_jpeg(folder / f"camera_{index:04d}.jpg", (64, 48), datetime_original=taken, offset="+02:00")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--photos", type=int, default=220)
    args = parser.parse_args()
    from geotagger.geocore.cli.main import main as geotag

    with tempfile.TemporaryDirectory() as tmp:
        folder, db = Path(tmp) / "trip", str(Path(tmp) / "cache.sqlite")
        make_trip(folder, args.photos)
        steps = (["scan", str(folder)], ["sync-neighbours", str(folder), "--accept"], ["write"])
        rows = []
        for step in steps:
            STATEMENTS.clear()
            started = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):  # the per-file lines are not the figure
                geotag([*step, "--db", db])
            rows.append((step[0], sum(STATEMENTS.values()), time.perf_counter() - started, dict(STATEMENTS)))
        written = sum(1 for p in folder.iterdir() if p.name.startswith("camera_"))
    from geotagger import geocore

    print(f"checkout: {Path(geocore.__file__).resolve().parents[1]}  photos: {args.photos}, camera photos "
          f"written: {written}")
    print(f"{'step':16} {'statements':>10} {'per written photo':>18} {'seconds':>8}")
    for name, count, seconds, kinds in rows:
        print(f"{name:16} {count:10d} {count / written:18.2f} {seconds:8.2f}   {kinds}")
    total = sum(count for _, count, _, _ in rows)
    print(f"{'total':16} {total:10d} {total / written:18.2f} {sum(s for _, _, s, _ in rows):8.2f}")


if __name__ == "__main__":
    main()
