"""Tests for svseg/networks/blocks/drop_path.py (per-sample stochastic depth)."""

from __future__ import annotations

import pytest
import torch

from svseg.networks.blocks.drop_path import DropPath


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
