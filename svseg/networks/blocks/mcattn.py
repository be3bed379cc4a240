"""Monte Carlo attention (MCAttn): a squeeze-and-excitation gate with a stochastic squeeze.

Official `MoCAttention` (`lib/model/modules/mcattn.py`; svanet.md §5, paper §III-D). In training
the official code draws one pool size k from `pool_sizes` per call, randomly permutes the H*W
positions (one permutation for the whole batch), average-pools the permuted map to k x k and keeps
one random cell. The kept cell is the mean over the pixels that the permutation sent into it, i.e.
the mean over a uniformly random subset of exactly m positions, where m is that cell's size under
adaptive pooling (ceil/floor boundaries). In eval it is plain global average pooling, so MCAttn is
then exactly an SE block.

svseg draws the same thing without a host round trip and without shape-dependent control flow:
k and the cell (a, b) are drawn as device tensors, the cell size m is computed with integer tensor
arithmetic from the (static) H and W, and the subset is `randperm(H*W) < m`, which marks exactly m
uniformly random positions. The squeeze is then one matrix-vector product with the weights
`mask / m`. Every candidate pool size goes through the same graph, so torch.compile neither
breaks the graph nor recompiles when k changes, and nothing calls `.item()`.
With `shuffle=False` (official `--moc_order` off) the mask is the cell's rectangle instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from svseg.networks.blocks.conv_norm_act import make_divisible


def gate_hidden_channels(channels: int, min_hidden: int = 32) -> int:
    """Hidden width of the gate MLP: `channels / 4` rounded to a multiple of 8, at least `min_hidden`.

    Official rule; gives 32, 128, 256, 512 for the 128, 512, 1024, 2048-channel SvANet bottlenecks.
    """
    return max(make_divisible(channels / 4, 8), min_hidden)


class MonteCarloAttention(nn.Module):
    """Channel gate whose pooled descriptor is a Monte Carlo estimate of the mean in training.

    (B, C, H, W) -> (B, C, H, W): x times sigmoid(fc2(relu(fc1(squeeze(x))))), one gate value per
    sample and channel. `pool_sizes=(1,)` makes it a plain SE block in training too.
    """

    def __init__(
        self,
        channels: int,
        hidden: int | None = None,
        pool_sizes: Sequence[int] = (1, 2, 3),
        shuffle: bool = True,
    ) -> None:
        super().__init__()
        if not pool_sizes or any(int(k) < 1 for k in pool_sizes):
            raise ValueError(f"pool sizes must be positive integers, got {list(pool_sizes)}")
        hidden = gate_hidden_channels(channels) if hidden is None else hidden
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)
        self.shuffle = shuffle
        # A buffer (not a Python list) so the candidates live on the model's device and the draw
        # needs no host-to-device copy; non-persistent so the state dict holds weights only.
        self.register_buffer("pool_sizes", torch.tensor([int(k) for k in pool_sizes]), persistent=False)

    def squeeze_weights(self, height: int, width: int, dtype: torch.dtype) -> torch.Tensor:
        """Draw one Monte Carlo pooling: weights (H*W,) that sum to 1, shared by batch and channels."""
        device = self.pool_sizes.device
        choice = torch.randint(self.pool_sizes.numel(), (1,), device=device)
        k = self.pool_sizes[choice]  # (1,) int64
        cell = torch.minimum((torch.rand(2, device=device) * k).long(), k - 1)  # row, column of the cell
        # Adaptive pooling bounds: cell a of n pixels in k cells spans [floor(a n / k), ceil((a + 1) n / k)).
        # Python ints times device tensors: no tensor is built from host data, so no copy or sync.
        row0, row1 = cell[0] * height // k, ((cell[0] + 1) * height + k - 1) // k
        col0, col1 = cell[1] * width // k, ((cell[1] + 1) * width + k - 1) // k
        count = (row1 - row0) * (col1 - col0)
        if self.shuffle:
            mask = torch.randperm(height * width, device=device) < count
        else:
            rows = torch.arange(height, device=device)
            cols = torch.arange(width, device=device)
            in_rows = (rows >= row0) & (rows < row1)
            in_cols = (cols >= col0) & (cols < col1)
            mask = (in_rows[:, None] & in_cols[None, :]).flatten()
        return mask.to(dtype) / count.to(dtype)

    def squeeze(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, 1, 1) pooled descriptor: random subset mean in training, GAP in eval."""
        if not self.training:
            return x.mean((2, 3), keepdim=True)
        weights = self.squeeze_weights(x.shape[2], x.shape[3], x.dtype)
        # flatten(2) is a view for both contiguous and channels_last inputs; one GEMV reads x once.
        return torch.matmul(x.flatten(2), weights)[..., None, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.fc2(F.relu(self.fc1(self.squeeze(x)))))
        return x * gate

    def extra_repr(self) -> str:
        return f"pool_sizes={self.pool_sizes.tolist()}, shuffle={self.shuffle}"
