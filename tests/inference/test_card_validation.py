"""Issue 11, defect 11: a malformed model card or bundle member is refused with a one-line BundleError naming the
bundle and the field; nothing crashes, nothing allocates what a header merely claims, no NaN gets through."""

from __future__ import annotations

import io
import json
import math
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from geotagger.geocore.inference.bundle import load_bundle, read_card, sha256_hex
from geotagger.geocore.inference.card import BundleError

CARD = "model_card.json"


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _write(out: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out


def _with_card_text(source: Path, out: Path, edit: Callable[[dict[str, Any]], str]) -> Path:
    members = _members(source)
    members[CARD] = edit(json.loads(members[CARD])).encode()
    return _write(out, members)


def _with_card(source: Path, out: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    def dump(card: dict[str, Any]) -> str:
        edit(card)
        return json.dumps(card)  # allow_nan: writes the bare NaN/Infinity a hostile card would hold

    return _with_card_text(source, out, dump)


def _replace_member(source: Path, out: Path, name: str, data: bytes) -> Path:
    """Swap one member and fix its checksum in the card, so that only the content itself is wrong."""
    members = _members(source)
    old_sha = sha256_hex(members[name])
    members[name] = data
    members[CARD] = members[CARD].replace(old_sha.encode(), sha256_hex(data).encode())
    return _write(out, members)


def _refused(path: Path, *fragments: str) -> str:
    with pytest.raises(BundleError) as caught:
        load_bundle(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    return message


@pytest.mark.parametrize(("edit", "fragments"), [
    (lambda card: card.update(files=list(card["files"].values())), ("files: expected an object, got a list",)),
    (lambda card: card["outputs"].update(heads=[{"classes": 1000}]),
     ("outputs.heads: expected an object, got a list",)),
    (lambda card: card["crops"].update(resize_short_px="256"),
     ("crops.resize_short_px: expected an integer, got a string",)),
    (lambda card: card["input"].update(size_px=True), ("input.size_px: expected an integer",)),
    (lambda card: card["input"].update(size_px=10**12), ("input.size_px",)),
    (lambda card: card["input"].update(std=[math.nan, 0.2, 0.2]), ("NaN is not allowed",)),
    (lambda card: card["input"].update(mean=[0.4, math.inf, 0.4]), ("Infinity is not allowed",)),
    (lambda card: card["input"].update(std=[0.2, 0.2]), ("input.std: expected 3 channel values",)),
    (lambda card: card["input"].update(std=[0.2, 0.0, 0.2]), ("input.std[1]",)),
    (lambda card: card["outputs"]["heads"]["imagenet"].update(classes=-3), ("outputs.heads.imagenet.classes",)),
    (lambda card: card["scene"].update(labels="indoor"), ("scene.labels: expected a list",)),
    (lambda card: card["files"].update(heads="heads.npz"), ("files.heads: expected an object, got a string",)),
    (lambda card: card.update(model_id=["a"]), ("model_id: expected a string",)),
    (lambda card: card.update(model_id="two\nlines"), ("model_id: must be",)),
    (lambda card: card.update(training=[1, 2]), ("training: expected an object",)),
    (lambda card: card.update(format_version=True), ("unknown bundle format version",)),
])
def test_malformed_card_field_is_named(base_bundle: Path, tmp_path: Path, edit, fragments) -> None:
    bundle = _with_card(base_bundle, tmp_path / "bad.geomodel", edit)
    _refused(bundle, *fragments)
    with pytest.raises(BundleError):
        read_card(bundle)  # the cheap listing path refuses it the same way


def test_number_overflowing_to_infinity_is_refused(base_bundle: Path, tmp_path: Path) -> None:
    def overflow(card: dict[str, Any]) -> str:
        card["evaluation"] = {"top1": "BIG"}
        return json.dumps(card).replace('"BIG"', "1e999")  # parses to inf without any NaN/Infinity literal

    _refused(_with_card_text(base_bundle, tmp_path / "big.geomodel", overflow), "evaluation: inf is not a finite")


def test_deeply_nested_card_is_refused_not_a_recursion_error(base_bundle: Path, tmp_path: Path) -> None:
    depth = 100_000
    bundle = _with_card_text(base_bundle, tmp_path / "deep.geomodel",
                             lambda card: json.dumps(card)[:-1] + ', "training": ' + "[" * depth + "]" * depth + "}")
    _refused(bundle, "nested too deeply")


def test_moderately_nested_free_form_is_refused(base_bundle: Path, tmp_path: Path) -> None:
    nested: Any = 1
    for _ in range(200):
        nested = {"x": nested}
    bundle = _with_card(base_bundle, tmp_path / "nested.geomodel", lambda card: card.update(training=nested))
    _refused(bundle, "training: nested deeper than")


def _npy(shape_text: str, payload: bytes, dtype: str = "<f4") -> bytes:
    header = f"{{'descr': '{dtype}', 'fortran_order': False, 'shape': {shape_text}, }}".encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + payload


def _npz(arrays: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in arrays.items():
            archive.writestr(name + ".npy", data)
    return buffer.getvalue()


def test_npz_header_lying_about_its_shape_allocates_nothing(base_bundle: Path, tmp_path: Path) -> None:
    heads = _npz({"imagenet.weight": _npy("(1000, 1000000000)", b"\0" * 4096),
                  "imagenet.bias": _npy("(1000,)", b"\0" * 4000)})
    bundle = _replace_member(base_bundle, tmp_path / "lying.geomodel", "heads.npz", heads)
    tracemalloc.start()
    try:
        _refused(bundle, "imagenet.weight.npy", "declares shape (1000, 1000000000)")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 200 << 20  # the model and archive bytes, not the 4 TB the header claims


@pytest.mark.parametrize(("weight", "fragment"), [
    (_npy("(1000, 1280)", b"\0" * 100), "declares shape (1000, 1280)"),
    (_npy("(1000, 1280)", b"\0" * 5120000, dtype="|O"), "unsupported array type"),
    (b"not an npy file at all", "unreadable head weights"),
])
def test_npz_member_problems_are_bundle_errors(base_bundle: Path, tmp_path: Path, weight: bytes, fragment: str) -> None:
    heads = _npz({"imagenet.weight": weight, "imagenet.bias": _npy("(1000,)", b"\0" * 4000)})
    _refused(_replace_member(base_bundle, tmp_path / "npz.geomodel", "heads.npz", heads), fragment)


def test_nan_head_weights_are_refused(base_bundle: Path, tmp_path: Path) -> None:
    weight = np.zeros((1000, 1280), dtype="<f4")
    weight[3, 7] = np.nan
    buffer = io.BytesIO()
    np.savez(buffer, **{"imagenet.weight": weight, "imagenet.bias": np.zeros(1000, dtype="<f4")})
    bundle = _replace_member(base_bundle, tmp_path / "nan.geomodel", "heads.npz", buffer.getvalue())
    _refused(bundle, "head imagenet weights hold NaN")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "91.5"])
def test_non_finite_or_impossible_centroid_is_refused(tiny_bundle: Path, tmp_path: Path, value: str) -> None:
    members = _members(tiny_bundle)
    name = sorted(member for member in members if member.startswith("partitionings/"))[0]
    lines = members[name].decode().splitlines()
    header_index = next(i for i, line in enumerate(lines) if "latitude_mean" in line)
    column = lines[header_index].split(",").index("latitude_mean")
    row = lines[header_index + 1].split(",")
    row[column] = value
    lines[header_index + 1] = ",".join(row)
    bundle = _replace_member(tiny_bundle, tmp_path / "centroid.geomodel", name, ("\n".join(lines) + "\n").encode())
    _refused(bundle, "centroid", "is not a position")


def test_valid_bundles_still_load(base_bundle: Path, tiny_bundle: Path) -> None:
    assert load_bundle(base_bundle).heads["imagenet"].weight.shape == (1000, 1280)
    assert load_bundle(tiny_bundle).card.training == {"data": "synthetic"}
