"""ResNet-50 (v1.5) encoder that returns all five stage outputs.

Official `ResNet` / `Bottleneck` (`lib/model/classification/netResNet.py`; svanet.md §3), a
re-implementation of torchvision's ResNet-50: the stride sits on the 3x3 conv, projection
shortcuts where the shape changes, no dilation (output stride 32). The attribute names follow
torchvision (`conv1`, `bn1`, `layer1.0.downsample.0`, ...) rather than `ConvNormAct`, so an
ImageNet state dict in torchvision's key format loads by name (see svseg.networks.pretrained);
the official loader matches by position, which is fragile.

`width` scales every channel count (rounded to multiples of 8) and `depths` sets the blocks per
layer, for reduced variants such as svanet_tiny.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from svseg.networks.blocks.conv_norm_act import OFFICIAL_BN_EPS, make_divisible

RESNET50_DEPTHS = (3, 4, 6, 3)
EXPANSION = 4


class ResNetBottleneck(nn.Module):
    """1x1 reduce, 3x3 (stride), 1x1 expand x4, each with BN; projection shortcut when needed; ReLU."""

    def __init__(self, in_channels: int, width: int, stride: int = 1, bn_eps: float = OFFICIAL_BN_EPS) -> None:
        super().__init__()
        out_channels = width * EXPANSION
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width, eps=bn_eps)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
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
    """

    def __init__(
        self,
        input_channels: int = 3,
        depths: Sequence[int] = RESNET50_DEPTHS,
        width: float = 1.0,
        bn_eps: float = OFFICIAL_BN_EPS,
    ) -> None:
        super().__init__()
        if len(depths) != 4 or any(int(d) < 1 for d in depths):
            raise ValueError(f"ResNet encoder needs 4 positive layer depths, got {list(depths)}")
        stem = make_divisible(64 * width)
        self.conv1 = nn.Conv2d(input_channels, stem, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem, eps=bn_eps)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        channels = [stem]
        in_channels = stem
        for index, depth in enumerate(depths):
            mid = make_divisible(64 * 2**index * width)
            blocks = []
            for block in range(int(depth)):
                stride = 2 if block == 0 and index > 0 else 1
                blocks.append(ResNetBottleneck(in_channels, mid, stride, bn_eps))
                in_channels = mid * EXPANSION
            self.add_module(f"layer{index + 1}", nn.Sequential(*blocks))
            channels.append(in_channels)
        self.out_channels: list[int] = channels

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        e1 = self.relu(self.bn1(self.conv1(x)))
        e2 = self.layer1(self.maxpool(e1))
        e3 = self.layer2(e2)
        e4 = self.layer3(e3)
        e5 = self.layer4(e4)
        return [e1, e2, e3, e4, e5]
