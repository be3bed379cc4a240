"""STS-Net's amplification at training time: weighted draws and one flip/zoom per draw, nothing on disk.

The plans' amplification section (svseg/planning/amplification.py) gives every training unit
with foreground a tier and a weight. :class:`AmplifiedSamplingHooks` makes nnU-Net's training
loader draw a case with probability proportional to its weight and, when an amplified case is
drawn, apply one geometric op chosen uniformly among {identity} u copies(tier) u {lesion crop}:
a flip plus a crop box resized back to the slice (linear for the image, nearest for labels).
The op runs on the whole case slice *before* nnU-Net picks its patch and augments it, so it
composes with nnU-Net's own spatial transform. Validation is untouched.

Where it hooks into nnU-Net 2.8.1: ``nnUNetTrainer.get_dataloaders`` builds ``nnUNetDataLoader``
by name (no class attribute to swap), so replacing the loader class would mean copying that
method. The seam nnU-Net does expose is ``get_tr_and_val_datasets``; its training loader then
only uses the dataset's ``identifiers`` (drawn uniformly, with replacement) and
``load_case``. :class:`AmplifiedDataset` wraps the training dataset: its identifiers list each
case ``weight`` times (weights are integers, so draws are exactly proportional to them, the
same as ``sampling_probabilities`` would give) and its ``load_case`` applies the op and
re-samples the foreground locations nnU-Net's foreground oversampling reads.

Volumes in the 2d configuration: nnU-Net's 2d loader draws a case, then a slice inside
``get_bbox``. Per-slice weights are kept as far as that allows: a volume is listed as often as
its most amplified slice's weight; on a draw, with probability 1/weight nnU-Net's own slice
choice runs unchanged, otherwise one amplified slice (chosen with probability proportional to
weight - 1) is cut out, transformed and handed over as a one-slice case. So a volume with one
tiny lesion is drawn about as often as a 2D image with that lesion, not 16 x (1/slices).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from svseg.errors import SvsegError
from svseg.planning.amplification import (
    COPIES,
    CROP_HALF_SIZE,
    Copy,
    FoldPlan,
    Unit,
    copies_for_tier,
    lesion_crop_applies,
    plan_fold,
)
from svseg.planning.plans import Amplification, parse_plans

LESION_CROP = "lesion_crop"
IDENTITY = "identity"


@dataclass(frozen=True)
class GeometricOp:
    """Flip, then take ``box = (row0, row1, col0, col1)`` (pixel-edge coordinates) and resize it back.

    Coordinates follow cv2's resize (and PyTorch's ``align_corners=False``): output pixel i samples
    the flipped slice at ``box0 + (i + 0.5) * (box1 - box0) / side - 0.5``, clamped to the box's
    first and last pixel centres as cv2 clamps at the border of the crop it resizes. Per axis this
    is an affine map, so the op is one flip + zoom whatever the copy.
    """

    flip_rows: bool
    flip_cols: bool
    box: tuple[float, float, float, float]

    def is_identity(self, shape: tuple[int, int]) -> bool:
        """True when the op returns the slice unchanged."""
        return not (self.flip_rows or self.flip_cols) and self.box == (0.0, float(shape[0]), 0.0, float(shape[1]))

    def source_coordinates(self, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """For each output row and column, the input row and column it samples."""
        axes = []
        for side, (start, stop), flip in ((shape[0], self.box[:2], self.flip_rows),
                                          (shape[1], self.box[2:], self.flip_cols)):
            step = (stop - start) / side
            source = np.clip(start + (np.arange(side) + 0.5) * step - 0.5, start, max(start, stop - 1))
            axes.append(side - 1 - source if flip else source)
        return axes[0], axes[1]


def copy_op(copy: Copy, shape: tuple[int, int]) -> GeometricOp:
    """The op of one STS-Net copy on a slice of `shape`: margins are fractions of each side."""
    top, bottom, left, right = copy.margins
    rows, cols = float(shape[0]), float(shape[1])
    box = (top * rows, rows - bottom * rows, left * cols, cols - right * cols)
    return GeometricOp(copy.flip_rows, copy.flip_cols, box)


def lesion_crop_op(foreground: np.ndarray, rng: np.random.RandomState) -> GeometricOp | None:
    """A crop centred on the bounding box of one randomly chosen 8-connected lesion, resized back.

    Half-size per axis is uniform in CROP_HALF_SIZE x side (150-160 px of 480), never less than
    the lesion's own half-extent, and shrunk symmetrically so the box stays inside the slice;
    the chosen lesion is therefore always kept whole. None when the slice has no foreground.
    """
    labelled, count = ndimage.label(foreground, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return None
    found = ndimage.find_objects(labelled)[rng.randint(count)]
    box = []
    for side, extent in zip(foreground.shape, found, strict=True):
        centre = (extent.start + extent.stop) / 2.0
        half = max(rng.uniform(*CROP_HALF_SIZE) * side, (extent.stop - extent.start) / 2.0)
        half = min(half, centre, side - centre)
        box += [centre - half, centre + half]
    return GeometricOp(False, False, (box[0], box[1], box[2], box[3]))


def _resample_axis(planes: np.ndarray, source: np.ndarray, axis: int, order: int) -> np.ndarray:
    """Sample `planes` along `axis` at fractional positions `source` (nearest, or linear between neighbours)."""
    if order == 0:
        return np.take(planes, np.floor(source + 0.5).astype(np.intp), axis=axis)
    low = np.floor(source).astype(np.intp)
    high = np.minimum(low + 1, planes.shape[axis] - 1)
    shape = [1] * planes.ndim
    shape[axis] = source.size
    frac = (source - low).astype(np.float32).reshape(shape)
    return np.take(planes, low, axis=axis) * (1 - frac) + np.take(planes, high, axis=axis) * frac


def apply_op(planes: np.ndarray, op: GeometricOp, order: int) -> np.ndarray:
    """Apply `op` to every (H, W) plane of a (C, H, W) array: order 1 (bilinear) for images, 0 for labels.

    The op is axis-aligned, so it is applied as two 1D resamplings (rows, then columns), which is
    the same bilinear / nearest result as a 2D affine resampling at a fraction of its cost.
    """
    shape = planes.shape[-2:]
    if op.is_identity(shape):
        return planes
    rows, cols = op.source_coordinates(shape)
    out = _resample_axis(_resample_axis(planes, rows, 1, order), cols, 2, order)
    return out.astype(planes.dtype, copy=False)


def choose_op(name: str | int, foreground: np.ndarray, rng: np.random.RandomState) -> GeometricOp | None:
    """The op for an option drawn from :func:`unit_options`; None means identity."""
    if name == IDENTITY:
        return None
    if name == LESION_CROP:
        return lesion_crop_op(foreground, rng)
    return copy_op(COPIES[int(name)], foreground.shape)


def unit_options(unit: Unit) -> list[str | int]:
    """What a drawn unit may become: identity, its tier's copies, the lesion crop when a > 5."""
    options: list[str | int] = [IDENTITY, *copies_for_tier(unit.tier)]
    if lesion_crop_applies(unit.area):
        options.append(LESION_CROP)
    return options


