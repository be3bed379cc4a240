"""M2SNet: multi-scale in multi-scale subtraction network, with a from-scratch or a Res2Net encoder.

Paper: Zhao et al., "M2SNet: Multi-scale in Multi-scale Subtraction Network for Medical Image
Segmentation" (arXiv 2303.10894). Reference: the released code as read in
docs/design/peer-networks.md §1 (section numbers below cite it).

Data flow (§1.1), channels `channels` (64) everywhere after the squeeze:
    encoder                      -> f1 .. f5 (5 taps, strides below)
    squeeze                      -> s2..s5 = conv3x3-norm-ReLU(f2..f5); s1 = f1 (squeezed only when
                                    its width differs from `channels`; never in the paper network)
    pyramid of 10 MSUs           -> row 1: (5,4) (4,3) (3,2) (2,1); row 2: (54,43) (43,32) (32,21);
                                    row 3: (543,432) (432,321); row 4: (conv(5432), 4321)
    level aggregation            -> L4 = (5,4); L3 = conv(43 + 543); L2 = conv(32 + 432 + 5432);
                                    L1 = conv(21 + 321 + 4321 + 54321)
    top-down additive decoder    -> D4 = conv(up(conv(f5)) + L4); D3 = conv(up(D4) + L3);
                                    D2 = conv(up(D3) + L2); head = conv3x3 64 -> classes (up(D2) + L1)
    output                       -> bilinear upsample of the head to the input size

Encoders (`encoder=`):
- "plain" (default): nnU-Net's PlainConvEncoder (dynamic_network_architectures, reused, not
  copied): 6 stages of 2 x (conv3x3-InstanceNorm-LeakyReLU), features 32, 64, 128, 256, 512, 512,
  strides 1, 2, 2, 2, 2, 2. The taps are stages 2..6 (strides 2, 4, 8, 16, 32), so the head sits
  at stride 2, not 4 as in the paper: objects a few pixels across are not averaged away before
  the head sees them. The full-resolution first stage feeds the stride-2 stage, as in nnU-Net.
- "res2net50": Res2Net-50 v1b 26w x 4s as in the paper (taps at strides 4, 4, 8, 16, 32; head at
  stride 4); optional local ImageNet weights via `pretrained=` (never downloaded). With 3 input
  channels and 1 class it has exactly the released model's 27,692,585 parameters.

No deep supervision (the released model has one output); LossNet (the VGG-16 perceptual loss) is
not part of the network and is not offered (it needs ImageNet VGG weights); the F3Net structure
loss is a training option (svseg.training.structure_loss). See docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from svseg.errors import SvsegError
from svseg.networks.blocks.res2net import RES2NET50_DEPTHS, Res2NetEncoder, load_res2net_weights
from svseg.networks.blocks.subtraction import NORMS, FixedOnesConv, MultiScaleSubtraction, conv_norm_relu
from svseg.networks.recipe_kwargs import (
    check_choice,
    complete_kwargs,
    keyword_defaults,
    refuse_deep_supervision,
)
from svseg.networks.registry import register_network

OUTPUT_STRIDE = 32
ENCODERS = ("plain", "res2net50")
PLAIN_FEATURES = (32, 64, 128, 256, 512, 512)
PLAIN_STRIDES = (1, 2, 2, 2, 2, 2)


class _Flag(nn.Module):
    """Holds nnU-Net's `decoder.deep_supervision` switch; M2SNet has one output whatever its value."""

    def __init__(self) -> None:
        super().__init__()
        self.deep_supervision = False


class PlainTaps(nn.Module):
    """nnU-Net's PlainConvEncoder returning its last five stage outputs (strides 2..32)."""

    def __init__(self, input_channels: int, features: Sequence[int], norm: str) -> None:
        super().__init__()
        from dynamic_network_architectures.building_blocks.plain_conv_encoder import PlainConvEncoder

        if len(features) != len(PLAIN_STRIDES) or any(int(f) < 1 for f in features):
            raise SvsegError(f"M2SNet plain encoder needs {len(PLAIN_STRIDES)} positive features, got {list(features)}")
        norm_op = nn.InstanceNorm2d if norm == "instance" else nn.BatchNorm2d
        self.encoder = PlainConvEncoder(
            input_channels,
            len(PLAIN_STRIDES),
            [int(f) for f in features],
            nn.Conv2d,
            3,
            list(PLAIN_STRIDES),
            2,
            conv_bias=True,
            norm_op=norm_op,
            norm_op_kwargs={"eps": 1e-5, "affine": True},
            nonlin=nn.LeakyReLU,
            nonlin_kwargs={"inplace": True},
            return_skips=True,
        )
        self.out_channels = [int(f) for f in features[1:]]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(self.encoder(x)[1:])


