"""Sizing the demo's training to a time budget: arithmetic checked by hand, timing on a tiny net."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from svseg.demo.budget import plan_training, time_training_step


def test_budget_fills_the_time_left_and_no_more() -> None:
    budget = plan_training(300.0, 0.5, reserve_seconds=60.0, fixed_training_seconds=20.0, overhead_factor=1.0)
    # 220 s usable at 0.5 s/step plus a 1/15 share for validation -> 412 steps
    assert budget.seconds_for_training == pytest.approx(220.0)
    assert 400 <= budget.iterations <= 412
    assert budget.expected_seconds <= 220.0 + 1e-6
    assert budget.iters_per_epoch >= 10 and budget.epochs >= 10


def test_a_budget_too_small_still_trains_a_little() -> None:
    budget = plan_training(10.0, 2.0, reserve_seconds=60.0, min_iterations=20)
    assert budget.seconds_for_training == 0.0
    assert budget.iterations >= 20 - budget.epochs  # integer division may drop a remainder
    assert budget.epochs >= 1 and budget.val_iters_per_epoch >= 1


def test_faster_steps_give_more_iterations() -> None:
    slow = plan_training(600.0, 1.0, reserve_seconds=30.0)
    fast = plan_training(600.0, 0.1, reserve_seconds=30.0)
    assert fast.iterations > 5 * slow.iterations


def test_non_positive_step_time_is_a_bug() -> None:
    with pytest.raises(ValueError):
        plan_training(100.0, 0.0, reserve_seconds=0.0)


def test_time_training_step_handles_deep_supervision_outputs() -> None:
    class TwoScales(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 3, 3, padding=1)

        def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
            full = self.conv(x)
            return [full, nn.functional.avg_pool2d(full, 2)]

    seconds = time_training_step(TwoScales(), (2, 1, 16, 16), num_classes=3, device=torch.device("cpu"))
    assert 0.0 < seconds < 5.0
