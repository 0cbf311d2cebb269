"""Reading many photos by id in a few queries (predict, neighbour sync), and only the rows a scan added since a
given one (the window's list filling while a scan runs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from geotagger.geocore.library.api import Library
from tests.photo_factory import make_jpeg


def _library_with(tmp_path: Path, names: list[str]) -> Library:
    folder = tmp_path / "photos"
    folder.mkdir(exist_ok=True)
    for seed, name in enumerate(names):
        make_jpeg(folder / name, (32, 24), color_seed=seed)
    library = Library(tmp_path / "cache" / "lib.sqlite3")
    library.scan([folder])
    return library


def test_photos_come_in_the_order_asked_once_each_and_an_unknown_id_is_refused(tmp_path: Path) -> None:
    library = _library_with(tmp_path, [f"p{i:04d}.jpg" for i in range(3)])
    ids = [record.id for record in library.photos()]
    wanted = [ids[2], ids[0], ids[2], ids[1]]
    assert [record.id for record in library.photos_in_order(wanted)] == [ids[2], ids[0], ids[1]]
    assert library.photos_in_order([]) == []
    with pytest.raises(KeyError, match="not in the library"):
        library.photos_in_order([ids[0], max(ids) + 1])


def test_after_id_reads_only_rows_added_since(tmp_path: Path) -> None:
    library = _library_with(tmp_path, ["a.jpg", "b.jpg"])
    folder = tmp_path / "photos"
    first = library.photos(folder=folder)
    last_seen = max(record.id for record in first)
    assert library.photos(folder=folder, after_id=last_seen) == []
    make_jpeg(folder / "c.jpg", (32, 24), color_seed=9)
    library.scan([folder])
    added = library.photos(folder=folder, after_id=last_seen)
    assert [Path(record.path).name for record in added] == ["c.jpg"]
    assert len(library.photos(folder=folder)) == 3
