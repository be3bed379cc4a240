"""F3Net's "structure loss": boundary-weighted BCE + boundary-weighted IoU, per class.

Wei et al., "F3Net: Fusion, Feedback and Focus for Salient Object Detection" (AAAI 2020), the loss
M2SNet trains with (docs/design/peer-networks.md §1.2). For each image and class channel, with
g the 0/1 target mask and p = sigmoid(logit):

    w    = 1 + 5 |avgpool31(g) - g|                (31 x 31 box, stride 1, zero padding counted)
    wBCE = sum(w * BCE(logit, g)) / sum(w)
    wIoU = 1 - (sum(w p g) + 1) / (sum(w (p + g)) - sum(w p g) + 1)

and the loss is the mean of wBCE + wIoU over images and classes. The weight is large within
15 pixels of a boundary, so for objects smaller than the window nearly all of the object counts
five-fold or more: what small-object segmentation needs.

The official code passes the legacy `reduce='none'` to its BCE, which makes it return the plain
mean, so only its IoU term is weighted. svseg weights both terms by default (the documented
intent); `weighted_bce=False` reproduces the official behaviour.

Targets follow nnU-Net's conventions. Label maps (B, 1, H, W) are one-hot encoded over the
network's channels; pixels with the ignore label count in neither term. Region targets
(B, R, H, W, already one-hot, nnU-Net's region training) are used as they are, with nnU-Net's
ignore channel last. The background channel of label maps is included by default: every output
channel then gets a one-vs-rest target, so the argmax nnU-Net takes at inference compares trained
logits (with the background excluded, the background logit would never be trained).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

WINDOW = 31
BOUNDARY_GAIN = 5.0


def boundary_weight(mask: torch.Tensor, window: int = WINDOW, gain: float = BOUNDARY_GAIN) -> torch.Tensor:
    """w = 1 + gain * |avgpool(mask) - mask| for (B, C, H, W) masks (zero padding counted, as in F3Net)."""
    pooled = F.avg_pool2d(mask, window, stride=1, padding=window // 2, count_include_pad=True)
    return 1.0 + gain * (pooled - mask).abs()


class StructureLoss(nn.Module):
    """F3Net structure loss on (B, C, H, W) logits against nnU-Net targets; returns a scalar.

    `ignore_label`: label-map value excluded from the loss (nnU-Net's ignore label), or None.
    `regions`: targets are one-hot regions (B, R[+1], H, W) rather than a label map.
    `region_ignore_channel`: with regions, the last target channel marks ignored pixels.
    `include_background`: use channel 0 of label maps too (default True, see the module docstring).
    `weighted_bce`: weight the BCE by w (default); False reproduces the official code's plain BCE.
    """

    def __init__(
        self,
        ignore_label: int | None = None,
        regions: bool = False,
        region_ignore_channel: bool = False,
        include_background: bool = True,
        weighted_bce: bool = True,
    ) -> None:
        super().__init__()
        self.ignore_label = ignore_label
        self.regions = regions
        self.region_ignore_channel = region_ignore_channel
        self.include_background = include_background
        self.weighted_bce = weighted_bce

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if logits.ndim != 4:
            raise ValueError(f"structure loss is 2D: expected (B, C, H, W) logits, got {tuple(logits.shape)}")
        logits = logits.float()
        masks, valid = self._masks(logits, target)
        if not self.regions and not self.include_background:
            logits, masks = logits[:, 1:], masks[:, 1:]
        weight = boundary_weight(masks) * valid
        bce = F.binary_cross_entropy_with_logits(logits, masks, reduction="none") * valid
        dims = (2, 3)
        if self.weighted_bce:
            wbce = (weight * bce).sum(dims) / weight.sum(dims).clamp_min(1e-8)
        else:
            wbce = bce.sum(dims) / valid.expand_as(bce).sum(dims).clamp_min(1e-8)
        prob = torch.sigmoid(logits)
        inter = (weight * prob * masks).sum(dims)
        union = (weight * (prob + masks)).sum(dims)
        wiou = 1.0 - (inter + 1.0) / (union - inter + 1.0)
        return (wbce + wiou).mean()

    def _masks(self, logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """0/1 masks shaped like `logits`, and the (B, 1, H, W) 0/1 map of pixels that count."""
        if self.regions:
            if self.region_ignore_channel:
                valid = 1.0 - target[:, -1:].float()
                target = target[:, :-1]
            else:
                valid = torch.ones_like(target[:, :1], dtype=torch.float32)
            return target.float(), valid
        labels = target[:, 0].long()
        if self.ignore_label is not None:
            keep = labels != self.ignore_label
            labels = torch.where(keep, labels, 0)
            valid = keep[:, None].float()
        else:
            valid = torch.ones_like(target[:, :1], dtype=torch.float32)
        masks = F.one_hot(labels, logits.shape[1]).permute(0, 3, 1, 2).float()
        return masks * valid, valid
