"""Settings and models dialogs, and the background "Learn from my geotagged photos" process."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QProcess, Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
)

from geotagger.app.card_summary import card_summary
from geotagger.app.items import escaped_tooltip
from geotagger.app.map.page import TILE_PROVIDERS
from geotagger.app.settings import Settings
from geotagger.geocore.child_protocol import ProtocolError, read_message


class SettingsDialog(QDialog):
    """Edits a copy of the settings; `result_settings()` gives the edited values when accepted."""

    def __init__(self, settings: Settings, parent: Any = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.settings = settings
        form = QFormLayout(self)
        self.provider = self._combo([("CPU", "cpu"), ("GPU (CUDA) when available", "gpu")], settings.provider)
        self.crops = self._combo([("As the model card says", 0), ("1 (centre)", 1), ("3 (along the long side)", 3),
                                  ("5 (corners + centre)", 5)], settings.crops)
        self.write_mode = self._combo([("Into the photo (EXIF)", "exif"), ("XMP sidecar", "sidecar")],
                                      settings.write_mode)
        self.sidecar_naming = self._combo([("photo.jpg.xmp (darktable, digiKam)", "photo.jpg.xmp"),
                                           ("photo.xmp (Lightroom)", "photo.xmp")], settings.sidecar_naming)
        self.keep_timestamps = QCheckBox("Keep file modification times")
        self.keep_timestamps.setChecked(settings.keep_timestamps)
        self.backups = QCheckBox("Keep _original backups")
        self.backups.setChecked(settings.backups)
        self.online_tiles = QCheckBox("Online map tiles (sends map positions to the tile server)")
        self.online_tiles.setChecked(settings.online_tiles)
        self.tile_provider = self._combo([(name, name) for name in TILE_PROVIDERS], settings.tile_provider)
        self.tile_archive = QLineEdit(settings.tile_archive)
        self.tile_archive.setPlaceholderText("none: the offline basemap only")
        self.tile_archive.setToolTip("A PMTiles or MBTiles raster archive (e.g. a region extract), drawn offline")
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._choose_archive)
        archive_row = QHBoxLayout()
        archive_row.addWidget(self.tile_archive, 1)
        archive_row.addWidget(browse)
        self.show_place_names = QCheckBox("Show place names in the list (offline, GeoNames)")
        self.show_place_names.setChecked(settings.show_place_names)
        self.place_names = QCheckBox("Also write place names (city, state, country) into the files (XMP)")
        self.place_names.setChecked(settings.place_names)
        for label, widget in (("Inference", self.provider), ("Test-time crops", self.crops),
                              ("Write mode", self.write_mode), ("Sidecar naming", self.sidecar_naming),
                              ("", self.keep_timestamps), ("", self.backups), ("", self.online_tiles),
                              ("Tile provider", self.tile_provider), ("", self.show_place_names),
                              ("", self.place_names)):
            form.addRow(label, widget)
        form.addRow("Offline tiles", archive_row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _choose_archive(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Offline map tiles", self.tile_archive.text(),
                                              "Tile archives (*.pmtiles *.mbtiles *.PMTILES *.MBTILES);;All files (*)")
        if path:
            self.tile_archive.setText(path)

    @staticmethod
    def _combo(choices: list[tuple[str, Any]], current: Any) -> QComboBox:
        combo = QComboBox()
        for label, value in choices:
            combo.addItem(label, value)
        index = combo.findData(current)
        combo.setCurrentIndex(max(index, 0))
        return combo

    def result_settings(self) -> Settings:
        """A new Settings with the dialog's values (recent folders and active model kept)."""
        s = self.settings
        return Settings(
            provider=self.provider.currentData(), crops=int(self.crops.currentData()),
            write_mode=self.write_mode.currentData(), sidecar_naming=self.sidecar_naming.currentData(),
            keep_timestamps=self.keep_timestamps.isChecked(), backups=self.backups.isChecked(),
            online_tiles=self.online_tiles.isChecked(), tile_provider=self.tile_provider.currentData(),
            place_names=self.place_names.isChecked(), show_place_names=self.show_place_names.isChecked(),
            active_model=s.active_model,
            tile_archive=self.tile_archive.text().strip(), compact_rows=s.compact_rows,
            window_geometry=s.window_geometry, splitter_state=s.splitter_state, header_state=s.header_state,
            recent_folders=list(s.recent_folders))


