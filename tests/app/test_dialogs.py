"""Settings and models dialogs: what the user picks is what the app gets; cards are shown as plain text."""

from __future__ import annotations

import json
from pathlib import Path

from geotagger.app.dialogs import LearnProcess, ModelsDialog, SettingsDialog, personalize_command
from geotagger.app.settings import Settings


def test_settings_dialog_maps_every_widget(qtbot):
    settings = Settings(recent_folders=["/photos"], active_model="/m/a.geomodel")
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    assert dialog.crops.currentData() == 0 and dialog.write_mode.currentData() == "exif"
    dialog.provider.setCurrentIndex(dialog.provider.findData("gpu"))
    dialog.crops.setCurrentIndex(dialog.crops.findData(5))
    dialog.write_mode.setCurrentIndex(dialog.write_mode.findData("sidecar"))
    dialog.sidecar_naming.setCurrentIndex(dialog.sidecar_naming.findData("photo.xmp"))
    dialog.keep_timestamps.setChecked(False)
    dialog.backups.setChecked(False)
    dialog.online_tiles.setChecked(True)
    dialog.tile_provider.setCurrentIndex(dialog.tile_provider.findData("OpenTopoMap"))
    dialog.place_names.setChecked(False)
    dialog.show_place_names.setChecked(False)
    result = dialog.result_settings()
    assert result == Settings(provider="gpu", crops=5, write_mode="sidecar", sidecar_naming="photo.xmp",
                              keep_timestamps=False, backups=False, online_tiles=True, tile_provider="OpenTopoMap",
                              place_names=False, show_place_names=False, active_model="/m/a.geomodel",
                              recent_folders=["/photos"])


def test_models_dialog_lists_bundles_and_shows_their_cards(qtbot, tiny_bundle: Path):
    from geotagger.app.backend import Backend

    backend = Backend(tiny_bundle.parent / "data", Settings())
    try:
        bundles = backend.list_bundles() + [("Imported: tiny.geomodel", tiny_bundle)]
        dialog = ModelsDialog(bundles, str(tiny_bundle), backend.card_text)
        qtbot.addWidget(dialog)
        assert dialog.chosen() == str(tiny_bundle)
        summary = dialog.card.toPlainText()  # a readable summary first, the raw card on demand
        assert "Model: tiny-app-test" in summary and "Licence: CC0" in summary and "Training data" in summary
        assert "data: synthetic" in summary and "Predicts: places on 3 level(s)" in summary
        dialog.raw_card.setChecked(True)
        card = json.loads(dialog.card.toPlainText())
        assert card["model_id"] == "tiny-app-test" and card["license"] == "CC0"
        shipped = [path for label, path in bundles if label.startswith("Shipped:")]
        if shipped:  # the base bundle in resources/models
            dialog.list.setCurrentRow(0)
            assert json.loads(dialog.card.toPlainText())["model_id"] != "tiny-app-test"
        broken = tiny_bundle.parent / "broken.geomodel"
        broken.write_bytes(b"not a zip")
        assert "cannot be loaded" in backend.card_text(broken)
    finally:
        backend.close()


def test_personalize_command_and_progress_parsing(tmp_path: Path):
    program, arguments = personalize_command([tmp_path / "a", tmp_path / "b"], tmp_path / "p.geomodel",
                                             tmp_path / "library.sqlite", tmp_path / "base.geomodel")
    assert program.endswith("geotag-train")
    assert arguments[:5] == ["personalize", "--json-lines", "--library", str(tmp_path / "a"), str(tmp_path / "b")]
    assert arguments[arguments.index("--cache") + 1] == str(tmp_path / "library.sqlite")
    assert arguments[arguments.index("--base-model") + 1] == str(tmp_path / "base.geomodel")


def test_personal_training_is_followed_through_typed_versioned_messages(qtbot, tmp_path: Path):
    learn = LearnProcess([tmp_path], tmp_path / "p.geomodel", tmp_path / "c.sqlite", None)
    seen = []
    learn.progress.connect(lambda done, total, text: seen.append((done, total)))
    learn.handle_line("embeddings:  40%|####  | 16/40")  # a stray line of text is not a message
    learn.handle_line('{"version": 1, "progress": [16, 40, "embeddings"]}')
    learn.handle_line('{"version": 1, "result": {"bundle": "p.geomodel", "summary": "wrote p.geomodel"}}')
    assert seen == [(16, 40)] and learn._final_text() == "wrote p.geomodel"
    learn.handle_line('{"version": 99, "progress": [1, 2, "x"]}')  # a newer trainer beside an older app
    assert "protocol 99" in learn.error


def test_gpu_setting_falls_back_to_cpu_without_cuda(tiny_bundle: Path):
    from geotagger.app.backend import Backend

    backend = Backend(tiny_bundle.parent / "data-gpu", Settings(provider="gpu", active_model=str(tiny_bundle)))
    try:
        predictor = backend.predictor()
        assert predictor is not None, backend.model_problem
        assert predictor.provider in {"cuda", "cpu"}  # a strict CUDA request would raise on a machine without one
    finally:
        backend.close()


def test_importing_never_overwrites_and_never_poses_as_personal(tmp_path: Path, tiny_bundle: Path):
    from geotagger.app.backend import Backend
    from geotagger.geocore.workflow.models import is_personal

    backend = Backend(tmp_path / "data", Settings())
    try:
        first = backend.import_bundle(tiny_bundle)
        assert first.read_bytes() == tiny_bundle.read_bytes()
        assert backend.import_bundle(tiny_bundle) == first  # the same file again: no second copy
        other = tmp_path / "elsewhere" / tiny_bundle.name
        other.parent.mkdir()
        other.write_bytes(tiny_bundle.read_bytes() + b"\\0")  # same name, different bytes
        second = backend.import_bundle(other)
        assert second != first and first.read_bytes() == tiny_bundle.read_bytes()
        disguised = tmp_path / "personal-evil.geomodel"
        disguised.write_bytes(tiny_bundle.read_bytes())
        imported = backend.import_bundle(disguised)
        # being personal is the card's word: a file name proves nothing (geocore.workflow.models.is_personal)
        assert imported.name == "imported-personal-evil.geomodel" and not is_personal(imported)
    finally:
        backend.close()


def test_resetting_the_model_never_waits_for_a_load_in_progress(tiny_bundle: Path):
    import threading
    import time

    from geotagger.app.backend import Backend

    backend = Backend(tiny_bundle.parent / "data-reset", Settings(active_model=str(tiny_bundle)))
    try:
        with backend.session.models._lock:  # a worker is in the middle of loading a model
            started = time.perf_counter()
            resetter = threading.Thread(target=backend.reset_predictor)
            resetter.start()
            resetter.join(timeout=5)
            assert not resetter.is_alive() and time.perf_counter() - started < 1.0
        assert backend.predictor() is not None  # the next call loads with the current settings
    finally:
        backend.close()
