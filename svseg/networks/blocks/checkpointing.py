"""Activation checkpointing: trade a second forward pass of a block for the memory of its activations.

SvANet's training memory is mostly the activations autograd keeps for backward (4.77 GB per
512 x 512 image in float32, counted on the meta device; 3.3 GB of it in the four branches and the
four decoder levels). A checkpointed block keeps only its inputs and runs its forward again during
backward (``torch.utils.checkpoint``, non-reentrant, which torch.compile traces into one graph).
The RNG state is replayed for the second run, so MCAttn's pool size, SvAttn's mosaic, DropPath and
dropout draw the same numbers twice: outputs and gradients are those of the plain block.

Plain ``torch.utils.checkpoint`` would also update BatchNorm's running statistics a second time
(two momentum steps per training step). In eager mode the recomputation therefore runs with every
BatchNorm of the block at momentum 0 (running statistics kept exactly) and its batch counter
restored, so running statistics, and with them eval outputs, equal the plain block's. It is told
apart from the first pass by running inside the autograd engine's backward. Under torch.compile the
recomputation is the partitioner's, which updates no buffer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

T = TypeVar("T")

CHECKPOINTING = ("none", "assemformer", "stages")
"""SvANet's choices: nothing, every AssemFormer, or each branch and decoder level as a whole."""


def run_block(module: nn.Module, function: Callable[..., T], *args: torch.Tensor, enabled: bool) -> T:
    """`function(*args)` of `module`, checkpointed when `enabled` and autograd records (training, not no_grad)."""
    if not (enabled and torch.is_grad_enabled()):
        return function(*args)
    if torch.compiler.is_compiling():
        return checkpoint(function, *args, use_reentrant=False)

    def once_updating_statistics(*inner: torch.Tensor) -> T:
        if torch._C._current_graph_task_id() == -1:  # the forward pass, not backward's recomputation
            return function(*inner)
        with frozen_batchnorm_statistics(module):
            return function(*inner)

    return checkpoint(once_updating_statistics, *args, use_reentrant=False)


@contextmanager
def frozen_batchnorm_statistics(module: nn.Module) -> Iterator[None]:
    """Training-mode BatchNorm that normalises with batch statistics but leaves its running ones as they are."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, None if m.num_batches_tracked is None else m.num_batches_tracked.clone()) for m in norms]
    for norm in norms:
        norm.momentum = 0.0
    try:
        yield
    finally:
        for norm, (momentum, tracked) in zip(norms, saved, strict=True):
            norm.momentum = momentum
            if tracked is not None:
                norm.num_batches_tracked.copy_(tracked)
