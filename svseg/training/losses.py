"""The loss the recipe names, derived from nnU-Net's own compound loss.

``dice_ce`` is nnU-Net's default unchanged (soft Dice without background + cross-entropy, 1:1;
Dice + BCE for region labels). ``ce`` is the official SvANet loss, plain cross-entropy
(shared/design/svanet-training.md); svseg obtains it from the same nnU-Net object with the Dice
weight set to 0, so the ignore label, region labels and the deep-supervision wrapper behave
exactly as in nnU-Net, and nothing of nnU-Net's loss code is repeated here. With the Dice weight
at 0 nnU-Net's softmax compound skips the Dice term entirely; the region (sigmoid) compound still
computes it but multiplies it by 0, leaving binary cross-entropy.
"""

from __future__ import annotations

from nnunetv2.training.loss.deep_supervision import DeepSupervisionWrapper
from torch import nn

LOSSES = ("ce", "dice_ce")


def compound_loss(loss: nn.Module) -> nn.Module:
    """The Dice/CE compound inside nnU-Net's deep-supervision wrapper (or `loss` itself)."""
    return loss.loss if isinstance(loss, DeepSupervisionWrapper) else loss


def apply_recipe_loss(nnunet_loss: nn.Module, name: str) -> nn.Module:
    """Turn nnU-Net's default loss into the recipe's loss `name` and return it."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; known: {', '.join(LOSSES)}")
    if name == "ce":
        inner = compound_loss(nnunet_loss)
        if not hasattr(inner, "weight_dice"):
            raise TypeError(f"cannot derive cross-entropy from {type(inner).__name__}")
        inner.weight_dice = 0
    return nnunet_loss
