"""Tests for svseg/networks/blocks/conv_norm_act.py (official BaseConv2d conventions)."""

from __future__ import annotations

import pytest
import torch

from svseg.networks.blocks.conv_norm_act import ConvNormAct, ConvTransposeNormAct, make_activation, make_divisible


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
