"""Detail panel of the selected photo: preview with saliency overlay, scene type, top cells, location, EXIF facts."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage, QLinearGradient, QPainter, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QScrollArea,
    QSlider,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from geotagger.app.items import STATE_LABELS, VISUAL_SOURCES, PhotoItem, escaped_tooltip, format_radius

PREVIEW_SIZE = 330
# geocore.inference.saliency.colourise's ramp, for the legend's colour scale
SALIENCY_STOPS = ("#0000a0", "#00c8ff", "#ffe600", "#e60000")


def explains_position(item: PhotoItem | None) -> bool:
    """Saliency explains a guess from the image: a model's proposal (or a photo with only a prediction)."""
    if item is None or item.prediction is None:
        return False
    return item.source in VISUAL_SOURCES or not item.has_location


def explained_text(prediction: Any, places: dict[str, str]) -> str:
    """The legend: what the overlay explains (the shown cell, by its place name when known)."""
    top = getattr(prediction, "hierarchy_top", None) or []
    if not top:
        return "Where the model looked to guess the place:"
    name = places.get(str(top[0].key)) or str(top[0].label or top[0].key)
    return f"What made the model think “{name}”:"


def saliency_scale(width_px: int = 90, height_px: int = 10) -> QPixmap:
    """The overlay's colour ramp, low (left) to high (right)."""
    pixmap = QPixmap(width_px, height_px)
    painter = QPainter(pixmap)
    gradient = QLinearGradient(0, 0, width_px, 0)
    for index, colour in enumerate(SALIENCY_STOPS):
        gradient.setColorAt(index / (len(SALIENCY_STOPS) - 1), QColor(colour))
    painter.fillRect(pixmap.rect(), gradient)
    painter.end()
    return pixmap


def plain_label(text: str = "") -> QLabel:
    """A QLabel that never interprets its text as rich text (file names and EXIF are untrusted)."""
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setWordWrap(True)
    label.setText(text)
    return label


def _probability_bar(name: str) -> QProgressBar:
    bar = QProgressBar()
    bar.setRange(0, 1000)
    bar.setFormat(f"{name}  %p%")
    bar.setTextVisible(True)
    return bar


