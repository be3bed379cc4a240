"""The planner's rules: each turns area statistics (or a memory target) into one decision and its reason.

Every function is pure: numbers in, a :class:`Decision` out, so the rules are tested on their
own and the plan's ``svseg.decisions`` list reads as the planner's reasoning. Spacings are
in-plane (row, column) in mm, patch sizes in pixels at the planned spacing, areas in mm² or px.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from svseg.planning.presets import PlanningRules


@dataclass(frozen=True)
class Decision:
    """One planning decision: what was decided, the value, and why (plain JSON)."""

    what: str
    value: Any
    reason: str

    def to_json(self) -> dict[str, Any]:
        """The plans' ``{"what", "value", "reason"}`` entry."""
        return {"what": self.what, "value": self.value, "reason": self.reason}


def _fmt(values: Sequence[float]) -> str:
    return " x ".join(f"{v:.4g}" for v in values)


def _round_down(value: float, digits: int = 4) -> float:
    """`value` cut (not rounded) to `digits` significant digits: readable, and never coarser."""
    scale = 10 ** (digits - 1 - math.floor(math.log10(value)))
    return math.floor(value * scale) / scale


def decide_spacing(median_spacing: Sequence[float], object_area_mm2: float | None, rules: PlanningRules) -> Decision:
    """In-plane target spacing: nnU-Net's median, refined when small objects would shrink too much.

    `object_area_mm2` is the ``rules.object_percentile``-th percentile object area. At spacing
    (sy, sx) such an object covers area / (sy * sx) pixels; if nnU-Net's median spacing leaves
    it below ``rules.min_object_px``, both axes are refined by the same factor so it reaches
    that size, but never beyond ``rules.max_upscale`` (resampled images grow by its square).
    """
    median = [float(s) for s in median_spacing]
    label = f"p{rules.object_percentile:02d} object"
    if object_area_mm2 is None or object_area_mm2 <= 0:
        return Decision("in-plane spacing (mm)", median, "nnU-Net's median spacing kept: the labels hold no objects")
    pixels = object_area_mm2 / (median[0] * median[1])
    if rules.max_upscale <= 1.0:
        return Decision("in-plane spacing (mm)", median,
                        f"nnU-Net's median spacing {_fmt(median)} mm kept: refinement is off (max_upscale 1); "
                        f"the {label} ({object_area_mm2:.4g} mm²) covers {pixels:.1f} px")
    if pixels >= rules.min_object_px:
        return Decision("in-plane spacing (mm)", median,
                        f"nnU-Net's median spacing {_fmt(median)} mm kept: the {label} "
                        f"({object_area_mm2:.4g} mm²) covers {pixels:.1f} px >= {rules.min_object_px:g} px")
    factor = math.sqrt(pixels / rules.min_object_px)
    capped = factor < 1.0 / rules.max_upscale
    factor = max(factor, 1.0 / rules.max_upscale)
    refined = [_round_down(s * factor) for s in median]
    reached = object_area_mm2 / (refined[0] * refined[1])
    reason = (f"the {label} ({object_area_mm2:.4g} mm²) would cover only {pixels:.1f} px at nnU-Net's median "
              f"spacing {_fmt(median)} mm (< {rules.min_object_px:g} px); spacing refined by {factor:.3f} "
              f"to {_fmt(refined)} mm, where it covers {reached:.1f} px")
    if capped:
        reason += f" (refinement capped at {rules.max_upscale:g}x upsampling)"
    return Decision("in-plane spacing (mm)", refined, reason)


def round_up(value: float, multiple: int) -> int:
    """Smallest multiple of `multiple` that is >= value."""
    return int(math.ceil(value / multiple) * multiple)


