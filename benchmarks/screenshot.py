"""Screenshot of the app with a photo selected, after the map has loaded.

    python benchmarks/screenshot.py OUT.png [--select NAME] [--size 1400x860]
    python benchmarks/screenshot.py OUT.png --scenario town     # a trip around Lisbon, map at zoom 10, offline
    python benchmarks/screenshot.py OUT.png --scenario track    # the same trip synced with its GPX track
    python benchmarks/screenshot.py OUT.png --scenario search   # the place search typing "Kyoto" (whole screen)
    python benchmarks/screenshot.py OUT.png --scenario dialog   # the track-sync dialog: a camera clock 2 min slow,
                                                                # the live preview of matches (whole screen)

The default scenario opens resources/samples.
Runs under Xvfb (through xvfb-run when no DISPLAY is set) with a throw-away settings and data folder, so the
user's library is never touched. Prints the time from start to a drawn map and to the saved picture.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "samples"


def _reexec_under_xvfb(program: str = "screenshot") -> int:
    """Run this script again under xvfb-run (map_shots.py uses it too)."""
    xvfb_run = shutil.which("xvfb-run")
    if xvfb_run is None:
        print(f"{program}: no DISPLAY and no xvfb-run; install Xvfb", file=sys.stderr)
        return 2
    env = dict(os.environ, GEOTAGGER_UNDER_XVFB="1")
    command = [xvfb_run, "-a", "-s", "-screen 0 1600x1000x24", sys.executable, *sys.argv]
    return subprocess.call(command, env=env)


def _wait(app, condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        app.processEvents()
        if condition():
            return True
        time.sleep(0.02)
    return False


LISBON = (38.7223, -9.1393)


def make_trip(folder: Path) -> tuple[Path, Path]:
    """Twelve photos of a walk through Lisbon (four with GPS, eight without) and the walk's GPX track."""
    from datetime import datetime, timedelta

    from tests.photo_factory import make_jpeg

    folder.mkdir(parents=True)
    start = datetime(2023, 6, 1, 9, 0)
    path = [(LISBON[0] - 0.02 + 0.004 * i, LISBON[1] - 0.06 + 0.009 * i) for i in range(13)]
    for index in range(12):
        gps = path[index] if index % 3 == 0 else None
        make_jpeg(folder / f"IMG_{index:04d}.jpg", (320, 240), gps=gps, color_seed=index,
                  datetime_original=start + timedelta(minutes=20 * index))
    points = "".join(f'<trkpt lat="{lat + 0.0005 * (i % 3)}" lon="{lon}"><time>'
                     f'{(start + timedelta(minutes=20 * i)).strftime("%Y-%m-%dT%H:%M:%SZ")}</time></trkpt>'
                     for i, (lat, lon) in enumerate(path))
    gpx = folder.parent / "walk.gpx"
    gpx.write_text('<?xml version="1.0"?><gpx version="1.1" creator="demo" xmlns="http://www.topografix.com/GPX/1/1">'
                   f"<trk><name>walk</name><trkseg>{points}</trkseg></trk></gpx>", encoding="utf-8")
    return folder, gpx


def page_js(app, view, script: str):
    """The value of `script` run in a QWebEngineView's page (None if it gives none within 10 s)."""
    box: list = []
    view.page().runJavaScript(script, 0, box.append)
    _wait(app, lambda: bool(box), 10)
    return box[0] if box else None


def run_js(app, window, script: str):
    return page_js(app, window.map, script)


