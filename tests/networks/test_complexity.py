"""Tests for svseg/networks/complexity.py against hand-computed counts."""

from __future__ import annotations

import torch
from torch import nn

from svseg.networks import count_macs, count_parameters


def test_parameters_of_a_small_model() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Linear(4, 2))
    assert count_parameters(model) == (3 * 8 * 9 + 8) + 16 + (4 * 2 + 2)
    model[2].weight.requires_grad_(False)
    assert count_parameters(model, trainable_only=True) == (3 * 8 * 9 + 8) + 16 + 2


def test_macs_count_convolutions_and_matmuls_only() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 10 * 12, 5)
    )
    expected = 8 * 10 * 12 * 3 * 9 + 8 * 10 * 12 * 5  # conv: out elements x (Cin x k x k); linear: in x out
    assert count_macs(model, (1, 3, 10, 12)) == expected
    assert count_macs(model, (2, 3, 10, 12)) == 2 * expected


def test_macs_on_the_meta_device_and_mode_is_restored() -> None:
    with torch.device("meta"):
        model = nn.Conv2d(4, 4, 1)
    model.train()
    assert count_macs(model, (1, 4, 8, 8)) == 4 * 4 * 64
    assert model.training
