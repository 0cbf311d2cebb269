"""Stream the items of a big JSON document's arrays without loading the document: bounded memory, C-speed items.

Google Takeout's location history is one JSON document of hundreds of MB ({"locations": [...]}, or
{"semanticSegments": [...], "rawSignals": [...], ...}, or a top-level array). `json.load` would hold all of it,
several times its size, as Python objects. Here the top level is walked by a tiny tokenizer and each item of an
array is decoded on its own by the standard library's C decoder (`JSONDecoder.raw_decode`) from a sliding
buffer, then dropped; an error names the line and the item.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, TextIO

CHUNK_CHARS = 1 << 22
_SPACE = re.compile(r"[ \t\n\r]*")
_SEPARATOR = re.compile(r"[ \t\n\r]*,?[ \t\n\r]*")


class JsonStreamError(ValueError):
    """Malformed JSON at a line (1-based) and array item (1-based, 0 outside arrays)."""

    def __init__(self, reason: str, line: int, item: int) -> None:
        super().__init__(f"line {line}: {reason}" + (f" (item {item})" if item else ""))
        self.reason, self.line, self.item = reason, line, item


class _Buffer:
    """A window on the text; line numbers are counted incrementally from a mark (never from the start again)."""

    def __init__(self, handle: TextIO) -> None:
        self.handle, self.text, self.position, self.eof = handle, "", 0, False
        self.mark, self.mark_line = 0, 1

    def fill(self, at_least: int = 1) -> bool:
        """Make sure `at_least` characters are there past `position`; False at end of file."""
        while len(self.text) - self.position < at_least and not self.eof:
            self.mark_line = self.line_at(self.position)
            chunk = self.handle.read(max(CHUNK_CHARS, at_least))
            self.text, self.position, self.mark = self.text[self.position:] + chunk, 0, 0
            self.eof = not chunk
        return len(self.text) - self.position >= at_least

    def line_at(self, position: int) -> int:
        """Line number of a position at or after the mark (moves the mark there)."""
        if position < self.mark:
            return self.mark_line - self.text.count("\n", position, self.mark)
        self.mark_line += self.text.count("\n", self.mark, position)
        self.mark = position
        return self.mark_line

    def skip(self, pattern: re.Pattern[str]) -> str:
        """Skip what `pattern` matches (refilling), return the next character ('' at end of file)."""
        while True:
            match = pattern.match(self.text, self.position)
            assert match is not None  # both patterns match the empty string
            self.position = match.end()
            if self.position < len(self.text) or not self.fill():
                return self.text[self.position] if self.position < len(self.text) else ""


def _decode(buffer: _Buffer, decoder: json.JSONDecoder, item: int) -> Any:
    """One value at the buffer's position, reading more while it runs past the end of the buffer."""
    wanted = 1 << 16
    while True:
        try:
            value, end = decoder.raw_decode(buffer.text, buffer.position)
            if end < len(buffer.text) or buffer.eof:  # a number at the very end may continue in the next chunk
                buffer.position = end
                return value
        except json.JSONDecodeError as error:
            cut_off = error.pos >= len(buffer.text) - 1 or error.msg.startswith("Unterminated string")
            if buffer.eof or not cut_off:
                raise JsonStreamError(error.msg, buffer.line_at(error.pos), item) from None
        buffer.fill(len(buffer.text) - buffer.position + wanted)
        wanted *= 2


Batch = tuple[str, int, int, list[Any]]  # key, number of the first item, its line, the items
BATCH_ITEMS = 20_000


def iter_array_items(handle: TextIO) -> Iterator[tuple[str, int, int, Any]]:
    """(top-level key, item number, line, item) for every item of the document's top-level arrays.

    A top-level array gives key "". Values of the top-level object that are not arrays are decoded and skipped.
    The line is exact for the first item of each batch (see `iter_array_batches`) and estimated after it.
    """
    for key, first, line, items in iter_array_batches(handle):
        for offset, item in enumerate(items):
            yield key, first + offset, line, item


