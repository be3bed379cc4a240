"""Link decoder: transposed-conv upsampling plus skip fusion, coarse to fine.

Official `FGLink` and `UpLink` (`fgModules.py`, `heads/module/resLinkModules.py`; svanet.md §9).
At each level the current decoder feature is upsampled x2 (`UpLink`) and fused with the skip
feature: by concatenation and a conv block (official `--fg_link 2`, the paper model), by addition
(`--fg_link 1`) or not at all (`--fg_link 0`, the skips pass straight to the head); an AssemFormer
may follow (`--fg_link_vit`). The module also carries nnU-Net's `deep_supervision` flag, because
nnU-Net's trainer sets `network.decoder.deep_supervision` unconditionally.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from svseg.networks.blocks.assemformer import AssemFormer
from svseg.networks.blocks.checkpointing import run_block
from svseg.networks.blocks.conv_norm_act import OFFICIAL_BN_EPS, ConvNormAct, ConvTransposeNormAct
from svseg.networks.blocks.cross_scale import StridedConvBlock

FUSIONS = ("concat", "add", "none")


class UpLink(nn.Module):
    """1x1 Cin->Cin/4, 3x3 stride-2 transposed conv, 1x1 ->Cout (all BN ReLU): doubles H and W."""

    def __init__(self, in_channels: int, out_channels: int, bn_eps: float = OFFICIAL_BN_EPS) -> None:
        super().__init__()
        mid = in_channels // 4
        self.reduce = ConvNormAct(in_channels, mid, 1, bn_eps=bn_eps)
        self.up = ConvTransposeNormAct(mid, mid, bn_eps=bn_eps)
        self.expand = ConvNormAct(mid, out_channels, 1, bn_eps=bn_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.expand(self.up(self.reduce(x)))


class LinkLevel(nn.Module):
    """One decoder level: D = AF(fuse(UpLink(prev), skip)); (B, Cin, h, w), (B, Cout, 2h, 2w) -> (B, Cout, 2h, 2w)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        fusion: str,
        assemformer_depth: int | None,
        bn_eps: float = OFFICIAL_BN_EPS,
    ) -> None:
        super().__init__()
        self.fusion = fusion
        self.up = UpLink(in_channels, out_channels, bn_eps)
        self.block = (
            StridedConvBlock(2 * out_channels, out_channels, stride=1, bn_eps=bn_eps) if fusion == "concat" else None
        )
        self.vit = (
            AssemFormer(out_channels, assemformer_depth, bn_eps=bn_eps) if assemformer_depth is not None else None
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = self.up(x)
        out = self.block(torch.cat([up, skip], dim=1)) if self.block is not None else up + skip
        return out if self.vit is None else self.vit(out)


class LinkDecoder(nn.Module):
    """Decode from the deepest encoder feature through the skips, coarse to fine.

    forward(top, [S_n, ..., S_1]) -> [D_n, ..., D_1] with D_k shaped like S_k. `fusion="none"`
    returns the skips unchanged (no parameters). `deep_supervision` is a plain, settable attribute
    for nnU-Net's trainer; the networks using this decoder decide what it means (SvANet: nothing).
    `checkpoint` (plain attribute) recomputes each level in backward (blocks/checkpointing.py).
    """

    def __init__(
        self,
        top_channels: int,
        skip_channels: Sequence[int],
        fusion: str = "concat",
        assemformer_depth: int | None = 2,
        deep_supervision: bool = False,
        bn_eps: float = OFFICIAL_BN_EPS,
    ) -> None:
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"unknown decoder fusion {fusion!r}; known: {', '.join(FUSIONS)}")
        self.deep_supervision = deep_supervision
        self.checkpoint = False
        self.fusion = fusion
        widths = [top_channels, *skip_channels]
        self.levels = (
            nn.ModuleList(
                LinkLevel(widths[k], widths[k + 1], fusion, assemformer_depth, bn_eps)
                for k in range(len(skip_channels))
            )
            if fusion != "none"
            else nn.ModuleList()
        )

    def forward(self, top: torch.Tensor, skips: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        if self.fusion == "none":
            return list(skips)
        outs = []
        x = top
        for level, skip in zip(self.levels, skips, strict=True):
            x = run_block(level, level, x, skip, enabled=self.checkpoint)
            outs.append(x)
        return outs
