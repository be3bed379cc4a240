"""Sizing the demo's training run to a wall-clock budget.

Why: ``svseg demo --minutes N`` must finish in about N minutes on whatever machine runs it, a
2-core laptop or a GPU server, so the number of training iterations cannot be a constant. The
demo times a few real training steps of the planned network at the plan's patch and batch size
(:func:`time_training_step`), and :func:`plan_training` turns the time left after the other
stages into epochs x iterations. Data augmentation, per-epoch validation and checkpointing are
not in the timed step; they are covered by ``overhead_factor`` and the fixed allowances, which
were measured on a 2-core CPU (see docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingBudget:
    """How long the demo may train, and the run that fits: ``epochs`` x ``iters_per_epoch``."""

    seconds_for_training: float
    seconds_per_iteration: float
    epochs: int
    iters_per_epoch: int
    val_iters_per_epoch: int

    @property
    def iterations(self) -> int:
        """Training iterations in total."""
        return self.epochs * self.iters_per_epoch

    @property
    def expected_seconds(self) -> float:
        """Predicted training time, validation iterations included (about a third of a step each)."""
        per_epoch = self.iters_per_epoch + self.val_iters_per_epoch / 3.0
        return self.epochs * per_epoch * self.seconds_per_iteration


def plan_training(
    seconds_left: float,
    seconds_per_iteration: float,
    *,
    reserve_seconds: float,
    fixed_training_seconds: float = 20.0,
    overhead_factor: float = 1.4,
    min_iterations: int = 20,
    target_iters_per_epoch: int = 25,
    max_epochs: int = 200,
) -> TrainingBudget:
    """Epochs and iterations that fit in ``seconds_left`` minus what must stay free.

    ``reserve_seconds`` is kept for prediction and evaluation after training;
    ``fixed_training_seconds`` covers the trainer's start-up and final validation. Each step is
    charged ``seconds_per_iteration * overhead_factor`` (augmentation runs on the same cores).
    Epochs are short (about ``target_iters_per_epoch`` steps) so the learning-rate schedule
    has several epochs to act on and the log shows progress. At least ``min_iterations`` are
    always run: a demo that trains nothing shows nothing, even when the budget is too small.
    """
    if seconds_per_iteration <= 0:
        raise ValueError("seconds_per_iteration must be > 0")
    usable = max(0.0, seconds_left - reserve_seconds - fixed_training_seconds)
    step = seconds_per_iteration * overhead_factor
    val_share = 0.2 / 3.0  # val_iters_per_epoch is a fifth of the training steps, each ~1/3 of a step
    iterations = max(min_iterations, int(usable / (step * (1.0 + val_share))))
    epochs = max(1, min(max_epochs, round(iterations / target_iters_per_epoch)))
    iters_per_epoch = max(1, iterations // epochs)
    val_iters = max(1, round(iters_per_epoch / 5))
    budget = TrainingBudget(usable, step, epochs, iters_per_epoch, val_iters)
    log.info("training budget: %.0f s at %.2f s/iteration -> %d epochs x %d iterations (%d validation)",
             usable, step, epochs, iters_per_epoch, val_iters)
    return budget


def time_training_step(network: Any, input_shape: tuple[int, ...], num_classes: int, device: Any,
                       repeats: int = 2) -> float:
    """Median seconds of one forward + backward + optimiser step on random data.

    ``input_shape`` is the batch as the trainer feeds it, (B, C, H, W) or (B, C, D, H, W). One
    warm-up step comes first (allocator and kernel selection make the first step slow). The
    network's outputs may be a list (deep supervision); every output enters the loss, as in
    training. The network is left in training mode with its gradients cleared; its weights
    change, so pass a throw-away instance.
    """
    import torch

    network = network.to(device).train()
    optimiser = torch.optim.SGD(network.parameters(), lr=1e-4)
    batch = torch.randn(*input_shape, device=device)
    target = torch.randint(0, num_classes, (input_shape[0], *input_shape[2:]), device=device)
    timings = []
    for index in range(repeats + 1):
        start = time.perf_counter()
        optimiser.zero_grad(set_to_none=True)
        outputs = network(batch)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        loss = sum(_cross_entropy_at_scale(output, target) for output in outputs)
        loss.backward()
        optimiser.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if index > 0:
            timings.append(time.perf_counter() - start)
    optimiser.zero_grad(set_to_none=True)
    timings.sort()
    return timings[len(timings) // 2]


def _cross_entropy_at_scale(output: Any, target: Any) -> Any:
    """Cross-entropy against the target resized to this output's scale (deep supervision)."""
    import torch.nn.functional as functional

    if output.shape[2:] != target.shape[1:]:
        target = functional.interpolate(target[:, None].float(), size=output.shape[2:], mode="nearest")[:, 0].long()
    return functional.cross_entropy(output, target)


def seconds_for_slices(num_slices: int, seconds_per_slice: float, fixed_seconds: float = 15.0) -> float:
    """A generous estimate of prediction + evaluation time for ``num_slices`` 2D slices."""
    return fixed_seconds + math.ceil(num_slices) * seconds_per_slice
