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
    epoch_overhead_seconds: float

    @property
    def iterations(self) -> int:
        """Training iterations in total."""
        return self.epochs * self.iters_per_epoch

    @property
    def expected_seconds(self) -> float:
        """Predicted training time: steps, validation steps (a third of a step each), epoch ends."""
        per_epoch = (self.iters_per_epoch + self.val_iters_per_epoch / 3.0) * self.seconds_per_iteration
        return self.epochs * (per_epoch + self.epoch_overhead_seconds)


def plan_training(
    seconds_left: float,
    seconds_per_iteration: float,
    *,
    reserve_seconds: float,
    fixed_training_seconds: float = 20.0,
    val_iters_per_epoch: int = 5,
    overhead_factor: float = 1.25,
    epoch_overhead_seconds: float = 2.0,
    target_epoch_seconds: float = 20.0,
    min_epochs: int = 2,
    min_iters_per_epoch: int = 10,
    max_epochs: int = 1000,
) -> TrainingBudget:
    """Epochs and iterations that fit in ``seconds_left`` minus what must stay free.

    ``reserve_seconds`` is kept for prediction and evaluation after training;
    ``fixed_training_seconds`` covers the trainer's start-up and final validation. Each step is
    charged ``seconds_per_iteration * overhead_factor`` (augmentation shares the cores) and
    each epoch ``epoch_overhead_seconds`` (checkpoint, progress plot, log line). Epochs last
    about ``target_epoch_seconds`` so the learning-rate schedule has several epochs to act on
    and the log shows progress. At least ``min_epochs`` x ``min_iters_per_epoch`` steps always
    run: a demo that trains nothing shows nothing, even when the budget is too small.
    """
    if seconds_per_iteration <= 0:
        raise ValueError("seconds_per_iteration must be > 0")
    usable = max(0.0, seconds_left - reserve_seconds - fixed_training_seconds)
    step = seconds_per_iteration * overhead_factor
    iters_per_epoch = max(min_iters_per_epoch, round(target_epoch_seconds / step))
    epoch_seconds = (iters_per_epoch + val_iters_per_epoch / 3.0) * step + epoch_overhead_seconds
    epochs = min(max_epochs, int(usable // epoch_seconds))
    if epochs < min_epochs:
        epochs = min_epochs
        per_epoch = usable / min_epochs - epoch_overhead_seconds - val_iters_per_epoch * step / 3.0
        iters_per_epoch = max(min_iters_per_epoch, int(per_epoch // step))
    budget = TrainingBudget(usable, step, epochs, iters_per_epoch, val_iters_per_epoch, epoch_overhead_seconds)
    log.info("training budget: %.0f s at %.2f s/iteration -> %d epochs x %d iterations (about %.0f s)",
             usable, step, epochs, iters_per_epoch, budget.expected_seconds)
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
