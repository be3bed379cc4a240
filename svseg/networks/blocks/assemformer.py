"""AssemFormer: a conv + linear-attention transformer block (MobileViTv2/v3 style).

Official `AssembleFormer` (`lib/model/modules/assemFormer.py`; svanet.md §6, paper §III-E).
Local 3x3 conv, projection to d = C/2, `depth` separable-self-attention blocks over 2x2 patches,
concatenation of the global and local maps, 1x1 fusion conv, residual.

The official code unfolds the map into (B, d, 4, N) patches and folds it back. Every op in the
transformer is either per position (1x1 convs, BatchNorm, which pools over all positions anyway)
or a reduction over the N patches for each of the 4 in-patch offsets, so svseg keeps the map in
(B, d, H, W) layout and views it as (B, d, H/2, 2, W/2, 2) where the patch structure matters. The
result is identical and there is no unfold/fold copy, which also keeps channels_last intact for
the convolutions. Attention cost is linear in the number of patches (no N x N matrix).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from svseg.networks.blocks.checkpointing import run_block
from svseg.networks.blocks.conv_norm_act import OFFICIAL_BN_EPS, ConvNormAct


class LinearSelfAttention(nn.Module):
    """Separable self-attention (MobileViTv2) across patches, separately per in-patch offset.

    (B, d, H, W) -> (B, d, H, W). One 1x1 conv gives a 1-channel query, a key and a value (d each).
    The query is soft-maxed over the N = HW / p^2 patches (in float32, so bf16/fp16 autocast cannot
    overflow the exponentials), the context vector is the score-weighted sum of the keys (one per
    offset), and the output is ReLU(value) times that context, projected by a 1x1 conv.
    """

    def __init__(self, dim: int, patch: int = 2) -> None:
        super().__init__()
        self.dim = dim
        self.patch = patch
        self.qkv = nn.Conv2d(dim, 1 + 2 * dim, 1)
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, d, h, w = x.shape
        p = self.patch
        hp, wp = h // p, w // p
        query, key, value = torch.split(self.qkv(x), [1, d, d], dim=1)
        # (B, 1, H, W) -> (B, p, p, N): one softmax over the patches for each offset (i, j).
        query = query.reshape(b, hp, p, wp, p).permute(0, 2, 4, 1, 3).reshape(b, p, p, hp * wp)
        scores = F.softmax(query, dim=-1, dtype=torch.float32).reshape(b, p, p, hp, wp).to(key.dtype)
        context = torch.einsum("bchiwj,bijhw->bcij", key.reshape(b, d, hp, p, wp, p), scores)
        out = F.relu(value).reshape(b, d, hp, p, wp, p) * context[:, :, None, :, None, :]
        return self.proj(out.reshape(b, d, h, w))


class LinearTransformerBlock(nn.Module):
    """Pre-norm block: x + Attn(BN(x)), then x + FFN(BN(x)); FFN d -> `ffn_dim` -> d with SiLU.

    (B, d, H, W) -> same. BatchNorm (PyTorch default eps) as in the official `LinearAttnFFN`.
    """

    def __init__(self, dim: int, ffn_dim: int, patch: int = 2) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(dim)
        self.attn = LinearSelfAttention(dim, patch)
        self.norm2 = nn.BatchNorm2d(dim)
        self.ffn = nn.Sequential(nn.Conv2d(dim, ffn_dim, 1), nn.SiLU(), nn.Conv2d(ffn_dim, dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class AssemFormer(nn.Module):
    """Conv-transformer hybrid with a residual: (B, C, H, W) -> (B, C, H, W), H and W divisible by `patch`.

    local  L = conv1x1_{C->C/2}(SiLU(BN(conv3x3(x))))
    global G = BN(blocks(L))                     (`depth` LinearTransformerBlocks, FFN width C)
    out      = x + BN(conv1x1(cat[G, L]))
    `depth=0` keeps the local and fusion convs (the official "0-block shell"). With `checkpoint`
    (a plain attribute, no parameter) training recomputes the block in backward instead of keeping
    its activations (blocks/checkpointing.py).
    """

    def __init__(self, channels: int, depth: int = 2, patch: int = 2, bn_eps: float = OFFICIAL_BN_EPS) -> None:
        super().__init__()
        if channels % 2:
            raise ValueError(f"AssemFormer needs an even channel count, got {channels}")
        dim = channels // 2
        self.patch = patch
        self.local = nn.Sequential(
            ConvNormAct(channels, channels, 3, act="silu", bn_eps=bn_eps),
            nn.Conv2d(channels, dim, 1, bias=False),
        )
        self.blocks = nn.Sequential(*[LinearTransformerBlock(dim, channels, patch) for _ in range(depth)])
        self.norm = nn.BatchNorm2d(dim)
        self.fuse = ConvNormAct(channels, channels, 1, act=None, bn_eps=bn_eps)
        self.checkpoint = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[2] % self.patch or x.shape[3] % self.patch:
            raise ValueError(f"AssemFormer needs H and W divisible by {self.patch}, got {tuple(x.shape[2:])}")
        return run_block(self, self._forward, x, enabled=self.checkpoint)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        local = self.local(x)
        global_ = self.norm(self.blocks(local))
        return x + self.fuse(torch.cat([global_, local], dim=1))