class SubtractionDecoder(nn.Module):
    """Squeeze, the 10-MSU pyramid, level aggregation and the top-down decoder up to D2 and L1.

    Owns the single shared F3 and F5 (with their norms) that all 10 MSUs use.
    """

    def __init__(self, tap_channels: Sequence[int], channels: int, norm: str, dense_fixed_kernels: bool) -> None:
        super().__init__()
        self.deep_supervision = False
        self.squeeze = nn.ModuleList(
            nn.Identity() if index == 0 and c == channels else conv_norm_relu(c, channels, norm)
            for index, c in enumerate(tap_channels)
        )
        self.top = conv_norm_relu(tap_channels[4], channels, norm)
        self.f3 = FixedOnesConv(channels, 3, norm, dense_fixed_kernels)
        self.f5 = FixedOnesConv(channels, 5, norm, dense_fixed_kernels)
        # rows[r][i] compares row-r inputs i (coarser) and i + 1 (finer), coarse to fine
        self.rows = nn.ModuleList(
            nn.ModuleList(MultiScaleSubtraction(channels, self.f3, self.f5, norm) for _ in range(4 - r))
            for r in range(4)
        )
        self.row4_input = conv_norm_relu(channels, channels, norm)
        self.levels = nn.ModuleList(conv_norm_relu(channels, channels, norm) for _ in range(3))  # L3, L2, L1
        self.outputs = nn.ModuleList(conv_norm_relu(channels, channels, norm) for _ in range(3))  # D4, D3, D2

    def forward(self, taps: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Taps f1..f5 -> (D2, L1): the last decoder map and the finest level it is added to."""
        squeezed = [squeeze(tap) for squeeze, tap in zip(self.squeeze, taps, strict=True)][::-1]  # s5..s1
        rows: list[list[torch.Tensor]] = []
        current = squeezed
        for r, units in enumerate(self.rows):
            if r == 3:
                current = [self.row4_input(current[0]), current[1]]
            current = [unit(current[i], current[i + 1]) for i, unit in enumerate(units)]
            rows.append(current)
        # rows[r][i] has the resolution of squeezed[i + r + 1]: rows[0] = 54 43 32 21, rows[3] = 54321
        level4 = rows[0][0]
        level3 = self.levels[0](rows[0][1] + rows[1][0])
        level2 = self.levels[1](rows[0][2] + rows[1][1] + rows[2][0])
        level1 = self.levels[2](rows[0][3] + rows[1][2] + rows[2][1] + rows[3][0])
        decoded = self.top(taps[4])
        for conv, level in zip(self.outputs, (level4, level3, level2), strict=True):
            decoded = conv(_resize(decoded, level) + level)
        return decoded, level1


def _resize(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    if x.shape[-2:] == like.shape[-2:]:
        return x
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


class M2SNet(nn.Module):
    """M2SNet for (B, input_channels, H, W) -> (B, num_classes, H, W) logits, H and W multiples of 32.

    nnU-Net contract: `M2SNet(input_channels=..., num_classes=..., deep_supervision=..., **arch_kwargs)`,
    `network.decoder.deep_supervision` exists and may be set (it has no effect). Options:

    - `encoder`: "plain" (from-scratch nnU-Net conv encoder, head at stride 2) or "res2net50" (paper).
    - `features`: the plain encoder's 6 stage widths (default 32, 64, 128, 256, 512, 512).
    - `encoder_norm`: "instance" (nnU-Net) or "batch" for the plain encoder.
    - `channels`: decoder width (64 in the paper); `width` multiplies `channels` and the plain
      `features` (reduced variants such as m2snet_tiny).
    - `decoder_norm`: "batch" (paper) or "instance" (for very small batches).
    - `res2net_depths`: blocks per Res2Net stage (paper 3, 4, 6, 3).
    - `dense_fixed_kernels`: run F3/F5 as dense convolutions instead of the exact box-sum rewrite.
    - `pretrained`: local Res2Net-50 v1b state dict for the res2net50 encoder (never downloaded).
    """

    supports_deep_supervision: ClassVar[bool] = False

    def __init__(
        self,
        input_channels: int,
        num_classes: int,
        deep_supervision: bool = False,
        *,
        encoder: str = "plain",
        features: Sequence[int] = PLAIN_FEATURES,
        encoder_norm: str = "instance",
        channels: int = 64,
        width: float = 1.0,
        decoder_norm: str = "batch",
        res2net_depths: Sequence[int] = RES2NET50_DEPTHS,
        dense_fixed_kernels: bool = False,
        pretrained: str | Path | None = None,
    ) -> None:
        super().__init__()
        refuse_deep_supervision("M2SNet", deep_supervision, "the released model has one output")
        check_choice("M2SNet", "encoder", encoder, ENCODERS)
        check_choice("M2SNet", "encoder_norm", encoder_norm, NORMS)
        check_choice("M2SNet", "decoder_norm", decoder_norm, NORMS)
        if not width > 0 or int(channels) < 1 or int(input_channels) < 1 or int(num_classes) < 1:
            raise SvsegError(
                f"M2SNet needs width > 0, channels >= 1, input_channels >= 1 and num_classes >= 1; got {width}, "
                f"{channels}, {input_channels}, {num_classes}"
            )
        if pretrained is not None and encoder != "res2net50":
            raise SvsegError("M2SNet pretrained= needs encoder='res2net50' (the plain encoder has no weights)")
        decoder_channels = max(1, round(int(channels) * width))
        if encoder == "res2net50":
            self.encoder: nn.Module = Res2NetEncoder(input_channels, res2net_depths)
        else:
            self.encoder = PlainTaps(input_channels, [max(1, round(int(f) * width)) for f in features], encoder_norm)
        self.decoder = SubtractionDecoder(self.encoder.out_channels, decoder_channels, decoder_norm,
                                          dense_fixed_kernels)
        self.head = nn.Conv2d(decoder_channels, num_classes, 3, padding=1)
        if pretrained is not None:
            self.load_pretrained_encoder(pretrained)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[2] % OUTPUT_STRIDE or x.shape[3] % OUTPUT_STRIDE:
            raise SvsegError(
                f"M2SNet needs (B, C, H, W) input with H and W multiples of {OUTPUT_STRIDE}, got {tuple(x.shape)}"
            )
        decoded, level1 = self.decoder(self.encoder(x))
        logits = self.head(_resize(decoded, level1) + level1)
        return F.interpolate(logits, size=x.shape[2:], mode="bilinear", align_corners=False)

    def load_pretrained_encoder(self, path: str | Path) -> None:
        """Load a local Res2Net-50 v1b state dict into the res2net50 encoder (svseg never downloads)."""
        if not isinstance(self.encoder, Res2NetEncoder):
            raise SvsegError(f"{path}: pretrained weights need encoder='res2net50'; this M2SNet has a plain encoder")
        load_res2net_weights(self.encoder, path)



_ARCH_DEFAULTS: dict[str, Any] = keyword_defaults(M2SNet)


def m2snet_kwargs(
    variant: dict[str, Any],
    patch_size: Sequence[int] | None = None,
    spacing: Sequence[float] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Complete M2SNet kwargs for a variant plus overrides, plain JSON; unknown names are user errors.

    A patch size, when given, must be 2D with sides that are positive multiples of 32 (at least 64
    for the plain encoder with InstanceNorm). Spacing does not change M2SNet.
    """
    kwargs = complete_kwargs("M2SNet", _ARCH_DEFAULTS, variant, overrides, patch_size, OUTPUT_STRIDE)
    if (
        patch_size is not None
        and kwargs["encoder"] == "plain"
        and kwargs["encoder_norm"] == "instance"
        and min(int(s) for s in patch_size) < 2 * OUTPUT_STRIDE
    ):
        raise SvsegError(
            f"M2SNet's plain encoder with InstanceNorm needs patch sides of at least {2 * OUTPUT_STRIDE} "
            f"(one pixel at stride {OUTPUT_STRIDE} cannot be normalised); got patch size {list(patch_size)}"
        )
    return kwargs


TINY_VARIANT: dict[str, Any] = {"width": 0.25}
"""m2snet_tiny: the plain-encoder M2SNet at 1/4 width (features 8..128, decoder 16 channels)."""


@register_network("m2snet", M2SNet)
def m2snet(
    patch_size: Sequence[int] | None = None, spacing: Sequence[float] | None = None, **overrides: Any
) -> dict[str, Any]:
    """M2SNet's subtraction decoder on a from-scratch nnU-Net encoder; encoder="res2net50" is the paper's."""
    return m2snet_kwargs({}, patch_size, spacing, **overrides)


@register_network("m2snet_tiny", M2SNet)
def m2snet_tiny(
    patch_size: Sequence[int] | None = None, spacing: Sequence[float] | None = None, **overrides: Any
) -> dict[str, Any]:
    """The same topology at 1/4 width for CPU tests, the demo and comparisons."""
    return m2snet_kwargs(TINY_VARIANT, patch_size, spacing, **overrides)
