"""Tests for svseg/networks/blocks/mc_bottleneck.py: residual shape and the official parameter count."""

from __future__ import annotations

import torch

from svseg.networks.blocks.mc_bottleneck import MCBottleneck


def test_shape_and_official_parameter_counts() -> None:
    block = MCBottleneck(8, gate_min_hidden=8).eval()
    x = torch.randn(2, 8, 6, 6)
    assert block(x).shape == x.shape
    # svanet.md §14: branch-1 bottleneck with MCAttn 0.173 M (hand count 172,832; MCAttn 8,352).
    assert sum(p.numel() for p in MCBottleneck(64).parameters()) == 172_832
    assert sum(p.numel() for p in MCBottleneck(64, mcattn=False).parameters()) == 172_832 - 8_352


def test_is_a_residual_block() -> None:
    block = MCBottleneck(4, gate_min_hidden=4).eval()
    torch.nn.init.zeros_(block.project.norm.weight)  # zero residual branch -> identity
    x = torch.randn(1, 4, 5, 5)
    torch.testing.assert_close(block(x), x)
