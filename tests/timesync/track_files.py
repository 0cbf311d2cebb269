"""Write small GPX / KML / GeoJSON track files from (utc datetime, lat, lon, altitude) points, for the tests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

Point = tuple[datetime, float, float, float | None]


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, as track loggers write it."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_gpx(path: Path, segments: Sequence[Sequence[Point]]) -> Path:
    """A GPX 1.1 file with one track and one <trkseg> per segment."""
    body = []
    for segment in segments:
        body.append("<trkseg>")
        for moment, lat, lon, altitude in segment:
            ele = f"<ele>{altitude}</ele>" if altitude is not None else ""
            body.append(f'<trkpt lat="{lat}" lon="{lon}">{ele}<time>{iso(moment)}</time></trkpt>')
        body.append("</trkseg>")
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1"><trk><name>t</name>'
        + "".join(body) + "</trk></gpx>\n",
        encoding="utf-8",
    )
    return path


def write_kml_gx_track(path: Path, segments: Sequence[Sequence[Point]]) -> Path:
    """A KML 2.2 file with one gx:Track per segment inside a gx:MultiTrack."""
    tracks = []
    for segment in segments:
        whens = "".join(f"<when>{iso(m)}</when>" for m, _, _, _ in segment)
        coords = "".join(f"<gx:coord>{lon} {lat} {alt if alt is not None else 0}</gx:coord>"
                         for _, lat, lon, alt in segment)
        tracks.append(f"<gx:Track>{whens}{coords}</gx:Track>")
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2" '
        'xmlns:gx="http://www.google.com/kml/ext/2.2"><Document><Placemark><gx:MultiTrack>'
        + "".join(tracks) + "</gx:MultiTrack></Placemark></Document></kml>\n",
        encoding="utf-8",
    )
    return path


def write_geojson_line(path: Path, segments: Sequence[Sequence[Point]]) -> Path:
    """A GeoJSON MultiLineString feature with coordTimes (one list per line)."""
    feature = {
        "type": "Feature",
        "geometry": {
            "type": "MultiLineString",
            "coordinates": [[[lon, lat] + ([alt] if alt is not None else []) for _, lat, lon, alt in s]
                            for s in segments],
        },
        "properties": {"coordTimes": [[iso(m) for m, _, _, _ in s] for s in segments]},
    }
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}), encoding="utf-8")
    return path


# ----- the other formats, written as the devices and services write them -----

def _nmea_sentence(body: str) -> str:
    checksum = 0
    for char in body:
        checksum ^= ord(char)
    return f"${body}*{checksum:02X}"


def _nmea_angle(value: float, degree_digits: int, hemispheres: str) -> tuple[str, str]:
    hemisphere = hemispheres[0] if value >= 0 else hemispheres[1]
    value = abs(value)
    degrees = int(value)
    minutes = (value - degrees) * 60
    return f"{degrees:0{degree_digits}d}{minutes:09.6f}", hemisphere


def write_nmea(path: Path, points: Sequence[Point], with_gga: bool = True) -> Path:
    """RMC (+ GGA with satellites, HDOP and altitude) per point; GGA first, as many loggers do."""
    lines = []
    for moment, lat, lon, altitude in points:
        utc = moment.astimezone(timezone.utc)
        hhmmss = utc.strftime("%H%M%S") + f".{utc.microsecond // 10000:02d}"
        lat_text, ns = _nmea_angle(lat, 2, "NS")
        lon_text, ew = _nmea_angle(lon, 3, "EW")
        if with_gga:
            alt = f"{altitude:.1f}" if altitude is not None else ""
            lines.append(_nmea_sentence(f"GPGGA,{hhmmss},{lat_text},{ns},{lon_text},{ew},1,08,0.9,{alt},M,47.0,M,,"))
        lines.append(_nmea_sentence(f"GPRMC,{hhmmss},A,{lat_text},{ns},{lon_text},{ew},0.5,54.7,"
                                    f"{utc:%d%m%y},,,A"))
    path.write_text("\r\n".join(lines) + "\r\n", encoding="ascii")
    return path


def write_tcx(path: Path, points: Sequence[Point]) -> Path:
    rows = "".join(
        f"<Trackpoint><Time>{iso(m)}</Time><Position><LatitudeDegrees>{lat}</LatitudeDegrees>"
        f"<LongitudeDegrees>{lon}</LongitudeDegrees></Position>"
        + (f"<AltitudeMeters>{alt}</AltitudeMeters>" if alt is not None else "") + "</Trackpoint>"
        for m, lat, lon, alt in points)
    path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<TrainingCenterDatabase xmlns='
                    '"http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2"><Activities><Activity Sport="Biking">'
                    f'<Id>{iso(points[0][0])}</Id><Lap StartTime="{iso(points[0][0])}"><Track>{rows}</Track></Lap>'
                    "</Activity></Activities></TrainingCenterDatabase>", encoding="utf-8")
    return path


def write_igc(path: Path, points: Sequence[Point]) -> Path:
    lines = ["AXXX001 test logger", f"HFDTEDATE:{points[0][0].astimezone(timezone.utc):%d%m%y},01"]
    for moment, lat, lon, altitude in points:
        utc = moment.astimezone(timezone.utc)
        lat_deg, lat_min = int(abs(lat)), (abs(lat) - int(abs(lat))) * 60
        lon_deg, lon_min = int(abs(lon)), (abs(lon) - int(abs(lon))) * 60
        alt = int(round(altitude or 0))
        lines.append(f"B{utc:%H%M%S}{lat_deg:02d}{round(lat_min * 1000):05d}{'N' if lat >= 0 else 'S'}"
                     f"{lon_deg:03d}{round(lon_min * 1000):05d}{'E' if lon >= 0 else 'W'}A{alt:05d}{alt:05d}")
    path.write_text("\r\n".join(lines) + "\r\n", encoding="ascii")
    return path


def igc_rounded(points: Sequence[Point]) -> list[Point]:
    """The positions as IGC stores them (thousandths of a minute)."""
    def rounded(value: float) -> float:
        degrees = int(abs(value))
        return (degrees + round((abs(value) - degrees) * 60 * 1000) / 60000) * (1 if value >= 0 else -1)

    return [(m, rounded(lat), rounded(lon), float(round(alt or 0))) for m, lat, lon, alt in points]


def write_csv(path: Path, points: Sequence[Point], delimiter: str = ",") -> Path:
    rows = [delimiter.join(["Date/Time", "Latitude", "Longitude", "Altitude", "HDOP"])]
    rows += [delimiter.join([m.astimezone(timezone.utc).strftime("%Y:%m:%d %H:%M:%SZ"), f"{lat}", f"{lon}",
                             f"{alt if alt is not None else ''}", "1.2"]) for m, lat, lon, alt in points]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def write_kmz(path: Path, points: Sequence[Point]) -> Path:
    import zipfile

    inner = write_kml_gx_track(path.with_suffix(".tmp.kml"), [points])
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("doc.kml", inner.read_text(encoding="utf-8"))
        archive.writestr("files/readme.txt", "icons would be here")
    inner.unlink()
    return path


def write_gpx_waypoints(path: Path, points: Sequence[Point], route: bool = False) -> Path:
    tag = "rtept" if route else "wpt"
    rows = "".join(f'<{tag} lat="{lat}" lon="{lon}">' + (f"<ele>{alt}</ele>" if alt is not None else "")
                   + f"<time>{iso(m)}</time><name>p{i}</name></{tag}>" for i, (m, lat, lon, alt) in enumerate(points))
    body = f"<rte><name>r</name>{rows}</rte>" if route else rows
    path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="test" '
                    f'xmlns="http://www.topografix.com/GPX/1/1">{body}</gpx>', encoding="utf-8")
    return path


def write_records_json(path: Path, points: Sequence[Point], milliseconds: bool = False) -> Path:
    """Takeout's Records.json, with an activity block (nested timestamps) as Google writes it."""
    locations = []
    for moment, lat, lon, altitude in points:
        record: dict = {"latitudeE7": round(lat * 1e7), "longitudeE7": round(lon * 1e7), "accuracy": 25,
                        "activity": [{"activity": [{"type": "STILL", "confidence": 90}],
                                      "timestamp": iso(moment + timedelta(seconds=7))}],
                        "source": "GPS", "deviceTag": 12345}
        if altitude is not None:
            record["altitude"] = altitude
        if milliseconds:
            record["timestampMs"] = str(int(moment.timestamp() * 1000))
        else:
            record["timestamp"] = moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        locations.append(record)
    path.write_text(json.dumps({"locations": locations}, indent=2), encoding="utf-8")
    return path


