"""L-Net's losses (L-SNet paper §2.5, eq. 5): heatmap focal + 0.2 x Dice, DIoU on boxes at positive pixels.

- Focal loss on the Gaussian heatmap in the penalty-reduced form of CornerNet/CenterNet (the
  paper's refs [12, 13] for its heatmap): ``-(1 - p)^a log p`` at keypoints (target 1),
  ``-(1 - y)^b p^a log(1 - p)`` elsewhere, a = 2, b = 4, summed and divided by the number of
  keypoints (at least 1).
- Soft Dice between the heatmap probability and the Gaussian target, over the batch, per class,
  averaged over classes, weighted by 0.2.
- DIoU (Zheng et al., AAAI 2020): ``1 - IoU + rho^2 / c^2`` between the box a positive pixel
  predicts (its centre minus/plus its distances) and its object's box, rho the distance between
  the box centres and c the diagonal of the smallest box enclosing both; mean over positives.

S-Net's loss (eq. 6) is the trainer's segmentation loss on the RoIs (svseg.training.lsnet_trainer).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from svseg.networks.lsnet.targets import LNetTargets

FOCAL_ALPHA = 2.0
FOCAL_BETA = 4.0
DICE_WEIGHT = 0.2


def heatmap_focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = FOCAL_ALPHA,
                       beta: float = FOCAL_BETA) -> torch.Tensor:
    """Penalty-reduced focal loss of (B, K, H, W) heatmap logits against a Gaussian target."""
    logits, target = logits.float(), target.float()
    probability = torch.sigmoid(logits)
    keypoint = target >= 1
    positive = (1 - probability) ** alpha * F.logsigmoid(logits)
    negative = (1 - target) ** beta * probability**alpha * F.logsigmoid(-logits)
    total = torch.where(keypoint, positive, negative).sum()
    return -total / keypoint.sum().clamp_min(1)


def heatmap_dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 - soft Dice per heatmap class (over batch and pixels), averaged over classes."""
    probability = torch.sigmoid(logits.float())
    axes = (0, 2, 3)
    overlap = (probability * target).sum(axes)
    dice = (2 * overlap + smooth) / (probability.sum(axes) + target.sum(axes) + smooth)
    return (1 - dice).mean()


def diou_loss(predicted: torch.Tensor, target: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Mean DIoU loss of (N, 4) boxes (x0, y0, x1, y1); 0 for N = 0 (still connected to `predicted`)."""
    if predicted.shape[0] == 0:
        return predicted.sum() * 0
    predicted, target = predicted.float(), target.float()
    width = (torch.minimum(predicted[:, 2], target[:, 2]) - torch.maximum(predicted[:, 0], target[:, 0])).clamp_min(0)
    height = (torch.minimum(predicted[:, 3], target[:, 3]) - torch.maximum(predicted[:, 1], target[:, 1])).clamp_min(0)
    intersection = width * height
    area_p = (predicted[:, 2] - predicted[:, 0]) * (predicted[:, 3] - predicted[:, 1])
    area_t = (target[:, 2] - target[:, 0]) * (target[:, 3] - target[:, 1])
    iou = intersection / (area_p + area_t - intersection + eps)
    centre_p = (predicted[:, :2] + predicted[:, 2:]) / 2
    centre_t = (target[:, :2] + target[:, 2:]) / 2
    rho2 = ((centre_p - centre_t) ** 2).sum(1)
    enclosing = torch.maximum(predicted[:, 2:], target[:, 2:]) - torch.minimum(predicted[:, :2], target[:, :2])
    c2 = (enclosing**2).sum(1) + eps
    return (1 - iou + rho2 / c2).mean()


def positive_boxes(distances: torch.Tensor, targets: LNetTargets) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted and true (N, 4) boxes at the positive pixels of (B, 4, H, W) distances."""
    b, row, col = targets.positive.nonzero(as_tuple=True)
    left, top, right, bottom = distances[b, :, row, col].float().unbind(1)
    x, y = col.float() + 0.5, row.float() + 0.5
    predicted = torch.stack([x - left, y - top, x + right, y + bottom], 1)
    return predicted, targets.objects.boxes[targets.owner[b, row, col]]


def lnet_loss(heatmap_logits: torch.Tensor, distances: torch.Tensor, targets: LNetTargets) -> torch.Tensor:
    """Eq. 5: focal + 0.2 x Dice on the heatmap plus DIoU on the boxes at positive pixels."""
    heatmap = heatmap_focal_loss(heatmap_logits, targets.heatmap) + DICE_WEIGHT * heatmap_dice_loss(
        heatmap_logits, targets.heatmap)
    return heatmap + diou_loss(*positive_boxes(distances, targets))
