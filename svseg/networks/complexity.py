"""Parameter and MAC counts, the numbers the comparison tables and benchmarks report.

MACs are convolutions and matrix products only, counted by torch's own
`torch.utils.flop_counter.FlopCounterMode` and halved (one multiply-accumulate = 2 FLOPs). This is
how the project measured the official SvANet (docs/design/svanet.md §14, §17: 366.94 GMACs at 8 classes,
512 x 512); thop-style counters also count BatchNorm, pooling and activations and give more.
Counting runs the model once in eval mode without gradients; build the model on the `meta`
device (`with torch.device("meta"): ...`) to count a large model at a large size in well under a
second, because meta tensors carry shapes but no data.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter elements (shared parameters counted once); buffers are not parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_macs(
    model: nn.Module,
    input_shape: Sequence[int],
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> int:
    """Conv + matmul multiply-accumulates of one eval-mode forward pass on a zero input of `input_shape`.

    `input_shape` includes the batch dimension, e.g. (1, 3, 512, 512). The input is created on
    `device`, by default the device of the model's first parameter (so a meta model is counted on
    meta). The model's train/eval mode is restored afterwards.
    """
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    try:
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(torch.zeros(tuple(input_shape), device=device, dtype=dtype))
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2
