"""Tests for svseg/networks/blocks/resnet.py against torchvision's ResNet-50 (an independent implementation)."""

from __future__ import annotations

import pytest
import torch
import torchvision

from svseg.networks.blocks.resnet import ResNetEncoder


def test_keys_shapes_and_outputs_match_torchvision() -> None:
    reference = torchvision.models.resnet50(weights=None).eval()
    encoder = ResNetEncoder(3, bn_eps=1e-5).eval()  # torchvision's eps, to compare outputs exactly
    expected_state = {k: v for k, v in reference.state_dict().items() if not k.startswith("fc.")}
    assert {k: v.shape for k, v in encoder.state_dict().items()} == {k: v.shape for k, v in expected_state.items()}
    encoder.load_state_dict(expected_state)
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        e1, e2, e3, e4, e5 = encoder(x)
        stem = reference.relu(reference.bn1(reference.conv1(x)))
        torch.testing.assert_close(e1, stem)
        torch.testing.assert_close(e2, reference.layer1(reference.maxpool(stem)))
        torch.testing.assert_close(e5, reference.layer4(reference.layer3(reference.layer2(e2))), rtol=1e-4, atol=1e-4)
    assert [e.shape[1] for e in (e1, e2, e3, e4, e5)] == [64, 256, 512, 1024, 2048]
    assert [e.shape[2] for e in (e1, e2, e3, e4, e5)] == [32, 16, 8, 4, 2]


def test_parameter_count_is_resnet50_without_fc() -> None:
    assert sum(p.numel() for p in ResNetEncoder(3).parameters()) == 23_508_032  # svanet.md §14


def test_official_bn_eps_and_reduced_variants() -> None:
    encoder = ResNetEncoder(1, depths=(1, 1, 2, 1), width=0.125)
    assert encoder.bn1.eps == 1e-3
    assert encoder.out_channels == [8, 32, 64, 128, 256]
    assert len(encoder.layer3) == 2
    with pytest.raises(ValueError):
        ResNetEncoder(3, depths=(3, 4, 6))
