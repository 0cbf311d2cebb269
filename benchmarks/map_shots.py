"""Screenshots of the map page alone, offline: a town with the basemap's labels, lakes and rivers, and a vector
tile archive drawn over it.

    python benchmarks/map_shots.py OUT.png --at 46.2044,6.1432,10 [--size 1000x700]
    python benchmarks/map_shots.py OUT.png --at 38.72,-9.14,14 --vector-demo    # a generated MVT archive

Runs under Xvfb (through xvfb-run when no DISPLAY is set). Prints the page's state (labels, lakes, rivers, vector
features) and every request the guard blocked (there should be none).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from screenshot import _reexec_under_xvfb, _wait  # noqa: E402  (the same script folder)
from screenshot import page_js as _js  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--at", default="46.2044,6.1432,10", help="lat,lon,zoom")
    parser.add_argument("--size", default="1000x700")
    parser.add_argument("--archive", default="", help="a PMTiles or MBTiles archive to draw")
    parser.add_argument("--vector-demo", action="store_true", help="draw a generated vector archive around --at")
    args = parser.parse_args()
    if not os.environ.get("DISPLAY") and not os.environ.get("GEOTAGGER_UNDER_XVFB"):
        return _reexec_under_xvfb("map_shots")
    os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
    from PySide6.QtWidgets import QApplication

    from geotagger.app.qt_compat import make_none_immortal

    make_none_immortal()
    app = QApplication.instance() or QApplication([])
    from geotagger.app.map.view import MapView

    lat, lon, zoom = (float(v) for v in args.at.split(","))
    archive = args.archive
    if args.vector_demo:
        from tests.app.tile_archives import vector_tiles_around, write_pmtiles

        archive = str(write_pmtiles(Path(tempfile.mkdtemp()) / "demo.pmtiles",
                                    vector_tiles_around((lat, lon), range(int(zoom) - 1, int(zoom) + 1)),
                                    tile_type=1, tile_compression=2))
    width, height = (int(v) for v in args.size.split("x"))
    view = MapView(archive_path=archive)
    view.resize(width, height)
    view.show()
    start = time.monotonic()
    if not _wait(app, lambda: view.is_ready, 60):
        print("map_shots: the page never became ready", file=sys.stderr)
        return 1
    view.go_to(lat, lon, "", int(zoom))
    _wait(app, lambda: False, 2.5)  # labels, water and tiles drawn
    state = _js(app, view, "JSON.stringify({basemap: window.geotaggerState.basemap,"
                           " zoom: window.GEOTAGGER_MAP.getZoom(),"
                           " archiveTiles: window.geotaggerState.archiveTiles,"
                           " vectorFeatures: window.geotaggerState.vectorFeatures,"
                           " labels: document.querySelectorAll('.gt-place').length})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    view.grab().save(str(args.out))
    print(json.dumps({"out": str(args.out), "state": json.loads(state or "{}"), "blocked": view.guard.blocked,
                      "archive_problem": view.archive_problem, "seconds": round(time.monotonic() - start, 1)}))
    view.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