class DetailPanel(QScrollArea):
    """Shows one PhotoItem; `show_item(None)` empties it."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._photo = QImage()
        self._overlay = QImage()
        self.shown_key = ""
        self._cell_places: dict[str, str] = {}
        self._prediction: Any = None
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.addWidget(self._build_preview())
        layout.addWidget(self._build_location())
        layout.addWidget(self._build_scene())
        layout.addWidget(self._build_cells())
        layout.addWidget(self._build_facts())
        layout.addStretch(1)
        self.setWidget(body)

    def _build_preview(self) -> QWidget:
        box = QGroupBox("Preview")
        layout = QVBoxLayout(box)
        self.preview = QLabel()
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumHeight(200)
        self.title = plain_label()
        row = QHBoxLayout()
        self.overlay_toggle = QCheckBox("Saliency overlay")
        self.overlay_toggle.setChecked(True)  # on by default; only visual proposals get one
        self.overlay_opacity = QSlider(Qt.Orientation.Horizontal)
        self.overlay_opacity.setRange(0, 100)
        self.overlay_opacity.setValue(55)
        self.overlay_toggle.toggled.connect(self._repaint_preview)
        self.overlay_opacity.valueChanged.connect(self._repaint_preview)
        row.addWidget(self.overlay_toggle)
        row.addWidget(QLabel("Opacity"))
        row.addWidget(self.overlay_opacity)
        legend = QHBoxLayout()
        self.legend_text = QLabel("Where the model looked to guess the place:")
        self.legend_text.setWordWrap(True)
        scale = QLabel()
        scale.setPixmap(saliency_scale())
        legend.addWidget(self.legend_text, 1)
        legend.addWidget(QLabel("low"))
        legend.addWidget(scale)
        legend.addWidget(QLabel("high"))
        self.legend = QWidget()
        self.legend.setLayout(legend)
        self.legend.hide()
        self.concepts = plain_label()  # the concepts behind a visual guess, when a segmentation is installed
        self.concepts.hide()
        layout.addWidget(self.title)
        layout.addWidget(self.preview)
        layout.addLayout(row)
        layout.addWidget(self.legend)
        layout.addWidget(self.concepts)
        return box

    def _build_location(self) -> QWidget:
        box = QGroupBox("Location")
        form = QFormLayout(box)
        self.location_fields = {name: plain_label() for name in ("State", "Position", "Radius", "Source", "Place")}
        for name, label in self.location_fields.items():
            form.addRow(name, label)
        return box

    def _build_scene(self) -> QWidget:
        box = QGroupBox("Scene")
        layout = QVBoxLayout(box)
        self.scene_bars = {name: _probability_bar(name) for name in ("indoor", "natural", "urban")}
        for bar in self.scene_bars.values():
            layout.addWidget(bar)
        self.scene_note = QLabel("")  # which network located the photo, and where the scene type came from
        self.scene_note.setTextFormat(Qt.TextFormat.PlainText)
        self.scene_note.setWordWrap(True)
        layout.addWidget(self.scene_note)
        return box

    def _build_cells(self) -> QWidget:
        box = QGroupBox("Top cells")
        layout = QVBoxLayout(box)
        self.cells = QTreeWidget()
        self.cells.setHeaderLabels(["Cell", "Probability"])
        header = self.cells.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.cells.setMinimumHeight(160)
        layout.addWidget(self.cells)
        return box

    def _build_facts(self) -> QWidget:
        box = QGroupBox("EXIF")
        self.facts_form = QFormLayout(box)
        return box

    def show_item(self, item: PhotoItem | None, preview: QImage | None = None) -> None:
        """Fill every section from one photo (None clears); the preview may come later through set_photo."""
        if item is None or item.key != self.shown_key:
            self._overlay = QImage()
            self.set_concepts(None)
        self.shown_key = item.key if item else ""
        self._photo = preview if preview is not None else QImage()
        self.overlay_toggle.setEnabled(not self._overlay.isNull())
        self.legend.setVisible(False)
        self.title.setText(item.name if item else "No photo selected")
        self._repaint_preview()
        self._show_location(item)
        self._show_scene(item.prediction if item else None)
        self._show_cells(item.prediction if item else None)
        self._show_facts(item)

    def has_overlay(self) -> bool:
        """Whether a saliency overlay is loaded for the shown photo."""
        return not self._overlay.isNull()

    def photo_image(self) -> QImage:
        """The preview currently shown (kept when the same photo is shown again)."""
        return self._photo

    def set_photo(self, image: QImage) -> None:
        """The decoded preview arrived."""
        self._photo = image if image is not None else QImage()
        self._repaint_preview()

    def set_overlay(self, overlay: QImage) -> None:
        """The saliency overlay arrived (computed in the background)."""
        self._overlay = overlay
        self.overlay_toggle.setEnabled(not overlay.isNull())
        self.legend.setVisible(not overlay.isNull())
        self._repaint_preview()

    def set_concepts(self, concepts: list[Any] | None) -> None:
        """The concepts that drove the guess arrived with the overlay (None: no segmentation installed)."""
        self.concepts.setText(concepts_text(concepts) if concepts is not None else "")
        self.concepts.setVisible(concepts is not None)

    def _repaint_preview(self) -> None:
        if self._photo.isNull():
            self.preview.setPixmap(QPixmap())
            return
        image = self._photo.scaled(PREVIEW_SIZE, PREVIEW_SIZE, Qt.AspectRatioMode.KeepAspectRatio,
                                   Qt.TransformationMode.SmoothTransformation).convertToFormat(QImage.Format.Format_ARGB32)
        if self.overlay_toggle.isChecked() and not self._overlay.isNull():
            painter = QPainter(image)
            painter.setOpacity(self.overlay_opacity.value() / 100)
            painter.drawImage(image.rect(), self._overlay)
            painter.end()
        self.preview.setPixmap(QPixmap.fromImage(image))

    def _show_location(self, item: PhotoItem | None) -> None:
        fields = self.location_fields
        fields["State"].setText(STATE_LABELS.get(item.state, item.state) if item else "")
        fields["State"].setToolTip("")
        if item and item.state == "error":  # one line; the full reason on demand (hover)
            first_line = item.error.splitlines()[0] if item.error else ""
            fields["State"].setText(f"Error: {first_line[:80]}{'…' if len(first_line) > 80 else ''}")
            fields["State"].setToolTip(escaped_tooltip(item.error))
        unknown = getattr(item.prediction, "unknown_place", None) if item else None
        if unknown and not item.has_location:  # the model's "I don't know", in the user's words
            fields["State"].setText(f"No proposal: {unknown}")
        fields["Position"].setText(f"{item.lat:.5f}, {item.lon:.5f}" if item and item.has_location else "—")
        radius = item.radius_km if item else None
        fields["Radius"].setText(format_radius(radius))
        fields["Source"].setText(item.source if item else "")
        fields["Place"].setText(item.place if item else "")

    def _show_scene(self, prediction: Any) -> None:
        scene = getattr(prediction, "scene_probabilities", None) or {}
        for name, bar in self.scene_bars.items():
            bar.setValue(round(1000 * float(scene.get(name, 0.0))))
            bar.setEnabled(bool(scene))
        self.scene_note.setText(scene_note(prediction))

    def set_cell_places(self, places: dict[str, str]) -> None:
        """Cell names arrived (token -> 'Lisbon, PT'): relabel the top cells."""
        self._cell_places = dict(places)
        self._show_cells(self._prediction)

    def _show_cells(self, prediction: Any) -> None:
        self._prediction = prediction
        self.cells.clear()
        self.legend_text.setText(explained_text(prediction, self._cell_places))
        top_cells = getattr(prediction, "top_cells", None) or {}
        if prediction is not None and not top_cells:
            hint = QTreeWidgetItem(["This model predicts the scene only.", ""])
            hint.addChild(QTreeWidgetItem(["Models ▸ Learn from my geotagged", ""]))
            hint.addChild(QTreeWidgetItem(["photos trains one for places.", ""]))
            self.cells.addTopLevelItem(hint)
            hint.setExpanded(True)
        for partitioning, cells in top_cells.items():
            parent = QTreeWidgetItem([str(partitioning), ""])
            for cell in cells:
                token = str(getattr(cell, "key", ""))
                label = self._cell_places.get(token) or str(getattr(cell, "label", "") or token)
                row = QTreeWidgetItem([label, f"{100 * float(cell.probability):.1f} %"])
                row.setToolTip(0, escaped_tooltip(f"{getattr(cell, 'label', '')} ({token})"))
                parent.addChild(row)
            self.cells.addTopLevelItem(parent)
            parent.setExpanded(True)

    def _show_facts(self, item: PhotoItem | None) -> None:
        while self.facts_form.rowCount():
            self.facts_form.removeRow(0)
        for name, value in (item.facts if item else {}).items():
            self.facts_form.addRow(plain_label(name), plain_label(value))


def scene_note(prediction: Any) -> str:
    """One line under the scene bars: the individual scene network that located the photo, and the scene's source."""
    if prediction is None:
        return ""
    parts = []
    network = getattr(prediction, "scene_network", None)
    if network:
        parts.append(f"Located by the {network} network")
    source = getattr(prediction, "scene_source", "") or ""
    if source:
        parts.append(f"scene type from {source}")
    return "; ".join(parts)


def concepts_text(concepts: list[Any]) -> str:
    """'Concepts behind the guess: building (ci 1.60), ...' (concept influence: 1 = chance), strongest first."""
    if not concepts:
        return "Concepts behind the guess: none stands out (all at or below chance)"
    listed = ", ".join(f"{item.concept} (ci {item.ci:.2f})" for item in concepts)
    return f"Concepts behind the guess: {listed}"
