"""Entry point of the `geotagger` GUI (the full window is built by the desktop-app issue)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    """Open the main window on the given folders; returns the Qt exit status."""
    from PySide6.QtWidgets import QApplication, QLabel

    args = list(sys.argv[1:] if argv is None else argv)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    folders = [Path(a) for a in args]
    photos = sorted(p.name for f in folders if f.is_dir() for p in f.iterdir() if p.is_file())
    label = QLabel("Geotagger\n\n" + "\n".join(photos or ["(drop folders here)"]))
    label.setWindowTitle("Geotagger")
    label.resize(640, 480)
    label.show()
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
