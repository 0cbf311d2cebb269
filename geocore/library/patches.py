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


def apply_patches(data: bytes, patches: Sequence[Patch]) -> bytes:
    """Apply non-overlapping patches (offsets in `data`); checks that each `old` matches."""
    out = bytearray()
    cursor = 0
    for patch in sorted(patches, key=lambda p: (p.offset, len(p.old))):
        if patch.offset < cursor:
            raise ValueError("overlapping patches")
        if data[patch.offset : patch.offset + len(patch.old)] != patch.old:
            raise ValueError(f"patch at {patch.offset} does not match the file")
        out += data[cursor : patch.offset]
        out += patch.new
        cursor = patch.offset + len(patch.old)
    out += data[cursor:]
    return bytes(out)


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
