"""STS-Net: DeepLabV3 on a dilated ResNeXt-50 with ESCA channel attention, as its released code builds it.

Paper: Zhao L. et al., "A novel framework for segmentation of small targets in medical images",
Sci. Rep. 2025. Reference: the released code (zlxokok/STSNet: `infer.py`, `eca_layer`, its smp
fork's DeepLabV3), as recorded in docs/design/peer-networks.md §2, whose numbers this follows.
With the default kwargs and 3 -> 2 channels the parameter count is exactly 39,105,873.

Data flow, stride in brackets:
    encoder ResNeXt-50 32x4d, layer3/4 dilated 2/4  -> E1 (/2) .. E5 (/8), ESCA after every stage
    decoder ASPP(E5) (rates 12/24/36, 256 ch)       -> 3x3 conv + BN + ReLU (/8)
    head    1x1 conv -> classes                     -> bilinear x8 (align_corners=True) to the input size

Differences from the released code, all deliberate: any number of input channels (the code
replicates grey slices to RGB); BatchNorm can be swapped for InstanceNorm (`norm="instance"`) for
tiny batches; the ESCA kernel can follow ECA-Net's adaptive rule (`esca_kernel="adaptive"`) rather
than the code's k = 3. There are no skip connections: an object under 8 px covers at most one
feature cell, STS-Net's main weakness for small objects next to SvANet (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from svseg.errors import SvsegError
from svseg.networks.blocks.aspp import ASPP
from svseg.networks.blocks.conv_norm_act import ConvNormAct, make_divisible
from svseg.networks.blocks.esca import ESCA, ESCA_KERNELS, esca_kernel_size
from svseg.networks.blocks.resnet import RESNET50_DEPTHS, ResNetEncoder
from svseg.networks.pretrained import load_resnet_weights
from svseg.networks.recipe_kwargs import (
    check_choice,
    complete_kwargs,
    keyword_defaults,
    refuse_deep_supervision,
)
from svseg.networks.registry import register_network

OUTPUT_STRIDE = 8
DILATIONS = (1, 1, 2, 4)
"""Per-layer dilation of smp's `make_dilated` for output stride 8 (layer3 and layer4 lose their stride)."""
NORMS = ("batch", "instance")
TORCH_BN_EPS = 1e-5
"""smp/torchvision BatchNorm eps (SvANet's official code uses 1e-3)."""


class DeepLabV3Decoder(nn.Module):
    """smp's DeepLabV3 decoder: ASPP (dropout 0.5, element-wise) then 3x3 conv + BN + ReLU, one output.

    `deep_supervision` exists for nnU-Net's trainer, which sets it; there are no auxiliary outputs.
    """

    def __init__(
        self, in_channels: int, channels: int, rates: Sequence[int], dropout: float, bn_eps: float
    ) -> None:
        super().__init__()
        self.deep_supervision = False
        self.aspp = ASPP(in_channels, channels, rates, dropout, bn_eps, spatial_dropout=False)
        self.conv = ConvNormAct(channels, channels, 3, bn_eps=bn_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.aspp(x))


