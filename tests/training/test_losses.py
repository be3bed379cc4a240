"""The recipe's loss from nnU-Net's compound: ``ce`` must be plain cross-entropy."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from nnunetv2.training.loss.compound_losses import DC_and_CE_loss
from nnunetv2.training.loss.deep_supervision import DeepSupervisionWrapper
from nnunetv2.training.loss.dice import MemoryEfficientSoftDiceLoss

from svseg.training.losses import apply_recipe_loss


def _nnunet_default() -> DC_and_CE_loss:
    return DC_and_CE_loss({"batch_dice": False, "smooth": 1e-5, "do_bg": False, "ddp": False}, {},
                          weight_ce=1, weight_dice=1, ignore_label=None, dice_class=MemoryEfficientSoftDiceLoss)


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 8, 8, generator=generator)
    target = torch.randint(0, 3, (2, 1, 8, 8), generator=generator).float()
    return logits, target


def test_ce_is_plain_cross_entropy() -> None:
    logits, target = _batch()
    loss = apply_recipe_loss(_nnunet_default(), "ce")
    assert loss(logits, target).item() == pytest.approx(F.cross_entropy(logits, target[:, 0].long()).item())


def test_dice_ce_is_nnunets_default_unchanged() -> None:
    logits, target = _batch()
    reference = _nnunet_default()(logits, target)
    assert apply_recipe_loss(_nnunet_default(), "dice_ce")(logits, target).item() == pytest.approx(reference.item())
    assert reference.item() != pytest.approx(F.cross_entropy(logits, target[:, 0].long()).item())


def test_ce_inside_deep_supervision_wrapper() -> None:
    logits, target = _batch()
    wrapped = apply_recipe_loss(DeepSupervisionWrapper(_nnunet_default(), [1.0, 0.0]), "ce")
    value = wrapped([logits, logits[:, :, ::2, ::2]], [target, target[:, :, ::2, ::2]])
    assert value.item() == pytest.approx(F.cross_entropy(logits, target[:, 0].long()).item())


def test_unknown_loss_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown loss"):
        apply_recipe_loss(_nnunet_default(), "focal")
