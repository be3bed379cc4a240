"""Tests for svseg/networks/blocks/mcattn.py against the official MoCAttention semantics (svanet.md §5)."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from svseg.networks.blocks.mcattn import MonteCarloAttention, gate_hidden_channels


def adaptive_cell_sizes(n: int, k: int) -> list[int]:
    """Side lengths of the k adaptive-pooling cells over n pixels (independent of the module)."""
    return [-(-(a + 1) * n // k) - a * n // k for a in range(k)]


def test_hidden_width_rule_matches_the_official_branches() -> None:
    assert [gate_hidden_channels(c) for c in (128, 512, 1024, 2048)] == [32, 128, 256, 512]
    assert gate_hidden_channels(16, min_hidden=8) == 8


def test_eval_is_a_plain_se_block() -> None:
    attn = MonteCarloAttention(16, 8).eval()
    x = torch.randn(3, 16, 10, 14)
    expected = x * torch.sigmoid(attn.fc2(F.relu(attn.fc1(x.mean((2, 3), keepdim=True)))))
    torch.testing.assert_close(attn(x), expected)
    torch.testing.assert_close(attn(x), attn(x), rtol=0, atol=0)


def test_training_squeeze_is_the_mean_of_a_random_adaptive_cell_sized_subset() -> None:
    height, width = 10, 14
    attn = MonteCarloAttention(4, pool_sizes=(1, 2, 3)).train()
    allowed = {h * w for k in (1, 2, 3) for h in adaptive_cell_sizes(height, k) for w in adaptive_cell_sizes(width, k)}
    seen_counts, seen_positions = set(), torch.zeros(height * width)
    for _ in range(300):
        weights = attn.squeeze_weights(height, width, torch.float32)
        support = weights > 0
        count = int(support.sum())
        assert count in allowed
        torch.testing.assert_close(weights[support], torch.full((count,), 1.0 / count))
        seen_counts.add(count)
        seen_positions += support.float()
    assert seen_counts == allowed  # every (k, cell) combination occurs
    assert (seen_positions > 0).all()  # the shuffle reaches every position


def test_without_shuffle_the_cell_is_an_adaptive_pooling_cell() -> None:
    attn = MonteCarloAttention(4, pool_sizes=(2, 3), shuffle=False).train()
    x = torch.randn(2, 4, 9, 7)
    cells = torch.cat([F.adaptive_avg_pool2d(x, k).flatten(2) for k in (2, 3)], dim=2)  # (B, C, 13)
    for _ in range(20):
        squeezed = attn.squeeze(x)[..., 0, 0]
        matches = [(squeezed - cells[..., i]).abs().max() < 1e-5 for i in range(cells.shape[2])]
        assert any(matches)


def test_training_output_is_random_and_single_pool_size_one_equals_eval() -> None:
    x = torch.randn(2, 8, 12, 12)
    attn = MonteCarloAttention(8).train()
    outputs = [attn(x) for _ in range(5)]
    assert any(not torch.equal(outputs[0], out) for out in outputs[1:])
    se = MonteCarloAttention(8, pool_sizes=(1,))
    torch.testing.assert_close(se.train()(x), se.eval()(x))


def test_pool_sizes_follow_the_module_device_and_stay_out_of_the_state_dict() -> None:
    attn = MonteCarloAttention(8, pool_sizes=(1, 2, 3, 4))
    assert attn.pool_sizes.tolist() == [1, 2, 3, 4]
    assert set(attn.state_dict()) == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
    with pytest.raises(ValueError):
        MonteCarloAttention(8, pool_sizes=())


def test_channels_last_input_in_training() -> None:
    attn = MonteCarloAttention(8, pool_sizes=(1,)).train()
    x = torch.randn(2, 8, 6, 10)
    torch.testing.assert_close(attn(x.to(memory_format=torch.channels_last)), attn(x))
