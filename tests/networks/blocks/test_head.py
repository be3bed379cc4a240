"""Tests for svseg/networks/blocks/head.py: the per-input form equals resize + concat + 1x1 conv."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from svseg.networks.blocks.head import MultiScaleHead


def test_equals_the_official_concatenating_head() -> None:
    head = MultiScaleHead([4, 6, 8], num_classes=3)
    feats = [torch.randn(2, 4, 16, 12), torch.randn(2, 6, 8, 6), torch.randn(2, 8, 2, 2)]
    size = feats[0].shape[2:]
    resized = [feats[0]] + [F.interpolate(f, size=size, mode="bilinear", align_corners=True) for f in feats[1:]]
    expected = F.interpolate(head.classifier(torch.cat(resized, 1)), size=(32, 24), mode="bilinear", align_corners=True)
    torch.testing.assert_close(head(feats, (32, 24)), expected, rtol=1e-4, atol=1e-5)


def test_keeps_one_classifier_weight_in_the_official_layout() -> None:
    head = MultiScaleHead([64, 256, 512, 1024, 512], num_classes=8)
    assert head.classifier.weight.shape == (8, 2368, 1, 1)
    assert sum(p.numel() for p in head.parameters()) == 2368 * 8 + 8