class AmplifiedDataset:
    """nnU-Net's training dataset with weighted identifiers and an on-the-fly op in ``load_case``.

    `collect` is what nnU-Net's preprocessor sampled foreground locations for (classes or
    regions, plus the annotated key with an ignore label); `foreground_labels` the label values
    that make a lesion for the lesion crop.
    """

    def __init__(self, base: Any, plan: FoldPlan, collect: list[Any], foreground_labels: list[int]) -> None:
        self._base = base
        self.plan = plan
        self._collect = collect
        self._foreground = np.asarray(foreground_labels)
        self.identifiers = [case for case in base.identifiers for _ in range(plan.case_weight(case))]

    def __getattr__(self, name: str) -> Any:
        # Only reached for names this wrapper lacks; never for dunders or _base itself, so copying
        # or unpickling (nnU-Net's spawned augmentation workers) does not recurse.
        if name.startswith("__") or name == "_base":
            raise AttributeError(name)
        return getattr(self._base, name)

    def load_case(self, identifier: str) -> tuple[Any, Any, Any, dict]:
        """The case as nnU-Net stores it, or one slice of it after a drawn op."""
        data, seg, seg_prev, properties = self._base.load_case(identifier)
        units = self.plan.units.get(identifier)
        if not units:
            return data, seg, seg_prev, properties
        rng = np.random  # nnU-Net's loader draws from numpy's global state too (seeded per worker)
        if data.shape[1] == 1:
            unit, index = units[0], 0
        else:
            weight = self.plan.case_weight(identifier)
            if rng.uniform() < 1.0 / weight:
                return data, seg, seg_prev, properties
            extra = [u for u in units if u.weight > 1]
            chances = np.asarray([u.weight - 1 for u in extra], dtype=np.float64)
            unit = extra[rng.choice(len(extra), p=chances / chances.sum())]
            index = unit.slice_index - int(properties["bbox_used_for_cropping"][0][0])
            if not 0 <= index < data.shape[1]:
                return data, seg, seg_prev, properties
        options = unit_options(unit)
        name = options[rng.randint(len(options))]
        if name == IDENTITY and data.shape[1] == 1:
            return data, seg, seg_prev, properties
        return self._transformed(data, seg, seg_prev, properties, index, name)

    def _transformed(self, data: Any, seg: Any, seg_prev: Any, properties: dict, index: int,
                     name: str | int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, dict]:
        image = np.asarray(data[:, index], dtype=np.float32)
        label = np.asarray(seg[:, index])
        op = choose_op(name, np.isin(label[0], self._foreground), np.random)
        if op is not None:
            image, label = apply_op(image, op, 1), apply_op(label, op, 0)
        previous = None
        if seg_prev is not None:
            previous = np.asarray(seg_prev[:, index])
            previous = (apply_op(previous, op, 0) if op is not None else previous)[:, None]
        from svseg.nnunet_touchpoints import sample_foreground_locations

        label = label[:, None]
        moved = dict(properties)
        moved["class_locations"] = sample_foreground_locations(label, self._collect, seed=np.random.randint(2**31))
        return image[:, None], label, previous, moved


