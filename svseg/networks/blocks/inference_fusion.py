"""An inference copy of a network with its BatchNorms folded into the neighbouring convolutions.

In eval mode a BatchNorm is a fixed per-channel affine map, so it can be folded into the
convolution before it (scale the output channels, add a bias) or, when a 1x1 convolution follows it
(AssemFormer's pre-norm transformer blocks and the norm before its fusion conv), into that one's
input channels. Eager inference then skips one full read and write of the feature map per
BatchNorm: for svanet at 512 x 512, 1.18 of the 4.82 GB an eval forward writes per image and 167
of its 832 kernels (docs/benchmarks.md). torch.compile does the same with inductor's ``freezing``.

The original model is left untouched (its state dict keeps the official layout); the copy is for
prediction only: training it would train a different parameterisation. Folded: `ConvNormAct`,
`ConvTransposeNormAct`, `ResNetBottleneck` (conv1-3 and the projection shortcut), the ResNet stem,
`LinearTransformerBlock`'s two pre-norms and `AssemFormer`'s norm before the fusion conv.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from svseg.networks.blocks.assemformer import AssemFormer, LinearTransformerBlock
from svseg.networks.blocks.conv_norm_act import ConvNormAct, ConvTransposeNormAct
from svseg.networks.blocks.resnet import ResNetBottleneck, ResNetEncoder


@torch.no_grad()
def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy of `model` with every foldable BatchNorm folded (same outputs up to rounding)."""
    folded = copy.deepcopy(model).eval()
    for module in list(folded.modules()):
        if isinstance(module, (ConvNormAct, ConvTransposeNormAct)) and isinstance(module.norm, nn.BatchNorm2d):
            transpose = isinstance(module, ConvTransposeNormAct)
            module.conv = fuse_conv_bn_eval(module.conv, module.norm, transpose=transpose)
            module.norm = nn.Identity()
        elif isinstance(module, ResNetBottleneck):
            for conv, norm in (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3")):
                _fold_after(module, conv, norm)
            if module.downsample is not None:
                module.downsample = nn.Sequential(fuse_conv_bn_eval(module.downsample[0], module.downsample[1]))
        elif isinstance(module, ResNetEncoder):
            _fold_after(module, "conv1", "bn1")
        elif isinstance(module, LinearTransformerBlock):
            _fold_before(module.norm1, module.attn.qkv)
            _fold_before(module.norm2, module.ffn[0])
            module.norm1, module.norm2 = nn.Identity(), nn.Identity()
        elif isinstance(module, AssemFormer) and isinstance(module.norm, nn.BatchNorm2d):
            # fuse = ConvNormAct over cat[norm(global), local]: fold into the first half of its inputs
            # (before ConvNormAct's own fold above, which this loop reaches later and which keeps the bias)
            _fold_before(module.norm, module.fuse.conv, channels=module.norm.num_features)
            module.norm = nn.Identity()
    return folded


def _fold_after(module: nn.Module, conv: str, norm: str) -> None:
    setattr(module, conv, fuse_conv_bn_eval(getattr(module, conv), getattr(module, norm)))
    setattr(module, norm, nn.Identity())


def _affine(norm: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift) with norm(x) = scale * x + shift per channel, in eval mode."""
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    return scale, norm.bias - norm.running_mean * scale


def _fold_before(norm: nn.BatchNorm2d, conv: nn.Conv2d, channels: int | None = None) -> None:
    """conv(cat[norm(a), b]) == conv'(cat[a, b]) for a 1x1 `conv` whose first `channels` inputs are a."""
    if conv.kernel_size != (1, 1) or conv.groups != 1:
        raise ValueError("only a plain 1x1 convolution can absorb the BatchNorm before it")
    channels = conv.in_channels if channels is None else channels
    scale, shift = _affine(norm)
    weight = conv.weight[:, :channels, 0, 0]
    extra = weight @ shift
    conv.weight[:, :channels] *= scale[None, :, None, None]
    if conv.bias is None:
        conv.bias = nn.Parameter(extra)
    else:
        conv.bias += extra
