"""Line-based track logs: NMEA 0183 (RMC/GGA), IGC (B records) and CSV with a header, as exiftool reads them.

- NMEA 0183: $--RMC gives date, time and position (status V = no fix, skipped); $--GGA gives time, position,
  satellites, HDOP and altitude (fix quality 0 skipped), any talker (GP, GN, GL, GA, GB). GGA has no date: it
  takes the last RMC date, a GGA before the first RMC the first RMC date, and a time of day that runs backwards
  past midnight moves the date on by one day (rollover). An RMC and a GGA of the same second become one point.
  A sentence whose checksum is wrong is skipped (that is what the checksum is for) and counted in the notes.
- IGC: the HFDTE header gives the date, each B record time, position, validity and pressure/GNSS altitude;
  the date rolls over when the time of day runs backwards.
- CSV: the first row names the columns (case-insensitive, as exiftool: "date/time", "datetime", "timestamp",
  "time", "gps time", or separate "date" and "time"; "lat"/"latitude", "lon"/"lng"/"longitude", "alt"/
  "altitude"/"ele"/"elevation", "hdop", "sats"/"satellites", "accuracy"); comma, semicolon or tab separated.
  Times are ISO 8601, EXIF style (2024:06:01 10:00:00) or POSIX seconds/milliseconds; without a zone UTC.
  A row whose position cannot be read is an error naming the line.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from geotagger.geocore.timesync.points import Points, TrackFormatError, parse_time_s
from geotagger.geocore.timesync.track import Track

_DAY_S = 86400.0


def _lines(path: Path) -> Iterable[tuple[int, str]]:
    try:
        with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
            yield from enumerate(handle, start=1)
    except OSError as error:
        raise TrackFormatError(path, f"cannot read: {error}") from error


def _nmea_checksum_ok(sentence: str) -> bool:
    body, star, checksum = sentence.partition("*")
    if not star:
        return True  # some loggers leave it out
    value = 0
    for char in body[1:]:
        value ^= ord(char)
    try:
        return int(checksum[:2], 16) == value
    except ValueError:
        return False


def _nmea_angle(text: str, hemisphere: str, degree_digits: int) -> float | None:
    if not text or hemisphere not in "NSEW" or not hemisphere:
        return None
    degrees, minutes = float(text[:degree_digits]), float(text[degree_digits:])
    if minutes >= 60:
        raise ValueError(f"minutes {minutes} out of range")
    value = degrees + minutes / 60.0
    return -value if hemisphere in "SW" else value


def _time_of_day_s(text: str) -> float:
    return int(text[0:2]) * 3600 + int(text[2:4]) * 60 + float(text[4:])


class _Nmea:
    """Fixes by (day, time of day), merged from RMC and GGA."""

    def __init__(self) -> None:
        self.fixes: dict[tuple[int, float], dict[str, float | None]] = {}
        self.day: date | None = None
        self.last_tod: float | None = None
        self.undated: list[tuple[float, dict[str, float | None]]] = []

    def rmc(self, fields: list[str]) -> None:
        if len(fields) < 10 or fields[2] != "A" or not fields[9]:
            return
        self.day = datetime.strptime(fields[9][:6], "%d%m%y").date()
        tod = _time_of_day_s(fields[1])
        self._store(self.day, tod, {"lat": _nmea_angle(fields[3], fields[4], 2),
                                    "lon": _nmea_angle(fields[5], fields[6], 3)})
        if self.undated:
            for undated_tod, fix in self.undated:
                self._store(self.day - timedelta(days=1) if undated_tod > tod else self.day, undated_tod, fix)
            self.undated.clear()
        self.last_tod = tod

    def gga(self, fields: list[str]) -> None:
        if len(fields) < 10 or fields[6] in ("", "0"):
            return
        tod = _time_of_day_s(fields[1])
        fix = {"lat": _nmea_angle(fields[2], fields[3], 2), "lon": _nmea_angle(fields[4], fields[5], 3),
               "sats": float(fields[7]) if fields[7] else None, "hdop": float(fields[8]) if fields[8] else None,
               "alt": float(fields[9]) if fields[9] else None}
        if self.day is None:
            self.undated.append((tod, fix))
            return
        if self.last_tod is not None and tod < self.last_tod - 60:  # past midnight without an RMC yet
            self.day += timedelta(days=1)
        self.last_tod = tod
        self._store(self.day, tod, fix)

    def _store(self, day: date, tod: float, fix: dict[str, float | None]) -> None:
        key = (day.toordinal(), tod)
        merged = self.fixes.setdefault(key, {})
        merged.update({k: v for k, v in fix.items() if v is not None})


def parse_nmea(path: Path) -> Track:
    """Track from an NMEA 0183 log (RMC and GGA sentences)."""
    log = _Nmea()
    bad, first_bad = 0, 0
    for number, line in _lines(path):
        start = line.find("$")
        if start < 0:
            continue
        sentence = line[start:].strip()
        fields = sentence.split("*")[0].split(",")
        kind = fields[0][3:] if len(fields[0]) == 6 else ""
        if kind not in ("RMC", "GGA"):
            continue
        try:
            if not _nmea_checksum_ok(sentence):
                raise ValueError("checksum")
            log.rmc(fields) if kind == "RMC" else log.gga(fields)
        except (ValueError, IndexError):
            bad, first_bad = bad + 1, first_bad or number
    points = Points()
    if bad:
        points.notes.append(f"{path}: {bad} NMEA sentence(s) with a bad checksum or field skipped, first line "
                            f"{first_bad}")
    epoch = date(1970, 1, 1).toordinal()
    for (day, tod), fix in sorted(log.fixes.items()):
        if fix.get("lat") is None or fix.get("lon") is None:
            continue
        points.add((day - epoch) * _DAY_S + tod, float(fix["lat"]), float(fix["lon"]),  # type: ignore[arg-type]
                   fix.get("alt"), 0, fix.get("hdop"), fix.get("sats"))
    if not points.times_s and not log.fixes:
        raise TrackFormatError(path, "no RMC or GGA sentence with a fix" + (
            f" ({bad} unreadable, first line {first_bad})" if bad else ""))
    return points.finish(path)


_IGC_DATE = re.compile(r"^HFDTE(?:DATE:)?(\d{2})(\d{2})(\d{2})")


def parse_igc(path: Path) -> Track:
    """Track from an IGC flight log (HFDTE date, B fixes)."""
    points = Points()
    day: date | None = None
    last_tod = None
    for number, line in _lines(path):
        found = _IGC_DATE.match(line)
        if found:
            day = date(2000 + int(found.group(3)), int(found.group(2)), int(found.group(1)))
            continue
        if not line.startswith("B") or len(line.rstrip()) < 35:
            continue
        if day is None:
            raise TrackFormatError(path, "B record before the HFDTE date header", line=number)
        try:
            tod = _time_of_day_s(line[1:7])
            lat = _nmea_angle(line[7:11] + "." + line[11:14], line[14], 2)
            lon = _nmea_angle(line[15:20] + "." + line[20:23], line[23], 3)
            pressure, gnss = int(line[25:30]), int(line[30:35])
        except (ValueError, IndexError) as error:
            raise TrackFormatError(path, f"unreadable B record ({error})", line=number) from None
        if last_tod is not None and tod < last_tod - 60:
            day += timedelta(days=1)
        last_tod = tod
        if line[24] != "A" or lat is None or lon is None:
            points.skipped += 1
            continue
        moment = datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() + tod
        points.add(moment, lat, lon, float(gnss if gnss else pressure), 0)
    return points.finish(path)


_CSV_NAMES = {
    "datetime": ("date/time", "datetime", "date time", "date_time", "timestamp", "gps date/time", "gpsdatetime",
                 "utc", "time (utc)", "time_utc", "gps time"),
    "time": ("time",), "date": ("date", "gps date", "gpsdatestamp"),
    "lat": ("lat", "latitude", "gpslatitude", "latitude (deg)", "lat (deg)"),
    "lon": ("lon", "lng", "long", "longitude", "gpslongitude", "longitude (deg)", "lon (deg)"),
    "alt": ("alt", "altitude", "ele", "elevation", "gpsaltitude", "altitude (m)", "altitude(m)", "ele (m)"),
    "hdop": ("hdop", "gpshpositioningerror"), "sats": ("sats", "satellites", "gpssatellites", "sat"),
    "accuracy": ("accuracy", "accuracy (m)", "horizontal accuracy", "hacc"),
}


def _csv_columns(path: Path, header: list[str]) -> dict[str, int]:
    names = [name.strip().lower() for name in header]
    found: dict[str, int] = {}
    for key, aliases in _CSV_NAMES.items():
        for alias in aliases:
            if alias in names and key not in found:
                found[key] = names.index(alias)
    if "lat" not in found or "lon" not in found or not ({"datetime", "time"} & found.keys()):
        raise TrackFormatError(path, f"CSV header names no time/latitude/longitude columns: {header}", line=1)
    return found


def _csv_time(text: str, day: str | None) -> float | None:
    text = text.strip()
    if day:
        text = f"{day.strip()}T{text}"
    if re.match(r"^\d{4}:\d{2}:\d{2}[ T]", text):
        text = text[:4] + "-" + text[5:7] + "-" + text[8:]
    if re.match(r"^-?\d+(\.\d+)?$", text):
        return parse_time_s(float(text))
    return parse_time_s(text.replace(" ", "T", 1) if "T" not in text else text)


def _coordinate(text: str) -> float:
    text = text.strip()
    sign = -1.0 if text[-1:].upper() in ("S", "W") else 1.0
    return sign * float(text.rstrip("NSEWnsew ").strip())


def parse_csv(path: Path) -> Track:
    """Track from a CSV file with a header row naming the time, latitude and longitude columns."""
    rows = iter(_lines(path))
    try:
        _, first = next(rows)
    except StopIteration:
        raise TrackFormatError(path, "empty CSV file") from None
    delimiter = max(",;\t", key=first.count)
    columns = _csv_columns(path, next(csv.reader([first], delimiter=delimiter)))
    points = Points()

    def cell(values: list[str], key: str) -> str | None:
        index = columns.get(key)
        return values[index].strip() if index is not None and index < len(values) and values[index].strip() else None

    for number, line in rows:
        if not line.strip():
            continue
        values = next(csv.reader(io.StringIO(line), delimiter=delimiter))
        stamp = cell(values, "datetime") or cell(values, "time")
        try:
            lat, lon = _coordinate(cell(values, "lat") or ""), _coordinate(cell(values, "lon") or "")
            extras = [float(v) if v else None for v in (cell(values, k) for k in ("alt", "hdop", "sats", "accuracy"))]
        except ValueError:
            raise TrackFormatError(path, f"unreadable position {line.strip()!r}", line=number) from None
        moment = _csv_time(stamp, cell(values, "date") if "datetime" not in columns else None) if stamp else None
        points.add(moment, lat, lon, extras[0], 0, extras[1], extras[2], extras[3])
    return points.finish(path)
