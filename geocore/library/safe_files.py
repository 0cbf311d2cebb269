"""The file-level steps of a safe write: temp names that fit any legal name, durable temp files that keep
what the file system holds besides the bytes (mode, owner, times, extended attributes), and exact comparisons."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import hashlib
import os
import stat
import sys
from collections.abc import Sequence
from pathlib import Path

TEMP_SUFFIX = ".geotag-tmp"
NAME_MAX_BYTES = 255  # when the file system does not say (ext4, btrfs, APFS, NTFS in UTF-16 units all allow 255)
COMPARE_BLOCK_BYTES = 1024 * 1024
BACKUP_SUFFIX = "_original"
IOV_MAX = 1024  # pieces per writev (POSIX guarantees at least 16, Linux and macOS take 1,024)


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
               times_ns: tuple[int, int] | None, sync: bool = True,
               owner: tuple[int, int] | None = None) -> os.stat_result:
    """Create `target` afresh with `data` (bytes or pieces), fsync it, give it `mode`, times and `owner` (uid, gid:
    where we may); returns its stat. `sync` False: the caller makes it durable (sync_files) before relying on it.

    Every step goes through the one descriptor: on a small photo the system calls are most of the cost (an undo of
    1,000 45 kB files made 30 of them per file), and a descriptor cannot be swapped for another file meanwhile."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(target, flags, 0o600)
    except FileExistsError:  # a temp file a crash left behind (recover() normally removed it)
        target.unlink()
        fd = os.open(target, flags, 0o600)
    try:
        _write_all(fd, [data] if isinstance(data, bytes) else data)
        if sync:
            os.fsync(fd)
        _set_mode_and_times(fd, target, mode, times_ns)
        info = os.fstat(fd)
        if owner is not None and (info.st_uid, info.st_gid) != owner and hasattr(os, "fchown"):
            # A user may not give files away: the file then belongs to whoever ran the write.
            with contextlib.suppress(PermissionError):
                os.fchown(fd, *owner)
                info = os.fstat(fd)
    finally:
        os.close(fd)
    return info


def _write_all(fd: int, pieces: Sequence[bytes | memoryview]) -> None:
    """All of `pieces`, in order: one writev for a patched file's pieces where there is writev."""
    views = [memoryview(piece) for piece in pieces if len(piece)]
    while views:
        vectored = hasattr(os, "writev") and len(views) <= IOV_MAX
        written = os.writev(fd, views) if vectored else os.write(fd, views[0])
        while views and written >= len(views[0]):  # drop what went out, keep the rest of a piece cut short
            written -= len(views[0])
            views.pop(0)
        if views and written:
            views[0] = views[0][written:]


def _set_mode_and_times(fd: int, target: Path, mode: int, times_ns: tuple[int, int] | None) -> None:
    if hasattr(os, "fchmod"):
        os.fchmod(fd, mode)
    else:
        os.chmod(target, mode)
    if times_ns is not None:
        os.utime(fd if os.utime in os.supports_fd else target, ns=times_ns)


def read_file(path: Path | str) -> tuple[bytes, os.stat_result]:
    """The whole file and its stat from one descriptor (5 system calls where `os.stat` + `read_bytes` make 8);
    refuses what is not a regular file (a FIFO would block, a device never ends)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        return _read_to_end(fd, info.st_size), info
    finally:
        os.close(fd)


def _read_to_end(fd: int, size: int) -> bytes:
    """Up to EOF: first the size the stat says and one byte more (so that a file that grew is read whole), then, only
    for a file that did grow, blocks of COMPARE_BLOCK_BYTES; the last read, the one that meets EOF, asks for little."""
    blocks: list[bytes] = []
    held = 0
    while block := os.read(fd, size + 1 - held if held <= size else COMPARE_BLOCK_BYTES):
        blocks.append(block)
        held += len(block)
    return blocks[0] if len(blocks) == 1 else b"".join(blocks)


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


def sync_files(paths: Sequence[Path], devices: dict[Path, int] | None = None) -> dict[Path, OSError]:
    """Make the data and inode of every file in `paths` durable; the files that could not be, with why.

    `devices`: st_dev of paths already known (just written). Many files on one file system: one syncfs (a single
    journal commit and device flush instead of one per file);
    where that is unavailable or fails, an fsync per file, so that an error names its file.
    """
    failures: dict[Path, OSError] = {}
    by_device: dict[int, list[Path]] = {}
    known = devices or {}
    for path in paths:
        try:
            by_device.setdefault(known[path] if path in known else os.stat(path).st_dev, []).append(path)
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
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        while block := os.read(fd, min(COMPARE_BLOCK_BYTES, len(data) - position + 1)):
            # bytes.startswith compares with memcmp; a memoryview `!=` goes element by element (~45x slower)
            if not data.startswith(block, position):
                return False
            position += len(block)
    finally:
        os.close(fd)
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
