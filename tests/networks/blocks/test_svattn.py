"""Tests for svseg/networks/blocks/svattn.py: the pooled-squeeze rewrite equals the official formula."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from svseg.networks.blocks.svattn import MAX_PARTITION_CELLS, ScaleVariantAttention, svattn_pool_size


def official_gate(module: ScaleVariantAttention, feats: list[torch.Tensor], masks: torch.Tensor | None) -> torch.Tensor:
    """svanet.md §7 literally: squeeze every pooled P x P map, mosaic (or mean), GAP, sigmoid."""
    pool = svattn_pool_size(*feats[-1].shape[2:])
    maps = [squeeze(F.adaptive_avg_pool2d(f, pool)) for f, squeeze in zip(feats, module.squeeze, strict=True)]
    if masks is None:
        combined = torch.stack(maps).mean(0)
    else:
        combined = sum(m * mask.view(1, 1, *pool) for m, mask in zip(maps, masks, strict=True))
    return torch.sigmoid(combined.mean((2, 3), keepdim=True))


def features(batch: int = 2) -> list[torch.Tensor]:
    return [torch.randn(batch, 6, 32, 24), torch.randn(batch, 6, 16, 12), torch.randn(batch, 10, 8, 6)]


def test_pool_size_rule() -> None:
    assert svattn_pool_size(128, 128) == (32, 32)
    assert svattn_pool_size(32, 32) == (8, 8)
    assert svattn_pool_size(8, 24) == (4, 6)
    assert svattn_pool_size(2, 2) == (4, 4)


def test_eval_equals_the_mean_of_the_squeezed_maps() -> None:
    module = ScaleVariantAttention([6, 6, 10], 10).eval()
    feats = features()
    torch.testing.assert_close(module(feats), feats[-1] * official_gate(module, feats, None))


def test_eval_is_exact_when_the_pool_does_not_divide_the_maps() -> None:
    module = ScaleVariantAttention([4, 5], 5).eval()
    feats = [torch.randn(2, 4, 18, 22), torch.randn(2, 5, 9, 11)]  # P = (4, 4): uneven, overlapping cells
    torch.testing.assert_close(module(feats), feats[-1] * official_gate(module, feats, None))


def test_training_mosaic_equals_the_official_mosaic_for_the_same_masks() -> None:
    module = ScaleVariantAttention([6, 6, 10], 10).train()
    feats = features()
    pool = svattn_pool_size(8, 6)  # (4, 4)
    cells = pool[0] * pool[1]
    weights = module.mosaic_weights(cells, torch.float32)
    masks = weights * cells  # one-hot per cell
    assert torch.equal(masks.sum(0), torch.ones(cells))
    ours = torch.sigmoid(module.gate_logits(feats, weights))
    torch.testing.assert_close(ours, official_gate(module, feats, masks))


def test_training_draws_differ_but_keep_the_construction_time_group_sizes() -> None:
    module = ScaleVariantAttention([4, 4, 4], 4).train()
    draws = [module.mosaic_weights(64, torch.float32) for _ in range(10)]
    assert any(not torch.equal(draws[0], d) for d in draws[1:])
    expected_sizes = sorted(torch.bincount(module.partition[:64].long(), minlength=3).tolist())
    for d in draws:
        assert sorted((d > 0).sum(1).tolist()) == expected_sizes


def test_partition_is_a_non_persistent_buffer_and_large_grids_repeat_it() -> None:
    module = ScaleVariantAttention([4, 4], 4)
    assert "partition" not in module.state_dict()
    assert module.partition.numel() == MAX_PARTITION_CELLS
    weights = module.mosaic_weights(MAX_PARTITION_CELLS + 5, torch.float32)
    assert weights.shape == (2, MAX_PARTITION_CELLS + 5)
