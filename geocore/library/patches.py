"""Byte patches: how a write changes a file, and how undo puts back the exact original bytes."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Patch:
    """Replace `old` (found at `offset` of the original) by `new`; an insertion has empty `old`."""

    offset: int
    old: bytes
    new: bytes


def patched_pieces(data: bytes, patches: Sequence[Patch]) -> list[bytes | memoryview]:
    """The patched file as pieces (views into `data` plus new bytes), without copying the unchanged bytes."""
    if not patches_match(data, patches):
        raise ValueError("patches overlap or do not match the file")
    view = memoryview(data)
    parts: list[bytes | memoryview] = []
    cursor = 0
    for patch in sorted(patches, key=lambda p: (p.offset, len(p.old))):
        parts += [view[cursor : patch.offset], patch.new]
        cursor = patch.offset + len(patch.old)
    parts.append(view[cursor:])
    return parts


def pieces_equal(data: bytes, pieces: Sequence[bytes | memoryview]) -> bool:
    """True when `data` is exactly the concatenation of `pieces` (compared in place)."""
    position = 0
    for piece in pieces:
        if not data.startswith(piece, position):
            return False
        position += len(piece)
    return position == len(data)


def apply_patches(data: bytes, patches: Sequence[Patch]) -> bytes:
    """Apply non-overlapping patches (offsets in `data`); checks that each `old` matches."""
    return b"".join(patched_pieces(data, patches))


def patches_match(data: bytes, patches: Sequence[Patch]) -> bool:
    """True when every patch's `old` bytes are where it says in `data` and patches do not overlap (no copy)."""
    cursor = 0
    for patch in sorted(patches, key=lambda p: (p.offset, len(p.old))):
        end = patch.offset + len(patch.old)
        # startswith compares in place with memcmp (a memoryview `!=` compares element by element)
        if patch.offset < cursor or end > len(data) or not data.startswith(patch.old, patch.offset):
            return False
        cursor = end
    return True


def invert_patches(patches: Sequence[Patch]) -> list[Patch]:
    """Patches that turn the patched bytes back into the original (offsets in the patched file)."""
    inverted = []
    shift = 0
    for patch in sorted(patches, key=lambda p: (p.offset, len(p.old))):
        inverted.append(Patch(patch.offset + shift, patch.new, patch.old))
        shift += len(patch.new) - len(patch.old)
    return inverted


def encode_patches(patches: Sequence[Patch]) -> bytes:
    """Serialise patches to a compact blob for the journal."""
    out = bytearray(struct.pack("<I", len(patches)))
    for patch in patches:
        out += struct.pack("<QII", patch.offset, len(patch.old), len(patch.new)) + patch.old + patch.new
    return bytes(out)


def decode_patches(blob: bytes) -> list[Patch]:
    """Inverse of `encode_patches`."""
    (count,) = struct.unpack_from("<I", blob, 0)
    cursor = 4
    patches = []
    for _ in range(count):
        offset, old_len, new_len = struct.unpack_from("<QII", blob, cursor)
        cursor += 16
        old = blob[cursor : cursor + old_len]
        cursor += old_len
        new = blob[cursor : cursor + new_len]
        cursor += new_len
        patches.append(Patch(offset, bytes(old), bytes(new)))
    return patches
