"""The app as the desktop sees it: its id, its icon, and `geotagger --install-desktop`, which puts the launcher,
the icons and the AppStream metainfo where freedesktop.org desktops look ($XDG_DATA_HOME, ~/.local/share).

A wheel cannot install into those folders itself (pip, pipx and --user installs all live elsewhere), so the files
ship as package data and this command copies them, with the launcher's Exec pointing at this installation.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from geotagger.geocore.resources import resource_path

APP_ID = "io.github.geotagger.Geotagger"


def data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def icon_path() -> Path:
    return resource_path("icons", "geotagger.svg")


def _launcher_command() -> str:
    """The `geotagger` script of this installation (a venv or pipx app is usually not on the desktop's PATH)."""
    beside = Path(sys.executable).with_name("geotagger")
    found = beside if beside.exists() else shutil.which("geotagger")
    return str(found) if found else "geotagger"


def install_desktop_files(target: Path | None = None) -> list[Path]:
    """Copy the launcher, icons and metainfo under `target` (default $XDG_DATA_HOME); returns what was written."""
    target = target or data_home()
    written: list[Path] = []
    desktop_text = resource_path("desktop", f"{APP_ID}.desktop").read_text(encoding="utf-8")
    command = _launcher_command()
    # Quoted per the Desktop Entry spec when the path holds a space (a home folder named "My Name").
    exec_value = f'"{command}"' if " " in command else command
    desktop_text = desktop_text.replace("Exec=geotagger %F", f"Exec={exec_value} %F")
    desktop_text = desktop_text.replace("TryExec=geotagger", f"TryExec={command}")
    written.append(_write(target / "applications" / f"{APP_ID}.desktop", desktop_text.encode("utf-8")))
    written.append(_write(target / "metainfo" / f"{APP_ID}.metainfo.xml",
                          resource_path("desktop", f"{APP_ID}.metainfo.xml").read_bytes()))
    written.append(_write(target / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg",
                          icon_path().read_bytes()))
    for png in sorted(resource_path("icons", "hicolor").glob(f"*/apps/{APP_ID}.png")):
        size = png.parent.parent.name
        written.append(_write(target / "icons" / "hicolor" / size / "apps" / png.name, png.read_bytes()))
    return written


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_bytes(data)
    os.replace(temp, path)
    return path
