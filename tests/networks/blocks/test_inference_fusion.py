"""Tests for svseg/networks/blocks/inference_fusion.py: folded copies predict what the original predicts.

The reference is the unfolded network in eval mode, with running statistics made non-trivial by a
few training-mode passes (fresh BatchNorms are the identity and would hide a wrong fold).
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from svseg.networks import create_network
from svseg.networks.blocks.inference_fusion import _fold_before, fold_batchnorm


def _trained_stats(name: str, **kwargs: object) -> tuple[nn.Module, torch.Tensor]:
    model = create_network(name, 3, 2, **kwargs)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        for _ in range(3):
            model.train()(x + torch.randn_like(x))
    return model.eval(), x


@pytest.mark.parametrize(("name", "kwargs"), [
    ("svanet_tiny", {}),
    ("svanet_tiny", {"decoder_fusion": "add", "assemformer": "decoder"}),
    ("sts_net_tiny", {}),
])
def test_folded_copy_predicts_the_same_and_leaves_the_original_alone(name: str, kwargs: dict) -> None:
    model, x = _trained_stats(name, **kwargs)
    before = copy.deepcopy(model.state_dict())
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    with torch.no_grad():
        expected, got = model(x), folded(x)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5 * float(expected.abs().max()))
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)


def test_folded_copy_under_bf16_autocast_stays_within_bf16_rounding() -> None:
    model, x = _trained_stats("svanet_tiny")
    folded = fold_batchnorm(model)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        got = folded(x).float()
    with torch.no_grad():
        expected = model(x)
    assert (got - expected).abs().max() <= 0.08 * expected.abs().max()


def test_every_batchnorm_of_the_full_svanet_folds() -> None:
    with torch.device("meta"):
        model = create_network("svanet", 3, 8)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 167
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fold_batchnorm(model).modules())


def test_only_a_1x1_convolution_absorbs_the_norm_before_it() -> None:
    with pytest.raises(ValueError, match="1x1"):
        _fold_before(nn.BatchNorm2d(4).eval(), nn.Conv2d(4, 4, 3, padding=1))
