"""Screenshot of the app on resources/samples with a photo selected, after the map has loaded.

    python benchmarks/screenshot.py OUT.png [--select NAME] [--size 1400x860]

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


def _reexec_under_xvfb() -> int:
    xvfb_run = shutil.which("xvfb-run")
    if xvfb_run is None:
        print("screenshot: no DISPLAY and no xvfb-run; install Xvfb", file=sys.stderr)
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


def shoot(out: Path, select: str, size: tuple[int, int], overlay: bool) -> int:
    from PySide6.QtCore import QCoreApplication, Qt
    from PySide6.QtWidgets import QApplication

    QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)
    app = QApplication([sys.argv[0]])
    from app.qt_compat import make_none_immortal
    from app.window import MainWindow

    make_none_immortal()

    started = time.monotonic()
    with tempfile.TemporaryDirectory() as scratch:
        window = MainWindow(config=Path(scratch) / "config", data=Path(scratch) / "data")
        window.resize(*size)
        window.show()
        window.open_paths([SAMPLES])
        _wait(app, lambda: len(window.model.items) > 0 and not window.busy(), 120)
        window.select_key(next((i.key for i in window.model.items if i.path.name == select), window.model.items[0].key))
        _wait(app, lambda: window.map.is_ready, 30)
        map_s = time.monotonic() - started
        if overlay and _wait(app, window.detail.overlay_toggle.isEnabled, 10):
            window.detail.overlay_toggle.setChecked(True)
        _wait(app, lambda: False, 2.5)  # let Leaflet finish drawing and fitting bounds, thumbnails arrive
        out.parent.mkdir(parents=True, exist_ok=True)
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
    args = parser.parse_args()
    if not os.environ.get("DISPLAY") and not os.environ.get("GEOTAGGER_UNDER_XVFB"):
        return _reexec_under_xvfb()
    sys.path.insert(0, str(ROOT))
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root, where Chromium needs this
        os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
    width, height = (int(v) for v in args.size.split("x"))
    return shoot(args.out.resolve(), args.select, (width, height), not args.no_overlay)


if __name__ == "__main__":
    sys.exit(main())
