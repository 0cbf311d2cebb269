"""The exact comparisons the writer's safety rests on: a file equals the bytes we read, patches sit where they say."""

from __future__ import annotations

import pytest

from geotagger.geocore.library import safe_files
from geotagger.geocore.library.patches import Patch, patches_match

DATA = bytes(range(256)) * 9000  # ~2.3 MB: more than one comparison block


@pytest.mark.parametrize("change", ["same", "first byte", "last byte", "block edge", "shorter", "longer"])
def test_same_content_finds_any_difference(tmp_path, change) -> None:
    edge = safe_files.COMPARE_BLOCK_BYTES
    on_disk = {"same": DATA, "first byte": b"\xff" + DATA[1:], "last byte": DATA[:-1] + b"\x00",
               "block edge": DATA[:edge] + bytes([DATA[edge] ^ 1]) + DATA[edge + 1:],
               "shorter": DATA[:-1], "longer": DATA + b"\x00"}[change]
    path = tmp_path / "photo.jpg"
    path.write_bytes(on_disk)
    assert safe_files.same_content(path, DATA) is (change == "same")


def test_patches_match_checks_place_bounds_and_overlap() -> None:
    data = b"0123456789"
    assert patches_match(data, [Patch(2, b"23", b"xx"), Patch(7, b"789", b"")])
    assert not patches_match(data, [Patch(2, b"24", b"xx")])  # not what is there
    assert not patches_match(data, [Patch(8, b"890", b"")])  # runs past the end
    assert not patches_match(data, [Patch(2, b"234", b""), Patch(3, b"3", b"")])  # overlap
    assert patches_match(data, [Patch(10, b"", b"tail")])  # an insertion at the very end
