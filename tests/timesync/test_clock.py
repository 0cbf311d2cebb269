"""Capture time to UTC: offset tags, IANA camera zones with DST changes, zone inference, clock offsets."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from geotagger.geocore.timesync.clock import (
    MAX_ZONE_ITERATIONS,
    CaptureTime,
    ClockSettings,
    TimeZoneError,
    camera_key,
    estimate_clock_offset_s,
    estimate_offsets_by_camera,
    format_duration,
    format_offset,
    infer_zone_from_positions,
    local_to_utc_s,
    parse_duration_s,
    parse_utc_offset,
    resolve_known_zone,
    zone_at_place,
)


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize(
    ("text", "minutes"), [("+02:00", 120), ("-05:30", -330), ("+0930", 570), ("Z", 0), (" +00:00 ", 0)]
)
def test_parse_utc_offset(text, minutes):
    assert parse_utc_offset(text).total_seconds() == minutes * 60


@pytest.mark.parametrize("text", ["", "2:00", "+25:00", "+02:75", "CEST"])
def test_bad_offsets_raise(text):
    with pytest.raises(TimeZoneError):
        parse_utc_offset(text)


def test_unknown_zone_raises():
    with pytest.raises(TimeZoneError, match="Mars/Olympus"):
        local_to_utc_s(datetime(2024, 1, 1), "Mars/Olympus")


def test_dst_spring_forward_skipped_time_is_read_with_the_offset_before_the_change():
    # Berlin, 31 March 2024: 02:00 CET jumps to 03:00 CEST, so 02:30 never happens on a correct clock
    assert local_to_utc_s(datetime(2024, 3, 31, 2, 30), "Europe/Berlin") == utc(2024, 3, 31, 1, 30)
    assert local_to_utc_s(datetime(2024, 3, 31, 1, 59), "Europe/Berlin") == utc(2024, 3, 31, 0, 59)
    assert local_to_utc_s(datetime(2024, 3, 31, 3, 0), "Europe/Berlin") == utc(2024, 3, 31, 1, 0)


def test_dst_fall_back_repeated_time_is_read_as_its_first_occurrence():
    # Berlin, 27 October 2024: 03:00 CEST goes back to 02:00 CET, so 02:30 happens twice; the first is 00:30Z
    assert local_to_utc_s(datetime(2024, 10, 27, 2, 30), "Europe/Berlin") == utc(2024, 10, 27, 0, 30)
    # New York, 3 November 2024: 01:30 happens twice; the first (EDT, -4) is 05:30Z
    assert local_to_utc_s(datetime(2024, 11, 3, 1, 30), "America/New_York") == utc(2024, 11, 3, 5, 30)
    # the same wall-clock time in winter and summer differs by the DST hour
    assert local_to_utc_s(datetime(2024, 1, 15, 12), "Europe/Berlin") == utc(2024, 1, 15, 11)
    assert local_to_utc_s(datetime(2024, 7, 15, 12), "Europe/Berlin") == utc(2024, 7, 15, 10)


def test_offset_tag_beats_camera_zone_and_clock_offset_applies_per_camera():
    settings = ClockSettings(camera_zone="Asia/Tokyo", clock_offsets_s={"Canon EOS R6": -90.0})
    tagged = CaptureTime(datetime(2024, 7, 15, 12, 0), "+02:00", "Canon EOS R6")
    resolved = resolve_known_zone(tagged, settings)
    assert resolved is not None and resolved.how == "offset_tag"
    assert resolved.utc_s == utc(2024, 7, 15, 10, 0) - 90
    untagged = CaptureTime(datetime(2024, 7, 15, 12, 0), None, "Nikon Z6")
    resolved = resolve_known_zone(untagged, settings)
    assert resolved is not None and resolved.how == "camera_zone" and resolved.utc_s == utc(2024, 7, 15, 3, 0)


def test_garbled_offset_tag_falls_back_to_the_camera_zone_and_nothing_gives_none():
    capture = CaptureTime(datetime(2024, 7, 15, 12, 0), "garbage")
    assert resolve_known_zone(capture, ClockSettings(camera_zone="UTC")).utc_s == utc(2024, 7, 15, 12)
    assert resolve_known_zone(capture, ClockSettings()) is None


def test_per_camera_zone_overrides_the_general_one():
    settings = ClockSettings(camera_zone="Europe/Paris", camera_zones={"Sony A7": "America/New_York"})
    assert settings.zone_for("Sony A7") == "America/New_York" and settings.zone_for("other") == "Europe/Paris"


def test_zone_at_place_offline():
    assert zone_at_place(52.52, 13.40) == "Europe/Berlin"
    assert zone_at_place(40.71, -74.0) == "America/New_York"


def test_zone_inference_iterates_to_the_consistent_zone():
    # the traveller is in Chicago until 13:00Z, in New York from 14:00Z; the photo says 12:00 (no zone)
    def position_at(utc_s):
        return (41.88, -87.63) if utc_s < utc(2024, 7, 15, 13, 30) else (40.71, -74.0)

    visited = []

    def zone_at(lat, lon):
        visited.append((lat, lon))
        return zone_at_place(lat, lon)

    capture = CaptureTime(datetime(2024, 7, 15, 12, 0))
    resolved = infer_zone_from_positions(capture, ClockSettings(), position_at, zone_at)
    # 12:00 read as UTC -> Chicago (CDT) -> 17:00Z -> New York (EDT) -> 16:00Z -> New York: fixed point
    assert resolved is not None and resolved.how == "place_zone:America/New_York"
    assert resolved.utc_s == utc(2024, 7, 15, 16, 0)
    assert len(visited) == 3


def test_zone_inference_without_position_gives_none():
    capture = CaptureTime(datetime(2024, 7, 15, 12, 0))
    assert infer_zone_from_positions(capture, ClockSettings(), lambda _t: None, zone_at_place) is None


def test_zone_inference_applies_the_clock_offset():
    capture = CaptureTime(datetime(2024, 7, 15, 12, 0), camera="X")
    settings = ClockSettings(clock_offsets_s={"X": 3600.0})
    resolved = infer_zone_from_positions(capture, settings, lambda _t: (52.52, 13.40), zone_at_place)
    assert resolved is not None and resolved.utc_s == utc(2024, 7, 15, 11, 0)


def test_offset_from_pairs_is_the_median_and_ignores_an_outlier():
    pairs = [(1000.0, 1060.0), (2000.0, 2061.0), (3000.0, 3059.0), (4000.0, 4062.0), (5000.0, 8600.0)]
    estimate = estimate_clock_offset_s(pairs)
    assert estimate.offset_s == 61.0 and estimate.pair_count == 5
    assert estimate.spread_s == 1.0
    by_camera = estimate_offsets_by_camera({"A": pairs, "B": [(0.0, -30.0)], "C": []})
    assert set(by_camera) == {"A", "B"} and by_camera["B"].offset_s == -30.0
    with pytest.raises(ValueError):
        estimate_clock_offset_s([])


def test_format_offset():
    assert format_offset(3723) == "+1 h 02 min 03 s"
    assert format_offset(-59.6) == "-0 h 01 min 00 s"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("330", 330.0), ("-12.5", -12.5), ("+0:05:30", 330.0), ("-1:00:00", -3600.0), ("5:30", 330.0)],
)
def test_parse_duration(text, seconds):
    assert parse_duration_s(text) == seconds


@pytest.mark.parametrize("seconds", [0.0, 330.0, -3600.0, 45296.0, -59.0])
def test_format_duration_round_trips(seconds):
    assert parse_duration_s(format_duration(seconds)) == seconds


def test_bad_duration_raises():
    with pytest.raises(ValueError, match="unreadable duration"):
        parse_duration_s("five minutes")


@pytest.mark.parametrize(
    ("make", "model", "key"),
    [("Canon", "Canon EOS R6", "Canon EOS R6"), ("SONY", "ILCE-7M3", "SONY ILCE-7M3"),
     ("NIKON CORPORATION", "NIKON Z 6", "NIKON Z 6"), (None, None, ""), ("Apple", None, "Apple")],
)
def test_camera_key(make, model, key):
    assert camera_key(make, model) == key


def test_zone_inference_at_an_oscillating_border_is_deterministic():
    # positions alternate between Spain and Portugal with every look-up: stop after MAX_ZONE_ITERATIONS
    calls = []

    def position_at(_utc_s):
        calls.append(1)
        return (40.0, -7.5) if len(calls) % 2 else (40.0, -6.5)

    capture = CaptureTime(datetime(2024, 7, 15, 12, 0))
    first = infer_zone_from_positions(capture, ClockSettings(), position_at, zone_at_place)
    calls.clear()
    second = infer_zone_from_positions(capture, ClockSettings(), position_at, zone_at_place)
    assert first == second and first is not None
    assert first.how in ("place_zone:Europe/Lisbon", "place_zone:Europe/Madrid")
    assert len(calls) == MAX_ZONE_ITERATIONS


def test_settings_round_trip_and_validation():
    settings = ClockSettings("Europe/Rome", {"SONY ILCE-7M3": "Asia/Tokyo"}, {"Canon EOS": -120.0}, 5.0)
    assert ClockSettings.from_dict(settings.to_dict()) == settings
    assert ClockSettings.from_dict({}) == ClockSettings()
    with pytest.raises(TimeZoneError):
        ClockSettings.from_dict({"camera_zones": {"x": "Nowhere/Land"}})
