"""Cross-scale guidance: strided conv paths from finer to coarser branches, gated by SvAttn.

Official `CSLayer` and the cascaded fusion in `BaseSegHead.forwardFMG` (`seg_feature_guide == 2`;
svanet.md §7, paper §III-B). For every pair of branches i < j a path of j - i stride-2 blocks maps
branch i to branch j's shape; the result is added to branch j after a per-sample DropPath. The
loop runs from fine to coarse, so a branch passes on guidance it has itself received.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from svseg.networks.blocks.conv_norm_act import OFFICIAL_BN_EPS, ConvNormAct
from svseg.networks.blocks.drop_path import DropPath
from svseg.networks.blocks.svattn import ScaleVariantAttention


class StridedConvBlock(nn.Module):
    """3x3 stride-2 conv BN ReLU, then 1x1 conv BN ReLU: (B, Cin, H, W) -> (B, Cout, H/2, W/2).

    The official `BasicBlock` of `fgModules.py`; also the link decoder's fusion block with stride 1.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 2, bn_eps: float = OFFICIAL_BN_EPS) -> None:
        super().__init__()
        self.conv1 = ConvNormAct(in_channels, out_channels, 3, stride=stride, bn_eps=bn_eps)
        self.conv2 = ConvNormAct(out_channels, out_channels, 1, bn_eps=bn_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x))


class CrossScaleLayer(nn.Module):
    """One guidance path: `steps` strided blocks C_i -> ... -> C_j, optionally gated by SvAttn.

    (B, C_i, H, W) -> (B, C_j, H / 2^steps, W / 2^steps). Blocks 1..steps-1 keep C_i channels, the
    last maps to C_j. SvAttn sees the input and every block output (steps + 1 scales).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        steps: int,
        svattn: bool = True,
        svattn_divisor: int = 4,
        bn_eps: float = OFFICIAL_BN_EPS,
    ) -> None:
        super().__init__()
        widths = [in_channels] * steps + [out_channels]
        self.steps = nn.ModuleList(StridedConvBlock(widths[s], widths[s + 1], bn_eps=bn_eps) for s in range(steps))
        self.svattn = ScaleVariantAttention(widths, out_channels, svattn_divisor) if svattn else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for step in self.steps:
            feats.append(step(feats[-1]))
        return feats[-1] if self.svattn is None else self.svattn(feats)


class CrossScaleGuidance(nn.Module):
    """Cascaded additive guidance over branches B1..Bn (finest first), n(n-1)/2 paths.

    forward([B1..Bn]) -> [B1', ..., Bn'] with Bj' = Bj + sum_{i<j} DropPath_i(CSLayer_ij(Bi')), the
    sources taken after their own update. DropPath p = drop_path_rate * (i - 1) / 4 for the 1-based
    source index i (official: 0, 0.05, 0.1 for the default rate 0.2).
    """

    def __init__(
        self,
        channels: Sequence[int],
        svattn: bool = True,
        svattn_divisor: int = 4,
        drop_path_rate: float = 0.2,
        bn_eps: float = OFFICIAL_BN_EPS,
    ) -> None:
        super().__init__()
        self.pairs = [(i, j) for i in range(len(channels)) for j in range(i + 1, len(channels))]
        self.paths = nn.ModuleDict()
        self.drops = nn.ModuleDict()
        for i, j in self.pairs:
            key = self.key(i, j)
            self.paths[key] = CrossScaleLayer(channels[i], channels[j], j - i, svattn, svattn_divisor, bn_eps)
            self.drops[key] = DropPath(drop_path_rate * i / 4)

    @staticmethod
    def key(i: int, j: int) -> str:
        """Module name of the path from branch i to branch j (0-based in, 1-based out: `r1_2`)."""
        return f"r{i + 1}_{j + 1}"

    def forward(self, branches: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        out = list(branches)
        for i, j in self.pairs:
            key = self.key(i, j)
            out[j] = out[j] + self.drops[key](self.paths[key](out[i]))
        return out
