"""The planner's rules on their own: numbers in, decision and reason out."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from svseg.planning.decisions import (
    decide_epoch_length,
    decide_oversampling,
    decide_patch_and_batch,
    decide_spacing,
    whole_slice_patch,
)
from svseg.planning.presets import PlanningRules

RULES = PlanningRules(min_object_px=16, max_upscale=2.0, ultra_small_majority=0.5)  # both rules on


def test_spacing_kept_when_small_objects_stay_large_enough() -> None:
    decision = decide_spacing([0.8, 0.8], 16 * 0.64 * 1.5, RULES)  # 24 px at 0.8 mm
    assert decision.value == [0.8, 0.8]
    assert "kept" in decision.reason and "24.0 px" in decision.reason


def test_spacing_refined_when_objects_shrink() -> None:
    big = decide_spacing([1.0, 1.0], 64.0, RULES)
    small = decide_spacing([1.0, 1.0], 8.0, RULES)  # 8 px at 1 mm: half the minimum
    assert big.value == [1.0, 1.0]
    assert small.value == pytest.approx([math.sqrt(0.5)] * 2, rel=1e-3)
    assert small.value == [0.7071, 0.7071]  # cut to 4 significant digits, never rounded up
    assert 16.0 <= 8.0 / (small.value[0] * small.value[1]) < 16.01
    assert "refined" in small.reason and "16.0 px" in small.reason


def test_spacing_refinement_is_capped_and_keeps_anisotropy() -> None:
    decision = decide_spacing([2.0, 1.0], 1.0, RULES)  # 0.5 px: would need 5.7x finer
    assert decision.value == pytest.approx([1.0, 0.5])
    assert "capped at 2x" in decision.reason
    assert decide_spacing([1.0, 1.0], None, RULES).value == [1.0, 1.0]


def _memory(per_pixel_gb: float, fixed_gb: float = 1.0):
    return lambda patch, batch: fixed_gb + batch * per_pixel_gb * patch[0] * patch[1]


def test_whole_slice_rounded_to_32_and_capped() -> None:
    assert whole_slice_patch([100, 250], RULES) == ([128, 256], [128, 256])
    capped = replace(RULES, max_patch_size=(512, 512))
    assert whole_slice_patch([600, 300], capped) == ([608, 320], [512, 320])
    assert whole_slice_patch([20, 20], RULES)[1] == [64, 64]  # never below min_patch_size


def test_fixed_batch_keeps_the_batch_and_shrinks_the_patch() -> None:
    rules = replace(RULES, auto_batch_size=False, max_patch_size=(512, 512))
    # 1 GB fixed + 4 images x 512^2 x 8e-5 GB = 84.9 GB: fits 85, not 40
    patch, batch = decide_patch_and_batch([512, 512], ([512, 512], 12), rules, 85.0, 4, _memory(8e-5), 1e9)
    assert (patch.value, batch.value) == ([512, 512], 4)
    patch, batch = decide_patch_and_batch([512, 512], ([512, 512], 12), rules, 40.0, 4, _memory(8e-5), 1e9)
    assert batch.value == 4 and patch.value[0] * patch.value[1] * 4 * 8e-5 + 1 <= 40
    assert all(side % 32 == 0 for side in patch.value) and "shrunk" in patch.reason


def test_auto_batch_fills_memory_up_to_the_dataset_cap() -> None:
    patch, batch = decide_patch_and_batch([256, 256], ([256, 256], 12), RULES, 11.0, 2, _memory(1e-5), 1e9)
    assert patch.value == [256, 256]
    assert batch.value == 15  # 1 + 15 x 0.655 = 10.8 GB <= 11 GB
    _, capped = decide_patch_and_batch([256, 256], ([256, 256], 12), RULES, 11.0, 2, _memory(1e-5), 6 * 256 * 256)
    assert capped.value == 6 and "5 %" in capped.reason


def test_batch_reduced_only_when_the_smallest_patch_does_not_fit() -> None:
    rules = replace(RULES, auto_batch_size=False)
    patch, batch = decide_patch_and_batch([256, 256], ([256, 256], 2), rules, 2.0, 4, _memory(1e-4), 1e9)
    assert patch.value == [64, 64] and batch.value == 2  # 1 + 2 x 0.41 GB
    assert "reduced to 2" in batch.reason


def test_oversampling_raised_when_most_objects_are_ultra_small() -> None:
    assert decide_oversampling(0.8, 0.33, RULES).value == 0.5
    assert decide_oversampling(0.3, 0.33, RULES).value == 0.33
    assert decide_oversampling(0.9, 0.66, RULES).value == 0.66  # never lowered
    assert decide_oversampling(None, 0.33, RULES).value == 0.33


def test_epoch_is_one_pass_or_the_recipe_count() -> None:
    one_pass = replace(RULES, epoch_is_one_pass=True)
    assert decide_epoch_length(1000, 4, (250, 50), one_pass).value == [200, 50]
    assert decide_epoch_length(1000, 4, (250, 50), RULES).value == [250, 50]