def write_timeline_json(path: Path, points: Sequence[Point], visit: tuple[datetime, datetime, float, float]
                        | None = None) -> Path:
    """The on-device Timeline export: a timelinePath segment, optionally a visit, and raw signals."""
    def local(moment: datetime) -> str:
        return moment.astimezone(timezone(timedelta(hours=2))).isoformat(timespec="milliseconds")

    segments: list[dict] = [{"startTime": local(points[0][0]), "endTime": local(points[-1][0]),
                             "timelinePath": [{"point": f"{lat}°, {lon}°", "time": local(m)}
                                              for m, lat, lon, _ in points]}]
    if visit is not None:
        start, end, lat, lon = visit
        segments.append({"startTime": local(start), "endTime": local(end), "visit": {
            "probability": 0.9, "topCandidate": {"placeId": "x", "placeLocation": {"latLng": f"{lat}°, {lon}°"}}}})
    raw = [{"wifiScan": {"deliveryTime": local(points[0][0]), "devicesRecords": []}}]
    document = {"semanticSegments": segments, "rawSignals": raw, "userLocationProfile": {"frequentPlaces": []}}
    path.write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


FIT_EPOCH_S = 631065600  # 1989-12-31T00:00:00Z
_FIT_CRC = [0x0000, 0xCC01, 0xD801, 0x1400, 0xF001, 0x3C00, 0x2800, 0xE401,
            0xA001, 0x6C00, 0x7800, 0xB401, 0x5000, 0x9C01, 0x8801, 0x4400]


