"""The settings every use case reads, with one set of defaults for the app and the CLI.

The defaults are the same in both on purpose: what a write puts into a file must not depend on which door the
user came in by. Each line says why it is the default; the app's settings dialog and the CLI's flags
(`--backup`, `--place-names`, `--sidecar-only`, `--sidecar-style`, `--touch`) change them.
"""

from __future__ import annotations

from dataclasses import dataclass

WRITE_MODES = ("exif", "sidecar")
SIDECAR_STYLES = ("append", "replace")
PROVIDERS = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class WorkflowSettings:
    """What writes and predictions do.

    Attributes:
        write_mode: "exif" writes into the photo (XMP sidecars where EXIF cannot go, e.g. RAW); "sidecar" writes
            only sidecars. Default exif: the other photo apps (Photos, Lightroom, Google Photos) read EXIF.
        sidecar_style: new sidecars as photo.CR2.xmp ("append": darktable, digiKam) or photo.xmp ("replace":
            Lightroom). Default append: it never collides for photo.jpg + photo.CR2 pairs.
        keep_mtime: keep the files' modification time. Default on: backup and sync tools then see no change.
        backups: also keep NAME_original copies. Default off: the journal already restores the exact bytes
            (undo), and copies double the disk use of a folder.
        place_names: also write city/state/country (offline GeoNames) into XMP. Default off: only the location
            asked for goes into a file; place names are one click or flag away.
        provider: where the model runs ("auto": CUDA when usable, else CPU).
        crops: test-time crops (0: the model card's).
        model: the bundle to predict with ("" = the shipped base bundle).
    """

    write_mode: str = "exif"
    sidecar_style: str = "append"
    keep_mtime: bool = True
    backups: bool = False
    place_names: bool = False
    provider: str = "auto"
    crops: int = 0
    model: str = ""

    def __post_init__(self) -> None:
        if self.write_mode not in WRITE_MODES:
            raise ValueError(f"write_mode must be one of {WRITE_MODES}, not {self.write_mode!r}")
        if self.sidecar_style not in SIDECAR_STYLES:
            raise ValueError(f"sidecar_style must be one of {SIDECAR_STYLES}, not {self.sidecar_style!r}")
        if self.provider not in PROVIDERS:
            raise ValueError(f"provider must be one of {PROVIDERS}, not {self.provider!r}")

    @property
    def sidecar_only(self) -> bool:
        return self.write_mode == "sidecar"


DEFAULTS = WorkflowSettings()
