"""The pixels under an overlay: the case's image, windowed for display, and its two masks, per slice.

Images are found by case id in the folder given to ``svseg evaluate --images``: nnU-Net's
``CASE_0000.<ending>`` (the first channel of a multi-channel case) or a plain ``CASE.<ending>``.
Each case is read once, whatever number of panels show it, and only the needed slices are kept.

Display windows: CT (values that look like Hounsfield units: air at -1000, so a minimum at or
below -500) gets the soft-tissue window, level 40 HU, width 400 HU; anything else (MRI,
microscopy, fluorescence) is stretched between its 1st and 99th percentiles over the whole case,
so every slice of a volume shares one scale. 8-bit RGB is shown as stored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from svseg.errors import SvsegError
from svseg.evaluation.inputs import CasePair, load_pair
from svseg.io import file_ending, read_image, stem_of

log = logging.getLogger(__name__)

CT_WINDOW = (40.0 - 200.0, 40.0 + 200.0)  # soft tissue: level 40 HU, width 400 HU
_HU_MINIMUM = -500.0
_PERCENTILE_SAMPLE = 1 << 20  # voxels used for a volume's percentiles


@dataclass
class SliceView:
    """One slice of one case: display image in [0, 1] ((H, W) grey or (H, W, 3) RGB, None
    without an image), how it was windowed, and the label slices of reference and prediction."""

    image: np.ndarray | None
    window: str | None
    ref: np.ndarray
    pred: np.ndarray


def find_images(images_dir: Path, cases: list[str]) -> dict[str, Path]:
    """Each case's image file in `images_dir` (``CASE_0000.*`` first, then ``CASE.*``); missing ones are left out."""
    if not images_dir.is_dir():
        raise SvsegError(f"{images_dir}: images folder does not exist")
    by_stem: dict[str, Path] = {}
    for path in sorted(images_dir.iterdir()):
        if path.is_file() and not path.name.startswith(".") and file_ending(path):
            by_stem.setdefault(stem_of(path), path)
    found = {}
    for case in cases:
        path = by_stem.get(f"{case}_0000") or by_stem.get(case)
        if path is not None:
            found[case] = path
    missing = [case for case in cases if case not in found]
    if len(missing) == len(cases):
        raise SvsegError(f"{images_dir}: no image for any case (looked for CASE_0000.<ending> or CASE.<ending>, "
                         f"e.g. {cases[0]}_0000.png)")
    if missing:
        log.warning("%d case(s) have no image in %s and are shown as masks only: %s", len(missing), images_dir,
                    ", ".join(missing[:5]))
    return found


def load_views(pair: CasePair, image_path: Path | None, axis: int | None, slices: set[int]) -> dict[int, SliceView]:
    """The requested slices of one case (index along `axis`; 2D images have the one slice 0)."""
    gt, pred = load_pair(pair)
    display, window = _display_image(image_path, gt.spatial_shape, pair.case) if image_path else (None, None)
    views = {}
    for index in sorted(slices):
        image = None if display is None else _take(display, axis, index)
        views[index] = SliceView(image, window, _take(gt.array, axis, index), _take(pred.array, axis, index))
    return views


def _take(array: np.ndarray, axis: int | None, index: int) -> np.ndarray:
    return array if axis is None else np.take(array, index, axis=axis)


def _display_image(path: Path, shape: tuple[int, ...], case: str) -> tuple[np.ndarray | None, str | None]:
    """The image as display values in [0, 1] and its window; (None, None) with a warning when it does not fit."""
    try:
        image = read_image(path)
    except SvsegError as exc:
        log.warning("case %s is shown as masks only: %s", case, exc)
        return None, None
    if image.spatial_shape != shape:
        log.warning("case %s is shown as masks only: image %s has shape %s, the masks %s", case, path.name,
                    image.spatial_shape, shape)
        return None, None
    return windowed(image.array, image.num_channels)


def windowed(array: np.ndarray, channels: int) -> tuple[np.ndarray, str]:
    """Display values in [0, 1] and the window's name: RGB kept (8-bit as stored), grey by CT or percentiles."""
    if channels in (3, 4):
        rgb = array[..., :3].astype(np.float64)
        if array.dtype == np.uint8:
            return rgb / 255.0, "RGB as stored"
        return _stretch(rgb, *_percentiles(rgb)), "RGB, 1st-99th percentile"
    grey = (array if channels == 1 else array[..., 0]).astype(np.float64)
    if looks_like_ct(grey):
        return _stretch(grey, *CT_WINDOW), "CT soft tissue (level 40, width 400 HU)"
    return _stretch(grey, *_percentiles(grey)), "1st-99th percentile"


def looks_like_ct(values: np.ndarray) -> bool:
    """Hounsfield units: air at about -1000, so a minimum at or below -500 (MRI and microscopy stay >= 0)."""
    return bool(values.size) and float(values.min()) <= _HU_MINIMUM


def _percentiles(values: np.ndarray) -> tuple[float, float]:
    flat = values.ravel()
    if flat.size > _PERCENTILE_SAMPLE:
        flat = flat[:: flat.size // _PERCENTILE_SAMPLE]
    low, high = np.percentile(flat, [1.0, 99.0])
    return float(low), float(high)


def _stretch(values: np.ndarray, low: float, high: float) -> np.ndarray:
    if high <= low:  # a constant image
        return np.zeros_like(values)
    return np.clip((values - low) / (high - low), 0.0, 1.0)
