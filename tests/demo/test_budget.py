"""Sizing the demo's training to a time budget: arithmetic checked by hand, timing on a tiny net."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from svseg.demo.budget import plan_training, time_training_step


def test_budget_fills_the_time_left_and_no_more() -> None:
    budget = plan_training(300.0, 0.5, reserve_seconds=60.0, fixed_training_seconds=20.0, overhead_factor=1.0,
                           val_iters_per_epoch=5, epoch_overhead_seconds=2.0, target_epoch_seconds=20.0)
    # 220 s usable; epochs of 40 steps: (40 + 5/3) x 0.5 s + 2 s = 22.83 s, so 9 of them fit
    assert budget.seconds_for_training == pytest.approx(220.0)
    assert (budget.epochs, budget.iters_per_epoch) == (9, 40)
    assert budget.expected_seconds == pytest.approx(9 * (41.666666 * 0.5 + 2.0))
    assert budget.expected_seconds <= 220.0


def test_a_budget_too_small_still_trains_a_little() -> None:
    budget = plan_training(10.0, 2.0, reserve_seconds=60.0, min_epochs=2, min_iters_per_epoch=5)
    assert budget.seconds_for_training == 0.0
    assert (budget.epochs, budget.iters_per_epoch) == (2, 5)


def test_a_short_budget_shortens_epochs_before_dropping_below_two() -> None:
    budget = plan_training(100.0, 1.0, reserve_seconds=0.0, fixed_training_seconds=0.0, overhead_factor=1.0,
                           val_iters_per_epoch=3, epoch_overhead_seconds=0.0, target_epoch_seconds=80.0)
    # one 80-step epoch would not leave room for a second: two epochs of (100/2 - 1) steps instead
    assert (budget.epochs, budget.iters_per_epoch) == (2, 49)


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
