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


def test_read_file_reads_the_whole_file_with_its_stat(tmp_path, monkeypatch) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(DATA)
    real_read = safe_files.os.read
    monkeypatch.setattr(safe_files.os, "read", lambda fd, n: real_read(fd, min(n, 70_000)))  # short reads (FUSE)
    data, info = safe_files.read_file(path)
    assert data == DATA and info.st_size == len(DATA)
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert safe_files.read_file(tmp_path / "empty.jpg")[0] == b""


def test_read_file_refuses_what_is_not_a_regular_file(tmp_path) -> None:
    import os

    fifo = tmp_path / "photo.jpg"
    os.mkfifo(fifo)  # opening it for reading would block forever without O_NONBLOCK
    with pytest.raises(OSError, match="not a regular file"):
        safe_files.read_file(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        safe_files.read_file(tmp_path)


@pytest.mark.parametrize("cut", [3, 1000, 70_001])
def test_write_file_writes_every_piece_through_short_writes(tmp_path, monkeypatch, cut) -> None:
    real_writev = safe_files.os.writev
    data = DATA[:300_000]

    def short_writev(fd, buffers):  # a file system taking only the first `cut` bytes asked, as POSIX allows
        taken, left = [], cut
        for buffer in buffers:
            taken.append(buffer[:left])
            left -= len(taken[-1])
        return real_writev(fd, taken)

    monkeypatch.setattr(safe_files.os, "writev", short_writev)
    pieces = [data[:5], memoryview(data)[5:100_000], b"", data[100_000:]]
    target = tmp_path / ".photo.jpg.geotag-tmp"
    target.write_bytes(b"a temp file a crash left behind")
    info = safe_files.write_file(target, pieces, 0o640, (1_000_000_000, 2_000_000_000), sync=False)
    assert target.read_bytes() == data
    assert info.st_size == len(data) and info.st_mode & 0o777 == 0o640 and info.st_mtime_ns == 2_000_000_000
