"""L-Net (L-SNet paper §2.1): an encoder-decoder with a keypoint heatmap head and a box regression head.

The encoder-decoder is nnU-Net's PlainConvUNet with the topology the ``unet`` recipe plans for the
patch (optionally narrowed by ``width``); its 1 x 1 output layer gives ``features`` channels at
full resolution instead of class logits, and the two heads read them:

- keypoint head: 3 x 3 conv, LeakyReLU, 1 x 1 conv -> one heatmap logit per foreground class; the
  last bias starts at log(p / (1 - p)) with p = 0.01 (the focal-loss prior), so the first steps
  are not swamped by the background;
- box head, as the paper: two 3 x 3 convs then one 13 x 13 conv -> (l, t, r, b), made positive by
  ``softplus(.) * box_scale`` pixels.

The paper's L-Net decodes to 1/4 of the input and maps positions back with centre-aligned
sampling; here the decoder runs to full resolution, so keypoints are pixel-exact and tiny objects
keep their own heatmap peak.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from dynamic_network_architectures.architectures.unet import PlainConvUNet
from dynamic_network_architectures.initialization.weight_init import InitWeights_He
from torch import nn

from svseg.errors import SvsegError
from svseg.networks.nnunet_unet import REQUIRES_IMPORT, unet
from svseg.networks.registry import torch_op_class

KEYPOINT_PRIOR = 0.01
BOX_KERNEL = 13


def lnet_backbone_kwargs(patch_size: Sequence[int], spacing: Sequence[float], width: float = 1.0) -> dict[str, Any]:
    """The ``unet`` recipe's PlainConvUNet kwargs for this patch, every stage's features times `width`."""
    if not width > 0:
        raise SvsegError(f"L-Net width must be > 0, got {width}")
    if len(patch_size) != 2:
        raise SvsegError(f"L-SNet is 2D; got patch size {list(patch_size)}")
    kwargs = unet(patch_size=patch_size, spacing=spacing)
    kwargs["features_per_stage"] = [max(4, round(f * width)) for f in kwargs["features_per_stage"]]
    return kwargs


def _resolve_ops(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Turn the op names of a plans block into torch.nn classes by the registry's table (nothing is imported)."""
    resolved = dict(kwargs)
    for key in REQUIRES_IMPORT:
        if resolved.get(key) is not None:
            resolved[key] = torch_op_class(key, resolved[key], "L-Net backbone")
    return resolved


class KeypointHead(nn.Module):
    """(B, F, H, W) features -> (B, K, H, W) heatmap logits."""

    def __init__(self, features: int, num_keypoint_classes: int) -> None:
        super().__init__()
        self.hidden = nn.Conv2d(features, features, 3, padding=1)
        self.act = nn.LeakyReLU(0.01, inplace=True)
        self.out = nn.Conv2d(features, num_keypoint_classes, 1)
        nn.init.constant_(self.out.bias, math.log(KEYPOINT_PRIOR / (1 - KEYPOINT_PRIOR)))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.out(self.act(self.hidden(features)))


class BoxHead(nn.Module):
    """(B, F, H, W) features -> (B, 4, H, W) distances (l, t, r, b) in pixels, all positive."""

    def __init__(self, features: int, box_scale: float) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(features, features, 3, padding=1),
            nn.LeakyReLU(0.01, inplace=True),
            nn.Conv2d(features, features, 3, padding=1),
            nn.LeakyReLU(0.01, inplace=True),
            nn.Conv2d(features, 4, BOX_KERNEL, padding=BOX_KERNEL // 2),
        )
        self.box_scale = float(box_scale)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.softplus(self.convs(features)) * self.box_scale


class LNet(nn.Module):
    """(B, C, H, W) -> heatmap logits (B, K, H, W) and box distances (B, 4, H, W)."""

    def __init__(self, input_channels: int, num_keypoint_classes: int, backbone: Mapping[str, Any],
                 box_scale: float) -> None:
        super().__init__()
        kwargs = _resolve_ops(backbone)
        features = int(kwargs["features_per_stage"][0])
        self.backbone = PlainConvUNet(input_channels=input_channels, num_classes=features, deep_supervision=False,
                                      **kwargs)
        self.backbone.apply(InitWeights_He(1e-2))  # what nnU-Net's PlainConvUNet.initialize does
        self.keypoint_head = KeypointHead(features, num_keypoint_classes)
        self.box_head = BoxHead(features, box_scale)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = F.leaky_relu(self.backbone(x), 0.01)
        return self.keypoint_head(features), self.box_head(features)
