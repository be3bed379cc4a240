"""L-Net's targets and losses on hand-checked examples."""

from __future__ import annotations

import math

import pytest
import torch

from svseg.networks.lsnet.targets import find_objects, lnet_targets
from svseg.training.lsnet_losses import diou_loss, heatmap_dice_loss, heatmap_focal_loss, lnet_loss, positive_boxes


def _labels() -> torch.Tensor:
    labels = torch.zeros(2, 1, 32, 32, dtype=torch.long)
    labels[0, 0, 20:23, 10:15] = 1  # rows 20-22, columns 10-14: box (10, 20, 15, 23), keypoint (12, 21)
    labels[0, 0, 2:4, 2:4] = 2  # class 2: box (2, 2, 4, 4), keypoint (3, 3)
    labels[1, 0, 5, 5] = 1  # one pixel: box (5, 5, 6, 6), keypoint (5, 5)
    labels[1, 0, 6, 6] = 1  # touches it diagonally: same 8-connected object -> box (5, 5, 7, 7)
    return labels


def test_objects_are_8_connected_components_per_class() -> None:
    objects = find_objects(_labels()[:, 0].numpy(), 3)
    found = sorted(zip(objects.batch.tolist(), objects.classes.tolist(), objects.boxes.tolist(), strict=True))
    assert found == [(0, 1, [10, 20, 15, 23]), (0, 2, [2, 2, 4, 4]), (1, 1, [5, 5, 7, 7])]
    assert sorted(map(tuple, objects.keypoints.tolist())) == [(3, 3), (6, 6), (12, 21)]


def test_heatmap_is_a_gaussian_at_each_keypoint_in_its_class_channel() -> None:
    targets = lnet_targets(_labels(), 3, sigma=2.0, positive_threshold=0.5)
    heat = targets.heatmap
    assert heat.shape == (2, 2, 32, 32)
    assert heat[0, 0, 21, 12] == 1 and heat[0, 1, 3, 3] == 1 and heat[1, 0, 6, 6] == 1
    assert heat[0, 0, 21, 14].item() == pytest.approx(math.exp(-4 / 8))  # 2 px right of the keypoint
    assert heat[0, 0, 23, 13].item() == pytest.approx(math.exp(-5 / 8))
    assert heat[0, 1, 21, 12] == 0  # class 2's channel has nothing there
    assert heat[0, 0, 21, 18].item() == pytest.approx(math.exp(-36 / 8))  # 6 px = 3 sigma: still drawn
    assert heat[0, 0, 21, 19] == 0  # beyond 3 sigma
    # positives: Gaussian >= 0.5, i.e. within sqrt(8 ln 2) = 2.35 px: 21 pixels around each keypoint
    assert targets.positive[0].sum() == 42 and targets.positive[1].sum() == 21
    assert not targets.positive[0, 21, 15]  # 3 px away: exp(-9/8) = 0.32


def test_box_targets_are_the_owning_objects_boxes() -> None:
    targets = lnet_targets(_labels(), 3, sigma=2.0, positive_threshold=0.5)
    exact = torch.zeros(2, 4, 32, 32)
    yy, xx = torch.meshgrid(torch.arange(32) + 0.5, torch.arange(32) + 0.5, indexing="ij")
    for b, box in zip(targets.objects.batch.tolist(), targets.objects.boxes.tolist(), strict=True):
        own = targets.owner[b] == targets.objects.boxes.tolist().index(box)
        for channel, value in enumerate((xx - box[0], yy - box[1], box[2] - xx, box[3] - yy)):
            exact[b, channel][own] = value[own]
    predicted, wanted = positive_boxes(exact, targets)
    assert torch.allclose(predicted, wanted, atol=1e-5)
    assert diou_loss(predicted, wanted).item() == pytest.approx(0, abs=1e-5)
    assert wanted.tolist().count([10.0, 20.0, 15.0, 23.0]) == 21


def test_diou_by_hand() -> None:
    # IoU 1/7; centres (1, 1) and (2, 2): rho^2 = 2; enclosing box 3 x 3: c^2 = 18
    loss = diou_loss(torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([[1.0, 1.0, 3.0, 3.0]]))
    assert loss.item() == pytest.approx(1 - 1 / 7 + 2 / 18, rel=1e-5)


def test_focal_and_dice_by_hand() -> None:
    logits = torch.zeros(1, 1, 1, 2)  # p = 0.5 at both pixels
    target = torch.tensor([[[[1.0, 0.5]]]])
    keypoint = 0.5**2 * math.log(2)  # -(1 - p)^2 log p
    other = (1 - 0.5) ** 4 * 0.5**2 * math.log(2)  # -(1 - y)^4 p^2 log(1 - p)
    assert heatmap_focal_loss(logits, target).item() == pytest.approx(keypoint + other, rel=1e-5)
    # Dice: 2 * (0.5 + 0.25) + 1 over (1 + 1.5 + 1)
    assert heatmap_dice_loss(logits, target).item() == pytest.approx(1 - 2.5 / 3.5, rel=1e-5)


def test_lnet_loss_without_objects_is_finite_and_pushes_the_heatmap_down() -> None:
    targets = lnet_targets(torch.zeros(1, 1, 16, 16, dtype=torch.long), 2, sigma=2.0, positive_threshold=0.5)
    logits = torch.zeros(1, 1, 16, 16, requires_grad=True)
    distances = torch.ones(1, 4, 16, 16, requires_grad=True)
    loss = lnet_loss(logits, distances, targets)
    loss.backward()
    assert torch.isfinite(loss) and (logits.grad > 0).all()
