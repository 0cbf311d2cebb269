"""metadata_diff: values compared by meaning (not offset or byte order), every kind of loss seen, intent respected."""

from __future__ import annotations

import struct

import pytest

from geotagger.geocore.library.api import Library
from geotagger.geocore.library.errors import ErrorKind
from geotagger.geocore.library.gps import GpsFix
from geotagger.geocore.library.metadata_diff import (
    Intended,
    UnintendedChange,
    check_only_intended,
    unintended_differences,
)
from geotagger.geocore.library.metadata_snapshot import snapshot
from geotagger.geocore.library.writer import VerifyError
from geotagger.geocore.library.xmp import Place
from tests.library.exiftool_helpers import needs_exiftool
from tests.library.hostile_corpus import (
    PLACE_XMP,
    Ref,
    TiffLayout,
    camera_exif,
    camera_ifd0,
    exif_app1,
    exiftool_all,
    gps_entries,
    hostile_cases,
    iptc_app13,
    jpeg_bytes,
    lost_tags,
    segment,
    short,
    standard_layout,
    with_segments,
    xmp_app1,
)

FIX = GpsFix(1.5, 2.5, None, "MANUAL", 0.5)


def _keys(old: bytes, new: bytes, intended: Intended = Intended(), kind: str | None = None) -> list[tuple]:
    return [d.key for d in unintended_differences(old, new, intended, kind)]


def _jpeg(tiff: bytes, *more: bytes) -> bytes:
    return with_segments(jpeg_bytes(), exif_app1(tiff), *more)


def test_values_compare_by_meaning_not_by_offset_or_byte_order() -> None:
    def layout(e: str, exif_first: bool) -> bytes:
        tiff = TiffLayout(e)
        if exif_first:
            tiff.ifd("Exif", camera_exif(e, b"MKNT"))
        tiff.ifd("IFD0", camera_ifd0(e) + [(0x8769, 4, 1, Ref("Exif"))])
        if not exif_first:
            tiff.ifd("Exif", camera_exif(e, b"MKNT"))
        return tiff.pack()

    entries = [snapshot(_jpeg(layout(e, first))).entries for e in "<>" for first in (True, False)]
    # The byte order is part of the header; a MakerNote's offset is compared on purpose (many hold offsets
    # relative to the TIFF header, so a moved MakerNote breaks), everything else compares by value.
    without = [{k: v for k, v in snap.items() if k[1] != "@header" and k[-1] != "@offset"} for snap in entries]
    assert without[0] == without[1] == without[2] == without[3]
    assert entries[0][("exif", "IFD0.Exif", 0x927C, 0, "@offset")] != entries[1][("exif", "IFD0.Exif", 0x927C, 0,
                                                                                  "@offset")]


@pytest.mark.parametrize(("what", "old", "new"), [
    ("makernote", b"MKNT" + bytes(range(200)), b"MKNT" + bytes(range(199)) + b"\x00"),
    ("thumbnail", b"\xff\xd9", b"\xff\xd8"),
])
def test_makernote_and_thumbnail_bytes_are_compared(what, old, new) -> None:
    data = _jpeg(standard_layout("<").pack())
    at = data.rfind(old) if what == "thumbnail" else data.find(old)
    damaged = data[:at] + new + data[at + len(new):]
    assert damaged != data and _keys(data, damaged, Intended.for_write(FIX))


def test_image_data_icc_iptc_and_mpf_changes_are_seen() -> None:
    icc = segment(0xE2, b"ICC_PROFILE\x00\x01\x01" + bytes(range(100)))
    data = _jpeg(standard_layout(">").pack(), icc, iptc_app13("Paris"))
    scan_at = data.rfind(b"\xff\xd9") - 10
    for damaged in (data[:scan_at] + b"\x00" + data[scan_at + 1:], data.replace(bytes(range(100)), bytes(100)),
                    data.replace(b"Paris", b"Rome!"), data + b"tail"):
        assert _keys(data, damaged, Intended.for_write(FIX)), damaged[-20:]
    mpf = hostile_cases()["mpf.jpg"]()
    assert _keys(mpf, mpf[:-30] + b"\x00" + mpf[-29:])  # a byte of the second image
    second = snapshot(mpf).entries[("MPF image", 2)]  # found through the index, in its byte order
    assert second.data[second.start : second.start + 3] == b"\xff\xd8\xff" and second.end == len(mpf)


