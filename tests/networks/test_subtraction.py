"""M2SNet's fixed all-ones convolutions and the multi-scale subtraction unit, against numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from svseg.networks.blocks.subtraction import FixedOnesConv, MultiScaleSubtraction


def _box_sum(x: np.ndarray, k: int) -> np.ndarray:
    """Dense k x k all-ones C -> C conv of (C, H, W), zero padding: every channel = box sum of the channel sum."""
    c, h, w = x.shape
    pad = k // 2
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((c, h, w))
    for o in range(c):
        for i in range(c):
            for dy in range(k):
                for dx in range(k):
                    out[o] += padded[i, dy : dy + h, dx : dx + w]
    return out


def _conv3x3(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    _, h, w = x.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    out = np.zeros((weight.shape[0], h, w))
    for dy in range(3):
        for dx in range(3):
            out += np.einsum("oi,ihw->ohw", weight[:, :, dy, dx], padded[:, dy : dy + h, dx : dx + w])
    return out + bias[:, None, None]


def _bn_relu(x: np.ndarray, bn: torch.nn.BatchNorm2d) -> np.ndarray:
    mean, var = bn.running_mean.numpy()[:, None, None], bn.running_var.numpy()[:, None, None]
    weight, bias = bn.weight.detach().numpy()[:, None, None], bn.bias.detach().numpy()[:, None, None]
    return np.maximum((x - mean) / np.sqrt(var + bn.eps) * weight + bias, 0.0)


def _randomise_norm(bn: torch.nn.BatchNorm2d) -> None:
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)


@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("dense", [False, True])
def test_fixed_ones_conv_is_a_dense_all_ones_convolution(k: int, dense: bool) -> None:
    fixed = FixedOnesConv(4, k, dense=dense).double()
    x = torch.randn(2, 4, 7, 9, dtype=torch.float64)
    out = fixed.box(x)
    assert out.shape == (2, 4, 7, 9)
    for b in range(2):
        np.testing.assert_allclose(out[b].numpy(), _box_sum(x[b].numpy(), k), rtol=1e-12, atol=1e-12)


def test_fixed_kernels_are_buffers_not_parameters() -> None:
    fixed = FixedOnesConv(64, 5)
    assert "weight" in fixed.state_dict() and fixed.weight.shape == (64, 64, 5, 5)
    assert torch.equal(fixed.weight, torch.ones(64, 64, 5, 5))
    assert all(p is not fixed.weight for p in fixed.parameters())
    assert sum(p.numel() for p in fixed.parameters()) == 128  # only the BatchNorm's affine
    assert fixed.to(torch.float64).weight.dtype == torch.float64
    assert fixed.to("meta").weight.is_meta


def test_even_kernel_is_refused() -> None:
    with pytest.raises(ValueError, match="odd"):
        FixedOnesConv(4, 4)


def test_msu_matches_numpy_at_equal_sizes() -> None:
    torch.manual_seed(1)
    channels = 3
    f3, f5 = FixedOnesConv(channels, 3).double(), FixedOnesConv(channels, 5).double()
    unit = MultiScaleSubtraction(channels, f3, f5).double()
    for bn in (f3.norm, f5.norm, unit.fuse[1]):
        _randomise_norm(bn)
    for module in (f3, f5, unit):
        module.eval()
    a, b = torch.randn(1, channels, 6, 8, dtype=torch.float64), torch.randn(1, channels, 6, 8, dtype=torch.float64)
    with torch.no_grad():
        got = unit(a, b)[0].numpy()
    an, bn_ = a[0].numpy(), b[0].numpy()
    difference = np.abs(an - bn_)
    for fixed, k in ((f3, 3), (f5, 5)):
        difference += np.abs(_bn_relu(_box_sum(an, k), fixed.norm) - _bn_relu(_box_sum(bn_, k), fixed.norm))
    conv = unit.fuse[0]
    expected = _bn_relu(_conv3x3(difference, conv.weight.detach().numpy(), conv.bias.detach().numpy()), unit.fuse[1])
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


def test_msu_upsamples_the_coarser_map_to_the_finer_size() -> None:
    f3, f5 = FixedOnesConv(2, 3), FixedOnesConv(2, 5)
    unit = MultiScaleSubtraction(2, f3, f5).eval()
    coarse = torch.full((1, 2, 4, 5), 3.0)
    fine = torch.full((1, 2, 8, 10), 3.0)
    with torch.no_grad():
        out = unit(coarse, fine)
        same = unit(torch.full((1, 2, 8, 10), 3.0), fine)
    assert out.shape == (1, 2, 8, 10)
    torch.testing.assert_close(out, same)  # a constant upsamples to the same constant: zero difference
    assert unit.state_dict().keys() == {f"fuse.{k}" for k in unit.fuse.state_dict()}  # f3/f5 are not owned
