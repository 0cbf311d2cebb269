"""The track-sync dialog: tracks (files or folders), camera clocks and zones per camera, the global offset
(exiftool -geosync), a reference photo, exiftool's matching limits, and a live count of the photos that match.

The count comes from `preview(options, on_result)`, supplied by the window: it runs the session's
`preview_tracks` off the GUI thread and calls back on it; a result older than the latest settings is dropped.
Per-camera zones and offsets are read from and saved to the per-user clock.json (shared with the CLI).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import available_timezones

import shiboken6
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from geotagger.geocore.workflow import (
    ClockSettings,
    Reference,
    SyncPreview,
    TimeOptions,
    format_duration,
    parse_duration_s,
    parse_geosync_s,
)

Preview = Callable[[list[Path], TimeOptions, Callable[[SyncPreview], None]], None]
PREVIEW_DELAY_MS = 250
_PLACE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$")


def _distance(metres: float) -> str:
    return f"{metres:.0f} m" if metres < 1000 else f"{metres / 1000:.1f} km"


class TrackSyncDialog(QDialog):
    """Choose tracks and time settings; `options()` and `track_paths()` once accepted."""

    def __init__(self, parent: QWidget | None, photos: list[str], clock: ClockSettings, preview: Preview,
                 file_filter: str, tracks: list[Path] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Sync with GPS track")
        self.setMinimumWidth(640)
        self._preview, self._file_filter, self._photos = preview, file_filter, photos
        self._generation = 0
        self._cameras: list[str] = []
        self.problem = ""
        self._timer = QTimer(self, singleShot=True, interval=PREVIEW_DELAY_MS)
        self._timer.timeout.connect(self._run_preview)
        layout = QVBoxLayout(self)
        layout.addWidget(self._tracks_box(tracks or []))
        layout.addWidget(self._clock_box(clock))
        layout.addWidget(self._limits_box())
        self.count_label = QLabel("")
        self.count_label.setWordWrap(True)
        layout.addWidget(self.count_label)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Sync")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.settings_changed()

    # ----- building -----
    def _tracks_box(self, tracks: list[Path]) -> QGroupBox:
        box = QGroupBox("Tracks (GPX, KML/KMZ, GeoJSON, Google Takeout, TCX, NMEA, IGC, FIT, CSV)")
        layout = QVBoxLayout(box)
        self.track_list = QListWidget()
        self.track_list.addItems([str(path) for path in tracks])
        layout.addWidget(self.track_list)
        row = QHBoxLayout()
        for text, slot in (("Add files…", self._add_files), ("Add folder…", self._add_folder),
                           ("Remove", self._remove_track)):
            button = QPushButton(text)
            button.clicked.connect(slot)
            row.addWidget(button)
        layout.addLayout(row)
        return box

    def _clock_box(self, clock: ClockSettings) -> QGroupBox:
        box = QGroupBox("Camera clocks")
        form = QFormLayout(box)
        zones = sorted(available_timezones())
        self.camera_zone = self._zone_edit(zones, clock.camera_zone or "")
        form.addRow("Camera time zone (photos without an offset tag)", self.camera_zone)
        self.camera_table = QTableWidget(0, 3)
        self.camera_table.setHorizontalHeaderLabels(["Camera", "Time zone", "Clock offset [+-]H:MM:SS"])
        self.camera_table.horizontalHeader().setStretchLastSection(True)
        self.camera_table.setColumnWidth(0, 260)
        self.camera_table.setColumnWidth(1, 160)
        self.camera_table.setMinimumHeight(110)
        self.camera_table.verticalHeader().setVisible(False)
        self._zones, self._clock = zones, clock
        form.addRow(self.camera_table)
        self.global_offset = QLineEdit()
        self.global_offset.setPlaceholderText("+1:00:00 or 2024:06:01 10:00:00@2024:06:01 10:01:30 (exiftool -geosync)")
        self.global_offset.textChanged.connect(self.settings_changed)
        form.addRow("Offset for all photos", self.global_offset)
        self.reference_photo = QComboBox()
        self.reference_photo.addItem("(none)", "")
        for path in self._photos:
            self.reference_photo.addItem(Path(path).name, path)
        self.reference_photo.currentIndexChanged.connect(self.settings_changed)
        self.reference_value = QLineEdit()
        self.reference_value.setPlaceholderText("2024-05-01T10:17:15+02:00, or the place: 45.123, 7.456")
        self.reference_value.textChanged.connect(self.settings_changed)
        form.addRow("Reference photo", self.reference_photo)
        form.addRow("… was really taken at (time or place)", self.reference_value)
        return box

    def _zone_edit(self, zones: list[str], text: str) -> QLineEdit:
        edit = QLineEdit(text)
        completer = QCompleter(zones, edit)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        edit.setCompleter(completer)
        edit.setPlaceholderText("e.g. Europe/Berlin")
        edit.textChanged.connect(self.settings_changed)
        return edit

    def _limits_box(self) -> QGroupBox:
        box = QGroupBox("Matching")
        form = QFormLayout(box)
        self.max_gap_min = QSpinBox(minimum=1, maximum=24 * 60, value=30, suffix=" min")
        self.max_ext_s = QSpinBox(minimum=0, maximum=24 * 3600, value=60, suffix=" s")
        self.bridge = QCheckBox("Interpolate across segment breaks and between files")
        self.max_hdop = QDoubleSpinBox(minimum=0, maximum=99, value=0, decimals=1, specialValueText="off")
        self.min_sats = QSpinBox(minimum=0, maximum=32, value=0, specialValueText="off")
        exiftool = QPushButton("exiftool's limits (1800 s / 1800 s)")
        exiftool.clicked.connect(self.use_exiftool_limits)
        form.addRow("Longest interpolated gap (GeoMaxIntSecs)", self.max_gap_min)
        form.addRow("Nearest point outside it (GeoMaxExtSecs)", self.max_ext_s)
        form.addRow(exiftool)
        form.addRow(self.bridge)
        form.addRow("Largest HDOP (GeoMaxHDOP)", self.max_hdop)
        form.addRow("Fewest satellites (GeoMinSats)", self.min_sats)
        for widget in (self.max_gap_min, self.max_ext_s, self.max_hdop, self.min_sats):
            widget.valueChanged.connect(self.settings_changed)
        self.bridge.toggled.connect(self.settings_changed)
        return box

    # ----- actions -----
    def _add_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Track files", "", self._file_filter)
        self.add_tracks([Path(file) for file in files])

    def _add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of tracks")
        if folder:
            self.add_tracks([Path(folder)])

    def _remove_track(self) -> None:
        for selected in self.track_list.selectedItems():
            self.track_list.takeItem(self.track_list.row(selected))
        self.settings_changed()

    def add_tracks(self, paths: list[Path]) -> None:
        """Add track files or folders to the list (no duplicates)."""
        known = set(self.track_paths())
        self.track_list.addItems([str(path) for path in paths if path not in known])
        self.settings_changed()

    def use_exiftool_limits(self) -> None:
        """exiftool's GeoMaxIntSecs / GeoMaxExtSecs defaults."""
        self.max_gap_min.setValue(30)
        self.max_ext_s.setValue(1800)

    def settings_changed(self) -> None:
        """Restart the short wait after which the count is refreshed (typing does not start a preview per key)."""
        self._timer.start()

    # ----- reading the settings -----
    def track_paths(self) -> list[Path]:
        return [Path(self.track_list.item(row).text()) for row in range(self.track_list.count())]

    def clock(self) -> ClockSettings:
        """Zones and offsets as entered; ValueError naming the field that cannot be read."""
        zones, offsets = {}, {}
        for row, camera in enumerate(self._cameras):
            zone_item, offset_item = self.camera_table.item(row, 1), self.camera_table.item(row, 2)
            if zone_item is not None and zone_item.text().strip():
                zones[camera] = self._zone_name(zone_item.text(), camera)
            if offset_item is not None and offset_item.text().strip():
                try:
                    offsets[camera] = parse_duration_s(offset_item.text())
                except ValueError as error:
                    raise ValueError(f"clock offset of {camera!r}: {error}") from None
        camera_zone = self._zone_name(self.camera_zone.text(), "camera") if self.camera_zone.text().strip() else None
        return ClockSettings(camera_zone, zones, offsets)

    def _zone_name(self, text: str, what: str) -> str:
        if text.strip() not in self._zones:
            raise ValueError(f"time zone of {what!r}: unknown zone {text.strip()!r}")
        return text.strip()

    def references(self) -> tuple[Reference, ...]:
        photo, text = self.reference_photo.currentData(), self.reference_value.text().strip()
        if not photo or not text:
            return ()
        place = _PLACE.match(text)
        if place:
            return (Reference(photo, place=(float(place.group(1)), float(place.group(2)))),)
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"reference: {text!r} is neither a time with offset nor 'lat, lon'") from None
        if moment.tzinfo is None:
            raise ValueError("reference: give the time with its UTC offset, e.g. 2024-05-01T10:17:15+02:00")
        return (Reference(photo, true_utc_s=moment.timestamp()),)

    def options(self) -> TimeOptions:
        """The TimeOptions the settings describe; ValueError for one that cannot be read."""
        offset_text = self.global_offset.text().strip()
        return TimeOptions(
            clock=self.clock(), max_gap_s=self.max_gap_min.value() * 60.0, max_snap_s=float(self.max_ext_s.value()),
            global_offset_s=parse_geosync_s(offset_text) if offset_text else 0.0, references=self.references(),
            bridge_segments=self.bridge.isChecked(), max_hdop=self.max_hdop.value() or None,
            min_satellites=self.min_sats.value() or None)

    # ----- the live count -----
    def _run_preview(self) -> None:
        try:
            options = self.options()
        except ValueError as error:
            self.problem = str(error)
            self.count_label.setText(f"⚠ {error}")
            self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(False)
            return
        self.problem = ""
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(self.track_paths()))
        self._generation += 1
        generation = self._generation
        self._preview(self.track_paths(), options, lambda result: self._show_preview(generation, result))

    def _show_preview(self, generation: int, preview: SyncPreview) -> None:
        if not shiboken6.isValid(self.camera_table):
            return  # the dialog closed while the count was on its way
        if generation != self._generation:
            return  # the settings changed meanwhile: a newer count is on its way
        self.last_preview = preview
        self._fill_cameras(preview)
        if not self.track_paths():
            text = f"{preview.photos} photos without GPS. Add a track to see how many match."
        else:
            text = (f"{preview.matched} of {preview.photos} photos without GPS match the track "
                    f"({preview.interpolated} interpolated, {preview.track_points} track points)")
            if preview.no_time:
                text += f"; {preview.no_time} have no capture time"
            if preview.median_error_m is not None:
                text += (f"\nCheck: the track puts {preview.checked} photo(s) with their own GPS a median "
                         f"{_distance(preview.median_error_m)} from where they say they were")
        self.count_label.setText("\n".join([text, *preview.problems[:3]]))

    def _fill_cameras(self, preview: SyncPreview) -> None:
        for camera, (total, matched) in preview.cameras.items():
            if camera not in self._cameras:
                self._add_camera_row(camera)
            row = self._cameras.index(camera)
            label = self.camera_table.item(row, 0)
            if label is not None:
                label.setText(f"{camera or '(unknown camera)'}: {matched} of {total} match")

    def _add_camera_row(self, camera: str) -> None:
        row = self.camera_table.rowCount()
        self._cameras.append(camera)
        self.camera_table.blockSignals(True)
        self.camera_table.insertRow(row)
        label = QTableWidgetItem(camera)
        label.setFlags(label.flags() & ~Qt.ItemFlag.ItemIsEditable)
        self.camera_table.setItem(row, 0, label)
        zone = self._clock.camera_zones.get(camera, "")
        offset = self._clock.clock_offsets_s.get(camera)
        self.camera_table.setItem(row, 1, QTableWidgetItem(zone))
        self.camera_table.setItem(row, 2, QTableWidgetItem(format_duration(offset) if offset else ""))
        self.camera_table.blockSignals(False)
        if not hasattr(self, "_table_connected"):
            self.camera_table.itemChanged.connect(lambda _item: self.settings_changed())
            self._table_connected = True

    def set_camera(self, camera: str, zone: str = "", offset: str = "") -> None:
        """Type a camera's zone and offset into its row (what the user does in the table)."""
        row = self._cameras.index(camera)
        self.camera_table.item(row, 1).setText(zone)
        self.camera_table.item(row, 2).setText(offset)
