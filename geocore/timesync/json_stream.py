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


def iter_array_items(handle: TextIO) -> Iterator[tuple[str, int, int, Any]]:
    """(top-level key, item number, line, item) for every item of the document's top-level arrays.

    A top-level array gives key "". Values of the top-level object that are not arrays are decoded and skipped.
    """
    decoder = json.JSONDecoder()
    buffer = _Buffer(handle)
    buffer.fill()
    first = buffer.skip(_SPACE)
    if first == "[":
        buffer.position += 1
        yield from _items(buffer, decoder, "")
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
            yield from _items(buffer, decoder, str(key))
        else:
            _decode(buffer, decoder, 0)


def _items(buffer: _Buffer, decoder: json.JSONDecoder, key: str) -> Iterator[tuple[str, int, int, Any]]:
    number = 0
    while True:
        char = buffer.skip(_SEPARATOR)
        if char == "]":
            buffer.position += 1
            return
        if not char:
            raise JsonStreamError("the file ends inside an array", buffer.line_at(buffer.position), number)
        number += 1
        line = buffer.line_at(buffer.position)
        yield key, number, line, _decode(buffer, decoder, number)
