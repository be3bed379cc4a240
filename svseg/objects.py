"""Objects, area ratios and strata: the one object definition (docs/design/evaluation-protocol.md B2, B3).

Planning's fingerprint (the strata the plans are sized for) and evaluation (the strata the
metrics are split into) must count objects the same way, so both import this module, which
sits among the foundations (numpy and scipy only) below every stage.

An object is one 8-connected component of one class in one slice. A whole (S, H, W) stack is
labelled in a single ``scipy.ndimage.label`` call with a structuring element that connects
only within a slice, so an object spanning ten slices counts as ten objects, as the protocol
requires, and labels run in slice order (all of slice 0's objects, then slice 1's ...).
Area ratios are pixel counts over the slice's H x W pixels (no closing, no contour area).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

#: 8-connectivity inside each slice and no connection across slices.
IN_PLANE_8 = np.zeros((3, 3, 3), dtype=bool)
IN_PLANE_8[1] = True
#: Full 26-connectivity, for 3D lesions (volume.detection).
FULL_26 = np.ones((3, 3, 3), dtype=bool)

STRATA = ("ultra_small", "small", "all")


@dataclass
class Components:
    """Connected components of a boolean stack: labels 1..count, their areas, slices and boxes.

    ``boxes[i]`` is the bounding box of label i + 1 as a tuple of slices (from
    ``ndimage.find_objects``); ``slice_index[i]`` its first slice.
    """

    labels: np.ndarray
    count: int
    area: np.ndarray
    slice_index: np.ndarray
    boxes: list[tuple[slice, ...]]


def label_components(mask: np.ndarray, structure: np.ndarray = IN_PLANE_8, with_boxes: bool = True) -> Components:
    """Label `mask` (S, H, W) with `structure` and measure every component.

    Without `with_boxes` (3D lesions need none), ``boxes`` and ``slice_index`` stay empty,
    which saves a full pass over the label array.
    """
    labels, count = ndimage.label(mask, structure=structure)
    area = np.bincount(labels.ravel(), minlength=count + 1)[1:].astype(np.int64)
    boxes = ndimage.find_objects(labels) if count and with_boxes else []
    slice_index = np.array([box[0].start for box in boxes], dtype=np.int64)
    return Components(labels=labels, count=int(count), area=area, slice_index=slice_index, boxes=boxes)


def strata_masks(ratio: np.ndarray, thresholds: tuple[float, float]) -> dict[str, np.ndarray]:
    """Membership of each ratio in the cumulative strata: strictly below each threshold, and all."""
    ratio = np.asarray(ratio, dtype=np.float64)
    return {
        "ultra_small": ratio < thresholds[0],
        "small": ratio < thresholds[1],
        "all": np.ones(ratio.shape, dtype=bool),
    }


def choose_slice_axis(spatial_shape: tuple[int, ...], spacing_zyx: tuple[float, ...], given: int | None) -> int:
    """The axis a volume is cut along for the 2D unit (B2).

    `given` (the plans' ``transpose_forward[0]``) wins. Otherwise a one-slice volume (a 2D
    NIfTI) is cut along its single-slice axis 0, and anything else along the axis with the
    largest spacing, ties going to the lowest axis of the (z, y, x) array.
    """
    if given is not None:
        if not 0 <= given < len(spatial_shape):
            raise ValueError(f"slice axis {given} outside a {len(spatial_shape)}D array")
        return given
    if spatial_shape[0] == 1:
        return 0
    spacing = np.asarray(spacing_zyx, dtype=np.float64)
    return int(np.flatnonzero(np.isclose(spacing, spacing.max(), rtol=1e-6))[0])


def kept_slices(n_slices: int, step: int) -> np.ndarray:
    """Indices divisible by `step`, plus the last one: the official ATLAS extraction (B2)."""
    if step <= 1:
        return np.arange(n_slices)
    return np.union1d(np.arange(0, n_slices, step), [n_slices - 1])


def max_ratio_per_slice(components: Components, n_slices: int, slice_pixels: int) -> np.ndarray:
    """The largest object's area ratio in each slice (0 where the slice has none)."""
    largest = np.zeros(n_slices, dtype=np.int64)
    if components.count:
        np.maximum.at(largest, components.slice_index, components.area)
    return largest / float(slice_pixels)


def largest_cross_section(labels: np.ndarray, count: int) -> np.ndarray:
    """Per 3D component, its largest area in any one slice along axis 0 (pixels), shape (count,).

    This sets a 3D lesion's stratum in ``volume.detection`` (B8, 3D option).
    """
    largest = np.zeros(count, dtype=np.int64)
    if not count:
        return largest
    slice_of_voxel, *_ = np.nonzero(labels)
    keys = labels[labels > 0].astype(np.int64) * labels.shape[0] + slice_of_voxel
    unique_keys, areas = np.unique(keys, return_counts=True)
    np.maximum.at(largest, unique_keys // labels.shape[0] - 1, areas)
    return largest