class STSNet(nn.Module):
    """STS-Net for (B, input_channels, H, W) -> (B, num_classes, H, W) logits, H and W multiples of 8.

    nnU-Net contract: `STSNet(input_channels=..., num_classes=..., deep_supervision=..., **arch_kwargs)`,
    `network.decoder.deep_supervision` exists and may be set (it has no effect). Options:

    - `width`: multiplier on every channel count (rounded to multiples of 8); `encoder_depths`,
      `groups`, `width_per_group` shrink the encoder further (sts_net_tiny).
    - `esca`: the five ESCA gates (False gives a plain dilated-ResNeXt DeepLabV3);
      `esca_kernel`: "shared3" (k = 3 everywhere, the released code) or "adaptive" (ECA-Net's rule).
    - `norm`: "batch" (the code) or "instance" (affine InstanceNorm everywhere; the ASPP pooling
      branch, a 1x1 map, gets a one-group GroupNorm, i.e. normalisation across its channels).
    - `pretrained`: local torchvision resnext50_32x4d state dict for the encoder (never downloaded).
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
        groups: int = 32,
        width_per_group: int = 4,
        esca: bool = True,
        esca_kernel: str = "shared3",
        aspp_rates: Sequence[int] = (12, 24, 36),
        dropout: float = 0.5,
        norm: str = "batch",
        bn_eps: float = TORCH_BN_EPS,
        pretrained: str | Path | None = None,
    ) -> None:
        super().__init__()
        refuse_deep_supervision("STS-Net", deep_supervision, "one stride-8 map")
        check_choice("STS-Net", "esca_kernel", esca_kernel, ESCA_KERNELS)
        check_choice("STS-Net", "norm", norm, NORMS)
        if not width > 0 or int(input_channels) < 1 or int(num_classes) < 1 or int(groups) < 1:
            raise SvsegError(
                f"STS-Net needs width > 0, groups >= 1, input_channels >= 1 and num_classes >= 1; got {width}, "
                f"{groups}, {input_channels}, {num_classes}"
            )
        if int(make_divisible(64 * width) * width_per_group / 64) < 1:
            raise SvsegError(
                f"STS-Net width {width} with width_per_group {width_per_group} leaves layer1 no channels per group"
            )
        self.encoder = ResNetEncoder(
            input_channels,
            encoder_depths,
            width,
            bn_eps,
            groups=int(groups),
            width_per_group=int(width_per_group),
            dilations=DILATIONS,
        )
        stages = self.encoder.out_channels
        self.esca = nn.ModuleList(ESCA(esca_kernel_size(esca_kernel, c)) for c in stages) if esca else None
        decoder_channels = make_divisible(256 * width)
        self.decoder = DeepLabV3Decoder(stages[4], decoder_channels, aspp_rates, dropout, bn_eps)
        self.head = nn.Conv2d(decoder_channels, num_classes, 1)
        if norm == "instance":
            use_instance_norm(self)
        if pretrained is not None:
            load_resnet_weights(self.encoder, pretrained)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[2] % OUTPUT_STRIDE or x.shape[3] % OUTPUT_STRIDE:
            raise SvsegError(
                f"STS-Net needs (B, C, H, W) input with H and W multiples of {OUTPUT_STRIDE}, got {tuple(x.shape)}"
            )
        features = self.encoder(x, self.esca)[4]
        logits = self.head(self.decoder(features))
        return F.interpolate(logits, size=x.shape[2:], mode="bilinear", align_corners=True)

    def load_pretrained_encoder(self, path: str | Path) -> None:
        """Load a local torchvision resnext50_32x4d state dict into the encoder (see svseg.networks.pretrained)."""
        load_resnet_weights(self.encoder, path)


def use_instance_norm(module: nn.Module) -> None:
    """Replace every BatchNorm2d under `module` by affine InstanceNorm2d (same eps, weights copied).

    A norm that sees a 1x1 map (the ASPP pooling branch) becomes GroupNorm with one group instead:
    instance statistics of a single value are undefined.
    """
    pooling_norms = {id(m.pool_proj.norm) for m in module.modules() if isinstance(m, ASPP)}
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if not isinstance(child, nn.BatchNorm2d):
                continue
            if id(child) in pooling_norms:
                replacement: nn.Module = nn.GroupNorm(1, child.num_features, eps=child.eps)
            else:
                replacement = nn.InstanceNorm2d(child.num_features, eps=child.eps, affine=True)
            with torch.no_grad():
                replacement.weight.copy_(child.weight)
                replacement.bias.copy_(child.bias)
            setattr(parent, name, replacement)



_ARCH_DEFAULTS: dict[str, Any] = keyword_defaults(STSNet)


def sts_net_kwargs(
    variant: dict[str, Any],
    patch_size: Sequence[int] | None = None,
    spacing: Sequence[float] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Complete STS-Net kwargs for a variant plus overrides: every option spelled out, plain JSON.

    Unknown names are user errors. A patch size, when given, must be 2D with sides that are
    positive multiples of 8 (the output stride). Spacing does not change STS-Net.
    """
    return complete_kwargs("STS-Net", _ARCH_DEFAULTS, variant, overrides, patch_size, OUTPUT_STRIDE)


TINY_VARIANT: dict[str, Any] = {
    "width": 0.25,
    "encoder_depths": (1, 1, 2, 1),
    "groups": 8,
    "width_per_group": 16,
}
"""sts_net_tiny: the paper topology at 1/4 width (ASPP 64 channels), one block per layer except
two in layer3, and 8 groups whose width in layer1 is 4 as in 32x4d (bottlenecks stay 2x planes)."""


@register_network("sts_net", STSNet)
def sts_net(
    patch_size: Sequence[int] | None = None, spacing: Sequence[float] | None = None, **overrides: Any
) -> dict[str, Any]:
    """The released configuration (ResNeXt-50 32x4d, output stride 8): 39.11 M parameters with 2 classes."""
    return sts_net_kwargs({}, patch_size, spacing, **overrides)


@register_network("sts_net_tiny", STSNet)
def sts_net_tiny(
    patch_size: Sequence[int] | None = None, spacing: Sequence[float] | None = None, **overrides: Any
) -> dict[str, Any]:
    """Same topology with reduced widths, depths and groups for CPU tests and the demo."""
    return sts_net_kwargs(TINY_VARIANT, patch_size, spacing, **overrides)
