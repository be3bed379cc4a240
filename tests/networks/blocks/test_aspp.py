"""Tests for svseg/networks/blocks/aspp.py: shapes, the broadcast pooling branch, official count."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from svseg.networks.blocks.aspp import ASPP


def test_shape_and_official_parameter_count() -> None:
    assert ASPP(16, 8).eval()(torch.randn(2, 16, 3, 5)).shape == (2, 8, 3, 5)
    # svanet.md §14: ASPP 31.726 M (hand count 31,725,568).
    assert sum(p.numel() for p in ASPP(2048, 512).parameters()) == 31_725_568


def test_pooling_branch_equals_bilinear_upsampling_of_the_pooled_map() -> None:
    aspp = ASPP(4, 6, rates=(2,)).eval()
    x = torch.randn(2, 4, 5, 7)
    branches = [b(x) for b in aspp.branches]
    pooled = aspp.pool_proj(F.adaptive_avg_pool2d(x, 1))
    branches.append(F.interpolate(pooled, size=(5, 7), mode="bilinear", align_corners=False))
    expected = aspp.dropout(aspp.project(torch.cat(branches, 1)))
    torch.testing.assert_close(aspp(x), expected)
