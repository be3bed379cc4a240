"""Checking that a NIfTI file holds every voxel its header announces, and no NaN or infinity.

SimpleITK reads a NIfTI file that ends early (a copy cut short, a download interrupted) without
complaint and fills the missing voxels with 0; it also turns NaN voxels into 0. Either would
train or predict on made-up data. One streaming pass over the (decompressed) bytes counts them
against the header and, for float data, counts the voxels that are not finite; nothing is held
whole, and a gzip stream that stops before its end marker is reported as truncated.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from svseg.errors import SvsegError

_CHUNK = 1 << 22  # compressed (or raw) bytes read at a time


def check_nifti(path: Path) -> None:
    """Raise SvsegError naming `path` if it is shorter than its header says or holds NaN/inf voxels."""
    import nibabel as nib

    gzipped = path.name.lower().endswith(".gz")
    try:
        proxy = nib.load(str(path)).dataobj
        offset, dtype = int(proxy.offset), np.dtype(proxy.dtype)
        needed = offset + int(np.prod(proxy.shape, dtype=np.int64)) * dtype.itemsize
    except Exception as exc:  # no readable header: a gzip stream cut inside it, or not NIfTI at all
        if gzipped:
            _count(_gunzipped(path), 0, None, path)  # raises when the stream ends early
        raise SvsegError(f"{path}: cannot be read ({type(exc).__name__}: {str(exc)[:160]})") from None
    floating = np.issubdtype(dtype, np.floating)
    if not gzipped and not floating:
        found, bad = path.stat().st_size, 0
    else:
        chunks = _gunzipped(path) if gzipped else _raw(path)
        found, bad = _count(chunks, offset, dtype if floating else None, path, needed)
    if found < needed:
        raise SvsegError(f"{path}: file is truncated ({found} of the {needed} bytes its header announces)")
    if bad:
        total = (needed - offset) // dtype.itemsize
        raise SvsegError(f"{path}: {bad} of {total} voxels are NaN or infinite; replace them with finite values "
                         "(e.g. 0) first")


def _count(chunks: Iterator[bytes], offset: int, dtype: np.dtype | None, path: Path,
           needed: int = 0) -> tuple[int, int]:
    """(bytes seen, non-finite values among the data bytes from `offset` on, when `dtype` is given)."""
    found = bad = 0
    pending = b""
    try:
        for chunk in chunks:
            start, found = found, found + len(chunk)
            if dtype is None or found <= offset or start >= needed:
                continue
            data = pending + chunk[max(offset - start, 0):max(needed - start, 0)]
            usable = len(data) - len(data) % dtype.itemsize
            values = np.frombuffer(data, dtype=dtype, count=usable // dtype.itemsize)
            bad += int(np.count_nonzero(~np.isfinite(values)))
            pending = data[usable:]
    except zlib.error as exc:
        wanted = f" of {needed}" if needed else ""
        raise SvsegError(f"{path}: file is truncated or corrupt (the compressed data ends after {found}{wanted} "
                         f"bytes: {exc})") from None
    return found, bad


def _raw(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            yield chunk


def _gunzipped(path: Path) -> Iterator[bytes]:
    """The decompressed bytes of every gzip member; zlib.error when the stream stops before its end."""
    decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)
    for raw in _raw(path):
        while raw:
            if decompressor.eof:  # another gzip member follows (concatenated .gz files are valid)
                decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)
            yield decompressor.decompress(raw)
            raw = decompressor.unused_data if decompressor.eof else b""
    if not decompressor.eof:
        raise zlib.error("compressed data ends before the end-of-stream marker")
