"""Tests for svseg/networks/blocks/cross_scale.py: path shapes, cascade order, official parameter counts."""

from __future__ import annotations

import torch

from svseg.networks.blocks.cross_scale import CrossScaleGuidance, CrossScaleLayer


def test_layer_shapes_and_official_parameter_counts() -> None:
    # svanet.md §14: Convr12 0.296 M, Convr13 0.930 M (hand counts 296,448 and 929,536).
    r12, r13 = CrossScaleLayer(64, 256, 1), CrossScaleLayer(64, 512, 2)
    assert sum(p.numel() for p in r12.parameters()) == 296_448
    assert sum(p.numel() for p in r13.parameters()) == 929_536
    small = CrossScaleLayer(4, 8, 3).eval()
    assert small(torch.randn(2, 4, 32, 24)).shape == (2, 8, 4, 3)
    assert CrossScaleLayer(4, 8, 2, svattn=False).svattn is None


def test_guidance_is_cascaded_fine_to_coarse() -> None:
    guidance = CrossScaleGuidance([2, 4, 6], svattn=False).eval()
    assert list(guidance.paths) == ["r1_2", "r1_3", "r2_3"]
    assert [guidance.drops[k].p for k in guidance.paths] == [0.0, 0.0, 0.05]
    branches = [torch.randn(1, 2, 16, 16), torch.randn(1, 4, 8, 8), torch.randn(1, 6, 4, 4)]
    b1, b2, b3 = branches
    expected_b2 = b2 + guidance.paths["r1_2"](b1)
    expected_b3 = b3 + guidance.paths["r1_3"](b1) + guidance.paths["r2_3"](expected_b2)
    out = guidance(branches)
    assert torch.equal(out[0], b1)
    torch.testing.assert_close(out[1], expected_b2)
    torch.testing.assert_close(out[2], expected_b3)
