"""Full-resolution detail head: corrects upsampled logits with features computed from the input itself.

SvANet's head works at stride 2 and resizes its logits bilinearly to the input size, so a boundary
can only be placed to within about a pixel of the stride-2 grid. For nuclei 10-30 px across that
is a few percent of each object's Dice. This head (svseg's addition, not in the paper: off in
``svanet``) reads the input through two 3x3 conv-BN-ReLU layers at full resolution, concatenates
the upsampled logits and predicts a correction with one 3x3 conv. The correction conv starts at
zero, so a fresh network outputs exactly the coarse logits and learns the correction from there.
"""

from __future__ import annotations

import torch
from torch import nn

from svseg.networks.blocks.conv_norm_act import ConvNormAct


class DetailHead(nn.Module):
    """forward(image (B, Cin, H, W), logits (B, K, H, W)) -> logits + correction, same shape."""

    def __init__(self, input_channels: int, num_classes: int, channels: int, bn_eps: float) -> None:
        super().__init__()
        self.features = nn.Sequential(
            ConvNormAct(input_channels, channels, 3, bn_eps=bn_eps),
            ConvNormAct(channels, channels, 3, bn_eps=bn_eps),
        )
        self.correction = nn.Conv2d(channels + num_classes, num_classes, 3, padding=1)
        nn.init.zeros_(self.correction.weight)
        nn.init.zeros_(self.correction.bias)

    def forward(self, image: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        return logits + self.correction(torch.cat([self.features(image), logits], dim=1))
