"""Pictures for the window: previews scaled while decoding, and the model's saliency overlay."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PREVIEW_PX = 720


def preview_image(path: Path) -> Any:
    """A preview for the detail panel, EXIF orientation applied, scaled while decoding (JPEG DCT scaling)."""
    from PySide6.QtCore import QSize, Qt
    from PySide6.QtGui import QImageReader

    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid() and max(size.width(), size.height()) > PREVIEW_PX:
        reader.setScaledSize(size.scaled(QSize(PREVIEW_PX, PREVIEW_PX), Qt.AspectRatioMode.KeepAspectRatio))
    return reader.read()


def saliency_overlay(predictor: Any, path: Path) -> bytes | None:
    """The colour overlay PNG of the model's saliency for this photo, None when it cannot be computed."""
    if predictor is None:
        return None
    try:
        return bytes(predictor.saliency(path).overlay_png)
    except Exception:  # saliency is an extra; a photo that cannot be explained just shows no overlay
        return None


def explanation(explainer: Any, predictor: Any, path: Path) -> Any:
    """The saliency overlay and the concepts behind the guess (geocore.inference.concepts.Explanation), or None."""
    if predictor is None:
        return None
    try:
        return explainer.explain(predictor, path)
    except Exception:  # like the overlay, an extra: a photo that cannot be explained shows neither
        return None
