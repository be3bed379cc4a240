"""Res2Net-50 v1b (26w x 4s) encoder returning the five taps M2SNet uses.

Gao et al., "Res2Net: A New Multi-scale Backbone Architecture" (TPAMI 2021), in the "v1b" form
M2SNet's code uses (docs/design/peer-networks.md §1.1):

- deep stem: three 3x3 convs 3 -> 32 -> 32 -> 64 (the first with stride 2), BN + ReLU, then a
  3x3 stride-2 max-pool;
- Bottle2neck blocks, stages [3, 4, 6, 3]: a 1x1 conv to `scale` groups of `width` channels, a
  hierarchical chain of 3x3 convs over the groups (each group after the first also receives the
  previous group's output), concatenation, 1x1 expansion x4;
- v1b shortcuts: average pooling then a 1x1 conv where the shape changes (no strided 1x1 conv,
  which would drop three quarters of the input).

The attribute names follow the published Res2Net code (`conv1.0`, `bn1`, `layer1.0.convs.0`,
`layer2.0.downsample.1`, ...) so its ImageNet state dict loads by name; see
:func:`load_res2net_weights` (local file only, never downloaded).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from svseg.networks.pretrained import load_fitting_state, read_state_dict

RES2NET50_DEPTHS = (3, 4, 6, 3)
EXPANSION = 4
_FIRST_CONV = "conv1.0.weight"


class Bottle2neck(nn.Module):
    """Res2Net bottleneck: (B, Cin, H, W) -> (B, 4 * planes, H / stride, W / stride).

    `first` marks the first block of a stage: its groups do not chain (every group is convolved
    on its own, with the stride) and the untouched last group is average-pooled to the new size.
    """

    def __init__(
        self, in_channels: int, planes: int, stride: int = 1, base_width: int = 26, scale: int = 4, first: bool = False
    ) -> None:
        super().__init__()
        if scale < 2:
            raise ValueError(f"Bottle2neck needs scale >= 2, got {scale}")
        self.width = planes * base_width // 64
        self.first = first
        out_channels = planes * EXPANSION
        self.conv1 = nn.Conv2d(in_channels, self.width * scale, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(self.width * scale)
        self.convs = nn.ModuleList(
            nn.Conv2d(self.width, self.width, 3, stride=stride, padding=1, bias=False) for _ in range(scale - 1)
        )
        self.bns = nn.ModuleList(nn.BatchNorm2d(self.width) for _ in range(scale - 1))
        self.pool = nn.AvgPool2d(3, stride=stride, padding=1) if first else nn.Identity()
        self.conv3 = nn.Conv2d(self.width * scale, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.AvgPool2d(stride, stride=stride, ceil_mode=True, count_include_pad=False),
                nn.Conv2d(in_channels, out_channels, 1, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        groups = torch.split(self.relu(self.bn1(self.conv1(x))), self.width, dim=1)
        outputs: list[torch.Tensor] = []
        for index, (conv, bn) in enumerate(zip(self.convs, self.bns, strict=True)):
            group = groups[index] if self.first or index == 0 else groups[index] + outputs[-1]
            outputs.append(self.relu(bn(conv(group))))
        outputs.append(self.pool(groups[-1]))
        out = self.bn3(self.conv3(torch.cat(outputs, dim=1)))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Res2NetEncoder(nn.Module):
    """(B, Cin, H, W) -> [f1 (/4, 64), f2 (/4, 256), f3 (/8, 512), f4 (/16, 1024), f5 (/32, 2048)].

    f1 is the stem output after the max-pool, f2..f5 the four stage outputs (M2SNet's taps).
    """

    def __init__(
        self,
        input_channels: int = 3,
        depths: Sequence[int] = RES2NET50_DEPTHS,
        base_width: int = 26,
        scale: int = 4,
    ) -> None:
        super().__init__()
        if len(depths) != 4 or any(int(d) < 1 for d in depths):
            raise ValueError(f"Res2Net encoder needs 4 positive stage depths, got {list(depths)}")
        self.conv1 = nn.Sequential(
            nn.Conv2d(input_channels, 32, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, 3, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, 3, padding=1, bias=False),
        )
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_channels = 64
        self.out_channels = [64]
        for index, depth in enumerate(depths):
            planes = 64 * 2**index
            blocks = [
                Bottle2neck(
                    in_channels if block == 0 else planes * EXPANSION,
                    planes,
                    stride=1 if index == 0 or block > 0 else 2,
                    base_width=base_width,
                    scale=scale,
                    first=block == 0,
                )
                for block in range(int(depth))
            ]
            self.add_module(f"layer{index + 1}", nn.Sequential(*blocks))
            in_channels = planes * EXPANSION
            self.out_channels.append(in_channels)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps = [self.maxpool(self.relu(self.bn1(self.conv1(x))))]
        for index in range(1, 5):
            taps.append(getattr(self, f"layer{index}")(taps[-1]))
        return taps


def load_res2net_weights(encoder: Res2NetEncoder, path: Path | str) -> None:
    """Copy a Res2Net-50 v1b state dict (published key format) from local file `path` into `encoder`.

    The classifier `fc.*` is ignored; an RGB first conv is adapted to the encoder's input channels
    (svseg.networks.pretrained.adapt_first_conv). Anything else that does not fit raises SvsegError
    naming the file.
    """
    state = {k: v for k, v in read_state_dict(path).items() if not k.startswith("fc.")}
    load_fitting_state(
        encoder, state, path, _FIRST_CONV,
        "the Res2Net-50 v1b 26w x 4s encoder",
        "expected the published res2net50_v1b_26w_4s state dict",
    )
