"""Building blocks shared by svseg's networks, one concept per module (timm `layers/` style).

SvANet is assembled from these; later architectures (STS-Net, M2SNet, L-SNet) reuse them instead
of importing another network's file.
"""

from svseg.networks.blocks.aspp import ASPP
from svseg.networks.blocks.assemformer import AssemFormer, LinearSelfAttention, LinearTransformerBlock
from svseg.networks.blocks.conv_norm_act import ConvNormAct, ConvTransposeNormAct, make_activation, make_divisible
from svseg.networks.blocks.cross_scale import CrossScaleGuidance, CrossScaleLayer, StridedConvBlock
from svseg.networks.blocks.drop_path import DropPath
from svseg.networks.blocks.head import MultiScaleHead
from svseg.networks.blocks.inference_fusion import fold_batchnorm
from svseg.networks.blocks.link_decoder import LinkDecoder, LinkLevel, UpLink
from svseg.networks.blocks.mc_bottleneck import MCBottleneck
from svseg.networks.blocks.mcattn import MonteCarloAttention, gate_hidden_channels
from svseg.networks.blocks.resnet import ResNetBottleneck, ResNetEncoder
from svseg.networks.blocks.svattn import ScaleVariantAttention, svattn_pool_size

__all__ = [
    "ASPP",
    "AssemFormer",
    "ConvNormAct",
    "ConvTransposeNormAct",
    "CrossScaleGuidance",
    "CrossScaleLayer",
    "DropPath",
    "LinearSelfAttention",
    "LinearTransformerBlock",
    "LinkDecoder",
    "LinkLevel",
    "MCBottleneck",
    "MonteCarloAttention",
    "MultiScaleHead",
    "ResNetBottleneck",
    "ResNetEncoder",
    "ScaleVariantAttention",
    "StridedConvBlock",
    "UpLink",
    "fold_batchnorm",
    "gate_hidden_channels",
    "make_activation",
    "make_divisible",
    "svattn_pool_size",
]
