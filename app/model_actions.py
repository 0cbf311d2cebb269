"""Settings and models for the main window: the settings dialog, choosing a bundle, personal training."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QDialog, QFileDialog

from geotagger.app.dialogs import LearnFoldersDialog, LearnProcess, ModelsDialog, SettingsDialog, missing_train_extra
from geotagger.app.model_files import PERSONAL_PREFIX


class ModelActions:
    """Mixed into MainWindow."""

    settings: Any
    backend: Any
    config_folder: Path
    data_folder: Path
    learn: LearnProcess | None = None
    learnStarted: Any  # noqa: N815  (signals of MainWindow)
    learnFinished: Any  # noqa: N815

    if TYPE_CHECKING:  # provided by QMainWindow / MainWindow
        def statusBar(self) -> Any: ...  # noqa: N802
        def show_summary(self, title: str, text: str, details: str = "") -> None: ...
        def predict_missing(self, every_photo: bool = False) -> None: ...
        def rebuild_map(self) -> None: ...

    def open_settings(self) -> None:
        """Edit the settings; a change of map tiles rebuilds the map page, a change of model settings re-predicts."""
        dialog = SettingsDialog(self.settings, self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        self.apply_settings(dialog.result_settings())

    def apply_settings(self, new: Any) -> None:
        """Persist new settings and react to what changed."""
        old = self.settings
        self.settings = new
        self.backend.settings = new
        new.save(self.config_folder)
        if (old.online_tiles, old.tile_provider, old.tile_archive) != (new.online_tiles, new.tile_provider,
                                                                       new.tile_archive):
            self.rebuild_map()
        if new.show_place_names and not old.show_place_names:
            self._want_places(list(self.model.items))
        if (old.provider, old.crops, old.active_model) != (new.provider, new.crops, new.active_model):
            self.backend.reset_predictor()
            self.predict_missing(every_photo=True)

    def open_models(self) -> None:
        """Choose the active bundle and read the cards."""
        dialog = ModelsDialog(self.backend.list_bundles(), self.settings.active_model, self.backend.card_text,
                              self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        chosen = dialog.chosen()
        if dialog.imported is not None and chosen == str(dialog.imported):
            chosen = str(self.backend.import_bundle(dialog.imported))
        self.choose_model(chosen)

    def choose_model(self, bundle: str) -> None:
        """Make a bundle active and predict again with it."""
        new = type(self.settings)(**{**self.settings.__dict__, "active_model": bundle})
        self.apply_settings(new)
        self.statusBar().showMessage(f"Model: {Path(bundle).name if bundle else 'shipped base model'}", 5000)

    def learn_from_library(self, folders: list[Path] | None = None) -> None:
        """Train a personal model on the geotagged photos of folders the user ticks (recent ones offered, samples
        unticked), or of `folders`, in a background process; says what to install when the trainer is missing."""
        if self.learn is not None:
            self.statusBar().showMessage("Personal training is already running", 4000)
            return
        problem = missing_train_extra()
        if problem:
            self.show_summary("Personal model", "Learning from your photos needs the trainer.", problem)
            return
        if folders is None:
            folders = self.choose_learn_folders()
        if not folders:
            return
        out = self.data_folder / "models" / f"{PERSONAL_PREFIX}{datetime.now():%Y%m%d-%H%M%S}.geomodel"
        out.parent.mkdir(parents=True, exist_ok=True)
        self.learn = LearnProcess(folders, out, self.backend.library_path, self.backend.base_bundle(),
                                  self)
        self.learn.progress.connect(self._learn_progress)
        self.learn.finished.connect(self._learn_finished)
        self.learn.start()
        self.statusBar().showMessage("Learning from your geotagged photos…")
        self.learnStarted.emit()

    def choose_learn_folders(self) -> list[Path]:
        """Ask which folders to learn from (recent folders listed; none recent: pick one)."""
        recent = [Path(f) for f in self.settings.recent_folders if Path(f).is_dir()]
        if not recent:
            folder = QFileDialog.getExistingDirectory(self, "Folder of your geotagged photos")  # type: ignore[arg-type]
            return [Path(folder)] if folder else []
        dialog = LearnFoldersDialog(recent, self)
        return dialog.chosen() if dialog.exec() == QDialog.DialogCode.Accepted else []

    def _learn_progress(self, done: int, total: int, line: str) -> None:
        self.statusBar().showMessage(f"Personal model: {line[:120]}")

    def _learn_finished(self, status: int, output: str) -> None:
        learn, self.learn = self.learn, None
        self.learnFinished.emit(status)
        if status == 0 and learn is not None and learn.out.is_file():
            self.show_summary("Personal model", f"Trained {learn.out.name}; it is now the active model.", output)
            self.choose_model(str(learn.out))
        else:
            self.show_summary("Personal model", f"Training failed (exit status {status}).", output)
