"""Training memory of a registered network: a shape-only estimate calibrated on one GPU measurement.

Model, in bytes, for a batch of ``b`` images of ``H x W``::

    memory(b, H, W) = 16 * parameters + CALIBRATION * b * saved(H, W)

- ``16 * parameters``: fp32 weights, gradients and the two AdamW moments (SGD needs 12; the
  larger figure keeps the estimate on the safe side).
- ``saved(H, W)``: bytes of the tensors autograd keeps for the backward pass of one image,
  counted during a forward pass on PyTorch's ``meta`` device (shapes only, no data, no GPU;
  about half a second for full SvANet at 512 x 512 on a CPU). It follows the network's real
  topology at every patch size, for every registered network.
- ``CALIBRATION``: what saved tensors miss (activation gradients alive during backward,
  temporary buffers, cuDNN workspaces, the caching allocator). It is fitted to the project's one
  GPU anchor: full SvANet, 8 classes, fp32, batch 4 at 512 x 512 peaked at about 82 GB on an H100
  (docs/design/training-recipe.md, 'Memory anchor'). For SvANet, 16 x 202.45 M parameters = 3.24 GB and
  saved(512, 512) = 4.77 GB per image, so 82 GB = 3.24 GB + 4 x 4.13 x 4.77 GB.
  tests/planning/test_memory.py recomputes the fit from the current SvANet code.

The same factor is applied to other networks, and training with mixed precision (nnU-Net's
default on CUDA) needs less than this fp32 figure, so the estimate errs towards smaller batches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

ANCHOR_BYTES = 82e9
ANCHOR_BATCH = 4
ANCHOR_PATCH = (512, 512)
ANCHOR_CLASSES = 8
ANCHOR_CHANNELS = 3
CALIBRATION = 4.13
BYTES_PER_PARAMETER = 16


def saved_bytes_per_image(
    network: str, kwargs: Mapping[str, Any], patch_size: Sequence[int], input_channels: int, num_classes: int
) -> tuple[int, int]:
    """(parameters, bytes autograd saves for one training image) from a meta-device forward.

    The forward runs on a batch of two because BatchNorm refuses a single value per channel in
    training mode (SvANet's ASPP pooling branch), and the result is halved.
    """
    from svseg.networks import create_network

    with torch.device("meta"):
        model = create_network(network, input_channels, num_classes, patch_size=list(patch_size), **dict(kwargs))
    model.train()
    total = 0

    def count(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    batch = torch.zeros((2, input_channels, *[int(p) for p in patch_size]), device="meta")
    with torch.autograd.graph.saved_tensors_hooks(count, lambda tensor: tensor):
        model(batch)
    parameters = sum(p.numel() for p in model.parameters())
    return parameters, total // 2


class TrainingMemoryModel:
    """Estimated peak training memory (GB = 1e9 bytes) of one network for a patch and batch."""

    def __init__(self, network: str, kwargs: Mapping[str, Any], input_channels: int, num_classes: int) -> None:
        self.network = network
        self.kwargs = dict(kwargs)
        self.input_channels = int(input_channels)
        self.num_classes = int(num_classes)
        self._per_image: dict[tuple[int, ...], int] = {}
        self.parameters = 0

    def per_image_gb(self, patch_size: Sequence[int]) -> float:
        """Calibrated activation memory of one image (GB)."""
        key = tuple(int(p) for p in patch_size)
        if key not in self._per_image:
            self.parameters, self._per_image[key] = saved_bytes_per_image(
                self.network, self.kwargs, key, self.input_channels, self.num_classes)
        return CALIBRATION * self._per_image[key] / 1e9

    def fixed_gb(self) -> float:
        """Weights, gradients and optimizer state (GB); known after the first per-image estimate."""
        if not self.parameters:
            self.per_image_gb((64, 64))
        return BYTES_PER_PARAMETER * self.parameters / 1e9

    def estimate_gb(self, patch_size: Sequence[int], batch_size: int) -> float:
        """Peak memory of a training step with `batch_size` images of `patch_size` (GB)."""
        return self.fixed_gb() + batch_size * self.per_image_gb(patch_size)

    def largest_batch(self, patch_size: Sequence[int], budget_gb: float) -> int:
        """The most images of `patch_size` that fit `budget_gb` (0 when not even one does)."""
        room = budget_gb - self.fixed_gb()
        per_image = self.per_image_gb(patch_size)
        return max(0, int(room // per_image)) if room > 0 else 0
