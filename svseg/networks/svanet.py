"""SvANet: scale-variant attention network for small medical objects, as the official code builds it.

Paper: Dai et al., "Exploiting Scale-Variant Attention for Segmenting Small Medical Objects".
Reference: the official `SegEncoderDecoder` + `ResNet` (resnet50) + `DeeplabV3` head with
`--seg_feature_guide 2 --fg_start_stage 1` (shell/main.sh), recorded block by block in
docs/design/svanet.md, whose section numbers the comments cite. With the default kwargs and
3 -> 8 channels the parameter count is exactly the official 202,448,504.

Data flow (svanet.md §1), stride in brackets:
    encoder ResNet-50           -> E1 (/2) .. E5 (/32)
    ASPP(E5)                    -> A (/32)
    branch b = 1..4             -> Bb = AssemFormer(MCBottleneck(Eb))
    cross-scale guidance        -> Bj += DropPath(CSLayer_ij(Bi)) for i < j, fine to coarse
    link decoder from E5        -> D4 .. D1 (AssemFormer after each level)
    head                        -> 1x1 conv over [D1, D2, D3, D4, A] at /2, bilinear to the input size
    detail head (optional)      -> full-resolution correction of those logits from the input (svseg's)

Differences from the official code, all deliberate: the output follows the input size (the
official one resizes to a build-time constant) and SvAttn's pool size follows the actual feature
size, so any nnU-Net patch whose sides are multiples of 32 works; the head and SvAttn use exact
algebraic rewrites that save memory and ~1.7 GMACs (blocks/head.py, blocks/svattn.py); the random
draws of MCAttn and SvAttn happen on the device (blocks/mcattn.py). SvANet has no auxiliary
outputs, so nnU-Net's deep supervision is refused (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from svseg.errors import SvsegError
from svseg.networks.blocks.aspp import ASPP
from svseg.networks.blocks.assemformer import AssemFormer
from svseg.networks.blocks.checkpointing import CHECKPOINTING, run_block
from svseg.networks.blocks.conv_norm_act import OFFICIAL_BN_EPS, make_divisible
from svseg.networks.blocks.cross_scale import CrossScaleGuidance
from svseg.networks.blocks.detail_head import DetailHead
from svseg.networks.blocks.head import MultiScaleHead
from svseg.networks.blocks.link_decoder import FUSIONS, LinkDecoder
from svseg.networks.blocks.mc_bottleneck import MCBottleneck
from svseg.networks.blocks.resnet import RESNET50_DEPTHS, ResNetEncoder
from svseg.networks.pretrained import load_resnet_weights
from svseg.networks.recipe_kwargs import (
    check_choice,
    complete_kwargs,
    keyword_defaults,
    refuse_deep_supervision,
)
from svseg.networks.registry import register_network

OUTPUT_STRIDE = 32
ASSEMFORMER_PLACES = ("both", "branch", "decoder", "none")


class SvANet(nn.Module):
    """SvANet for (B, input_channels, H, W) -> (B, num_classes, H, W) logits, H and W multiples of 32.

    nnU-Net contract: `SvANet(input_channels=..., num_classes=..., deep_supervision=..., **arch_kwargs)`,
    `network.decoder.deep_supervision` exists and may be set (it has no effect). Ablation switches
    (paper Tab. IV, VI, IX, X; svanet.md §16) are keyword arguments:

    - `bottleneck`: the MCBottleneck in each branch (Tab. IV "MCBottleneck", `--fg_bottle`).
    - `mcattn`: the MCAttn gate inside it (Tab. IV "MCAttn", `--fg_bottle_se 2/0`);
      `mcattn_pool_sizes` the candidate pool sizes (Tab. VI, `--moc_pool_res`), `(1,)` makes it SE;
      `mcattn_shuffle` the spatial shuffle (`--moc_order`).
    - `cross_scale_guidance`: the CSLayers (Tab. IV "guidance", `--fg_use_guide`; here independent of
      the other switches, the official flag also turns SvAttn and the AssemFormers off).
    - `svattn`: the SvAttn gate on every CSLayer (Tab. IV "SvAttn", `--fg_svattn 1/0`).
    - `assemformer`: where AssemFormers sit: "both", "branch" (before concatenation), "decoder"
      (after), "none" (Tab. IV "AssemFormer", Tab. IX; `--fg_vit`, `--fg_link_vit`).
    - `decoder_fusion`: "concat" (paper), "add" or "none" (Tab. X; `--fg_link 2/1/0`).
    - `width`: multiplier on every channel count (rounded to multiples of 8); `encoder_depths`,
      `assemformer_depth`, `gate_min_hidden` shrink the model further (svanet_tiny).
    - `detail_channels`: width of svseg's full-resolution detail head (blocks/detail_head.py); 0, the
      paper configuration, leaves it out.
    - `pretrained`: local torchvision ResNet-50 state dict for the encoder (never downloaded).
    - `activation_checkpointing`: "none", "assemformer" (every AssemFormer) or "stages" (each branch
      and decoder level) are recomputed in backward instead of keeping their activations: less
      training memory, same parameters, outputs and gradients (blocks/checkpointing.py).
    """

    supports_deep_supervision: ClassVar[bool] = False

    def __init__(
        self,
        input_channels: int,
        num_classes: int,
        deep_supervision: bool = False,
        *,
        width: float = 1.0,
        encoder_depths: Sequence[int] = RESNET50_DEPTHS,
        bottleneck: bool = True,
        mcattn: bool = True,
        mcattn_pool_sizes: Sequence[int] = (1, 2, 3),
        mcattn_shuffle: bool = True,
        gate_min_hidden: int = 32,
        cross_scale_guidance: bool = True,
        svattn: bool = True,
        svattn_divisor: int = 4,
        guidance_drop_path: float = 0.2,
        assemformer: str = "both",
        assemformer_depth: int = 2,
        decoder_fusion: str = "concat",
        aspp_rates: Sequence[int] = (12, 24, 36),
        aspp_dropout: float = 0.1,
        bn_eps: float = OFFICIAL_BN_EPS,
        detail_channels: int = 0,
        pretrained: str | Path | None = None,
        activation_checkpointing: str = "none",
    ) -> None:
        super().__init__()
        refuse_deep_supervision("SvANet", deep_supervision, "the official model has none")
        check_choice("SvANet", "assemformer", assemformer, ASSEMFORMER_PLACES)
        check_choice("SvANet", "activation_checkpointing", activation_checkpointing, CHECKPOINTING)
        check_choice("SvANet", "decoder_fusion", decoder_fusion, FUSIONS)
        if not width > 0 or int(input_channels) < 1 or int(num_classes) < 1 or int(detail_channels) < 0:
            raise SvsegError(
                f"SvANet needs width > 0, input_channels >= 1, num_classes >= 1 and detail_channels >= 0; "
                f"got {width}, {input_channels}, {num_classes}, {detail_channels}"
            )
        self.encoder = ResNetEncoder(input_channels, encoder_depths, width, bn_eps)
        stages = self.encoder.out_channels  # E1..E5
        branch_channels = stages[:4]
        aspp_channels = make_divisible(512 * width)
        self.aspp = ASPP(stages[4], aspp_channels, aspp_rates, aspp_dropout, bn_eps)
        branch_af = assemformer in ("both", "branch")
        self.branches = nn.ModuleList(
            _branch(
                c,
                bottleneck,
                mcattn,
                mcattn_pool_sizes,
                mcattn_shuffle,
                gate_min_hidden,
                assemformer_depth if branch_af else None,
                bn_eps,
            )
            for c in branch_channels
        )
        self.guidance = (
            CrossScaleGuidance(branch_channels, svattn, svattn_divisor, guidance_drop_path, bn_eps)
            if cross_scale_guidance
            else None
        )
        decoder_af = assemformer_depth if assemformer in ("both", "decoder") else None
        self.decoder = LinkDecoder(stages[4], branch_channels[::-1], decoder_fusion, decoder_af, False, bn_eps)
        self.head = MultiScaleHead([*branch_channels, aspp_channels], num_classes)
        self.detail = DetailHead(input_channels, num_classes, int(detail_channels), bn_eps) if detail_channels else None
        self.checkpoint_stages = activation_checkpointing == "stages"
        self.decoder.checkpoint = self.checkpoint_stages
        for module in self.modules():
            if isinstance(module, AssemFormer):
                module.checkpoint = activation_checkpointing == "assemformer"
        if pretrained is not None:
            load_resnet_weights(self.encoder, pretrained)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[2] % OUTPUT_STRIDE or x.shape[3] % OUTPUT_STRIDE:
            raise SvsegError(
                f"SvANet needs (B, C, H, W) input with H and W multiples of {OUTPUT_STRIDE}, got {tuple(x.shape)}"
            )
        stages = self.encoder(x)
        context = self.aspp(stages[4])
        branches = [run_block(branch, branch, feat, enabled=self.checkpoint_stages)
                    for branch, feat in zip(self.branches, stages[:4], strict=True)]
        if self.guidance is not None:
            branches = self.guidance(branches)
        decoded = self.decoder(stages[4], branches[::-1])  # D4, D3, D2, D1
        logits = self.head([*decoded[::-1], context], x.shape[2:])
        return logits if self.detail is None else self.detail(x, logits)

    def load_pretrained_encoder(self, path: str | Path) -> None:
        """Load a local torchvision ResNet-50 state dict into the encoder (see svseg.networks.pretrained)."""
        load_resnet_weights(self.encoder, path)



def _branch(
    channels: int,
    bottleneck: bool,
    mcattn: bool,
    pool_sizes: Sequence[int],
    shuffle: bool,
    gate_min_hidden: int,
    assemformer_depth: int | None,
    bn_eps: float,
) -> nn.Module:
    """Branch b: MCBottleneck then AssemFormer (official `FGBottleneck`), either part optional."""
    parts: list[nn.Module] = []
    if bottleneck:
        parts.append(MCBottleneck(channels, 2, mcattn, pool_sizes, shuffle, gate_min_hidden, bn_eps))
    if assemformer_depth is not None:
        parts.append(AssemFormer(channels, assemformer_depth, bn_eps=bn_eps))
    return nn.Sequential(*parts) if parts else nn.Identity()


_ARCH_DEFAULTS: dict[str, Any] = keyword_defaults(SvANet)


def svanet_kwargs(
    variant: dict[str, Any],
    patch_size: Sequence[int] | None = None,
    spacing: Sequence[float] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Complete SvANet kwargs for a variant plus overrides: every switch spelled out, plain JSON.

    Unknown names are user errors (a typo in plans must not be silently ignored). A patch size,
    when given, must be 2D with sides that are multiples of 32. Spacing does not change SvANet.
    """
    return complete_kwargs("SvANet", _ARCH_DEFAULTS, variant, overrides, patch_size, OUTPUT_STRIDE)


