"""ESCA: STS-Net's efficient channel attention, as its released code computes it.

ECA-Net's gate (global average pool, a 1D conv across the channel axis, sigmoid, channel rescale)
with one twist in STS-Net's `eca_layer` (docs/design/peer-networks.md §2.1): the 1D conv (1 -> 1
channel, no bias, zero "same" padding) is applied twice in a row with the same weights, so each
channel's gate sees 2k - 1 neighbouring channels for k weights.

Kernel size: the released code passes none, so k = 3 at every stage ("shared3", 3 weights per
gate). ECA-Net's adaptive rule, which STS-Net's docstring names but does not use, is offered as
"adaptive": k = odd(int(|log2(C) / 2 + 1 / 2|)), i.e. 3, 5, 5, 5, 7 for 64 .. 2048 channels.
"""

from __future__ import annotations

import math

import torch
from torch import nn

ESCA_KERNELS = ("shared3", "adaptive")
"""`esca_kernel` choices: k = 3 everywhere (released code) or ECA-Net's channel-dependent rule."""


def adaptive_kernel_size(channels: int, gamma: int = 2, beta: int = 1) -> int:
    """ECA-Net's k for C channels: int(|log2(C) / gamma + beta / gamma|), made odd by adding 1."""
    k = int(abs(math.log2(channels) / gamma + beta / gamma))
    return k if k % 2 else k + 1


def esca_kernel_size(mode: str, channels: int) -> int:
    """Kernel size of the gate on `channels` channels for `mode` (one of ESCA_KERNELS)."""
    if mode == "shared3":
        return 3
    if mode == "adaptive":
        return adaptive_kernel_size(channels)
    raise ValueError(f"unknown ESCA kernel mode {mode!r}; known: {', '.join(ESCA_KERNELS)}")


class ESCA(nn.Module):
    """(B, C, H, W) -> (B, C, H, W): x times a per-channel sigmoid gate from its pooled channel vector."""

    def __init__(self, kernel_size: int = 3) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"ESCA needs an odd positive kernel size, got {kernel_size}")
        self.conv = nn.Conv1d(1, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean((2, 3)).unsqueeze(1)  # (B, 1, C): the channel axis is the sequence
        gate = torch.sigmoid(self.conv(self.conv(pooled)))  # the same conv twice, as the released code
        return x * gate.squeeze(1)[:, :, None, None]