class LearnProcess(QObject):
    """Runs `geotag-train personalize --json-lines` as a subprocess and follows its typed, versioned messages
    (geocore.child_protocol): progress while it works, then its result or its error."""

    progress = Signal(int, int, str)
    finished = Signal(int, str)  # exit status, the result's summary or why it failed

    def __init__(self, folders: list[Path], out: Path, cache: Path, base_model: Path | None,
                 parent: Any = None) -> None:
        super().__init__(parent)
        self.out = out
        self.result: dict[str, Any] | None = None
        self.error = ""
        self.log: list[str] = []  # stderr: shown only when the child died without saying why
        self._pending = ""
        self.process = QProcess(self)
        self.process.readyReadStandardOutput.connect(self._read)
        self.process.readyReadStandardError.connect(self._read_log)
        self.process.finished.connect(lambda code, _status: self.finished.emit(int(code), self._final_text()))
        self.program, self.arguments = personalize_command(folders, out, cache, base_model)

    def start(self) -> None:
        """Start the training process in the background."""
        self.process.start(self.program, self.arguments)

    def cancel(self) -> None:
        """Stop training."""
        self.process.kill()

    def _read(self) -> None:
        self._pending += bytes(self.process.readAllStandardOutput().data()).decode("utf-8", "replace")
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self.handle_line(line)

    def handle_line(self, line: str) -> None:
        """One line of the child's stdout."""
        try:
            parsed = read_message(line)
        except ProtocolError as error:
            self.error = str(error)
            self.process.kill()
            return
        if parsed is None:
            return
        if "progress" in parsed:
            done, total, what = parsed["progress"]
            self.progress.emit(int(done), int(total), f"{what} {done}/{total}")
        elif "result" in parsed:
            self.result = parsed["result"]
        elif "error" in parsed:
            self.error = str(parsed["error"])

    def _read_log(self) -> None:
        text = bytes(self.process.readAllStandardError().data()).decode("utf-8", "replace")
        self.log = (self.log + [line for line in text.replace("\r", "\n").splitlines() if line.strip()])[-20:]

    def _final_text(self) -> str:
        if self._pending:
            self.handle_line(self._pending)
            self._pending = ""
        if self.result is not None:
            return str(self.result.get("summary", ""))
        text = self.error or "\n".join(self.log)
        if any(marker in text for marker in ("No module named 'torch'", "No module named 'onnx'",
                                             "No module named 'geotagger.trainer'", "geotag-train: not found")):
            return f"{TRAIN_EXTRA_HINT}\n\n{text}"
        return text


TRAIN_EXTRA_HINT = ("Learning from your photos needs the trainer, which is not installed. Install it with:\n"
                    "    pip install 'geotagger-desktop[train]'\n(torch and onnx, about 1 GB; CPU is enough).")
TRAIN_MODULES = ("torch", "onnx", "geotagger.trainer")


def missing_train_extra() -> str | None:
    """What to install when the `train` extra is missing (None: personal training can run)."""
    import importlib.util

    missing = [name for name in TRAIN_MODULES if importlib.util.find_spec(name) is None]
    return f"{TRAIN_EXTRA_HINT}\nMissing: {', '.join(missing)}" if missing else None


def is_sample_folder(folder: Path) -> bool:
    """True for the shipped sample photos (never the user's own places)."""
    from geotagger.geocore.resources import resource_path

    try:
        return folder.resolve().is_relative_to(resource_path("samples").resolve())
    except OSError:
        return False


