"""MCBottleneck: a residual conv bottleneck with a Monte Carlo attention gate inside.

Official `FGBottleneck` minus its trailing AssemFormer (`fgModules.py`; svanet.md §4, paper
Fig. 2 "MCBottleneck"). The AssemFormer is composed separately by the network so that the
paper's ablations (bottleneck without MCAttn, branch without AssemFormer) are plain switches.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from svseg.networks.blocks.conv_norm_act import OFFICIAL_BN_EPS, ConvNormAct
from svseg.networks.blocks.mcattn import MonteCarloAttention, gate_hidden_channels


class MCBottleneck(nn.Module):
    """x + conv1x1(gate(conv3x3(conv1x1(x)))), widening C -> `expansion` * C inside.

    (B, C, H, W) -> (B, C, H, W). Layers: 1x1 C->2C BN ReLU, 3x3 2C->2C BN ReLU, MCAttn on 2C
    (or nothing with `mcattn=False`, the paper's "MCBottleneck without attention"), 1x1 2C->C BN
    without activation, identity shortcut and no activation after the add (official).
    """

    def __init__(
        self,
        channels: int,
        expansion: int = 2,
        mcattn: bool = True,
        pool_sizes: Sequence[int] = (1, 2, 3),
        shuffle: bool = True,
        gate_min_hidden: int = 32,
        bn_eps: float = OFFICIAL_BN_EPS,
    ) -> None:
        super().__init__()
        hidden = channels * expansion
        self.expand = ConvNormAct(channels, hidden, 1, bn_eps=bn_eps)
        self.spatial = ConvNormAct(hidden, hidden, 3, bn_eps=bn_eps)
        self.gate: nn.Module = (
            MonteCarloAttention(hidden, gate_hidden_channels(hidden, gate_min_hidden), pool_sizes, shuffle)
            if mcattn
            else nn.Identity()
        )
        self.project = ConvNormAct(hidden, channels, 1, act=None, bn_eps=bn_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.project(self.gate(self.spatial(self.expand(x))))
