"""M2SNet's multi-scale subtraction unit (MSU) and its fixed all-ones convolutions.

Zhao et al., "M2SNet: Multi-scale in Multi-scale Subtraction Network for Medical Image
Segmentation" (arXiv 2303.10894), as the released code builds it (docs/design/peer-networks.md
§1.1). Two adjacent feature maps A (coarser) and B (finer) are compared at B's size by

    conv3x3-BN-ReLU( |A' - B| + |F3(A') - F3(B)| + |F5(A') - F5(B)| ),   A' = bilinear(A, size of B)

where F_k is a *fixed* dense k x k convolution whose weights are all ones (C -> C, zero bias,
"same" padding) followed by a learnable BatchNorm and ReLU. The differences of box-filtered maps
compare local structure at two scales; the plain difference compares pixels.

The all-ones kernels are registered buffers (in the state dict, moved by `.to()`), unlike the
released code, which keeps them as CUDA-only attributes outside the state dict.

Because every weight is 1, each output channel of F_k equals the k x k box sum of the channel sum
of the input. By default F_k is computed that way (k^2 instead of C^2 k^2 multiply-adds per
pixel, identical up to float rounding); `dense=True` runs the dense convolution on the buffer.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

NORMS = ("batch", "instance")


def make_norm(kind: str, channels: int) -> nn.Module:
    """BatchNorm2d (PyTorch defaults, as the released code) or affine InstanceNorm2d by name."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    raise ValueError(f"unknown norm {kind!r}; known: {', '.join(NORMS)}")


def conv_norm_relu(in_channels: int, out_channels: int, norm: str = "batch") -> nn.Sequential:
    """3x3 conv (with bias, as in the released code) -> norm -> ReLU, "same" padding.

    The conv keeps its bias although a norm follows, because the released code does and the
    parameter count (27,692,585) is part of the reproduction. svseg's `ConvNormAct` drops that
    dead bias, hence this separate helper.
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1), make_norm(norm, out_channels), nn.ReLU(inplace=True)
    )


class FixedOnesConv(nn.Module):
    """Fixed k x k all-ones C -> C convolution (buffer `weight`, no bias), then learnable norm + ReLU."""

    def __init__(self, channels: int, kernel_size: int, norm: str = "batch", dense: bool = False) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"FixedOnesConv needs an odd kernel size, got {kernel_size}")
        self.register_buffer("weight", torch.ones(channels, channels, kernel_size, kernel_size), persistent=True)
        self.padding = kernel_size // 2
        self.dense = dense
        self.norm = make_norm(norm, channels)
        self.relu = nn.ReLU(inplace=True)

    def box(self, x: torch.Tensor) -> torch.Tensor:
        """The fixed convolution alone (before norm and ReLU)."""
        weight = self.weight.to(x.dtype)
        if self.dense:
            return F.conv2d(x, weight, padding=self.padding)
        summed = F.conv2d(x.sum(dim=1, keepdim=True), weight[:1, :1], padding=self.padding)
        return summed.expand(-1, weight.shape[0], -1, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.norm(self.box(x)))


class MultiScaleSubtraction(nn.Module):
    """MSU: (A coarser, B finer), both (B, C, ., .) -> (B, C, H_B, W_B).

    `f3` and `f5` are the network's shared FixedOnesConv instances (one of each for all MSUs, as
    in the released code); they are referenced, not owned, so they appear once in the state dict.
    """

    def __init__(self, channels: int, f3: FixedOnesConv, f5: FixedOnesConv, norm: str = "batch") -> None:
        super().__init__()
        self._shared = (f3, f5)  # a tuple is not registered: the network owns the shared modules
        self.fuse = conv_norm_relu(channels, channels, norm)

    def forward(self, coarse: torch.Tensor, fine: torch.Tensor) -> torch.Tensor:
        if coarse.shape[-2:] != fine.shape[-2:]:
            coarse = F.interpolate(coarse, size=fine.shape[-2:], mode="bilinear", align_corners=False)
        difference = (coarse - fine).abs()
        for fixed in self._shared:
            difference = difference + (fixed(coarse) - fixed(fine)).abs()
        return self.fuse(difference)
