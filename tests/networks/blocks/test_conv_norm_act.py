"""Tests for svseg/networks/blocks/conv_norm_act.py (official BaseConv2d conventions) and drop_path.py."""

from __future__ import annotations

import pytest
import torch

from svseg.networks.blocks.conv_norm_act import ConvNormAct, ConvTransposeNormAct, make_activation, make_divisible
from svseg.networks.blocks.drop_path import DropPath


def test_bias_only_without_norm_and_same_padding() -> None:
    with_norm = ConvNormAct(4, 6, 3, dilation=2)
    assert with_norm.conv.bias is None and with_norm.norm.eps == 1e-3
    assert with_norm(torch.randn(1, 4, 9, 7)).shape == (1, 6, 9, 7)
    without = ConvNormAct(4, 6, 1, norm=False, act=None)
    assert without.conv.bias is not None and isinstance(without.norm, torch.nn.Identity)
    assert ConvNormAct(4, 6, 3, stride=2)(torch.randn(1, 4, 10, 8)).shape == (1, 6, 5, 4)


def test_transposed_conv_doubles_the_size() -> None:
    assert ConvTransposeNormAct(4, 4)(torch.randn(1, 4, 5, 3)).shape == (1, 4, 10, 6)


def test_make_divisible_and_activations() -> None:
    assert [make_divisible(v) for v in (64, 8, 6.4, 102.4, 204.8)] == [64, 8, 8, 104, 208]
    assert isinstance(make_activation("silu"), torch.nn.SiLU)
    with pytest.raises(ValueError):
        make_activation("gelu2")


def test_drop_path_drops_whole_samples_and_keeps_the_mean() -> None:
    drop = DropPath(0.5).train()
    out = drop(torch.ones(4000, 3, 2, 2))
    per_sample = out.flatten(1)
    assert set(per_sample.unique().tolist()) <= {0.0, 2.0}
    assert torch.equal(per_sample.min(1).values, per_sample.max(1).values)
    assert abs(out.mean().item() - 1.0) < 0.1
    x = torch.randn(2, 3)
    assert torch.equal(drop.eval()(x), x)
    with pytest.raises(ValueError):
        DropPath(1.0)
