"""The column reader of GPX (numpy over the bytes) reads what ElementTree reads, or declines; it takes the layouts
real loggers write (namespace prefixes, lon before lat, single quotes, CRLF, missing times, hdop/sat with
extensions, segments, routes and waypoints) without declining."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from geotagger.geocore.timesync import gpx
from geotagger.geocore.timesync.gpx_columns import read_gpx_columns
from geotagger.geocore.timesync.parsers import load_track
from geotagger.geocore.timesync.track import Track

RNG = np.random.default_rng(7)
N = 40
LAT = 46 + np.cumsum(RNG.normal(0, 1e-3, N))
LON = -7 + np.cumsum(RNG.normal(0, 1e-3, N))
ELE = np.round(RNG.uniform(-20, 3000, N), 1)
STAMPS = [f"2024-06-01T10:{i // 60:02d}:{i % 60:02d}Z" for i in range(0, 10 * N, 10)]
HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="t" '
        'xmlns="http://www.topografix.com/GPX/1/1" '
        'xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v1">')


def point(i: int, tag: str = "trkpt", attrs: str = '', body: str | None = None) -> str:
    attrs = attrs or f'lat="{LAT[i]}" lon="{LON[i]}"'
    body = f"<ele>{ELE[i]}</ele><time>{STAMPS[i]}</time>" if body is None else body
    return f"<{tag} {attrs}>{body}</{tag}>"


def track_of(points: list[str], segments: int = 1) -> str:
    size = -(-len(points) // segments)
    parts = ["<trkseg>" + "\n".join(points[k:k + size]) + "</trkseg>" for k in range(0, len(points), size)]
    return f"{HEAD}<trk><name>walk</name>{''.join(parts)}</trk></gpx>\n"


def times(i: int) -> str:
    return ["2024-06-01T12:00:00.250+02:00", "2024-06-01T10:00:01.5Z", "2024-06-01T10:00:02",
            "2024-06-01T05:00:03-05:00", "2024-06-01T10:00:04.123456789Z"][i % 5]


READ = {
    "plain": track_of([point(i) for i in range(N)]),
    "namespace prefix": track_of([point(i) for i in range(N)]).replace("<", "<g:").replace("<g:/", "</g:")
    .replace("<g:?xml", "<?xml").replace('xmlns="', 'xmlns:g="'),
    "lon before lat": track_of([point(i, attrs=f'lon="{LON[i]}" lat="{LAT[i]}"') for i in range(N)]),
    "single quotes, mixed": track_of([point(i, attrs=f"lat='{LAT[i]}' lon=\"{LON[i]}\"") for i in range(N)]),
    "missing times and elevations": track_of([point(i, body="" if i % 7 == 0 else f"<time>{STAMPS[i]}</time>"
                                                    if i % 3 else f"<ele>{ELE[i]}</ele>") for i in range(N)]),
    "hdop, sat and extensions": track_of([point(i, body=f"<ele>{ELE[i]}</ele><time>{STAMPS[i]}</time><sat>"
                                                f"{i % 12}</sat><hdop>{1 + i % 4 / 2}</hdop><extensions>"
                                                "<gpxtpx:TrackPointExtension><gpxtpx:hr>120</gpxtpx:hr>"
                                                "</gpxtpx:TrackPointExtension></extensions>") for i in range(N)]),
    "segments": track_of([point(i) for i in range(N)], segments=4),
    "CRLF and indentation": track_of([point(i, body=f"\r\n  <ele> {ELE[i]} </ele>\r\n  <time>\r\n{STAMPS[i]}"
                                            "</time>\r\n") for i in range(N)]).replace("\n", "\r\n"),
    "zones and fractions": track_of([point(i, body=f"<time>{times(i)}</time>") for i in range(N)]),
    "elevation after time": track_of([point(i, body=f"<time>{STAMPS[i]}</time><ele>{ELE[i]}</ele>")
                                      for i in range(N)]),
    "waypoints, a route and a track": HEAD + "".join(point(i, "wpt") for i in range(5)) + "<rte>" + "".join(
        point(i, "rtept") for i in range(5, 12)) + "</rte>" + track_of([point(i) for i in range(12, N)])
    .split('v1">', 1)[1],
    "other children and metadata": HEAD.replace("<gpx ", "<gpx ") + "<metadata><time>2020-01-01T00:00:00Z</time>"
    '<bounds minlat="1" minlon="2" maxlat="3" maxlon="4"/></metadata>' + track_of(
        [point(i, body=f"<ele>{ELE[i]}</ele><time>{STAMPS[i]}</time><name>p{i}</name><link href='x'/>")
         for i in range(N)]).split('v1">', 1)[1],
}

DECLINED = {
    "a comment": READ["plain"].replace("<trk>", "<!-- a <trkpt> in a comment --><trk>"),
    "an elevation inside the extensions": READ["plain"].replace(
        "</trkpt>", "<extensions><ele>9</ele></extensions></trkpt>", 1),
    "a self-closing sibling before the time": track_of([point(i, body=f"<link href='x'/><time>{STAMPS[i]}</time>")
                                                        for i in range(N)]),
    "a self-closing point": READ["plain"].replace("</trkseg>", '<trkpt lat="1" lon="2"/></trkseg>'),
    "spaces around =": READ["plain"].replace('lat="', 'lat = "', 3),
    "a point name in a text": READ["plain"].replace("<name>walk</name>", "<name>trkpt walk</name>"),
    "a child twice": READ["plain"].replace("</trkpt>", f"<time>{STAMPS[3]}</time></trkpt>", 1),
    "a child with an attribute": READ["plain"].replace("<time>", '<time zone="x">', 1),
    "an entity": READ["plain"].replace("<name>walk</name>", "<name>A &amp; B</name>"),
    "a bad number": READ["plain"].replace(f'lat="{LAT[2]}"', 'lat="4x6"'),
    "a third attribute": READ["plain"].replace(f'lon="{LON[2]}"', f'lon="{LON[2]}" id="2"'),
}


def streamed(data: bytes) -> Track:
    return gpx._streaming(data, Path("t.gpx"))


def same(a: Track, b: Track) -> None:
    for name in ("times_s", "lat", "lon", "altitude_m"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for name in ("hdop", "satellites"):
        np.testing.assert_array_equal(a.quality(name), b.quality(name), err_msg=name)
    # the same points together in segments (the readers may number them differently)
    first_a = {s: int(np.flatnonzero(a.segment == s)[0]) for s in np.unique(a.segment)}
    first_b = {s: int(np.flatnonzero(b.segment == s)[0]) for s in np.unique(b.segment)}
    np.testing.assert_array_equal([first_a[s] for s in a.segment], [first_b[s] for s in b.segment])


@pytest.mark.parametrize("name", READ)
def test_layouts_loggers_write_are_read_in_columns_as_elementtree_reads_them(name, tmp_path):
    data = READ[name].encode()
    columns = read_gpx_columns(data, Path("t.gpx"))
    assert columns is not None, f"{name}: the column reader declined"
    same(columns, streamed(data))
    path = tmp_path / "t.gpx"
    path.write_bytes(data)
    same(load_track(path), columns)


@pytest.mark.parametrize("name", DECLINED)
def test_what_the_column_reader_cannot_vouch_for_goes_to_the_other_readers(name, tmp_path):
    data = DECLINED[name].encode()
    assert read_gpx_columns(data, Path("t.gpx")) is None
    path = tmp_path / "t.gpx"
    path.write_bytes(data)
    if name == "a bad number":
        with pytest.raises(ValueError, match="lat/lon"):
            load_track(path)
        return
    same(load_track(path), streamed(data))


def test_the_content_is_checked_not_assumed():
    """Segments, quality columns and a point without a time come out where they belong."""
    track = read_gpx_columns(READ["hdop, sat and extensions"].encode(), Path("t.gpx"))
    assert track is not None
    assert list(track.quality("satellites")[:3]) == [0.0, 1.0, 2.0]
    assert track.quality("hdop")[1] == pytest.approx(1.5)
    segmented = read_gpx_columns(READ["segments"].encode(), Path("t.gpx"))
    assert segmented is not None and list(np.bincount(segmented.segment)) == [10, 10, 10, 10]
    missing = read_gpx_columns(READ["missing times and elevations"].encode(), Path("t.gpx"))
    assert missing is not None and len(missing) == sum(1 for i in range(N) if i % 7 and i % 3)
    assert any("without a usable time" in note for note in missing.notes)
    zoned = read_gpx_columns(READ["zones and fractions"].encode(), Path("t.gpx"))
    assert zoned is not None
    assert zoned.times_s[0] == pytest.approx(1717236000.25) and zoned.times_s[1] == pytest.approx(1717236001.5)