def whole_slice_patch(median_shape: Sequence[float], rules: PlanningRules) -> tuple[list[int], list[int]]:
    """(whole median slice rounded up to the patch multiple, the same capped by ``max_patch_size``)."""
    whole = [max(rules.min_patch_size, round_up(s, rules.patch_multiple)) for s in median_shape]
    if rules.max_patch_size is None:
        return whole, list(whole)
    caps = [max(rules.min_patch_size, (c // rules.patch_multiple) * rules.patch_multiple)
            for c in rules.max_patch_size]
    return whole, [min(p, c) for p, c in zip(whole, caps, strict=True)]


def _shrink(patch: list[int], median_shape: Sequence[float], rules: PlanningRules) -> list[int] | None:
    """One step smaller: the side largest relative to the median slice loses one multiple (nnU-Net's rule)."""
    order = sorted(range(len(patch)), key=lambda axis: patch[axis] / max(median_shape[axis], 1.0), reverse=True)
    for axis in order:
        if patch[axis] - rules.patch_multiple >= rules.min_patch_size:
            smaller = list(patch)
            smaller[axis] -= rules.patch_multiple
            return smaller
    return None


def decide_patch_and_batch(
    median_shape: Sequence[float],
    nnunet_suggestion: tuple[Sequence[int], int],
    rules: PlanningRules,
    gpu_memory_gb: float,
    recipe_batch: int,
    estimate_gb: Callable[[Sequence[int], int], float],
    voxels_per_step: float,
) -> tuple[Decision, Decision]:
    """Patch size and batch size from the median slice and the memory target.

    Start from the whole median slice (a multiple of ``patch_multiple``, capped by
    ``max_patch_size``). With ``auto_batch_size`` the patch shrinks until two images fit and
    the batch is then as large as memory allows, at most `voxels_per_step` pixels per batch
    (nnU-Net's rule: 5 % of the dataset) and at least 2. Otherwise the recipe's batch is kept
    and the patch shrinks until it fits; only when even the smallest patch does not fit is the
    batch reduced.
    """
    whole, start = whole_slice_patch(median_shape, rules)
    patch = list(start)
    wanted = 2 if rules.auto_batch_size else recipe_batch
    while estimate_gb(patch, wanted) > gpu_memory_gb:
        smaller = _shrink(patch, median_shape, rules)
        if smaller is None:
            break
        patch = smaller
    batch = wanted
    while batch > 1 and estimate_gb(patch, batch) > gpu_memory_gb:
        batch -= 1
    dataset_batch_cap = max(2, round(voxels_per_step / math.prod(patch)))
    if rules.auto_batch_size:
        while batch < dataset_batch_cap and estimate_gb(patch, batch + 1) <= gpu_memory_gb:
            batch += 1
    nnunet_patch, nnunet_batch = nnunet_suggestion
    patch_reason = (f"whole median slice ({_fmt(median_shape)} px) rounded up to a multiple of "
                    f"{rules.patch_multiple}: {_fmt(whole)}")
    if start != whole:
        patch_reason += f", capped at the preset's maximum {_fmt(start)}"
    if patch != start:
        patch_reason += (f"; that needs {estimate_gb(start, wanted):.1f} GB at batch {wanted}, over the "
                         f"{gpu_memory_gb:g} GB target, so it was shrunk in steps of {rules.patch_multiple}")
    patch_reason += (f"; estimated {estimate_gb(patch, batch):.1f} GB at batch {batch} "
                     f"(nnU-Net's PlainConvUNet plan: patch {_fmt(nnunet_patch)}, batch {nnunet_batch})")
    fits = estimate_gb(patch, batch) <= gpu_memory_gb
    if rules.auto_batch_size:
        batch_reason = (f"largest batch that fits {gpu_memory_gb:g} GB at patch {_fmt(patch)} "
                        f"({estimate_gb(patch, batch):.1f} GB), at most {dataset_batch_cap} "
                        f"(5 % of the dataset per step, nnU-Net's rule)")
    elif batch == recipe_batch:
        batch_reason = f"the recipe's batch of {recipe_batch} fits {gpu_memory_gb:g} GB at patch {_fmt(patch)}"
    else:
        batch_reason = (f"the recipe's batch of {recipe_batch} does not fit {gpu_memory_gb:g} GB even at patch "
                        f"{_fmt(patch)}; reduced to {batch}")
    if not fits:
        batch_reason += f"; WARNING: even this needs {estimate_gb(patch, batch):.1f} GB, over the target"
    return (Decision("patch size (px)", patch, patch_reason), Decision("batch size", batch, batch_reason))


def decide_oversampling(ultra_small_fraction: float | None, preset_value: float, rules: PlanningRules) -> Decision:
    """Foreground oversampling: raised when most objects are ultra-small.

    nnU-Net draws a share of each batch around foreground; with mostly ultra-small objects a
    random slice or crop rarely contains any, so that share is raised.
    """
    if ultra_small_fraction is None:
        return Decision("foreground oversampling", preset_value, "the recipe's value kept: no objects")
    share = f"{100 * ultra_small_fraction:.0f} % of objects are ultra-small"
    if rules.ultra_small_majority >= 1.0:
        return Decision("foreground oversampling", preset_value,
                        f"{share}; the recipe's {preset_value:g} kept (raising it is off: ultra_small_majority 1)")
    if ultra_small_fraction > rules.ultra_small_majority and preset_value < rules.ultra_small_oversample:
        return Decision("foreground oversampling", rules.ultra_small_oversample,
                        f"{share} (> {100 * rules.ultra_small_majority:.0f} %): raised from the recipe's "
                        f"{preset_value:g} so that small objects appear in most batches")
    return Decision("foreground oversampling", preset_value,
                    f"{share}; the recipe's {preset_value:g} kept")


def decide_epoch_length(total_slices: int, batch_size: int, recipe_iters: tuple[int, int],
                        rules: PlanningRules, train_fraction: float = 0.8) -> Decision:
    """Iterations per epoch: one pass over the training slices, or the recipe's fixed count.

    With nnU-Net's 5-fold cross-validation a fold trains on about 80 % of the cases.
    """
    if not rules.epoch_is_one_pass:
        return Decision("iterations per epoch (train, val)", list(recipe_iters),
                        "the recipe's fixed counts (nnU-Net samples batches at random; an epoch is a fixed count)")
    train = max(1, math.ceil(total_slices * train_fraction / batch_size))
    val = max(1, math.ceil(total_slices * (1 - train_fraction) / batch_size))
    return Decision("iterations per epoch (train, val)", [train, val],
                    f"one pass over the slices per epoch, as in the official code: {total_slices} slices, "
                    f"{100 * train_fraction:.0f} % of them per training fold, batch {batch_size}")
