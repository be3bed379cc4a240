"""Turning the values stored in mask files into nnU-Net's consecutive labels.

nnU-Net wants labels 0, 1, 2 ... with background 0, but masks arrive as 0/255 PNGs, palette
PNGs whose indices skip numbers, or volumes with labels {0, 1, 4}. svseg collects the values
of every mask first, then maps them *dataset-wide* (the same source value always becomes the
same label) and records the mapping in dataset.json. What cannot be labels is refused: values
that are not whole numbers, negative values, and 2D masks with dozens of grey levels (a
smoothed, resized or once JPEG-compressed mask in a lossless format, whose edges would become
spurious classes). Masks stored as JPEG arrive here already read as 0/255 by
:mod:`svseg.io.lossy_masks` (the rule evaluate reads them by too), and the plan records it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from svseg.datasets.dataset_json import default_label_names
from svseg.datasets.problems import Problem
from svseg.io.lossy_masks import is_lossy_mask, lossy_record

log = logging.getLogger(__name__)

MAX_2D_MASK_LEVELS = 32
"""More distinct values than this in one 2D mask means grey levels, not classes (unless declared)."""

MAX_SPREAD_LEVELS = 8
"""Masks coding classes as spread-out grey levels (0/128/255, 0/85/170/255) use only a few of them."""

SMALL_LABEL_MAX = 63
"""Masks whose values are all at most this are read as class numbers (0, 1, 2 ...), not grey levels."""


def mask_values(array: np.ndarray) -> np.ndarray:
    """The sorted distinct values of a mask (NaN included if present)."""
    return np.unique(array)


def value_problems(values: np.ndarray, *, is_volume: bool, declared_count: int | None,
                   indexed: bool = False) -> list[str]:
    """What makes these mask values unusable as labels, as short phrases (empty when fine).

    A 2D grey mask is taken for a smoothed or lossy image rather than labels when it holds more
    than 32 values, or more than 8 values reaching above 63 (class numbers are small, and classes
    coded as grey levels are few). Palette indices (`indexed`) and declared label counts relax this.
    """
    if np.issubdtype(values.dtype, np.floating):
        fractional = values[~np.isfinite(values) | (values != np.round(values))]
        if fractional.size:
            return [f"non-integer label values (e.g. {fractional[0]:g}); masks must hold whole numbers"]
    if values.size and values[0] < 0:
        return [f"negative label value {values[0]:g}; labels must be 0 (background) or positive"]
    declared = declared_count or 0
    too_many = values.size > max(MAX_2D_MASK_LEVELS, declared)
    spread = not indexed and values.size > max(MAX_SPREAD_LEVELS, declared) and values[-1] > SMALL_LABEL_MAX
    if not is_volume and (too_many or spread):
        return [
            f"{values.size} distinct grey levels: this looks like a smoothed, resized or JPEG-compressed mask, "
            "not labels; store one value per class (e.g. 0 and 255) in a lossless format"
        ]
    return []


@dataclass(frozen=True)
class LabelPlan:
    """How source mask values become labels: ``mapping[value] = label``, ``names[label] = name``.

    ``lossy_masks`` counts the masks stored as JPEG, whose values were first read as 0/255.
    """

    names: tuple[str, ...]
    mapping: dict[int, int]
    palette: dict[int, tuple[int, ...]] | None = None
    lossy_masks: int = 0

    @property
    def labels_json(self) -> dict[str, int]:
        """nnU-Net's ``labels`` entry: name -> label, background 0."""
        return {name: index for index, name in enumerate(self.names)}

    @property
    def is_identity(self) -> bool:
        """True when every source value is already its own label."""
        return all(source == label for source, label in self.mapping.items())

    def describe_changes(self) -> str:
        """``255->1, 128->2``: the values that change (empty for an identity mapping)."""
        return ", ".join(f"{k}->{v}" for k, v in sorted(self.mapping.items()) if k != v)

    def provenance(self) -> dict[str, object]:
        """The mapping (palette colours for indexed PNGs, the rule for JPEG masks) for dataset.json's svseg key."""
        info: dict[str, object] = {"label_mapping": {str(k): v for k, v in sorted(self.mapping.items())}}
        if self.palette:
            info["palette"] = {str(k): list(colour) for k, colour in sorted(self.palette.items())}
        if self.lossy_masks:
            info["lossy_masks"] = lossy_record(self.lossy_masks)
        return info

    def apply(self, array: np.ndarray) -> np.ndarray:
        """Map a mask's values to labels (uint8, or uint16 beyond 255 labels)."""
        keys = np.array(sorted(self.mapping), dtype=np.int64)
        targets = np.array([self.mapping[k] for k in sorted(self.mapping)], dtype=np.int64)
        flat = np.rint(array).astype(np.int64) if np.issubdtype(array.dtype, np.floating) else array.astype(np.int64)
        index = np.clip(np.searchsorted(keys, flat), 0, len(keys) - 1)
        if np.any(keys[index] != flat):
            raise ValueError("mask holds a value the label plan does not know; it was not scanned")
        dtype = np.uint8 if len(self.names) <= 256 else np.uint16
        return targets[index].astype(dtype)


def plan_labels(
    values_by_mask: dict[Path, np.ndarray],
    declared_names: Sequence[str] | None,
    palettes: dict[Path, list[tuple[int, ...]]] | None = None,
) -> tuple[LabelPlan | None, list[Problem]]:
    """Choose one value -> label mapping for the whole dataset.

    With declared names (N of them) the values must already be 0..N-1, or be at most N distinct
    values, which are then mapped in sorted order. Without, 0 stays background and the other
    values become 1..K in sorted order (0/255 -> 0/1).
    """
    union = sorted({int(v) for values in values_by_mask.values() for v in values})
    foreground = [v for v in union if v != 0]
    lossy = sum(is_lossy_mask(path) for path in values_by_mask)
    if declared_names is not None:
        count = len(declared_names)
        if all(v < count for v in union):
            identity = {k: k for k in range(count)}
            return LabelPlan(tuple(declared_names), identity, _palette(palettes, union), lossy), []
        if len(foreground) + 1 > count:
            return None, _outside_declared(values_by_mask, declared_names)
        names = tuple(declared_names)
    else:
        names = tuple(default_label_names(len(foreground) + 1))
    mapping = {0: 0, **{value: index for index, value in enumerate(foreground, start=1)}}
    return LabelPlan(names, mapping, _palette(palettes, union), lossy), []


def _outside_declared(values_by_mask: dict[Path, np.ndarray], names: Sequence[str]) -> list[Problem]:
    """One problem per mask holding a value beyond the declared labels."""
    count = len(names)
    problems = []
    for path, values in values_by_mask.items():
        outside = [int(v) for v in values if int(v) >= count]
        if outside:
            shown = ", ".join(str(v) for v in outside[:5])
            problems.append(Problem(
                path,
                f"label values {shown} outside the {count} declared labels 0..{count - 1} ({', '.join(names)}); "
                "declare more names with --labels or fix the mask",
            ))
    return problems


def _palette(palettes: dict[Path, list[tuple[int, ...]]] | None, used: list[int]) -> dict[int, tuple[int, ...]] | None:
    """Colour of each used palette index, from the first indexed mask (palettes are usually shared)."""
    if not palettes:
        return None
    first = next(iter(palettes.values()))
    return {index: tuple(first[index]) for index in used if index < len(first)}
