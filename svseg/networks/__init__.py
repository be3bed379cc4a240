"""svseg networks: a registry of architectures that nnU-Net can build from plans.

Use `create_network(name, input_channels, num_classes)` to build one and
`architecture_block(name, patch_size, spacing, input_channels, num_classes)` to write it into an
nnU-Net plans file; `check_architecture_block` is the gate for plans read from disk. Registered:
`svanet` (paper), `svanet_tiny`, `svanet_tiny_detail`, `sosegformer_like`, `unet` (nnU-Net's PlainConvUNet),
`sts_net` (STS-Net, paper), `sts_net_tiny`, `m2snet` (subtraction decoder, plain or Res2Net-50
encoder), `m2snet_tiny`, `lsnet` (L-SNet: locate, recalibrate, segment), `lsnet_tiny`.
Shared parts live in `svseg.networks.blocks`; see docs/architecture.md. Importing the network
family modules (`lsnet`, `m2snet`, `nnunet_unet`, `sts_net`, `svanet`) runs their `@register_network` decorators.
"""

from svseg.networks import lsnet, m2snet, nnunet_unet, sts_net, svanet
from svseg.networks.complexity import count_macs, count_parameters
from svseg.networks.m2snet import M2SNet
from svseg.networks.registry import (
    NetworkEntry,
    architecture_block,
    check_architecture_block,
    create_network,
    is_network,
    list_networks,
    network_entry,
    network_supports_deep_supervision,
    register_network,
    registered_class_paths,
)
from svseg.networks.sts_net import STSNet
from svseg.networks.svanet import SvANet

__all__ = [
    "M2SNet",
    "NetworkEntry",
    "STSNet",
    "SvANet",
    "architecture_block",
    "check_architecture_block",
    "count_macs",
    "count_parameters",
    "create_network",
    "is_network",
    "list_networks",
    "lsnet",
    "m2snet",
    "network_entry",
    "network_supports_deep_supervision",
    "nnunet_unet",
    "register_network",
    "registered_class_paths",
    "sts_net",
    "svanet",
]
