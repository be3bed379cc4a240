"""Learning-rate schedules from the recipe, stepped once per epoch the way nnU-Net steps them.

nnU-Net's trainer calls ``lr_scheduler.step(current_epoch)`` at the start of every epoch, so a
schedule here is a pure function of the epoch index (:func:`lr_at_epoch`) wrapped in a torch
``LRScheduler`` whose ``step`` accepts that index. A pure function means resuming at epoch ``k``
gives exactly the rate an uninterrupted run would have used, with no scheduler state to save.

Schedules (``recipe.lr_schedule``), each after an optional linear warm-up of
``recipe.warmup_epochs`` epochs from ``warmup_start_lr`` to ``lr``:

- ``warmup_cosine``: cosine from ``lr`` (first epoch after warm-up) down to ``final_lr`` (last
  epoch). This is the shape of the official SvANet schedule (``MyCosineScheduler``: warm-up
  5e-5 -> 5e-4, cosine to 1e-6) without its quirks: the official code runs epoch 0 at the minimum
  rate and restarts the warm-up when the encoder is unfrozen (docs/design/training-recipe.md);
  svseg warms up once.
- ``poly``: ``lr * (1 - t / T) ** poly_exponent`` over the ``T`` epochs after warm-up; with no
  warm-up this is exactly nnU-Net's ``PolyLRScheduler``.
- ``constant``: ``lr`` throughout.

Encoder freezing is expressed here too, as a parameter group whose rate is held at zero for the
first epochs (see :mod:`svseg.training.encoder` for why a zero rate rather than
``requires_grad``).
"""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from svseg.planning.plans import Recipe


def lr_at_epoch(recipe: Recipe, epoch: int, num_epochs: int | None = None) -> float:
    """The learning rate the recipe prescribes for 0-based `epoch` of a `num_epochs` run."""
    total = recipe.epochs if num_epochs is None else num_epochs
    warmup = min(recipe.warmup_epochs, total)
    if epoch < warmup:
        return recipe.warmup_start_lr + (recipe.lr - recipe.warmup_start_lr) * epoch / warmup
    if recipe.lr_schedule == "constant":
        return recipe.lr
    after = epoch - warmup
    span = total - warmup
    if recipe.lr_schedule == "poly":
        return recipe.lr * max(0.0, 1 - after / span) ** recipe.poly_exponent
    if recipe.lr_schedule == "warmup_cosine":
        last = span - 1
        progress = min(1.0, after / last) if last > 0 else 0.0
        return recipe.final_lr + (recipe.lr - recipe.final_lr) * (1 + math.cos(math.pi * progress)) / 2
    raise ValueError(f"unknown lr_schedule {recipe.lr_schedule!r}")


class RecipeLRScheduler(LRScheduler):
    """Sets every parameter group's rate from :func:`lr_at_epoch`, one call per epoch.

    ``step(epoch)`` is what nnU-Net calls; ``step()`` without an argument advances an internal
    counter, as torch schedulers do. Group ``frozen_group`` (the encoder's, when freezing) gets
    rate 0 for epochs before ``frozen_until``.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        recipe: Recipe,
        num_epochs: int,
        frozen_group: int | None = None,
        frozen_until: int = 0,
    ) -> None:
        self.recipe = recipe
        self.num_epochs = num_epochs
        self.frozen_group = frozen_group
        self.frozen_until = frozen_until
        self._next_epoch = 0
        super().__init__(optimizer)

    def step(self, epoch: int | None = None) -> None:  # type: ignore[override]
        """Apply the rates of `epoch` (or of the next epoch when None)."""
        if epoch is None:
            epoch = self._next_epoch
        self._next_epoch = epoch + 1
        self.last_epoch = epoch
        rate = lr_at_epoch(self.recipe, epoch, self.num_epochs)
        for index, group in enumerate(self.optimizer.param_groups):
            frozen = index == self.frozen_group and epoch < self.frozen_until
            group["lr"] = 0.0 if frozen else rate
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The rates applied by the last ``step``."""
        return list(self._last_lr)

    def encoder_frozen(self, epoch: int) -> bool:
        """Whether the frozen group is held at rate 0 in `epoch`."""
        return self.frozen_group is not None and epoch < self.frozen_until
