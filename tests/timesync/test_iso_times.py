"""The vectorised ISO 8601 reading equals `parse_time_s` on every form, and an invalid time among thousands is
NaN (numpy 2.4's own datetime cast crashes the process on that: it is given validated rows only)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from geotagger.geocore.timesync.points import iso_times_s, parse_time_s

DATES = ["2024-06-01T10:00:00", "1999-12-31T23:59:59", "2024-02-29T01:02:03", "2023-02-29T00:00:00",
         "0000-01-01T00:00:00", "0001-01-01T00:00:00", "9999-12-31T23:59:59", "2024-06-01T24:00:00",
         "2024-06-01T23:59:60", "2024-13-01T00:00:00", "1969-07-20T20:17:40", "2100-02-29T00:00:00"]
FRACTIONS = ["", ".", ".1", ".25", ".123", ",5", ".123456", ".1234567", ".123456789012", ".1234567890123"]
ZONES = ["", "Z", "z", "+02:00", "-05:30", "+0200", "+02", "+24:00", "+23:59", "-00:60", "+02:00:30", " ", "+2:00"]


def test_every_combination_reads_as_parse_time_s_does():
    texts = ["".join(parts) for parts in itertools.product(DATES, FRACTIONS, ZONES)]
    got = iso_times_s(texts)
    for text, value in zip(texts, got, strict=True):
        want = parse_time_s(text)
        assert (want is None and np.isnan(value)) or value == pytest.approx(want, abs=2e-5), text


def test_an_invalid_time_among_thousands_is_nan_and_the_rest_are_read():
    texts = [f"2024-06-01T10:{i // 60 % 60:02d}:{i % 60:02d}Z" for i in range(5000)]
    texts[4321] = "2024-13-01T00:00:00Z"
    got = iso_times_s(texts)
    assert np.isnan(got[4321]) and np.isfinite(np.delete(got, 4321)).all()
    assert got[61] == pytest.approx(parse_time_s(texts[61]))


def test_space_separator_bytes_and_non_ascii():
    assert iso_times_s([b"2024-06-01 10:00:00Z"])[0] == pytest.approx(1717236000.0)
    assert np.isnan(iso_times_s(["2024-06-01T10:00:00Z\u00e9", "é"])).all()