def training_fold_plan(amplification: Amplification, training: list[str], fold: int | str) -> tuple[FoldPlan, str]:
    """The fold's tiers and weights from the plans' areas, computed on `training` only.

    When the plans hold this fold with the same training cases, their N1/N2 must match what
    the areas give (else the plans were edited by hand and are refused); a different split
    (an edited splits_final.json) is recomputed from the same areas and said so.
    """
    plan = plan_fold(amplification.areas, training, amplification.mode, amplification.max_weight)
    stored = amplification.folds.get(str(fold))
    if stored is None or sorted(stored["training"]) != sorted(training):
        return plan, "recomputed from the plans' areas on this run's training cases (split not in the plans)"
    if (stored["N1"], stored["N2"]) != (plan.limits.n1, plan.limits.n2):
        raise SvsegError(f"plans: amplification of fold {fold} says N1 {stored['N1']}, N2 {stored['N2']} but its areas "
                         f"give {plan.limits.n1}, {plan.limits.n2}; re-run svseg plan-and-preprocess")
    return plan, f"fold {fold} of the plans"


class AmplifiedSamplingHooks:
    """Trainer mixin: the training dataset draws amplified samples when the plans ask for it.

    Overrides one nnU-Net hook, ``get_tr_and_val_datasets``; the validation dataset is returned
    as nnU-Net built it.
    """

    def get_tr_and_val_datasets(self) -> tuple[Any, Any]:
        """nnU-Net's datasets, the training one wrapped in :class:`AmplifiedDataset` unless mode is off."""
        dataset_tr, dataset_val = super().get_tr_and_val_datasets()  # type: ignore[misc]
        manager = self.plans_manager  # type: ignore[attr-defined]
        amplification = parse_plans(manager.plans, Path(f"{manager.plans_name}.json")).amplification
        if not amplification.enabled:
            return dataset_tr, dataset_val
        fold = self.fold  # type: ignore[attr-defined]
        plan, source = training_fold_plan(amplification, list(dataset_tr.identifiers), fold)
        labels = self.label_manager  # type: ignore[attr-defined]
        collect = list(labels.foreground_regions if labels.has_regions else labels.foreground_labels)
        if labels.has_ignore_label:
            collect.append([-1, *labels.all_labels])
        wrapped = AmplifiedDataset(dataset_tr, plan, collect, list(labels.foreground_labels))
        limits = plan.limits
        self.print_to_log_file(  # type: ignore[attr-defined]
            f"amplification {amplification.mode} ({source}): S {limits.total_area:g}, A {limits.units}, "
            f"N1 {limits.n1}, N2 {limits.n2}, units per tier 0/1/2 {plan.tier_counts()}, "
            f"{len(wrapped.identifiers)} weighted draws over {len(dataset_tr.identifiers)} cases")
        return wrapped, dataset_val
