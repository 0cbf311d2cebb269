"""Learn from my photos: the user chooses the folders (samples not ticked), a missing trainer says what to install,
the overlay's legend says what it explains, and an 'I don't know' shows its reason."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest

from geotagger.app.detail import explained_text
from geotagger.app.dialogs import (
    TRAIN_EXTRA_HINT,
    LearnFoldersDialog,
    LearnProcess,
    is_sample_folder,
    missing_train_extra,
)
from geotagger.geocore.resources import resource_path


def test_the_user_chooses_the_folders_and_samples_are_not_ticked(qtbot, tmp_path: Path) -> None:
    mine, samples = tmp_path / "holiday", resource_path("samples")
    mine.mkdir()
    dialog = LearnFoldersDialog([mine, samples])
    qtbot.addWidget(dialog)
    assert is_sample_folder(samples) and not is_sample_folder(mine)
    assert dialog.chosen() == [mine]
    dialog.list.item(0).setCheckState(dialog.list.item(1).checkState())  # untick mine too
    assert dialog.chosen() == []
    dialog.add_folder(tmp_path / "more")
    assert dialog.chosen() == [tmp_path / "more"]


def test_a_missing_trainer_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    problem = missing_train_extra()
    assert problem is not None and "pip install 'geotagger-desktop[train]'" in problem and "torch" in problem
    monkeypatch.setattr(importlib.util, "find_spec", real)
    assert missing_train_extra() is None  # this test environment has the train extra
    learn = LearnProcess([tmp_path], tmp_path / "p.geomodel", tmp_path / "c.sqlite", None)
    learn.log = ["Traceback (most recent call last):", "ModuleNotFoundError: No module named 'torch'"]
    assert learn._final_text().startswith(TRAIN_EXTRA_HINT)


def test_the_legend_names_what_the_overlay_explains() -> None:
    cell = SimpleNamespace(key="0d1b", label="0d1b")
    prediction = SimpleNamespace(hierarchy_top=[cell])
    assert explained_text(prediction, {"0d1b": "Lisbon, PT"}) == "What made the model think “Lisbon, PT”:"
    assert explained_text(prediction, {}) == "What made the model think “0d1b”:"
    assert explained_text(None, {}) == "Where the model looked to guess the place:"