class LearnFoldersDialog(QDialog):
    """Choose which folders a personal model learns from: recent folders ticked (samples not), others addable."""

    def __init__(self, folders: list[Path], parent: Any = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Learn from my geotagged photos")
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Learn your places from the geotagged photos in these folders. Only positions from "
                                "a GPS receiver or placed by you are used, never Geotagger's own estimates."))
        self.list = QListWidget()
        for folder in folders:
            self.add_folder(folder, checked=not is_sample_folder(folder))
        layout.addWidget(self.list)
        add = QPushButton("Add folder…")
        add.clicked.connect(self._browse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Learn")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(add)
        layout.addWidget(buttons)

    def add_folder(self, folder: Path, checked: bool = True) -> None:
        """List one more folder (ticked unless `checked` is False)."""
        entry = QListWidgetItem(str(folder) + ("  (sample photos)" if is_sample_folder(folder) else ""))
        entry.setData(Qt.ItemDataRole.UserRole, str(folder))
        entry.setFlags(entry.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        entry.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        self.list.addItem(entry)

    def chosen(self) -> list[Path]:
        """The ticked folders."""
        return [Path(self.list.item(row).data(Qt.ItemDataRole.UserRole)) for row in range(self.list.count())
                if self.list.item(row).checkState() == Qt.CheckState.Checked]

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of your geotagged photos")
        if folder:
            self.add_folder(Path(folder))


def personalize_command(folders: list[Path], out: Path, cache: Path, base_model: Path | None) -> tuple[str, list[str]]:
    """The trainer's CLI: `geotag-train personalize --json-lines --library FOLDER... --out FILE.geomodel --cache
    DB`; the embeddings land in the app's own cache, so a second run reuses them."""
    beside_python = Path(sys.executable).with_name("geotag-train")
    program = str(beside_python) if beside_python.exists() else (shutil.which("geotag-train") or "geotag-train")
    arguments = ["personalize", "--json-lines", "--library", *map(str, folders), "--out", str(out),
                 "--cache", str(cache)]
    if base_model is not None:
        arguments += ["--base-model", str(base_model)]
    return program, arguments


class ModelsDialog(QDialog):
    """Lists bundles (shipped, personal, imported), shows each card, chooses the active one, imports files."""

    def __init__(self, bundles: list[tuple[str, Path]], active: str, card_text: Any, parent: Any = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.resize(760, 480)
        self.card_text = card_text  # callable(Path) -> str
        self.imported: Path | None = None
        layout = QHBoxLayout(self)
        left = QVBoxLayout()
        self.list = QListWidget()
        for label, path in bundles:
            entry = QListWidgetItem(label)
            entry.setData(256, str(path))
            entry.setToolTip(escaped_tooltip(str(path)))  # Qt renders a tooltip that looks like HTML
            self.list.addItem(entry)
            if str(path) == active or (not active and self.list.count() == 1):
                self.list.setCurrentItem(entry)
        self.import_button = QPushButton("Import .geomodel…")
        self.import_button.clicked.connect(self._import)
        left.addWidget(self.list)
        left.addWidget(self.import_button)
        layout.addLayout(left, 1)
        right = QVBoxLayout()
        self.card = QPlainTextEdit(readOnly=True)
        self.card.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.raw_card = QCheckBox("Show the raw card (JSON)")
        self.raw_card.toggled.connect(lambda *_: self._show_card())
        right.addWidget(self.card)
        right.addWidget(self.raw_card)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Use this model")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        right.addWidget(buttons)
        layout.addLayout(right, 2)
        self.list.currentItemChanged.connect(lambda *_: self._show_card())
        self._show_card()

    def chosen(self) -> str:
        """Path of the chosen bundle ('' if none)."""
        entry = self.list.currentItem()
        return str(entry.data(256)) if entry else ""

    def _show_card(self) -> None:
        chosen = self.chosen()
        text = self.card_text(Path(chosen)) if chosen else "No model bundles found."
        if not self.raw_card.isChecked():
            try:
                card = json.loads(text)
            except ValueError:
                card = None  # a reason why the bundle cannot be read: shown as it is
            if isinstance(card, dict):
                text = card_summary(card)
        self.card.setPlainText(text)

    def _import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a model", "", "Geotagger models (*.geomodel)")
        if path:
            self.imported = Path(path)
            entry = QListWidgetItem(f"Imported: {Path(path).name}")
            entry.setData(256, path)
            self.list.addItem(entry)
            self.list.setCurrentItem(entry)