TINY_VARIANT: dict[str, Any] = {
    "width": 0.125,
    "encoder_depths": (1, 1, 2, 1),
    "assemformer_depth": 1,
    "gate_min_hidden": 8,
}
"""svanet_tiny: the paper topology at 1/8 width, shallower encoder, one attention block per AssemFormer."""

SOSEGFORMER_LIKE_VARIANT: dict[str, Any] = {"mcattn": False, "svattn": False}
"""SvANet with cross-scale guidance and AssemFormer fusion but no MCAttn/SvAttn gates.

SoSegFormer (the same group's precursor: "cross-scale instruction" + "StageFormer") has no public
code; this is only the SvANet ablation closest to that description, not a reproduction.
"""


@register_network("svanet", SvANet)
def svanet(
    patch_size: Sequence[int] | None = None, spacing: Sequence[float] | None = None, **overrides: Any
) -> dict[str, Any]:
    """The paper configuration (official shell/main.sh): 202.45 M parameters with 8 classes."""
    return svanet_kwargs({}, patch_size, spacing, **overrides)


@register_network("svanet_tiny", SvANet)
def svanet_tiny(
    patch_size: Sequence[int] | None = None, spacing: Sequence[float] | None = None, **overrides: Any
) -> dict[str, Any]:
    """Same topology with reduced widths and depths (< 3 M parameters) for CPU tests and the demo."""
    return svanet_kwargs(TINY_VARIANT, patch_size, spacing, **overrides)


TINY_DETAIL_VARIANT: dict[str, Any] = {**TINY_VARIANT, "detail_channels": 16}
"""svanet_tiny with a 16-channel full-resolution detail head (svseg's addition, blocks/detail_head.py)."""


@register_network("svanet_tiny_detail", SvANet)
def svanet_tiny_detail(
    patch_size: Sequence[int] | None = None, spacing: Sequence[float] | None = None, **overrides: Any
) -> dict[str, Any]:
    """svanet_tiny whose stride-2 logits are corrected at full resolution from the input (sharper boundaries)."""
    return svanet_kwargs(TINY_DETAIL_VARIANT, patch_size, spacing, **overrides)


@register_network("sosegformer_like", SvANet)
def sosegformer_like(
    patch_size: Sequence[int] | None = None, spacing: Sequence[float] | None = None, **overrides: Any
) -> dict[str, Any]:
    """SvANet without MCAttn and SvAttn: transformer fusion only (closest to SoSegFormer, not a port)."""
    return svanet_kwargs(SOSEGFORMER_LIKE_VARIANT, patch_size, spacing, **overrides)
