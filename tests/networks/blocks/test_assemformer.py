"""Tests for svseg/networks/blocks/assemformer.py against an unfold/fold reference (official layout)."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from svseg.networks.blocks.assemformer import AssemFormer, LinearSelfAttention, LinearTransformerBlock


def unfold_patches(x: torch.Tensor, patch: int = 2) -> torch.Tensor:
    """(B, d, H, W) -> (B, d, p*p, N) as the official MobileViTv2 unfolding."""
    b, d = x.shape[:2]
    return F.unfold(x, patch, stride=patch).reshape(b, d, patch * patch, -1)


def fold_patches(x: torch.Tensor, size: tuple[int, int], patch: int = 2) -> torch.Tensor:
    b, d, pp, n = x.shape
    return F.fold(x.reshape(b, d * pp, n), size, patch, stride=patch)


def reference_attention(attn: LinearSelfAttention, patches: torch.Tensor) -> torch.Tensor:
    """Official LinearSelfAttention on (B, d, P, N): softmax over N, context summed over N."""
    d = attn.dim
    query, key, value = torch.split(attn.qkv(patches), [1, d, d], dim=1)
    scores = F.softmax(query, dim=-1)
    context = (key * scores).sum(-1, keepdim=True)
    return attn.proj(F.relu(value) * context.expand_as(value))


def reference_block(block: LinearTransformerBlock, patches: torch.Tensor) -> torch.Tensor:
    patches = patches + reference_attention(block.attn, block.norm1(patches))
    return patches + block.ffn(block.norm2(patches))


def reference_assemformer(module: AssemFormer, x: torch.Tensor) -> torch.Tensor:
    local = module.local(x)
    patches = unfold_patches(local)
    for block in module.blocks:
        patches = reference_block(block, patches)
    global_ = fold_patches(module.norm(patches), tuple(x.shape[2:]))
    return x + module.fuse(torch.cat([global_, local], dim=1))


@pytest.mark.parametrize("train", [False, True])
def test_matches_the_unfold_fold_reference(train: bool) -> None:
    module = AssemFormer(16, depth=2).train(train)
    x = torch.randn(2, 16, 12, 10)
    torch.testing.assert_close(module(x), reference_assemformer(module, x), rtol=1e-4, atol=1e-5)


def test_channels_last_and_shapes() -> None:
    module = AssemFormer(8, depth=1).eval()
    x = torch.randn(2, 8, 8, 6)
    out = module(x)
    assert out.shape == x.shape
    torch.testing.assert_close(module(x.to(memory_format=torch.channels_last)), out)


def test_attention_softmax_is_float32_and_finite_under_bf16_autocast() -> None:
    module = AssemFormer(8, depth=2).eval()
    x = torch.randn(2, 8, 8, 8) * 100  # large logits would overflow a low-precision exp
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = module(x)
    assert torch.isfinite(out).all()


def test_parameter_count_matches_the_official_assemformer() -> None:
    # svanet.md §14: the 64-channel branch AssemFormer has 0.058 M parameters; hand count 58,370.
    assert sum(p.numel() for p in AssemFormer(64, depth=2).parameters()) == 58_370


def test_rejects_odd_channels_and_odd_sizes() -> None:
    with pytest.raises(ValueError):
        AssemFormer(7)
    with pytest.raises(ValueError):
        AssemFormer(8)(torch.randn(1, 8, 5, 6))