def test_only_the_gps_tags_a_write_sets_may_change() -> None:
    e = "<"

    def build(gps: list) -> bytes:
        tiff = TiffLayout(e).ifd("IFD0", camera_ifd0(e) + [(0x8825, 4, 1, Ref("GPS"))]).ifd("GPS", gps)
        return _jpeg(tiff.pack())

    def tag_keys(old: bytes, new: bytes, intended: Intended) -> list[tuple]:
        # These layouts are rebuilt, so padding moves; the byte-level check has its own test below.
        return [key for key in _keys(old, new, intended) if key[1] != "@bytes"]

    old = build(gps_entries(e))
    moved = build([(t, ty, n, (b"S\x00" if t == 1 else v)) for t, ty, n, v in gps_entries(e)])
    assert _keys(old, moved, Intended.for_write(FIX)) == []
    lost_altitude = build([entry for entry in gps_entries(e) if entry[0] != 6])
    assert tag_keys(old, lost_altitude, Intended.for_write(FIX)) == [("exif", "IFD0.GPS", 6, 0)]
    assert tag_keys(old, lost_altitude, Intended.for_write(GpsFix(1.5, 2.5, 12.0))) == []
    assert tag_keys(old, build([]), Intended.for_strip()) == []  # a strip may remove every GPS tag
    assert ("exif", "IFD0", 0x10F, 0) in _keys(old, old.replace(b"Hostile", b"Hostess"), Intended.for_strip())


def test_bytes_no_intended_change_owns_must_stay() -> None:
    """Data that only a MakerNote's private offsets reach (no IFD entry points at it) is still protected."""
    e = ">"
    tiff = TiffLayout(e).ifd("IFD0", camera_ifd0(e)).blob("private", b"PRIVATE-PREVIEW" * 4).pack()
    data = _jpeg(tiff)
    damaged = data.replace(b"PRIVATE-PREVIEW", b"PRIVATE-XXXXXXX", 1)
    keys = _keys(data, damaged, Intended.for_write(FIX))
    assert keys and keys[0][:2] == ("exif", "@bytes")


def test_xmp_properties_intent_and_place_names() -> None:
    old = xmp_app1(PLACE_XMP)[33:]
    gps_moved = old.replace(b"48,51.5N", b"1,30.0N")
    assert _keys(old, gps_moved, Intended.for_write(FIX), kind="xmp") == []
    no_city = old.replace(b'photoshop:City="Paris" ', b"")
    assert _keys(old, no_city, Intended.for_write(FIX), kind="xmp")
    assert _keys(old, no_city, Intended.for_write(FIX, Place(city="Lyon")), kind="xmp") == []
    assert _keys(old, no_city, Intended.for_strip(), kind="xmp") == []
    fewer_keywords = old.replace(b"<rdf:li>night</rdf:li>", b"")
    assert _keys(old, fewer_keywords, Intended.for_write(FIX, Place(city="Lyon")), kind="xmp")
    assert _keys(b"", b"<html>not xmp</html>", Intended.for_write(FIX), kind="xmp")  # a stranger's file


def test_iptc_location_may_only_go_in_a_strip() -> None:
    old = _jpeg(standard_layout("<").pack(), iptc_app13("Paris"))
    without_city = _jpeg(standard_layout("<").pack(), iptc_app13(None))
    assert _keys(old, without_city, Intended.for_write(FIX)) == [("iptc", "dataset", 2, 90, 0)]
    assert _keys(old, without_city, Intended.for_strip()) == []
    without_caption = old.replace(b"A caption", b"A captiom")
    assert _keys(old, without_caption, Intended.for_strip()) == [("iptc", "dataset", 2, 120, 0)]


def test_hostile_structures_are_bounded() -> None:
    for name in ("ifd_loops.jpg", "absurd_counts.jpg", "deep_xmp.jpg"):
        data = hostile_cases()[name]()
        assert unintended_differences(data, data, Intended()) == []
    deep = snapshot(hostile_cases()["deep_xmp.jpg"]()).entries
    assert ("xmp", "@raw") in deep  # too deep to be real: compared as bytes
    loops = snapshot(hostile_cases()["ifd_loops.jpg"]()).entries
    assert loops[("exif", "IFD0.Exif.Interop", "@state")] == "loops back to a parent IFD"
    absurd = snapshot(hostile_cases()["absurd_counts.jpg"]()).entries
    assert absurd[("exif", "IFD0.Exif", 0x9286, 0)][2] == "unreadable"
    bomb = struct.pack("<H", 0xFFFF)
    assert snapshot(b"II*\x00\x08\x00\x00\x00" + bomb).entries[("tiff", "IFD0", "@state")].endswith("past the end")


