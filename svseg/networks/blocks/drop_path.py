"""Per-sample stochastic depth ("DropPath", torchvision's `StochasticDepth` in row mode).

SvANet drops whole cross-scale guidance terms per sample during training (svanet.md §7). Written
here instead of importing torchvision, whose compiled extension does not load in every torch
install nnU-Net accepts (docs/design/nnunet-integration.md, 'Installation and the torchvision
trap').
"""

from __future__ import annotations

import torch
from torch import nn


class DropPath(nn.Module):
    """Zero a residual branch for a random subset of samples and rescale the survivors.

    Input (B, ...) -> same shape. In training each sample is kept with probability 1 - p and then
    divided by 1 - p, so the expectation is unchanged; in eval it is the identity. The mask is drawn
    on the input's device with one `rand` call, so there is no host sync and no graph break.
    """

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"drop-path probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        mask = torch.rand(shape, device=x.device, dtype=x.dtype) < keep
        return x * (mask.to(x.dtype) / keep)  # scale the (B, 1, ...) mask, not the whole map: one pass over x

    def extra_repr(self) -> str:
        return f"p={self.p}"
