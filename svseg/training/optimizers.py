"""The optimizer the recipe names, with every setting taken from the recipe.

Two optimizers cover the two recipes svseg ships: AdamW as in the official SvANet code (weight
decay 0.03 on every parameter, BatchNorm and biases included, amsgrad off) and nnU-Net's SGD
(momentum 0.99, Nesterov). The parameter groups come from :func:`svseg.training.encoder.parameter_groups`
so the encoder can be held still while it is frozen.
"""

from __future__ import annotations

import torch
from torch import nn

from svseg.planning.plans import Recipe
from svseg.training.encoder import parameter_groups
from svseg.training.schedules import RecipeLRScheduler


def build_optimizer(network: nn.Module, recipe: Recipe) -> tuple[torch.optim.Optimizer, int | None]:
    """The recipe's optimizer over the network's parameter groups, and the encoder group index."""
    groups, encoder_group = parameter_groups(network)
    if recipe.optimizer == "adamw":
        optimizer: torch.optim.Optimizer = torch.optim.AdamW(
            groups, lr=recipe.lr, betas=tuple(recipe.betas), weight_decay=recipe.weight_decay
        )
    elif recipe.optimizer == "sgd":
        optimizer = torch.optim.SGD(
            groups, lr=recipe.lr, momentum=recipe.momentum, nesterov=recipe.nesterov, weight_decay=recipe.weight_decay
        )
    else:
        raise ValueError(f"unknown optimizer {recipe.optimizer!r}")
    return optimizer, encoder_group


def build_optimizer_and_schedule(
    network: nn.Module, recipe: Recipe, num_epochs: int, frozen_until: int
) -> tuple[torch.optim.Optimizer, RecipeLRScheduler]:
    """Optimizer plus the per-epoch schedule, as nnU-Net's ``configure_optimizers`` returns them.

    `frozen_until` is the first epoch in which the encoder trains (0: never frozen).
    """
    optimizer, encoder_group = build_optimizer(network, recipe)
    schedule = RecipeLRScheduler(
        optimizer,
        recipe,
        num_epochs,
        frozen_group=encoder_group if frozen_until > 0 else None,
        frozen_until=frozen_until,
    )
    return optimizer, schedule
