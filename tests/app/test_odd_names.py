"""A file name that is not UTF-8 is listed (with U+FFFD shown) and still written: the key stays the exact path."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from geotagger.app.items import COLUMNS
from tests.photo_factory import make_jpeg

from .test_window import open_and_wait


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS file systems refuse names that are not UTF-8")
def test_a_latin1_name_is_listed_with_a_replacement_character(qtbot, make_window, tmp_path: Path) -> None:
    folder = tmp_path / "odd"
    folder.mkdir()
    photo = Path(os.fsdecode(os.fsencode(folder) + b"/caf\xe9.jpg"))
    make_jpeg(photo, (160, 120), gps=(48.85, 2.35))
    window = make_window()
    open_and_wait(qtbot, window, folder)
    item, = window.model.items
    assert item.key == str(photo) and item.path.exists()  # the exact path, surrogate escape and all
    row = window.model.rows_by_key[item.key]
    shown = window.model.data(window.model.index(row, COLUMNS.index("Photo")))
    assert shown == "caf\ufffd.jpg"  # Qt would silently drop the undecodable byte
