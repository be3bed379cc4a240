"""Atomic writes: every file svseg produces appears whole or not at all.

A kill during a write must never leave a truncated plans file, checkpoint or mask behind,
so everything is written to a temporary file in the target folder, flushed, fsynced and
moved into place with :func:`os.replace` (atomic on POSIX and Windows within one volume).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


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
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


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
    try:
        yield tmp
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


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
