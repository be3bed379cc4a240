"""Objects per slice and their area ratios, for one label map: the fingerprint's unit of work.

An object is one 8-connected component of one class in one 2D slice; its area ratio is its
pixel count over the slice's pixel count (docs/design/evaluation-protocol.md B3). The labelling itself is
:func:`svseg.objects.label_components`, the object definition planning shares with evaluation:
the planner's strata and the evaluator's strata must be the same definition, and one
implementation, in a foundation module both stages import, is the only way to keep them so.

A volume is cut along the axis nnU-Net's 2d configuration cuts along, ``transpose_forward[0]``
(the lowest-resolution axis); a 2D image, which nnU-Net reads as ``(1, 1, H, W)``, is one slice.
All slices of a volume are labelled in one call with an in-plane structuring element (no Python
loop over slices), and areas come from one ``np.bincount``.

:func:`measure_case` is the worker the fingerprint runs in a spawn pool, so it and everything
it returns live in this light module (numpy and scipy only; nnU-Net's reader class arrives
pickled by reference).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from svseg.errors import SvsegError
from svseg.objects import label_components


@dataclass(frozen=True)
class SliceObjects:
    """The objects of one class in a stack of slices.

    ``area_px[i]`` is object i's pixel count and ``slice_index[i]`` the slice it lies in, both
    shape (n_objects,), int64, ordered by slice.
    """

    area_px: np.ndarray
    slice_index: np.ndarray

    @property
    def count(self) -> int:
        """Number of objects."""
        return int(self.area_px.size)

    def area_ratio(self, slice_pixels: int) -> np.ndarray:
        """Each object's area as a fraction of its slice (H x W pixels)."""
        return self.area_px / float(slice_pixels)


def objects_per_slice(seg: np.ndarray, classes: Mapping[str, Sequence[int]]) -> dict[str, SliceObjects]:
    """Label every class of a (S, H, W) label stack slice by slice.

    `classes` maps a class name to the label values forming it: one value for an ordinary
    label, several for an nnU-Net region. Values not listed (background, the ignore label)
    never form objects, as in evaluation-protocol.md B1.
    """
    if seg.ndim != 3:
        raise ValueError(f"expected a (slices, H, W) stack, got shape {seg.shape}")
    found = {}
    for name, values in classes.items():
        mask = seg == values[0] if len(values) == 1 else np.isin(seg, values)
        components = label_components(mask)
        found[name] = SliceObjects(area_px=components.area, slice_index=components.slice_index)
    return found


def foreground_slices(objects: Mapping[str, SliceObjects], n_slices: int) -> np.ndarray:
    """Boolean (S,): which slices hold an object of any class (no second pass over pixels)."""
    hit = np.zeros(n_slices, dtype=bool)
    for found in objects.values():
        hit[found.slice_index] = True
    return hit


@dataclass
class CaseObjects:
    """Everything the fingerprint keeps from one case.

    `pixel_spacing_mm` is the in-plane spacing (mm, in the transposed (row, column) order), so an
    object's area in mm² is ``area_px * prod(pixel_spacing_mm)``; nnU-Net reads 2D images with a
    spacing of 1 mm per pixel.
    """

    case_id: str
    n_slices: int
    slice_shape: tuple[int, int]
    pixel_spacing_mm: tuple[float, float]
    foreground: np.ndarray
    objects: dict[str, SliceObjects] = field(default_factory=dict)

    @property
    def slice_pixels(self) -> int:
        """Pixels per slice (H x W), the denominator of every area ratio."""
        return int(self.slice_shape[0] * self.slice_shape[1])

    @property
    def pixel_area_mm2(self) -> float:
        """Area of one pixel in mm²."""
        return float(self.pixel_spacing_mm[0] * self.pixel_spacing_mm[1])


def measure_case(
    case_id: str,
    label_file: str,
    reader_writer_class: type,
    classes: Mapping[str, Sequence[int]],
    allowed_values: Sequence[int],
    transpose_forward: Sequence[int],
) -> CaseObjects:
    """Read one label map with nnU-Net's reader and measure its objects (spawn-pool worker).

    Reading with nnU-Net's own reader keeps the array orientation and spacing exactly those the
    preprocessing will see. Label values outside `allowed_values` (typically 0/255 PNG masks)
    are a user error, reported with the file named, because nnU-Net would fail later and less
    clearly.
    """
    seg, properties = reader_writer_class().read_seg(label_file)
    volume = np.asarray(seg[0])
    spacing = np.asarray(properties["spacing"], dtype=np.float64)
    order = [int(axis) for axis in transpose_forward]
    volume = volume.transpose(order)
    in_plane = spacing[order][1:]
    allowed = np.isin(volume, np.asarray(allowed_values))
    if not allowed.all():
        shown = ", ".join(f"{v:g}" for v in np.unique(volume[~allowed])[:5])
        raise SvsegError(f"{label_file}: unexpected label value(s) {shown}; dataset.json allows "
                         f"{sorted(int(v) for v in allowed_values)} (masks must hold 0..K, not 0/255)")
    objects = objects_per_slice(volume, classes)
    return CaseObjects(
        case_id=case_id,
        n_slices=int(volume.shape[0]),
        slice_shape=(int(volume.shape[1]), int(volume.shape[2])),
        pixel_spacing_mm=(float(in_plane[0]), float(in_plane[1])),
        foreground=foreground_slices(objects, int(volume.shape[0])),
        objects=objects,
    )


def measure_case_star(args: tuple[Any, ...]) -> CaseObjects:
    """:func:`measure_case` for ``Pool.imap_unordered``, which passes one argument."""
    return measure_case(*args)