def scenario(app, window, name: str, scratch: Path) -> None:
    """Bring the window to the scenario's state (after the samples or the trip are listed)."""
    if name == "track":
        _, gpx = make_trip.last  # type: ignore[attr-defined]
        window.sync_tracks([gpx])
        _wait(app, lambda: not window.busy(), 60)
        _wait(app, lambda: (run_js(app, window, "window.geotaggerState.tracks") or 0) > 0, 20)
        placed = [i for i in window.model.items if i.source == "track"]
        if placed:
            window.select_key(placed[len(placed) // 2].key)
        _wait(app, lambda: False, 1.0)
        run_js(app, window, "GEOTAGGER_MAP.setView([38.72, -9.13], 13, {animate: false}); 1")
    elif name == "town":
        run_js(app, window, "GEOTAGGER_MAP.setView([38.74, -9.14], 10, {animate: false}); 1")
    elif name == "dialog":
        _, gpx = make_trip.last  # type: ignore[attr-defined]
        dialog = window.track_dialog([gpx])
        dialog.show()
        _wait(app, lambda: bool(dialog._cameras), 20)  # the first preview lists the cameras
        if dialog._cameras:
            dialog.set_camera(dialog._cameras[0], offset="+0:02:00")
        _wait(app, lambda: False, 3.0)  # the preview of the new offset runs in the background
        scenario.dialog = dialog  # type: ignore[attr-defined]  (kept alive until the screenshot)
    elif name == "search":
        window.search.line.setFocus()
        window.search.search("Kyoto")
        window.search.line.setText("Kyo")
        window.search._typed("Kyo")


def shoot(out: Path, select: str, size: tuple[int, int], overlay: bool, scenario_name: str = "samples") -> int:
    from PySide6.QtCore import QCoreApplication, Qt
    from PySide6.QtWidgets import QApplication

    QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)
    app = QApplication([sys.argv[0]])
    from geotagger.app.qt_compat import make_none_immortal
    from geotagger.app.window import MainWindow

    make_none_immortal()

    started = time.monotonic()
    with tempfile.TemporaryDirectory() as scratch:
        window = MainWindow(config=Path(scratch) / "config", data=Path(scratch) / "data")
        window.resize(*size)
        window.show()
        if scenario_name in ("town", "track", "search", "dialog"):
            make_trip.last = make_trip(Path(scratch) / "trip" / "photos")  # type: ignore[attr-defined]
            window.open_paths([make_trip.last[0]])  # type: ignore[attr-defined]
        else:
            window.open_paths([SAMPLES])
        _wait(app, lambda: len(window.model.items) > 0 and not window.busy(), 120)
        window.select_key(next((i.key for i in window.model.items if i.path.name == select), window.model.items[0].key))
        _wait(app, lambda: window.map.is_ready, 30)
        map_s = time.monotonic() - started
        if overlay and _wait(app, window.detail.overlay_toggle.isEnabled, 10):
            window.detail.overlay_toggle.setChecked(True)
        if scenario_name != "samples":
            scenario(app, window, scenario_name, Path(scratch))
        _wait(app, lambda: False, 2.5)  # let Leaflet finish drawing and fitting bounds, thumbnails arrive
        out.parent.mkdir(parents=True, exist_ok=True)
        if scenario_name in ("search", "dialog"):  # popups and dialogs are windows of their own: the screen
            saved = app.primaryScreen().grabWindow(0).save(str(out))
        else:
            saved = window.grab().save(str(out))
        print(f"map ready after {map_s:.1f} s; screenshot {'saved to ' + str(out) if saved else 'FAILED'} "
              f"after {time.monotonic() - started:.1f} s; {len(window.model.items)} photos listed")
        window.close()
        window.deleteLater()
        app.processEvents()
    return 0 if saved else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--select", default="chelsea_the_cat.jpg")
    parser.add_argument("--size", default="1400x860")
    parser.add_argument("--no-overlay", action="store_true", help="leave the saliency overlay off")
    parser.add_argument("--scenario", choices=("samples", "town", "track", "search", "dialog"), default="samples")
    args = parser.parse_args()
    if not os.environ.get("DISPLAY") and not os.environ.get("GEOTAGGER_UNDER_XVFB"):
        return _reexec_under_xvfb()
    sys.path.insert(0, str(ROOT))
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root, where Chromium needs this
        os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
    width, height = (int(v) for v in args.size.split("x"))
    return shoot(args.out.resolve(), args.select, (width, height), not args.no_overlay, args.scenario)


if __name__ == "__main__":
    sys.exit(main())
