"""Conv -> BatchNorm -> activation, the basic unit of every SvANet part.

Matches the official `BaseConv2d` / `TransposeConvLayer2d` (`lib/model/layers/convLayer.py`,
docs/design/svanet.md §2): "same" padding `(k - 1) // 2 * dilation`, a conv bias exactly when
there is no norm (a bias in front of BatchNorm is cancelled by the mean subtraction, so it would
be a dead parameter and would break the exact parameter count), BatchNorm eps 1e-3 by default.
Activations are chosen by name through a dict so that networks are configured with plain data.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    # ReLU's backward reads its output, so in place is free. SiLU's reads its input: in place, autograd
    # first copies the whole input to keep it (a clone per call, measured in docs/benchmarks.md).
    "relu": lambda: nn.ReLU(inplace=True),
    "silu": nn.SiLU,
    "sigmoid": nn.Sigmoid,
}

OFFICIAL_BN_EPS = 1e-3
"""BatchNorm eps of the official `BaseConv2d` (PyTorch's default is 1e-5)."""


def make_activation(name: str | None) -> nn.Module:
    """Build an activation from its name (`relu`, `silu`, `sigmoid`); None gives an identity."""
    if name is None:
        return nn.Identity()
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(sorted(ACTIVATIONS))}") from None


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of `divisor`, never more than 10 % below `value`.

    The usual MobileNet rule; the official MCAttn hidden width uses it, and svseg's width
    multiplier uses it so that scaled channel counts stay hardware-friendly and even (AssemFormer
    halves its input width).
    """
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class ConvNormAct(nn.Module):
    """2D conv, optional BatchNorm, optional activation: (B, Cin, H, W) -> (B, Cout, H/s, W/s).

    Attribute names `conv`, `norm`, `act` are part of the state-dict layout.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        stride: int = 1,
        dilation: int = 1,
        norm: bool = True,
        act: str | None = "relu",
        bn_eps: float = OFFICIAL_BN_EPS,
    ) -> None:
        super().__init__()
        padding = (kernel_size - 1) // 2 * dilation
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=padding, dilation=dilation, bias=not norm
        )
        self.norm = nn.BatchNorm2d(out_channels, eps=bn_eps) if norm else nn.Identity()
        self.act = make_activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))


class ConvTransposeNormAct(nn.Module):
    """3x3 stride-2 transposed conv + BN + activation that exactly doubles H and W.

    padding 1 and output_padding 1 make the output (2H, 2W) for any input, which is what the
    link decoder needs to meet the next skip feature (official `TransposeConvLayer2d`).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        act: str | None = "relu",
        bn_eps: float = OFFICIAL_BN_EPS,
    ) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose2d(in_channels, out_channels, 3, stride=2, padding=1, output_padding=1, bias=False)
        self.norm = nn.BatchNorm2d(out_channels, eps=bn_eps)
        self.act = make_activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))
