"""Bundle loading validates everything and fails with a clear message."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from geotagger.geocore.inference import bundle as bundle_module
from geotagger.geocore.inference.bundle import load_bundle, sha256_hex
from geotagger.geocore.inference.card import BundleError


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _rewrite(path: Path, out: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out


def _edit_card(members: dict[str, bytes], edit) -> dict[str, bytes]:
    card = json.loads(members["model_card.json"])
    edit(card)
    members["model_card.json"] = json.dumps(card).encode()
    return members


def test_valid_bundle_loads_with_everything(tiny_bundle) -> None:
    bundle = load_bundle(tiny_bundle)
    assert bundle.model_id == "tiny-test" and bundle.has_location
    assert len(bundle.hierarchy) == 3 and bundle.card.training == {"data": "synthetic"}
    assert (tiny_bundle.stat().st_mode & 0o777) == 0o644


def test_unknown_format_version(tiny_bundle, tmp_path) -> None:
    members = _edit_card(_members(tiny_bundle), lambda card: card.update(format_version=99))
    with pytest.raises(BundleError, match="unknown bundle format version 99"):
        load_bundle(_rewrite(tiny_bundle, tmp_path / "v.geomodel", members))


def test_missing_file(tiny_bundle, tmp_path) -> None:
    members = _members(tiny_bundle)
    del members["hierarchy.csv"]
    with pytest.raises(BundleError, match="missing file hierarchy.csv"):
        load_bundle(_rewrite(tiny_bundle, tmp_path / "m.geomodel", members))


def test_checksum_mismatch(tiny_bundle, tmp_path) -> None:
    members = _members(tiny_bundle)
    name = next(name for name in members if name.startswith("partitionings/"))
    members[name] = members[name].replace(b"\n0,", b"\n0,", 1) + b"\n"
    with pytest.raises(BundleError, match=f"checksum mismatch for {name}"):
        load_bundle(_rewrite(tiny_bundle, tmp_path / "c.geomodel", members))


def test_partitioning_disagreeing_with_head_outputs(tiny_bundle, tmp_path) -> None:
    members = _members(tiny_bundle)

    def swap_files(card: dict) -> None:  # point geo_0 at the finest CSV: right checksum, wrong class count
        card["partitionings"][0]["file"] = card["partitionings"][2]["file"]
        card["partitionings"][0]["sha256"] = card["partitionings"][2]["sha256"]

    with pytest.raises(BundleError, match="partitioning cells_20_300 has .* classes, head geo_0 outputs"):
        load_bundle(_rewrite(tiny_bundle, tmp_path / "s.geomodel", _edit_card(members, swap_files)))


def test_card_class_counts_disagreeing_with_the_onnx_outputs(tiny_bundle, tmp_path) -> None:
    from geotagger.geocore.inference.runtime import create_session

    members = _members(tiny_bundle)
    with zipfile.ZipFile(tiny_bundle) as archive, archive.open("heads.npz") as handle:
        heads = dict(np.load(handle))
    heads["scene.weight"] = np.zeros((4, heads["scene.weight"].shape[1]), np.float32)
    heads["scene.bias"] = np.zeros(4, np.float32)
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **heads)
    members["heads.npz"] = buffer.getvalue()

    def four_scenes(card: dict) -> None:
        card["outputs"]["heads"]["scene"]["classes"] = 4
        card["scene"]["labels"] = ["a", "b", "c", "d"]
        card["files"]["heads"]["sha256"] = sha256_hex(members["heads.npz"])

    bundle = load_bundle(_rewrite(tiny_bundle, tmp_path / "o.geomodel", _edit_card(members, four_scenes)))
    with pytest.raises(BundleError, match="output scene has 3 classes, the card says 4"):
        create_session(bundle, "cpu")


def test_path_traversal_member_names_are_refused(tiny_bundle, tmp_path) -> None:
    members = _members(tiny_bundle)
    members["../../evil.sh"] = b"rm -rf /"
    with pytest.raises(BundleError, match="unsafe member name"):
        load_bundle(_rewrite(tiny_bundle, tmp_path / "t.geomodel", members))
    members = _edit_card(_members(tiny_bundle), lambda card: card["hierarchy"].update(file="../hierarchy.csv"))
    with pytest.raises(BundleError, match="unsafe file name"):
        load_bundle(_rewrite(tiny_bundle, tmp_path / "t2.geomodel", members))


def test_size_limit_stops_oversized_members(tiny_bundle, monkeypatch) -> None:
    monkeypatch.setattr(bundle_module, "MAX_MEMBER_BYTES", 1000)
    with pytest.raises(BundleError, match="larger than"):
        load_bundle(tiny_bundle)


def test_not_a_bundle(tmp_path) -> None:
    junk = tmp_path / "junk.geomodel"
    junk.write_bytes(b"hello")
    with pytest.raises(BundleError, match="not a zip"):
        load_bundle(junk)
    with pytest.raises(BundleError, match="no such model bundle"):
        load_bundle(tmp_path / "absent.geomodel")


def test_malformed_card_names_the_field(tiny_bundle, tmp_path) -> None:
    members = _edit_card(_members(tiny_bundle), lambda card: card.pop("input"))
    with pytest.raises(BundleError, match="missing field 'input'"):
        load_bundle(_rewrite(tiny_bundle, tmp_path / "f.geomodel", members))
