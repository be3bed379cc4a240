"""Atomic writes: every file svseg produces appears whole or not at all.

A kill during a write must never leave a truncated plans file, checkpoint or mask behind,
so everything is written to a temporary file in the target folder, flushed, fsynced and
moved into place with :func:`os.replace` (atomic on POSIX and Windows within one volume).

A kill -9 can still leave the temporary itself behind (``.NAME.RANDOM8.tmpEND`` files,
``.NAME.RANDOM8.partial`` folders). The writer holds an advisory ``flock`` on each temporary
while it exists, which the kernel drops when the writer dies, so
:func:`remove_stale_temporaries` can tell a leftover (lock free) from a file another live process
is still writing (lock held) without any timing guess. Output folders are checked before the
expensive work starts (:func:`check_writable_dir`), so a run fails in one line instead of after
hours of fingerprinting or training.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from svseg.errors import SvsegError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; leftovers are then only removed by age
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

# The names tempfile gives atomic_path's files and atomic_directory's folders (8 random characters).
_TEMP_FILE_RE = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp(\.[A-Za-z0-9_.]+)?$")
_PARTIAL_DIR_RE = re.compile(r"^\..+\.[a-z0-9_]{8}\.partial$")
# Without flock (Windows), a temporary untouched for this long is taken for a leftover.
UNLOCKED_LEFTOVER_AGE_S = 24 * 3600


@contextmanager
def atomic_path(target: Path | str, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to `target`; on success move it onto `target`.

    The temporary name keeps `target`'s suffix (or `suffix`) so writers that choose the format
    from the extension (SimpleITK, scikit-image) still work. On error the temporary file is removed
    and `target` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if suffix is not None:
        ending = suffix
    else:
        ending = ".nii.gz" if target.name.endswith(".nii.gz") else target.suffix
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{ending}", dir=target.parent)
    os.chmod(tmp_name, _permissions(0o666))  # mkstemp makes 0600; outputs get the mode plain open() would give
    held = _hold(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        tmp.unlink(missing_ok=True)
        _release(held)


def atomic_write_bytes(target: Path | str, data: bytes) -> None:
    """Write `data` to `target` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: Path | str, text: str) -> None:
    """Write `text` (UTF-8) to `target` atomically."""
    atomic_write_bytes(target, text.encode("utf-8"))


def atomic_write_json(target: Path | str, obj: Any, indent: int = 2) -> None:
    """Serialise `obj` as JSON into `target` atomically (sorted keys off: order is meaningful)."""
    atomic_write_text(target, json.dumps(obj, indent=indent, default=_json_default) + "\n")


def atomic_torch_save(target: Path | str, obj: Any) -> None:
    """`torch.save` into `target` atomically, so a kill mid-write keeps the previous checkpoint."""
    import torch

    with atomic_path(target) as tmp:
        torch.save(obj, tmp)


def atomic_copy(source: Path | str, target: Path | str) -> None:
    """Copy a file atomically (the source is only read)."""
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)


@contextmanager
def atomic_directory(target: Path | str) -> Iterator[Path]:
    """Build a whole folder under a temporary name and rename it into place on success.

    Used for imports: a dataset folder either appears complete or not at all. `target` must
    not exist yet.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    os.chmod(tmp, _permissions(0o777))  # mkdtemp makes 0700; a dataset folder gets the mode mkdir would give
    held = _hold(os.open(tmp, os.O_RDONLY)) if fcntl is not None else None
    try:
        yield tmp
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        _release(held)


def check_writable_dir(path: Path | str, role: str) -> Path:
    """Raise SvsegError (one line naming `path`) unless svseg can create or write the folder `path`.

    Called before the expensive work of a command, so an unwritable output fails at once and
    writes nothing (the folder is not created here). It checks the folder or, when it does not
    exist yet, its nearest existing parent: a regular file in the way, missing write permission
    and a read-only file system are refused. ``os.access`` ignores permission bits for root, so
    for root only the file-in-the-way and read-only cases can be caught up front.
    """
    path = Path(path).expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise SvsegError(f"{path}: is a file, not a folder; the {role} must be a folder")
    existing = path
    while not existing.exists():  # exists() is False for a path through a file, so stop at the file
        existing = existing.parent
    if not existing.is_dir():
        raise SvsegError(f"{path}: cannot create the {role} folder: {existing} is a file, not a folder")
    if _read_only_fs(existing):
        raise SvsegError(f"{path}: cannot write the {role} folder: {existing} is on a read-only file system")
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "" if existing == path else f" (its parent {existing} is not writable)"
        raise SvsegError(f"{path}: the {role} folder is not writable{where}; check its permissions or choose another")
    return path


def check_output_dir(path: Path | str, role: str) -> Path:
    """:func:`check_writable_dir`, then clear the temporaries a killed earlier run left in the folder."""
    path = check_writable_dir(path, role)
    remove_stale_temporaries(path)
    return path


def remove_stale_temporaries(folder: Path | str, recursive: bool = False) -> list[Path]:
    """Remove svseg's leftover temporaries in `folder` (a run killed mid-write); returns what went.

    Only svseg's own names are touched (``.NAME.RANDOM8.tmpEND`` files from :func:`atomic_path`,
    ``.NAME.RANDOM8.partial`` folders from :func:`atomic_directory`), and only those whose writer is
    gone: its flock is free. A temporary another live process is writing is left alone.
    `recursive` also looks in sub-folders (not inside ``.partial`` folders, removed whole).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for path in _temporaries(folder, recursive):
        if _is_abandoned(path):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    if removed:
        log.info("removed %d temporary file(s) left by an interrupted run in %s", len(removed), folder)
    return removed


def _temporaries(folder: Path, recursive: bool) -> Iterator[Path]:
    """svseg's temporary names under `folder` (not descending into ``.partial`` folders)."""
    for entry in os.scandir(folder):
        if entry.is_dir(follow_symlinks=False):
            if _PARTIAL_DIR_RE.match(entry.name):
                yield Path(entry.path)
            elif recursive:
                yield from _temporaries(Path(entry.path), recursive)
        elif entry.is_file(follow_symlinks=False) and _TEMP_FILE_RE.match(entry.name):
            yield Path(entry.path)


def _is_abandoned(path: Path) -> bool:
    """Whether no live process holds the temporary's flock (by age where flock does not exist)."""
    if fcntl is None:
        try:
            return time.time() - path.stat().st_mtime > UNLOCKED_LEFTOVER_AGE_S
        except OSError:
            return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # held by a live writer (or no flock on this file system: leave it)
    finally:
        os.close(fd)  # closing drops the probe's own lock
    return True


def _hold(fd: int) -> int | None:
    """Keep `fd` open with an exclusive flock while its temporary exists (closed at once without flock)."""
    if fcntl is None:
        os.close(fd)
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # a file system without flock: the cleaner's probe fails too, so nothing is removed there
        pass
    return fd


def _release(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (AttributeError, OSError):  # no statvfs (Windows)
        return False


def _permissions(requested: int) -> int:
    """`requested` with the process umask applied, as open() and mkdir() would (tempfile ignores the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return requested & ~umask


def _json_default(value: Any) -> Any:
    """Turn numpy scalars/arrays and paths into JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # directories cannot be opened on some platforms (Windows)
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
