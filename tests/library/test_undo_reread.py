"""After an undo the cache holds what a scan would read: sidecars found as the walk finds them (any case)."""

from __future__ import annotations

from pathlib import Path

from geotagger.geocore.library.api import Library
from tests.photo_factory import make_jpeg

SIDECAR = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           '<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="10,30.0N" '
           'exif:GPSLongitude="20,15.0W"/></rdf:RDF></x:xmpmeta>')


def test_undo_rereads_photos_with_their_sidecars_as_the_scan_does(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    photos = [make_jpeg(folder / f"IMG_{index}.JPG", size=(64, 48), color_seed=index) for index in range(3)]
    sidecar = folder / "img_1.xmp"  # another case than the photo: the walk matches it, so must the undo
    sidecar.write_text(SIDECAR)
    originals = [p.read_bytes() for p in photos]
    library = Library(tmp_path / "cache.sqlite3")
    try:
        library.scan([folder])
        before = {p.name: library.photo_by_path(p) for p in photos}
        assert before["IMG_1.JPG"].gps_source == "xmp"
        for photo in before.values():
            library.propose(photo.id, 45.5, 7.25, 0.1, "manual", state="accepted")
        written = library.write_batch()
        assert len(written.written) == 3 and library.photo_by_path(photos[1]).gps_source == "exif"
        undone = library.undo(batch_id=written.batch_id)
        assert len(undone.written) == 3 and not undone.failed
        after = {p.name: library.photo_by_path(p) for p in photos}
        assert after["IMG_1.JPG"].gps_source == "xmp" and after["IMG_1.JPG"].gps_lon == -20.25
        assert after["IMG_1.JPG"].sidecar_mtime_ns == sidecar.stat().st_mtime_ns
        assert after["IMG_0.JPG"].gps_lat is None and after["IMG_0.JPG"].sidecar_mtime_ns is None
        assert [p.read_bytes() for p in photos] == originals
        rescan = library.scan([folder])
        assert rescan.unchanged == 3 and rescan.changed == rescan.sidecar_changed == 0, rescan
    finally:
        library.close()
