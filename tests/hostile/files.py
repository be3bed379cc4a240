"""Hostile files for the suite: each writer makes one kind of bad input in a folder the test owns."""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from PIL import Image as PILImage


def grey_png(path: Path, seed: int = 0, shape: tuple[int, int] = (64, 64)) -> Path:
    """A noisy grey PNG with a bright square (a plausible scan for the disk model)."""
    rng = np.random.default_rng(seed)
    image = (rng.random(shape) * 120).astype(np.uint8)
    image[10:20, 10:20] += 100
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(image).save(path)
    return path


def mask_png(path: Path, shape: tuple[int, int] = (64, 64), value: int = 255) -> Path:
    """A 0/`value` mask PNG with one square."""
    mask = np.zeros(shape, np.uint8)
    mask[10:20, 10:20] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(mask).save(path)
    return path


def scans(folder: Path, count: int = 2) -> Path:
    """`count` grey PNG scans ``s0.png`` ... in `folder`."""
    for index in range(count):
        grey_png(folder / f"s{index}.png", seed=index)
    return folder


def volume(path: Path, array: np.ndarray, spacing=(0.8, 0.8, 3.0)) -> Path:
    """A (z, y, x) array as a volume file (format from the ending) with `spacing` (x, y, z)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(tuple(float(s) for s in spacing))
    sitk.WriteImage(image, str(path))
    return path


def box_volume(seed: int = 0, shape=(4, 16, 12), dtype=np.int16) -> np.ndarray:
    """Noise with a bright box: an image volume."""
    rng = np.random.default_rng(seed)
    array = (rng.random(shape) * 100).astype(dtype)
    array[1:3, 4:8, 3:6] += 200
    return array


def box_mask(shape=(4, 16, 12), value: int = 1, dtype=np.uint8) -> np.ndarray:
    """A mask volume with one box of `value`."""
    mask = np.zeros(shape, dtype)
    mask[1:3, 4:8, 3:6] = value
    return mask


def paired_pngs(root: Path, count: int = 3) -> Path:
    """``root/images/cN.png`` + ``root/labels/cN.png`` (0/255 masks): a good 2D source to spoil."""
    for index in range(count):
        grey_png(root / "images" / f"c{index}.png", seed=index)
        mask_png(root / "labels" / f"c{index}.png")
    return root


def paired_volumes(root: Path, count: int = 3) -> Path:
    """``root/images/vN.nii.gz`` + ``root/labels/vN.nii.gz``: a good volume source to spoil."""
    for index in range(count):
        volume(root / "images" / f"v{index}.nii.gz", box_volume(index))
        volume(root / "labels" / f"v{index}.nii.gz", box_mask())
    return root


def truncate(path: Path, keep: float = 0.5) -> Path:
    """Cut `path` to the first `keep` fraction of its bytes."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def truncated_gzip_nifti(path: Path) -> Path:
    """A .nii.gz whose gzip stream stops halfway through the voxel data."""
    volume(path, box_volume(shape=(8, 32, 32)))
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw)[: len(gzip.compress(raw)) // 2])
    return path


def symlink_loop(path: Path) -> Path:
    """A symbolic link that points at itself."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(path.name, path)
    return path


class _RunsCode:
    """Unpickling this calls os.system (what a full torch.load of a hostile .pth would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def malicious_pickle(path: Path, marker: Path) -> Path:
    """A .pth that runs ``touch MARKER`` when fully unpickled (torch.load(weights_only=False))."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        torch.save({"network_weights": {}, "payload": _RunsCode(marker)}, handle,
                   pickle_protocol=pickle.HIGHEST_PROTOCOL)
    return path