def iter_array_batches(handle: TextIO, batch_items: int = BATCH_ITEMS) -> Iterator[Batch]:
    """The items of the top-level arrays in lists of up to `batch_items` (fewer Python steps per item)."""
    decoder = json.JSONDecoder()
    buffer = _Buffer(handle)
    buffer.fill()
    first = buffer.skip(_SPACE)
    if first == "[":
        buffer.position += 1
        yield from _batches(buffer, decoder, "", batch_items)
        return
    if first != "{":
        raise JsonStreamError("not a JSON object or array", buffer.line_at(buffer.position), 0)
    buffer.position += 1
    while True:
        char = buffer.skip(_SEPARATOR)
        if char == "}":
            return
        if char != '"':
            raise JsonStreamError("expected a key", buffer.line_at(buffer.position), 0)
        key = _decode(buffer, decoder, 0)
        if buffer.skip(_SPACE) != ":":
            raise JsonStreamError("expected ':'", buffer.line_at(buffer.position), 0)
        buffer.position += 1
        if buffer.skip(_SPACE) == "[":
            buffer.position += 1
            yield from _batches(buffer, decoder, str(key), batch_items)
        else:
            _decode(buffer, decoder, 0)


def _boundary(text: str, previous_end: int, start: int) -> str | None:
    """The text between two items when the document is indented ("\n  }, {"): the closing brace alone on its line,
    which nested values (indented deeper) never match. None for compact JSON."""
    newline = text.rfind("\n", 0, previous_end)
    if newline < 0 or previous_end - newline > 64 or text[newline + 1:previous_end - 1].strip():
        return None
    return text[newline:start + 1]


def _whole_items(buffer: _Buffer, boundary: str, start: int) -> list[Any] | None:
    """All complete items from `start` to the last boundary in the buffer, decoded in one call of the C parser.

    A slice that starts at an item and parses as a JSON array ends at an item's end, so the result is exact; a
    slice that does not parse (a boundary look-alike in odd formatting) gives None and the caller goes item by item.
    """
    text = buffer.text
    cut = text.rfind(boundary, start)
    if cut <= start:
        return []
    end = cut + boundary.index("}") + 1
    try:
        items = json.loads("[" + text[start:end] + "]")
    except json.JSONDecodeError:
        return None
    buffer.position = end
    return items if isinstance(items, list) else None


def _batches(buffer: _Buffer, decoder: json.JSONDecoder, key: str, batch_items: int) -> Iterator[Batch]:
    """One array's items in batches. In an indented document whole buffers of items are parsed at once once the
    boundary between two items is known; otherwise the common step (separator, a whole item inside the buffer)
    runs inline, and the end of the buffer, the end of the array and errors take the careful path."""
    number = 0
    separator, raw_decode = _SEPARATOR.match, decoder.raw_decode
    boundary: str | None = None
    previous: tuple[str, int] | None = None  # the text and end of the last item decoded alone
    whole = True
    while True:
        batch: list[Any] = []
        line = buffer.line_at(buffer.position)
        first = number + 1
        while len(batch) < batch_items:
            text, position = buffer.text, buffer.position
            match = separator(text, position)
            assert match is not None  # the pattern matches the empty string
            position = match.end()
            if boundary is not None and whole and position < len(text) and text[position] in "{[":
                items = _whole_items(buffer, boundary, position)
                whole = items is not None
                if items:
                    number += len(items)
                    batch += items
                    break
            if position < len(text) - 1 and text[position] in "{[":
                try:
                    value, end = raw_decode(text, position)
                except json.JSONDecodeError:
                    end = len(text)  # cut off by the buffer, or malformed: the careful path decides
                if end < len(text):
                    if boundary is None and previous is not None and previous[0] is text:
                        boundary = _boundary(text, previous[1], position)
                    previous = (text, end)
                    buffer.position = end
                    number += 1
                    batch.append(value)
                    continue
            char = buffer.skip(_SEPARATOR)
            if char == "]":
                buffer.position += 1
                if batch:
                    yield key, first, line, batch
                return
            if not char:
                raise JsonStreamError("the file ends inside an array", buffer.line_at(buffer.position), number)
            number += 1
            batch.append(_decode(buffer, decoder, number))
            previous = None
        yield key, first, line, batch
