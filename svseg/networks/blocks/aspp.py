"""Atrous spatial pyramid pooling (DeepLabv3), as in SvANet's head.

Official `ASPP` (`heads/module/deeplabModules.py`; svanet.md §8): a 1x1 branch, three dilated 3x3
branches, an image-pooling branch, concatenation, 1x1 projection and Dropout2d. SvANet applies the
rates 12/24/36 at output stride 32, where on small maps the large-rate convs only see their centre
tap; they are kept as full 3x3 convs so that parameters and MACs match the official model.
STS-Net's DeepLabV3 (smp) uses the same layout with 256 channels and element-wise Dropout(0.5)
(`spatial_dropout=False`) instead of SvANet's channel-wise Dropout2d.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from svseg.networks.blocks.conv_norm_act import OFFICIAL_BN_EPS, ConvNormAct


class ASPP(nn.Module):
    """(B, Cin, H, W) -> (B, Cout, H, W) multi-rate context features.

    The pooling branch's BatchNorm sees one value per channel and sample, so training needs a
    batch of at least 2 (as in the official code and every DeepLabv3).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int = 512,
        rates: Sequence[int] = (12, 24, 36),
        dropout: float = 0.1,
        bn_eps: float = OFFICIAL_BN_EPS,
        spatial_dropout: bool = True,
    ) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            [ConvNormAct(in_channels, out_channels, 1, bn_eps=bn_eps)]
            + [ConvNormAct(in_channels, out_channels, 3, dilation=int(r), bn_eps=bn_eps) for r in rates]
        )
        self.pool_proj = ConvNormAct(in_channels, out_channels, 1, bn_eps=bn_eps)
        self.project = ConvNormAct(out_channels * (len(rates) + 2), out_channels, 1, bn_eps=bn_eps)
        self.dropout = nn.Dropout2d(dropout) if spatial_dropout else nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [branch(x) for branch in self.branches]
        pooled = self.pool_proj(x.mean((2, 3), keepdim=True))
        # Bilinear upsampling of a 1x1 map is a broadcast; expand avoids an interpolation kernel.
        outs.append(pooled.expand(-1, -1, x.shape[2], x.shape[3]))
        return self.dropout(self.project(torch.cat(outs, dim=1)))