def test_aliased_pointers_to_a_huge_ifd_cost_a_bounded_time() -> None:
    """255 SubIFD pointers to one 60,000-entry IFD: parsed a few times, then cut off (not 15 million entries)."""
    import time

    e = "<"
    huge = [(0xC000 + (i % 0x3000), 3, 1, short(e, i % 65535)) for i in range(60_000)]
    layout = TiffLayout(e, first="IFD0").ifd("X", huge)  # X is placed first, right after the header: offset 8
    layout.ifd("IFD0", camera_ifd0(e) + [(0x14A, 4, 255, struct.pack("<255I", *[8] * 255))])
    data = layout.pack()
    started = time.perf_counter()
    entries = snapshot(data).entries
    assert time.perf_counter() - started < 5
    states = [v for k, v in entries.items() if k[-1] == "@state" and k[1].startswith("IFD0.SubIFD")]
    assert states.count("ok") >= 1 and "too many entries over all IFDs" in states


def test_unintended_change_is_a_verify_error_with_reasons() -> None:
    data = _jpeg(standard_layout("<").pack())
    with pytest.raises(UnintendedChange) as caught:
        check_only_intended(data, data.replace(b"Hostile", b"Hostess"), Intended.for_write(FIX))
    assert isinstance(caught.value, VerifyError)
    assert "EXIF IFD0 tag 0x010f would change" in str(caught.value)


def test_a_write_that_would_lose_a_tag_is_refused_and_the_file_untouched(tmp_path, monkeypatch) -> None:
    """The safety net end to end: a writer defect becomes a typed per-file refusal, never a damaged photo."""
    from geotagger.geocore.library import formats

    path = tmp_path / "photos" / "a.jpg"
    path.parent.mkdir()
    path.write_bytes(_jpeg(standard_layout("<", gps=False).pack()))
    original = path.read_bytes()
    real_set_gps = formats.JpegWriter.set_gps

    def losing_set_gps(self, data, fix, place=None):  # a defect: the Make string is blanked on the way
        from geotagger.geocore.library.patches import Patch

        at = data.find(b"Hostile Camera")
        return [*real_set_gps(self, data, fix, place), Patch(at, data[at:at + 7], bytes(7))]

    monkeypatch.setattr(formats.JpegWriter, "set_gps", losing_set_gps)
    with Library(tmp_path / "lib.sqlite3") as library:
        library.scan([path.parent])
        library.accept(library.propose(library.photo_by_path(path).id, 1.5, 2.5, 0.5, "manual"))
        report = library.write_batch()
    assert [(r.ok, r.error_kind) for r in report.results] == [(False, ErrorKind.VERIFY_FAILED)]
    assert "0x010f" in report.results[0].reason
    assert path.read_bytes() == original


@needs_exiftool
def test_exiftool_agrees_with_the_diff_on_a_real_write(tmp_path) -> None:
    """Both judges on the same before/after pair: no difference for one means no lost tag for the other."""
    from geotagger.geocore.library.formats import JpegWriter
    from geotagger.geocore.library.patches import apply_patches

    before, after = tmp_path / "before.jpg", tmp_path / "after.jpg"
    data = _jpeg(standard_layout("<", gps=False).pack())
    before.write_bytes(data)
    after.write_bytes(apply_patches(data, JpegWriter().set_gps(data, FIX)))
    tags = exiftool_all([before, after])
    assert _keys(data, after.read_bytes(), Intended.for_write(FIX)) == []
    assert lost_tags(tags[before], tags[after]) == []
    assert tags[after]["GPS:GPSLatitude"] == pytest.approx(1.5)


def test_a_sidecar_merge_that_would_lose_a_property_is_refused(tmp_path, monkeypatch) -> None:
    """Sidecars get the same net: a merge dropping a keyword is refused and the sidecar stays byte-identical."""
    from geotagger.geocore.library import xmp

    photo = tmp_path / "photos" / "a.dng"
    photo.parent.mkdir()
    photo.write_bytes(hostile_cases()["plain_II.tif"]())
    sidecar = photo.with_name(photo.name + ".xmp")
    sidecar.write_bytes(xmp_app1(PLACE_XMP)[33:])
    original = sidecar.read_bytes()
    real_merge = xmp.merge_location

    def losing_merge(*args, **kwargs):
        return real_merge(*args, **kwargs).replace(b"<rdf:li>night</rdf:li>", b"")

    monkeypatch.setattr(xmp, "merge_location", losing_merge)
    with Library(tmp_path / "lib.sqlite3") as library:
        library.scan([photo.parent])
        library.accept(library.propose(library.photo_by_path(photo).id, 1.5, 2.5, 0.5, "manual"))
        report = library.write_batch(sidecar_only=True)
    assert [(r.ok, r.error_kind, r.target) for r in report.results] == [(False, ErrorKind.VERIFY_FAILED, "sidecar")]
    assert "subject/[1] would be lost" in report.results[0].reason
    assert sidecar.read_bytes() == original
