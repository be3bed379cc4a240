"""The loss the recipe names, derived from nnU-Net's own compound loss.

``dice_ce`` is nnU-Net's default unchanged (soft Dice without background + cross-entropy, 1:1;
Dice + BCE for region labels). ``ce`` is the official SvANet loss, plain cross-entropy
(docs/design/training-recipe.md); svseg obtains it from the same nnU-Net object with the Dice
weight set to 0, so the ignore label, region labels and the deep-supervision wrapper behave
exactly as in nnU-Net, and nothing of nnU-Net's loss code is repeated here. With the Dice weight
at 0 nnU-Net's softmax compound skips the Dice term entirely; the region (sigmoid) compound still
computes it but multiplies it by 0, leaving binary cross-entropy.

``structure`` is M2SNet's training loss, F3Net's boundary-weighted BCE + IoU
(svseg.training.structure_loss), on every output channel (background included, so nnU-Net's
argmax compares trained logits). ``dice_ce_structure`` adds the structure term over the foreground
channels to nnU-Net's Dice + CE (peer-networks.md §1.4 (c)): Dice + CE keep nnU-Net's robust default
and train the background channel; the structure term adds the boundary emphasis. Both take the
ignore label and region setting from nnU-Net's loss and go inside its deep-supervision wrapper,
which replaces only the wrapped loss.
"""

from __future__ import annotations

import torch
from nnunetv2.training.loss.compound_losses import DC_and_BCE_loss, DC_and_CE_loss
from nnunetv2.training.loss.deep_supervision import DeepSupervisionWrapper
from torch import nn

from svseg.training.structure_loss import StructureLoss

LOSSES = ("ce", "dice_ce", "structure", "dice_ce_structure")


def compound_loss(loss: nn.Module) -> nn.Module:
    """The Dice/CE compound inside nnU-Net's deep-supervision wrapper (or `loss` itself)."""
    return loss.loss if isinstance(loss, DeepSupervisionWrapper) else loss


class WithStructure(nn.Module):
    """nnU-Net's compound loss plus the structure loss, 1:1."""

    def __init__(self, base: nn.Module, structure: StructureLoss) -> None:
        super().__init__()
        self.base = base
        self.structure = structure

    def forward(self, net_output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.base(net_output, target) + self.structure(net_output, target)


def structure_loss_for(inner: nn.Module, include_background: bool) -> StructureLoss:
    """A structure loss with the label handling (ignore label, regions) of nnU-Net's compound `inner`."""
    if isinstance(inner, DC_and_CE_loss):
        return StructureLoss(ignore_label=inner.ignore_label, include_background=include_background)
    if isinstance(inner, DC_and_BCE_loss):
        return StructureLoss(regions=True, region_ignore_channel=inner.use_ignore_label)
    raise TypeError(f"cannot derive the structure loss from {type(inner).__name__}")


def _replace_compound(nnunet_loss: nn.Module, new: nn.Module) -> nn.Module:
    if isinstance(nnunet_loss, DeepSupervisionWrapper):
        nnunet_loss.loss = new
        return nnunet_loss
    return new


def apply_recipe_loss(nnunet_loss: nn.Module, name: str) -> nn.Module:
    """Turn nnU-Net's default loss into the recipe's loss `name` and return it."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; known: {', '.join(LOSSES)}")
    inner = compound_loss(nnunet_loss)
    if name == "ce":
        if not hasattr(inner, "weight_dice"):
            raise TypeError(f"cannot derive cross-entropy from {type(inner).__name__}")
        inner.weight_dice = 0
    elif name == "structure":
        return _replace_compound(nnunet_loss, structure_loss_for(inner, include_background=True))
    elif name == "dice_ce_structure":
        return _replace_compound(nnunet_loss, WithStructure(inner, structure_loss_for(inner, False)))
    return nnunet_loss
