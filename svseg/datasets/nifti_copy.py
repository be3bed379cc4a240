"""Writing NIfTI outputs from NIfTI sources with the source header kept bit for bit.

Going through SimpleITK re-derives the direction cosines from the header's quaternion and
rounds them (about 1e-8 here), so an imported volume would no longer match its source exactly.
nibabel can reuse the source header unchanged; only the data (one channel, or remapped labels)
is replaced. Spacing, origin and direction therefore stay exactly what the source file said.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from svseg.utils.fs import atomic_copy, atomic_path, atomic_write_bytes

NIFTI_ENDINGS = (".nii", ".nii.gz")


def is_nifti(path: Path) -> bool:
    """True for ``.nii`` and ``.nii.gz`` files."""
    return path.is_file() and path.name.lower().endswith(NIFTI_ENDINGS)


def copy_nifti_channel(source: Path, target: Path, index: int | None) -> None:
    """Write channel `index` of `source` (the whole file when None) to the ``.nii.gz`` `target`."""
    if index is None and source.name.lower().endswith(".nii.gz"):
        atomic_copy(source, target)
        return
    if index is None:
        _gzip_copy(source, target)
        return
    _rewrite(source, target, lambda data: _take_channel(data, index))


def write_nifti_label(source: Path, target: Path, to_labels: Callable[[np.ndarray], np.ndarray]) -> None:
    """Write `source`'s mask, passed through `to_labels`, as ``.nii.gz`` with `source`'s header."""
    _rewrite(source, target, to_labels, integer=True)


def _rewrite(source: Path, target: Path, change: Callable[[np.ndarray], np.ndarray], integer: bool = False) -> None:
    import nibabel as nib

    loaded = nib.load(str(source))
    data = change(np.asarray(loaded.dataobj))
    header = loaded.header.copy()
    if integer:
        header.set_slope_inter(1.0, 0.0)
    header.set_intent("none")
    out = type(loaded)(data, None, header)
    out.set_data_dtype(data.dtype)
    with atomic_path(target) as tmp:
        nib.save(out, str(tmp))


def _take_channel(data: np.ndarray, index: int) -> np.ndarray:
    """Channel `index` of a 4D (x, y, z, c) array or a vector image stored as (x, y, z, 1, c)."""
    if data.ndim == 5:
        data = data[:, :, :, 0, :]
    return np.ascontiguousarray(data[..., index])


def _gzip_copy(source: Path, target: Path) -> None:
    """Compress an uncompressed ``.nii`` into ``.nii.gz``; the bytes inside stay identical."""
    import gzip

    atomic_write_bytes(target, gzip.compress(source.read_bytes(), compresslevel=6))
