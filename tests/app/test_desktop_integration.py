"""The desktop sees a valid launcher, metainfo and icons, installed where it looks; `geotagger --version`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from geotagger.app.desktop_integration import APP_ID, install_desktop_files
from geotagger.geocore import __version__
from geotagger.geocore.resources import resource_path


def _validate(tool: str, *args: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (.ci/run installs it)")
    done = subprocess.run([tool, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_shipped_launcher_and_metainfo_are_valid() -> None:
    _validate("desktop-file-validate", str(resource_path("desktop", f"{APP_ID}.desktop")))
    _validate("appstreamcli", "validate", "--no-net", str(resource_path("desktop", f"{APP_ID}.metainfo.xml")))


def test_install_desktop_puts_everything_where_desktops_look(tmp_path: Path) -> None:
    written = install_desktop_files(tmp_path)
    launcher = tmp_path / "applications" / f"{APP_ID}.desktop"
    assert launcher in written and (tmp_path / "metainfo" / f"{APP_ID}.metainfo.xml").is_file()
    assert (tmp_path / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg").is_file()
    for size in (16, 32, 48, 128, 256):
        png = tmp_path / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        assert Image.open(png).size == (size, size)
    text = launcher.read_text(encoding="utf-8")
    exec_line = next(line for line in text.splitlines() if line.startswith("Exec="))
    assert exec_line.endswith(" %F") and "image/jpeg" in text and "image/heic" in text
    _validate("desktop-file-validate", str(launcher))


def test_the_gui_reports_its_version() -> None:
    done = subprocess.run([sys.executable, "-m", "geotagger.app.main", "--version"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == f"geotagger {__version__}"
