"""Writing a HEIC again does not grow it: the Exif/XMP items are rewritten in place or our mdat is replaced."""

from __future__ import annotations

import pytest

from geotagger.geocore.library import heif, places
from geotagger.geocore.library.api import Library
from geotagger.geocore.library.gps import GpsFix
from geotagger.geocore.library.patches import apply_patches
from tests.library.exiftool_helpers import exiftool_tags, sha256_of
from tests.library.test_in_place_formats import SYDNEY, _rich_heic, decoded_pixels, exiv2_position, pytestmark
from tests.photo_factory import make_heic

__all__ = ["pytestmark"]  # exiftool and exiv2 needed, as for the other in-place formats
POSITIONS = [(-33.856784, 151.215297, 12.0, "model"), (48.858370, 2.294481, 0.01, "manual"),
             (35.658581, 139.745433, 0.05, "manual"), (40.748441, -73.985664, 3.0, "model")]


@pytest.mark.parametrize("make", [lambda p: make_heic(p, size=(64, 64)),
                                  lambda p: make_heic(p, size=(64, 64), gps=(48.85, 2.29, 35.0)),
                                  _rich_heic], ids=["heic", "heic_gps", "rich"])
def test_three_more_writes_keep_the_size_and_undo_walks_back(tmp_path, monkeypatch, make) -> None:
    path = make(tmp_path / "photos" / "a.heic")
    monkeypatch.setattr(places, "place_names", lambda coordinates: [SYDNEY for _ in coordinates])
    library = Library(tmp_path / "cache" / "lib.sqlite3", place_names=True)
    library.scan([path.parent])
    pixels, shas, sizes, batches = decoded_pixels(path), [sha256_of(path)], [path.stat().st_size], []
    for lat, lon, radius_km, source in POSITIONS:
        photo = library.photo_by_path(path)
        library.accept(library.propose(photo.id, lat, lon, radius_km, source))
        report = library.write_batch()
        assert all(r.ok for r in report.results), report.results
        batches.append(report.batch_id)
        shas.append(sha256_of(path))
        sizes.append(path.stat().st_size)
        tags = exiftool_tags(path)
        assert abs(tags["Composite:GPSLatitude"] - lat) < 1e-6 and abs(tags["Composite:GPSLongitude"] - lon) < 1e-6
        assert exiv2_position(path) == (pytest.approx(lat, abs=1e-6), pytest.approx(lon, abs=1e-6))
        assert decoded_pixels(path) == pixels
    # The first write adds the Exif/XMP data once; later ones (other sources, radii) keep the size within the
    # few bytes a differently sized tag takes, instead of adding a whole Exif item each time.
    assert max(sizes[2:]) - min(sizes[2:]) <= 64, sizes
    assert sizes[-1] <= sizes[1] + 64, sizes
    for batch_id, sha in zip(reversed(batches), reversed(shas[:-1]), strict=True):
        assert all(r.ok for r in library.undo(batch_id=batch_id).results)
        assert sha256_of(path) == sha
    library.close()


def test_same_size_rewrite_leaves_meta_alone_and_replaces_only_item_bytes(tmp_path) -> None:
    path = make_heic(tmp_path / "a.heic", size=(64, 64))
    first = apply_patches(data := path.read_bytes(), heif.set_gps_heif(data, GpsFix(10.0, 20.0, method="GPS")))
    patches = heif.set_gps_heif(first, GpsFix(11.0, 21.0, method="GPS"))
    second = apply_patches(first, patches)
    assert len(second) == len(first)
    layout = heif.read_layout(first)
    meta_start, _payload, meta_end = layout.meta
    assert second[meta_start:meta_end] == first[meta_start:meta_end]
    assert all(len(p.old) == len(p.new) and p.offset >= meta_end for p in patches)
    assert heif.images_unchanged(first, second)


def test_a_grown_exif_replaces_our_mdat_instead_of_adding_one(tmp_path) -> None:
    path = make_heic(tmp_path / "a.heic", size=(64, 64))
    data = path.read_bytes()
    first = apply_patches(data, heif.set_gps_heif(data, GpsFix(10.0, 20.0, method="GPS")))
    # An altitude adds a tag: the Exif item grows, so it cannot stay where it is.
    second = apply_patches(first, heif.set_gps_heif(first, GpsFix(10.0, 20.0, alt_m=100.0, method="GPS")))
    top = [box_type for box_type, *_rest in heif.boxes_at(second, 0, len(second))]
    assert top.count(b"mdat") == [t for t, *_r in heif.boxes_at(first, 0, len(first))].count(b"mdat")
    assert len(second) - len(first) < 64
    assert heif.images_unchanged(first, second) and heif.images_unchanged(data, second)
