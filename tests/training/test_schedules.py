"""Learning-rate schedules: values by hand and against nnU-Net's PolyLRScheduler."""

from __future__ import annotations

import itertools

import pytest
import torch
from nnunetv2.training.lr_scheduler.polylr import PolyLRScheduler

from svseg.planning.plans import Recipe
from svseg.training.schedules import RecipeLRScheduler, lr_at_epoch

PAPER = Recipe(optimizer="adamw", lr=5e-4, lr_schedule="warmup_cosine", warmup_epochs=5, warmup_start_lr=5e-5,
               final_lr=1e-6, epochs=100)


def _optimizer(groups: int = 1, lr: float = 1.0) -> torch.optim.Optimizer:
    params = [{"params": [torch.nn.Parameter(torch.zeros(1))]} for _ in range(groups)]
    return torch.optim.SGD(params, lr=lr)


def test_warmup_is_linear_from_start_to_peak() -> None:
    assert lr_at_epoch(PAPER, 0) == pytest.approx(5e-5)
    step = (5e-4 - 5e-5) / 5
    for epoch in range(5):
        assert lr_at_epoch(PAPER, epoch) == pytest.approx(5e-5 + step * epoch)


def test_cosine_runs_from_peak_to_final_lr() -> None:
    assert lr_at_epoch(PAPER, 5) == pytest.approx(5e-4)
    assert lr_at_epoch(PAPER, 99) == pytest.approx(1e-6)
    # half-way through the cosine (epoch 52 of 5..99) the rate is the mean of peak and final
    assert lr_at_epoch(PAPER, 52) == pytest.approx((5e-4 + 1e-6) / 2)
    rates = [lr_at_epoch(PAPER, e) for e in range(5, 100)]
    assert all(a >= b for a, b in itertools.pairwise(rates))


def test_poly_without_warmup_equals_nnunet() -> None:
    recipe = Recipe(lr=1e-2, lr_schedule="poly", poly_exponent=0.9, epochs=50)
    optimizer = _optimizer()
    reference = PolyLRScheduler(optimizer, 1e-2, 50, exponent=0.9)
    for epoch in range(50):
        reference.step(epoch)
        assert lr_at_epoch(recipe, epoch) == pytest.approx(optimizer.param_groups[0]["lr"])


def test_constant_after_warmup() -> None:
    recipe = Recipe(lr=1e-3, lr_schedule="constant", warmup_epochs=2, warmup_start_lr=0.0, epochs=10)
    assert [lr_at_epoch(recipe, e) for e in (0, 1, 2, 9)] == pytest.approx([0.0, 5e-4, 1e-3, 1e-3])


def test_schedule_accepts_nnunets_step_with_epoch_and_plain_step() -> None:
    optimizer = _optimizer()
    scheduler = RecipeLRScheduler(optimizer, PAPER, 100)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(lr_at_epoch(PAPER, 0))
    scheduler.step(42)  # what nnU-Net's on_train_epoch_start does; also what a resumed run starts with
    assert scheduler.get_last_lr() == pytest.approx([lr_at_epoch(PAPER, 42)])
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(lr_at_epoch(PAPER, 43))


def test_frozen_group_has_zero_rate_until_its_epoch() -> None:
    optimizer = _optimizer(groups=2)
    scheduler = RecipeLRScheduler(optimizer, PAPER, 100, frozen_group=0, frozen_until=10)
    for epoch in (0, 9):
        scheduler.step(epoch)
        assert scheduler.get_last_lr() == pytest.approx([0.0, lr_at_epoch(PAPER, epoch)])
        assert scheduler.encoder_frozen(epoch)
    scheduler.step(10)
    assert scheduler.get_last_lr() == pytest.approx([lr_at_epoch(PAPER, 10)] * 2)
    assert not scheduler.encoder_frozen(10)


def test_short_runs_do_not_divide_by_zero() -> None:
    recipe = Recipe(lr=1e-3, lr_schedule="warmup_cosine", warmup_epochs=1, warmup_start_lr=1e-4, final_lr=1e-5,
                    epochs=2)
    assert [lr_at_epoch(recipe, e) for e in (0, 1)] == pytest.approx([1e-4, 1e-3])
    single = Recipe(lr=1e-3, lr_schedule="poly", epochs=1)
    assert lr_at_epoch(single, 0) == pytest.approx(1e-3)
