"""The streaming JSON reader gives exactly what json.load gives, whatever the buffer size and the formatting."""

from __future__ import annotations

import io
import json

import pytest

from geotagger.geocore.timesync import json_stream
from geotagger.geocore.timesync.json_stream import JsonStreamError, iter_array_items

DOCUMENT = {"version": 1, "locations": [
    {"latitudeE7": i, "activity": [{"activity": [{"type": "STILL", "confidence": i}], "timestamp": f"t{i}"}],
     "note": "a \"quoted\" }, { look-alike\n  }, {" if i % 7 == 0 else "x", "n": [1.5, None, True]}
    for i in range(300)],
    "settings": {"nested": [1, 2]}, "rawSignals": [1, "two", {"three": 3}, [4]], "empty": []}


@pytest.mark.parametrize("indent", [None, 1, 2, 4])
@pytest.mark.parametrize("chunk", [7, 333, 1 << 22])
def test_items_equal_json_load(monkeypatch, indent, chunk):
    monkeypatch.setattr(json_stream, "CHUNK_CHARS", chunk)
    text = json.dumps(DOCUMENT, indent=indent)
    items = list(iter_array_items(io.StringIO(text)))
    assert [item for key, _, _, item in items if key == "locations"] == DOCUMENT["locations"]
    assert [item for key, _, _, item in items if key == "rawSignals"] == DOCUMENT["rawSignals"]
    assert [number for key, number, _, _ in items if key == "locations"] == list(range(1, 301))


def test_a_top_level_array_and_errors_with_lines(monkeypatch):
    monkeypatch.setattr(json_stream, "CHUNK_CHARS", 16)
    assert [item for *_, item in iter_array_items(io.StringIO('[{"a": 1},\n {"a": 2}]'))] == [{"a": 1}, {"a": 2}]
    bad = json.dumps(DOCUMENT, indent=2).replace('"latitudeE7": 150,', '"latitudeE7": 150,,')
    line = bad[: bad.index(",,")].count("\n") + 1
    with pytest.raises(JsonStreamError) as caught:
        list(iter_array_items(io.StringIO(bad)))
    assert caught.value.line == line and caught.value.item == 151
    with pytest.raises(JsonStreamError, match="ends inside an array"):
        list(iter_array_items(io.StringIO('{"locations": [{"a": 1}, ')))
    with pytest.raises(JsonStreamError, match="not a JSON object or array"):
        list(iter_array_items(io.StringIO("42")))
