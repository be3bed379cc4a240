"""ResNet-50 (v1.5) / ResNeXt encoder that returns all five stage outputs.

Official `ResNet` / `Bottleneck` (`lib/model/classification/netResNet.py`; svanet.md §3), a
re-implementation of torchvision's ResNet-50: the stride sits on the 3x3 conv, projection
shortcuts where the shape changes, no dilation (output stride 32). The attribute names follow
torchvision (`conv1`, `bn1`, `layer1.0.downsample.0`, ...) rather than `ConvNormAct`, so an
ImageNet state dict in torchvision's key format loads by name (see svseg.networks.pretrained);
the official loader matches by position, which is fragile.

`width` scales every channel count (rounded to multiples of 8) and `depths` sets the blocks per
layer, for reduced variants such as svanet_tiny. `groups` and `width_per_group` give ResNeXt
(torchvision's rule: bottleneck width = int(planes * width_per_group / 64) * groups, so 32 x 4
is resnext50_32x4d), and `dilations` turn a layer's stride into a dilation of all its 3x3 convs
as smp's `make_dilated` does (STS-Net: (1, 1, 2, 4), output stride 8). The defaults are SvANet's
ResNet-50, unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from svseg.networks.blocks.conv_norm_act import OFFICIAL_BN_EPS, make_divisible

RESNET50_DEPTHS = (3, 4, 6, 3)
EXPANSION = 4


class ResNetBottleneck(nn.Module):
    """1x1 reduce, 3x3 (stride or dilation, grouped for ResNeXt), 1x1 expand, each with BN; projection
    shortcut when needed; ReLU. `out_channels` defaults to 4 x `width` (ResNet)."""

    def __init__(
        self,
        in_channels: int,
        width: int,
        stride: int = 1,
        bn_eps: float = OFFICIAL_BN_EPS,
        *,
        out_channels: int | None = None,
        groups: int = 1,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        out_channels = width * EXPANSION if out_channels is None else out_channels
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width, eps=bn_eps)
        self.conv2 = nn.Conv2d(
            width, width, 3, stride=stride, padding=dilation, dilation=dilation, groups=groups, bias=False
        )
        self.bn2 = nn.BatchNorm2d(width, eps=bn_eps)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels, eps=bn_eps)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels, eps=bn_eps),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


class ResNetEncoder(nn.Module):
    """(B, Cin, H, W) -> [E1 (/2), E2 (/4), E3 (/8), E4 (/16), E5 (/32)].

    With width 1 the channels are 64, 256, 512, 1024, 2048 (E1 is the stem output before max-pool).
    A layer with dilation d > 1 keeps its input's resolution (its stride becomes dilation d).
    """

    def __init__(
        self,
        input_channels: int = 3,
        depths: Sequence[int] = RESNET50_DEPTHS,
        width: float = 1.0,
        bn_eps: float = OFFICIAL_BN_EPS,
        *,
        groups: int = 1,
        width_per_group: int = 64,
        dilations: Sequence[int] = (1, 1, 1, 1),
    ) -> None:
        super().__init__()
        if len(depths) != 4 or any(int(d) < 1 for d in depths):
            raise ValueError(f"ResNet encoder needs 4 positive layer depths, got {list(depths)}")
        if len(dilations) != 4 or any(int(d) < 1 for d in dilations):
            raise ValueError(f"ResNet encoder needs 4 positive layer dilations, got {list(dilations)}")
        stem = make_divisible(64 * width)
        self.conv1 = nn.Conv2d(input_channels, stem, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem, eps=bn_eps)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        channels = [stem]
        in_channels = stem
        for index, depth in enumerate(depths):
            planes = make_divisible(64 * 2**index * width)
            mid = int(planes * width_per_group / 64) * groups
            if mid < 1:
                raise ValueError(f"layer{index + 1}: {planes} planes leave no channels for {groups} groups")
            dilation = int(dilations[index])
            blocks = []
            for block in range(int(depth)):
                stride = 2 if block == 0 and index > 0 and dilation == 1 else 1
                blocks.append(
                    ResNetBottleneck(
                        in_channels,
                        mid,
                        stride,
                        bn_eps,
                        out_channels=planes * EXPANSION,
                        groups=groups,
                        dilation=dilation,
                    )
                )
                in_channels = planes * EXPANSION
            self.add_module(f"layer{index + 1}", nn.Sequential(*blocks))
            channels.append(in_channels)
        self.out_channels: list[int] = channels
        # torchvision's name for the full-size model with these groups (what a pretrained file must be)
        self.reference_name = "resnet50" if groups == 1 else f"resnext50_{groups}x{width_per_group}d"

    def forward(self, x: torch.Tensor, gates: Sequence[nn.Module] | None = None) -> list[torch.Tensor]:
        """The five stage outputs. `gates` (five modules, e.g. STS-Net's channel attention) are
        applied to each stage output, and the gated tensor is what the next stage sees."""
        e1 = _gated(gates, 0, self.relu(self.bn1(self.conv1(x))))
        e2 = _gated(gates, 1, self.layer1(self.maxpool(e1)))
        e3 = _gated(gates, 2, self.layer2(e2))
        e4 = _gated(gates, 3, self.layer3(e3))
        e5 = _gated(gates, 4, self.layer4(e4))
        return [e1, e2, e3, e4, e5]


def _gated(gates: Sequence[nn.Module] | None, index: int, x: torch.Tensor) -> torch.Tensor:
    return x if gates is None else gates[index](x)
