"""Scale-variant attention (SvAttn): a channel gate built from every scale of a cross-scale path.

Official SvAttn inside `CSLayer` (`fgModules.py`; svanet.md §7, paper §III-C). For the features
f0..fn met along a cross-scale path, each is average-pooled to a P x P grid (P = side of fn / 4,
at least 4), mapped to the target width by its own 1x1 "squeeze" conv (S_k), and the maps are
combined: in training as a random mosaic (every grid cell taken from exactly one scale), in eval
as their mean. Global average pooling and a sigmoid give the gate that multiplies fn.

Two deliberate implementation choices, both exact:
- The squeeze convs are affine and global average pooling is linear, so
  GAP(sum_k mask_k * S_k) = sum_k W_k (sum_cells mask_k * pooled_k / N) + b_k |mask_k| / N.
  svseg therefore applies each squeeze to one pooled vector instead of to a P x P map: the same
  numbers for about 0.55 GMACs less at 512 x 512 (the eval mean is the mask 1/(n+1) everywhere).
- P follows the actual feature size (the official model fixes it from the build-time input size),
  so any nnU-Net patch size works. The official partition of the grid into n+1 groups is drawn
  once at construction; svseg keeps a construction-time random label per cell in a non-persistent
  buffer (moves with `.to()`, not in the state dict, re-drawn per build like the official list) and
  takes the first P*P labels for the current grid. Each training call permutes the cells and the
  group-to-scale assignment on the device, as the official code does.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

MAX_PARTITION_CELLS = 128 * 128
"""Cells of the stored partition: enough for P = 128 (inputs up to 2048 px); larger grids repeat it."""


def svattn_pool_size(height: int, width: int, divisor: int = 4, minimum: int = 4) -> tuple[int, int]:
    """Pool grid for a target feature of (height, width): each side // divisor, at least `minimum`."""
    return max(height // divisor, minimum), max(width // divisor, minimum)


class ScaleVariantAttention(nn.Module):
    """Gate the last of n+1 features with a multi-scale, randomly mosaicked SE descriptor.

    forward([f0, ..., fn]) -> fn * sigmoid(gate), gate (B, C_out, 1, 1); fk is (B, in_channels[k], Hk, Wk)
    and fn has C_out channels. Deterministic in eval.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int, divisor: int = 4, min_pool: int = 4) -> None:
        super().__init__()
        self.squeeze = nn.ModuleList(nn.Conv2d(c, out_channels, 1) for c in in_channels)
        self.divisor = divisor
        self.min_pool = min_pool
        num_scales = len(in_channels)
        partition = torch.randint(num_scales, (MAX_PARTITION_CELLS,), dtype=torch.uint8)
        self.register_buffer("partition", partition, persistent=False)

    @property
    def num_scales(self) -> int:
        return len(self.squeeze)

    def mosaic_weights(self, cells: int, dtype: torch.dtype) -> torch.Tensor:
        """Random one-hot scale choice per cell, divided by the cell count: (n+1, cells)."""
        labels = self.partition
        if cells > labels.numel():
            labels = labels.repeat(-(-cells // labels.numel()))
        labels = labels[:cells].long()
        device = labels.device
        labels = labels[torch.randperm(cells, device=device)]  # where each group lies
        labels = torch.randperm(self.num_scales, device=device)[labels]  # which scale owns each group
        return F.one_hot(labels, self.num_scales).T.to(dtype) / cells

    def mean_weights(self, cells: int, dtype: torch.dtype) -> torch.Tensor:
        """Eval combination: every scale weighted 1 / (n+1) in every cell, divided by the cell count."""
        return torch.full(
            (self.num_scales, cells), 1.0 / (self.num_scales * cells), dtype=dtype, device=self.partition.device
        )

    def gate_logits(self, feats: Sequence[torch.Tensor], weights: torch.Tensor) -> torch.Tensor:
        """GAP of sum_k weights_k * S_k (before the sigmoid), (B, C_out, 1, 1); weights (n+1, P*P)."""
        pool = svattn_pool_size(feats[-1].shape[2], feats[-1].shape[3], self.divisor, self.min_pool)
        total = None
        for feat, squeeze, cell_weights in zip(feats, self.squeeze, weights, strict=True):
            pooled = F.adaptive_avg_pool2d(feat, pool).flatten(2)  # (B, C_k, P*P)
            descriptor = torch.matmul(pooled, cell_weights.to(pooled.dtype))  # (B, C_k)
            term = F.linear(descriptor, squeeze.weight.flatten(1)) + squeeze.bias * cell_weights.sum()
            total = term if total is None else total + term
        return total[..., None, None]

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        last = feats[-1]
        cells = 1
        for side in svattn_pool_size(last.shape[2], last.shape[3], self.divisor, self.min_pool):
            cells *= side
        weights = self.mosaic_weights(cells, last.dtype) if self.training else self.mean_weights(cells, last.dtype)
        # The bias term is float32, so under autocast the logits are float32; cast the gate back so
        # the gated map keeps the activation dtype instead of doubling in size.
        return last * torch.sigmoid(self.gate_logits(feats, weights)).to(last.dtype)
