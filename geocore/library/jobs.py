"""Building FileJobs for writing GPS, stripping location and undoing: what to change and how to verify it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PIL import Image

from geotagger.geocore.library import xmp
from geotagger.geocore.library.errors import ErrorKind, LibraryError
from geotagger.geocore.library.formats import FormatWriter, Kind, writer_for
from geotagger.geocore.library.gps import GpsFix
from geotagger.geocore.library.metadata import read_exif_gps_pil
from geotagger.geocore.library.metadata_diff import Intended, check_only_intended
from geotagger.geocore.library.patches import Patch, decode_patches, invert_patches
from geotagger.geocore.library.records import PhotoRecord
from geotagger.geocore.library.writer import FileJob, Identity, VerifyError, is_written_version

COORDINATE_TOLERANCE_DEG = 1e-7  # ~1 cm


def _check_position(found: GpsFix | None, fix: GpsFix, where: str) -> None:
    if found is None:
        raise VerifyError(f"no GPS readable in the written {where}")
    if abs(found.lat - fix.lat) > COORDINATE_TOLERANCE_DEG or abs(found.lon - fix.lon) > COORDINATE_TOLERANCE_DEG:
        raise VerifyError(f"GPS read back from the {where} is {found.lat},{found.lon}, not {fix.lat},{fix.lon}")


def _gps_read_back(new: bytes) -> GpsFix | None:
    """GPS of the written bytes; VerifyError when Pillow cannot open them (a typed failure, not a crash)."""
    try:
        return read_exif_gps_pil(new)
    except (OSError, SyntaxError, Image.DecompressionBombError) as exc:  # the bomb guard is no OSError
        raise VerifyError(f"written file does not parse: {exc}") from None


def _verify_exif(writer: FormatWriter, fix: GpsFix, place: xmp.Place | None = None) -> Callable[[bytes, bytes], None]:
    intended = Intended.for_write(fix, place)

    def verify(old: bytes, new: bytes) -> None:
        _check_position(_gps_read_back(new), fix, "EXIF")
        if not writer.image_data_unchanged(old, new):
            raise VerifyError("image data would change")
        check_only_intended(old, new, intended)  # everything else readable before reads back identical
    return verify


def _verify_sidecar(fix: GpsFix, place: xmp.Place | None = None) -> Callable[[bytes, bytes], None]:
    intended = Intended.for_write(fix, place)

    def verify(old: bytes, new: bytes) -> None:
        _check_position(xmp.read_location(new), fix, "sidecar")
        check_only_intended(old, new, intended, kind="xmp")
    return verify


def identity_of(photo: PhotoRecord) -> Identity | None:
    """The scanned identity of a photo, None when the scan did not complete."""
    if photo.size is None or photo.mtime_ns is None or photo.head_hash is None:
        return None
    return Identity(photo.size, photo.mtime_ns, photo.head_hash)


def existing_sidecar(photo: Path) -> Path | None:
    """The first existing sidecar of either naming style, any case (a link counts: it is refused, not bypassed)."""
    return next(iter(xmp.existing_sidecars(photo)), None)


def _refuse_unsafe_sidecar(path: Path) -> None:
    """Never write through a link (a hostile folder could aim it at any file of the user's) or into a non-file.

    Checked when the patches are made, just after the read: the rename then replaces the directory entry itself.
    """
    reason = xmp.unsafe_sidecar_reason(path)
    if reason is not None:
        raise LibraryError(ErrorKind.UNSUPPORTED, path, reason)


def sidecar_job(photo: PhotoRecord, fix: GpsFix, place: xmp.Place | None, style: str,
                decision_id: int | None) -> FileJob:
    """Merge `fix` (and place names) into the photo's first sidecar, creating it when absent."""
    return _sidecar_file_job(photo, existing_sidecar(photo.file_path) or xmp.sidecar_path(photo.file_path, style),
                             fix, place, decision_id)


def sidecar_jobs(photo: PhotoRecord, fix: GpsFix, place: xmp.Place | None, style: str,
                 decision_id: int | None) -> list[FileJob]:
    """Merge `fix` into every sidecar the photo has (`a.CR2.xmp` for darktable and digiKam, `a.xmp` for Lightroom,
    any case), or create one named by `style` when it has none: no reader is left with a stale position."""
    paths = xmp.existing_sidecars(photo.file_path) or [xmp.sidecar_path(photo.file_path, style)]
    return [_sidecar_file_job(photo, path, fix, place, decision_id) for path in paths]


def _sidecar_file_job(photo: PhotoRecord, path: Path, fix: GpsFix, place: xmp.Place | None,
                      decision_id: int | None) -> FileJob:
    def make_patches(old: bytes) -> list[Patch]:
        _refuse_unsafe_sidecar(path)
        return [Patch(0, old, xmp.merge_location(old or None, fix, place))]

    return FileJob(path, make_patches, target="sidecar", verify=_verify_sidecar(fix, place), photo_id=photo.id,
                   decision_id=decision_id, may_be_missing=True)


def write_job(photo: PhotoRecord, fix: GpsFix, place: xmp.Place | None, *, sidecar_only: bool, style: str,
              decision_id: int | None) -> FileJob:
    """EXIF in place when the format allows it safely, otherwise an XMP sidecar (the first of `write_jobs`)."""
    return write_jobs(photo, fix, place, sidecar_only=sidecar_only, style=style, decision_id=decision_id)[0]


def write_jobs(photo: PhotoRecord, fix: GpsFix, place: xmp.Place | None, *, sidecar_only: bool, style: str,
               decision_id: int | None) -> list[FileJob]:
    """The file written in place when its format allows it safely, else its sidecars; a writer that does not
    embed XMP would also get the place names and provenance into the photo's sidecars."""
    if photo.error_kind:
        raise LibraryError(ErrorKind(photo.error_kind), photo.path, photo.error or "unreadable at scan")
    writer = None if sidecar_only else writer_for(Kind(photo.kind or "unknown"), photo.file_path)
    if writer is None:
        return sidecar_jobs(photo, fix, place, style, decision_id)
    in_place = FileJob(photo.file_path, lambda data: writer.set_gps(data, fix, place), target="photo",
                       verify=_verify_exif(writer, fix, place), identity=identity_of(photo), photo_id=photo.id,
                       decision_id=decision_id)
    needs_sidecar = not writer.embeds_xmp and (xmp.names_place(place) or fix.provenance is not None)
    if needs_sidecar:
        return [in_place, *sidecar_jobs(photo, fix, place, style, decision_id)]
    return [in_place]


def _verify_stripped(image_unchanged: Callable[[bytes, bytes], bool]) -> Callable[[bytes, bytes], None]:
    def verify(old: bytes, new: bytes) -> None:
        if _gps_read_back(new) is not None:
            raise VerifyError("GPS still readable after strip")
        if not image_unchanged(old, new):
            raise VerifyError("image data would change")
        check_only_intended(old, new, Intended.for_strip())
    return verify


def _verify_sidecar_stripped(old: bytes, new: bytes) -> None:
    check_only_intended(old, new, Intended.for_strip(), kind="xmp")


def _stripper(kind: Kind, path: Path) -> tuple[Callable[[bytes], list[Patch]], Callable[[bytes, bytes], bool]] | None:
    """(patch maker, image check) removing location inside the file, None when the format is not handled."""
    writer = writer_for(kind, path)
    return None if writer is None else (writer.strip, writer.image_data_unchanged)


def strip_jobs(photo: PhotoRecord) -> list[FileJob]:
    """Remove location from the file (JPEG/TIFF/WebP/PNG in place) and from any sidecar."""
    jobs = []
    kind = Kind(photo.kind or "unknown")
    stripper = _stripper(kind, photo.file_path)
    if stripper is not None:
        jobs.append(FileJob(photo.file_path, stripper[0], verify=_verify_stripped(stripper[1]),
                            identity=identity_of(photo), photo_id=photo.id))
    elif photo.gps_source == "exif":
        raise LibraryError(ErrorKind.UNSUPPORTED, photo.path,
                           f"cannot remove embedded GPS from {kind.value} files safely")
    for sidecar in xmp.existing_sidecars(photo.file_path):
        jobs.append(FileJob(sidecar, _sidecar_stripper(sidecar), target="sidecar", verify=_verify_sidecar_stripped,
                            photo_id=photo.id))
    return jobs


def _sidecar_stripper(path: Path) -> Callable[[bytes], list[Patch]]:
    def make_patches(old: bytes) -> list[Patch]:
        _refuse_unsafe_sidecar(path)
        return [Patch(0, old, xmp.strip_location_packet(old))]
    return make_patches


def undo_job(row: dict) -> FileJob:
    """Reverse one journal row: only if the file is still exactly what we wrote."""
    patches = decode_patches(row["patches"])
    path = Path(row["path"])

    def make_patches(current: bytes) -> list[Patch]:
        if not is_written_version(current, patches, row["original_sha256"]):
            raise LibraryError(ErrorKind.CHANGED, path, "file changed since it was written; not undone")
        return invert_patches(patches)

    return FileJob(path, make_patches, target=row["target"], photo_id=row["photo_id"],
                   decision_id=row["decision_id"], may_be_missing=False, mtime_ns=row["mtime_ns"],
                   undoes_id=row["id"], restores_row=row.get("original_row"))
