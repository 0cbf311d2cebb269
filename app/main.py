"""Entry point of the `geotagger` GUI: `geotagger [FOLDER_OR_PHOTO...]` opens the window on them."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from geotagger.geocore import __version__


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Command-line options of the GUI."""
    parser = argparse.ArgumentParser(prog="geotagger", description="Find where photos were taken and write it.")
    parser.add_argument("paths", nargs="*", type=Path, help="folders or photos to open")
    parser.add_argument("--config-dir", type=Path, help="settings folder (default: the user's config folder)")
    parser.add_argument("--data-dir", type=Path, help="library cache and models folder (default: the user's)")
    parser.add_argument("--install-desktop", action="store_true",
                        help="add Geotagger to the desktop's application menu (launcher, icons, metainfo in "
                             "~/.local/share) and exit")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser.parse_args(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    """Open the main window on the given folders; returns the Qt exit status."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.install_desktop:
        from geotagger.app.desktop_integration import install_desktop_files

        for path in install_desktop_files():
            print(path)
        return 0
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Chromium refuses to start its sandbox as root (containers, CI). The page is our own local file with a
        # strict CSP and a request guard, so running it unsandboxed there is the lesser evil than not starting.
        os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
    from geotagger.app.qt_compat import make_none_immortal

    make_none_immortal()
    from geotagger.app.gui_process import prepare_gui_process

    prepare_gui_process()  # before the QApplication exists: Qt reads its environment then
    from PySide6.QtCore import QCoreApplication, Qt
    from PySide6.QtWidgets import QApplication

    # QtWebEngine needs shared GL contexts set before the application object exists.
    QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("Geotagger")
    from PySide6.QtGui import QGuiApplication, QIcon

    from geotagger.app.desktop_integration import APP_ID, icon_path

    # Wayland compositors match the window to its launcher (and icon) by this id, not by the window title.
    QGuiApplication.setDesktopFileName(APP_ID)
    app.setWindowIcon(QIcon(str(icon_path())))
    from geotagger.app.window import MainWindow

    window = MainWindow(config=args.config_dir, data=args.data_dir)
    # Deleted on close, while the application still runs: QtWebEngine must go before QApplication does.
    window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    window.show()
    warnings = window.backend.recovery_warnings
    if warnings:  # an earlier crash left changes the journal could not settle (e.g. their drive is unplugged)
        window.show_summary("Unfinished changes", f"{len(warnings)} change(s) of an earlier session could not be "
                            "settled yet; they are settled when their files can be reached again.",
                            "\n".join(warnings))
    missing = [p for p in args.paths if not p.exists()]
    for path in missing:
        print(f"geotagger: {path}: no such file or folder", file=sys.stderr)
    existing = [p for p in args.paths if p.exists()]
    if existing:
        window.open_paths(existing)
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
