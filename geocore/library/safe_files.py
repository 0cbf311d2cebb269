"""The file-level steps of a safe write: temp names that fit any legal name, durable temp files that keep
what the file system holds besides the bytes (mode, owner, times, extended attributes), and exact comparisons."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import hashlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

TEMP_SUFFIX = ".geotag-tmp"
NAME_MAX_BYTES = 255  # when the file system does not say (ext4, btrfs, APFS, NTFS in UTF-16 units all allow 255)
COMPARE_BLOCK_BYTES = 1024 * 1024
BACKUP_SUFFIX = "_original"


@functools.lru_cache(maxsize=256)  # asked twice per file written (a statfs each); a folder's file system stays put
def _name_max(folder: Path) -> int:
    try:
        return min(os.pathconf(folder, "PC_NAME_MAX"), NAME_MAX_BYTES)
    except (OSError, ValueError, AttributeError):  # no pathconf (Windows), or the folder is not reachable
        return NAME_MAX_BYTES


def temp_path_for(path: Path) -> Path:
    """The hidden temp file next to `path`: `.NAME.geotag-tmp`, or a fixed-length name from a hash of NAME when
    that would not fit NAME_MAX. A pure function of the path, so `recover()` finds what a crash left."""
    readable = f".{path.name}{TEMP_SUFFIX}"
    if len(os.fsencode(readable)) <= _name_max(path.parent):
        return path.with_name(readable)
    digest = hashlib.sha256(os.fsencode(path.name)).hexdigest()[:32]
    return path.with_name(f".{digest}{TEMP_SUFFIX}")


def backup_path_for(path: Path) -> Path:
    """Where `--backup` keeps the original (exiftool's `NAME_original`)."""
    return path.with_name(path.name + BACKUP_SUFFIX)


def write_file(target: Path, data: bytes | Sequence[bytes | memoryview], mode: int,
               times_ns: tuple[int, int] | None, sync: bool = True) -> Path:
    """Create `target` afresh with `data` (bytes or pieces), fsync it, give it `mode` and times. `sync` False:
    the caller makes it durable (sync_files) before relying on it."""
    target.unlink(missing_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        for piece in [data] if isinstance(data, bytes) else data:
            view = memoryview(piece)
            while view:
                view = view[os.write(fd, view) :]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(target, mode)
    if times_ns is not None:
        os.utime(target, ns=times_ns)
    return target


def _reports_syncfs_errors() -> bool:
    """syncfs(2) exists and returns write-back errors (Linux >= 5.8); elsewhere each file is fsync'd."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        major, minor = (int(part) for part in os.uname().release.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (5, 8)


def _syncfs(path: Path) -> bool:
    """One syncfs of the file system holding `path`; False when it is not available or failed."""
    if not _reports_syncfs_errors():
        return False
    try:
        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        return bool(syncfs(fd) == 0)
    finally:
        os.close(fd)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_files(paths: Sequence[Path]) -> dict[Path, OSError]:
    """Make the data and inode of every file in `paths` durable; the files that could not be, with why.

    Many files on one file system: one syncfs (a single journal commit and device flush instead of one per file);
    where that is unavailable or fails, an fsync per file, so that an error names its file.
    """
    failures: dict[Path, OSError] = {}
    by_device: dict[int, list[Path]] = {}
    for path in paths:
        try:
            by_device.setdefault(os.stat(path).st_dev, []).append(path)
        except OSError as exc:
            failures[path] = exc
    for same_device in by_device.values():
        if len(same_device) > 1 and _syncfs(same_device[0]):
            continue
        for path in same_device:
            try:
                _fsync_path(path)
            except OSError as exc:
                failures[path] = exc
    return failures


def same_content(path: Path, data: bytes) -> bool:
    """True when the file at `path` holds exactly `data` (read and compared block by block, no second copy)."""
    position = 0
    with open(path, "rb") as handle:
        while block := handle.read(COMPARE_BLOCK_BYTES):
            # bytes.startswith compares with memcmp; a memoryview `!=` goes element by element (~45x slower)
            if not data.startswith(block, position):
                return False
            position += len(block)
    return position == len(data)


def remove_quietly(path: Path) -> OSError | None:
    """Unlink `path` if it is there; the error instead of raising (cleanup must not hide the real failure)."""
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        return exc
    return None


def fsync_folder(folder: Path) -> None:
    """Make renames in `folder` durable (where folders can be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # some platforms cannot open folders; the rename is still atomic
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def keep_owner(temp: Path, uid_gid: tuple[int, int] | None) -> None:
    """Give the temp file the original's owner and group (when we may: root, or our own file)."""
    if uid_gid is None or not hasattr(os, "chown"):
        return
    info = os.stat(temp)
    if (info.st_uid, info.st_gid) != uid_gid:
        # A user may not give files away: the file then belongs to whoever ran the write.
        with contextlib.suppress(PermissionError):
            os.chown(temp, *uid_gid)


def copy_xattrs(source: Path, target: Path) -> None:
    """Give `target` every extended attribute of `source` (Linux); OSError when a user.* one cannot be kept.

    Attributes of the system namespaces (security.*, trusted.*) that we may not set are the kernel's business and
    are skipped; a user attribute lost would be data lost, so the write is refused instead.
    """
    if not hasattr(os, "listxattr"):
        return
    try:
        names = os.listxattr(source)
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS):
            return
        raise
    for name in names:
        value = os.getxattr(source, name)
        try:
            os.setxattr(target, name, value)
        except OSError:
            if name.startswith("user."):
                raise
