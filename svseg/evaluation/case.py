"""Evaluating one case: every slice, object and (for 3D) the volume of one reference/prediction pair.

This is the unit of parallel work: it reads its own two files and returns plain NumPy
columns (small to pickle) that :mod:`svseg.evaluation.aggregate` pools over cases. A 2D
image is a stack of one slice; a volume is cut along its slicing axis (B2) and every kept
slice is evaluated, empty ones included.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from svseg.evaluation.detection import match_objects
from svseg.evaluation.inputs import CasePair, load_pair
from svseg.evaluation.paper import paper_counts
from svseg.evaluation.pixel_metrics import slice_counts
from svseg.evaluation.surface import hd95
from svseg.evaluation.values import CaseValues, ValueRules, apply_map, read_case_values
from svseg.evaluation.volume import volume_metrics
from svseg.evaluation.zones import object_counts
from svseg.io import Image
from svseg.objects import Components, choose_slice_axis, kept_slices, label_components


@dataclass(frozen=True)
class CaseOptions:
    """What every case is evaluated with. ``classes`` None means the labels found in the case."""

    classes: tuple[int, ...] | None = None
    ignore_label: int | None = None
    slice_axis: int | None = None
    slice_step: int = 1
    paper_grid: int | None = None
    values: ValueRules = field(default_factory=ValueRules)


@dataclass
class ClassResult:
    """One class of one case: per-slice counts (S, 4) and HD95 (S,), object tables, volume metrics."""

    counts: np.ndarray
    hd95: np.ndarray
    objects: dict[str, np.ndarray]
    pred_objects: dict[str, np.ndarray]
    volume: dict[str, object] | None = None


@dataclass
class CaseResult:
    """Everything measured on one case; ``slices`` columns are per kept slice."""

    case: str
    is_volume: bool
    slice_axis: int | None
    classes: tuple[int, ...]
    slices: dict[str, np.ndarray]
    paper: dict[str, np.ndarray]
    per_class: dict[int, ClassResult] = field(default_factory=dict)
    n_valid_voxels: int = 0
    values: CaseValues | None = None


def evaluate_case(pair: CasePair, options: CaseOptions) -> CaseResult:
    """Read, check and measure one case (raises SvsegError for a bad file).

    Both masks are read once; their values decide how they are read (see ``values``). A
    predicted label outside the given classes is scored as one more class, never dropped.
    """
    gt, pred = load_pair(pair)
    values = read_case_values(pair.case, pair.gt_path, pair.pred_path, gt.array, pred.array, options.values)
    gt.array, pred.array = apply_map(gt.array, values.ref_map), apply_map(pred.array, values.pred_map)
    if options.classes is not None:
        extra = {label for label, _ in values.pred_pixels if label != options.ignore_label}
        options = replace(options, classes=tuple(sorted(extra.union(options.classes))))
    result = measure_case(pair.case, gt, pred, options)
    result.values = values
    return result


def measure_case(case: str, gt: Image, pred: Image, options: CaseOptions) -> CaseResult:
    """Measure one case already in memory: label arrays on the same grid (see ``load_pair``)."""
    spacing_zyx = tuple(reversed(gt.spacing))
    axis = choose_slice_axis(gt.spatial_shape, spacing_zyx, options.slice_axis) if gt.is_volume else None
    ref_full = np.moveaxis(gt.array, axis, 0) if axis is not None else gt.array[None]
    pred_full = np.moveaxis(pred.array, axis, 0) if axis is not None else pred.array[None]
    spacing_yx = tuple(s for i, s in enumerate(spacing_zyx) if i != axis) if axis is not None else spacing_zyx
    keep = kept_slices(ref_full.shape[0], options.slice_step)
    ref, prd = ref_full[keep], pred_full[keep]
    classes = options.classes if options.classes is not None else _found_classes(ref_full, pred_full, options)
    valid = None if options.ignore_label is None else ref != options.ignore_label
    slice_pixels = ref.shape[1] * ref.shape[2]
    result = CaseResult(case, gt.is_volume, axis, classes, {}, paper_counts(
        ref, prd, classes, options.ignore_label, options.paper_grid))
    largest = np.zeros(len(keep))
    for label in classes:
        class_result, ratio = _evaluate_class(ref == label, _valid_only(prd == label, valid), valid, spacing_yx,
                                              slice_pixels, keep)
        largest = np.maximum(largest, ratio)
        if gt.is_volume:
            class_result.volume = volume_metrics(gt.array, pred.array, label, options.ignore_label, spacing_zyx,
                                                 axis)
        result.per_class[label] = class_result
    result.slices = _slice_columns(ref, prd, valid, keep, largest)
    ignored = 0 if options.ignore_label is None else int(np.count_nonzero(gt.array == options.ignore_label))
    result.n_valid_voxels = int(gt.array.size) - ignored
    return result


def _found_classes(ref: np.ndarray, pred: np.ndarray, options: CaseOptions) -> tuple[int, ...]:
    """Labels present in either mask, background and the ignore label excluded."""
    found = set(np.unique(ref).tolist()) | set(np.unique(pred).tolist())
    found -= {0, options.ignore_label}
    return tuple(sorted(int(value) for value in found))


def _valid_only(mask: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    return mask if valid is None else mask & valid


def _evaluate_class(ref_c: np.ndarray, pred_c: np.ndarray, valid: np.ndarray | None, spacing_yx: tuple[float, ...],
                    slice_pixels: int, keep: np.ndarray) -> tuple[ClassResult, np.ndarray]:
    """Slice counts, slice HD95, objects and their matching for one class of a (S, H, W) stack.

    Returns the class result and each slice's largest-object ratio (for the image ratio).
    """
    counts = slice_counts(ref_c, pred_c, valid)
    surface = np.full(len(keep), np.nan)
    for s in np.flatnonzero((counts[:, 0] + counts[:, 2] > 0) & (counts[:, 0] + counts[:, 1] > 0)):
        surface[s] = hd95(ref_c[s], pred_c[s], spacing_yx)
    ref_objects, pred_objects = label_components(ref_c), label_components(pred_c)
    ref_ratio, pred_ratio = ref_objects.area / slice_pixels, pred_objects.area / slice_pixels
    matching = match_objects(ref_objects, ref_ratio, pred_objects, pred_ratio)
    zone = object_counts(ref_objects, pred_c, valid, spacing_yx)
    objects = {
        "slice": keep[ref_objects.slice_index], "area_px": ref_objects.area, "ratio": ref_ratio,
        "zone_px": zone.zone_px, "tp": zone.tp, "fp": zone.fp, "fn": zone.fn, "tn": zone.tn, "hd95": zone.hd95,
        "detected": matching.ref_overlap, "matched_iou50": matching.ref_iou50, "box": _boxes(ref_objects),
    }
    predicted = {"slice": keep[pred_objects.slice_index], "area_px": pred_objects.area,
                 "ratio": matching.pred_ratio, "true_overlap": matching.pred_overlap,
                 "true_iou50": matching.pred_iou50}
    largest = np.zeros(len(keep))
    if ref_objects.count:
        np.maximum.at(largest, ref_objects.slice_index, ref_ratio)
    return ClassResult(counts, surface, objects, predicted), largest


def _boxes(components: Components) -> np.ndarray:
    """In-plane bounding boxes (row0, row1, col0, col1), end exclusive, shape (count, 4)."""
    boxes = [(b[1].start, b[1].stop, b[2].start, b[2].stop) for b in components.boxes]
    return np.array(boxes, dtype=np.int64).reshape(-1, 4)


def _slice_columns(ref: np.ndarray, pred: np.ndarray, valid: np.ndarray | None, keep: np.ndarray,
                   largest: np.ndarray) -> dict[str, np.ndarray]:
    """Per-slice image ratio and the any-foreground counts behind the headline MAE (B4)."""
    ref_fg, pred_fg = ref != 0, pred != 0
    if valid is not None:
        ref_fg, pred_fg = ref_fg & valid, pred_fg & valid
    n_valid = valid.sum(axis=(1, 2)) if valid is not None else np.full(len(keep), ref[0].size)
    return {
        "slice": keep,
        "n_pixels": np.full(len(keep), ref.shape[1] * ref.shape[2], dtype=np.int64),
        "n_valid": np.asarray(n_valid, dtype=np.int64),
        "r_img": largest,
        "fp_any": np.count_nonzero(pred_fg & ~ref_fg, axis=(1, 2)),
        "fn_any": np.count_nonzero(ref_fg & ~pred_fg, axis=(1, 2)),
    }