def fit_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        for nibble in (byte & 0xF, byte >> 4):
            tmp = _FIT_CRC[crc & 0xF]
            crc = ((crc >> 4) & 0x0FFF) ^ tmp ^ _FIT_CRC[nibble]
    return crc


def write_fit(path: Path, points: Sequence[Point]) -> Path:
    """A FIT activity file: a record definition and one record message per point (semicircles, altitude)."""
    import struct

    fields = [(253, 4, 0x86), (0, 4, 0x85), (1, 4, 0x85), (2, 2, 0x84)]  # timestamp, lat, long, altitude
    body = bytearray(struct.pack("<BBBHB", 0x40, 0, 0, 20, len(fields)))
    for number, size, base in fields:
        body += struct.pack("<BBB", number, size, base)
    for moment, lat, lon, altitude in points:
        semis = [round(value * 2**31 / 180.0) for value in (lat, lon)]
        alt = 0xFFFF if altitude is None else round((altitude + 500) * 5)
        body += struct.pack("<BIiiH", 0x00, int(moment.timestamp()) - FIT_EPOCH_S, *semis, alt)
    header = struct.pack("<BBHI4s", 14, 0x20, 2132, len(body), b".FIT")
    header += struct.pack("<H", fit_crc(header))
    data = header + bytes(body)
    path.write_bytes(data + struct.pack("<H", fit_crc(data)))
    return path


def fit_rounded(points: Sequence[Point]) -> list[Point]:
    """The positions as FIT stores them (semicircles, altitude in 1/5 m)."""
    def semis(value: float) -> float:
        return round(value * 2**31 / 180.0) * 180.0 / 2**31

    return [(m, semis(lat), semis(lon), None if alt is None else round((alt + 500) * 5) / 5 - 500)
            for m, lat, lon, alt in points]
