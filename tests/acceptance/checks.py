"""Independent references for the acceptance suite: files read without svseg, Dice by numpy.

The numbers in svseg's ``metrics.json`` are checked against what is computed here from the
files on disk: masks and references are read with Pillow, tifffile or SimpleITK (never with
``svseg.io``), the user's mask values are turned into classes by the rule the user means
(``to_classes``), and the per-slice Dice follows the definition in docs/evaluation.md (image
block: one Dice per slice and class, 0/0 undefined and skipped, mean over slices, then over
classes).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from PIL import Image as PILImage
from scipy import ndimage

VOLUME_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha")


def ending(path: Path) -> str:
    """``.nii.gz`` as one ending, else the lower-case suffix."""
    return ".nii.gz" if path.name.lower().endswith(".nii.gz") else path.suffix.lower()


def stem(path: Path) -> str:
    return path.name[: -len(ending(path))] if ending(path) else path.name


@dataclass(frozen=True)
class Picture:
    """Pixels as a (z, y, x) or (y, x) array, plus the geometry for volumes (None for 2D)."""

    array: np.ndarray
    spacing: tuple[float, ...] | None = None
    origin: tuple[float, ...] | None = None
    direction: tuple[float, ...] | None = None


def read(path: Path) -> Picture:
    """Read one file or DICOM series folder with the format's own library."""
    if path.is_dir():
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(path)))
        return _from_sitk(reader.Execute())
    if ending(path) in VOLUME_SUFFIXES:
        return _from_sitk(sitk.ReadImage(str(path)))
    if ending(path) in (".tif", ".tiff"):
        import tifffile

        return Picture(np.asarray(tifffile.imread(path)))
    return Picture(np.asarray(PILImage.open(path)))


def _from_sitk(image: sitk.Image) -> Picture:
    return Picture(sitk.GetArrayFromImage(image), image.GetSpacing(), image.GetOrigin(), image.GetDirection())


def files_by_stem(folder: Path) -> dict[str, Path]:
    """Stem -> file (or series sub-folder) of a folder, hidden files left out."""
    return {stem(p): p for p in sorted(folder.iterdir()) if not p.name.startswith(".")}


def slices(array: np.ndarray, spacing: tuple[float, ...] | None) -> list[np.ndarray]:
    """2D slices: the image itself, or a volume cut along its coarsest axis (numpy axis order)."""
    if array.ndim == 2:
        return [array]
    axis = int(np.argmax(spacing[::-1])) if spacing is not None else 0
    return [np.take(array, i, axis=axis) for i in range(array.shape[axis])]


def image_dice(pred_dir: Path, ref_dir: Path, classes: list[int], to_classes: Callable[[np.ndarray], np.ndarray],
               ignore: int | None = None) -> float:
    """svseg's ``image.all.dice``, recomputed: per-slice Dice per class, mean over slices, then classes.

    `to_classes` turns the user's reference values into class values (ignore pixels into `ignore`).
    """
    per_class: dict[int, list[float]] = {c: [] for c in classes}
    refs = files_by_stem(ref_dir)
    for name, pred_path in files_by_stem(pred_dir).items():
        if name not in refs or pred_path.is_dir():
            continue
        ref = read(refs[name])
        pred = read(pred_path).array
        reference = to_classes(ref.array)
        for ref_slice, pred_slice in zip(slices(reference, ref.spacing), slices(pred, ref.spacing), strict=True):
            valid = np.ones(ref_slice.shape, bool) if ignore is None else ref_slice != ignore
            for c in classes:
                r, p = (ref_slice == c) & valid, (pred_slice == c) & valid
                total = int(r.sum() + p.sum())
                per_class[c].append(np.nan if total == 0 else 2 * int((r & p).sum()) / total)
    means = [np.nanmean(v) for v in per_class.values() if v and not np.all(np.isnan(v))]
    return float(np.mean(means)) if means else float("nan")


def object_count(ref_dir: Path, classes: list[int], to_classes: Callable[[np.ndarray], np.ndarray]) -> int:
    """8-connected objects per class and slice in the user's references (scipy)."""
    count = 0
    for path in files_by_stem(ref_dir).values():
        ref = read(path)
        for plane in slices(to_classes(ref.array), ref.spacing):
            for c in classes:
                count += ndimage.label(plane == c, structure=np.ones((3, 3)))[1]
    return count


def metrics(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def assert_fractions(block: object, where: str = "metrics") -> None:
    """Every Dice/IoU/recall/... in metrics.json is null or a number in [0, 1].

    The ``paper`` block's MAE is left out: it reproduces the official recipe, mean |label -
    binarised reference|, which exceeds 1 with several classes (docs/evaluation.md).
    """
    fractions = {"dice", "iou", "sensitivity", "precision", "specificity", "f2", "mae", "recall", "f1",
                 "mdice", "miou"}
    if isinstance(block, dict):
        for key, value in block.items():
            if key == "mae" and where.startswith("metrics.paper"):
                continue
            if key in fractions and not isinstance(value, (dict, list)):
                assert value is None or 0.0 <= value <= 1.0, f"{where}.{key} = {value}"
            assert_fractions(value, f"{where}.{key}")
    elif isinstance(block, list):
        for item in block:
            assert_fractions(item, where)


def assert_same_geometry(mask: Picture, source: Picture, name: str) -> None:
    """A predicted volume lies exactly on its scan's grid (size, spacing, origin, direction)."""
    assert mask.array.shape == source.array.shape[-mask.array.ndim:], f"{name}: size {mask.array.shape}"
    for field in ("spacing", "origin", "direction"):
        np.testing.assert_allclose(getattr(mask, field), getattr(source, field), atol=1e-4,
                                   err_msg=f"{name}: {field}")


def write_like(mask_path: Path, target: Path, classes: np.ndarray) -> Path:
    """`classes` written in the format and geometry of svseg's mask `mask_path` (a stand-in prediction)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if ending(mask_path) in VOLUME_SUFFIXES:
        written = sitk.ReadImage(str(mask_path))
        image = sitk.GetImageFromArray(classes.astype(np.uint8))
        image.CopyInformation(written)
        sitk.WriteImage(image, str(target))
    elif ending(mask_path) in (".tif", ".tiff"):
        import tifffile

        tifffile.imwrite(target, classes.astype(np.uint8))
    else:
        PILImage.fromarray(classes.astype(np.uint8)).save(target)
    return target


def eroded(classes: np.ndarray, ignore: int | None = None) -> np.ndarray:
    """A good but imperfect prediction: every class shrunk by one pixel in-plane, ignore pixels to 0."""
    out = np.zeros(classes.shape, np.uint8)
    structure = np.zeros((3,) * classes.ndim, bool)
    structure[(1,) * (classes.ndim - 2) + (slice(None), 1)] = True
    structure[(1,) * (classes.ndim - 2) + (1, slice(None))] = True
    for c in np.unique(classes):
        if c == 0 or c == ignore:
            continue
        out[ndimage.binary_erosion(classes == c, structure=structure)] = c
    return out
