"""`unet`: nnU-Net's own 2D PlainConvUNet, with the topology nnU-Net 2.8.1's ExperimentPlanner gives it.

The recipe reproduces `ExperimentPlanner.get_plans_for_configuration` (default planner) for a
given final patch size and spacing: `get_pool_and_conv_props(spacing, patch, 4, 999999)` (nnU-Net's
own function, called) for strides and kernel sizes, features min(32 * 2^i, 512) in 2D (320 in 3D),
two convs per stage in encoder and decoder, InstanceNorm (eps 1e-5, affine), LeakyReLU, no dropout.
The planner's constants are instance attributes set in its `__init__`, which needs a dataset on
disk, so they are restated below; tests/networks/test_nnunet_unet.py runs the real planner on a
small fake dataset and compares, so an nnU-Net update cannot drift silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dynamic_network_architectures.architectures.unet import PlainConvUNet

from svseg.errors import SvsegError
from svseg.networks.registry import register_network

DEFAULT_PATCH_SIZE = (256, 256)
DEFAULT_SPACING = (1.0, 1.0)
REQUIRES_IMPORT = ("conv_op", "norm_op", "dropout_op", "nonlin")
_CONV_OPS = {2: "torch.nn.modules.conv.Conv2d", 3: "torch.nn.modules.conv.Conv3d"}
# ExperimentPlanner.__init__ (nnU-Net 2.8.1): UNet_base_num_features, UNet_max_features_2d/_3d,
# UNet_featuremap_min_edge_length, UNet_blocks_per_stage_encoder/_decoder (all 2s).
BASE_FEATURES = 32
MAX_FEATURES = {2: 512, 3: 320}
MIN_FEATURE_MAP_EDGE = 4
CONVS_PER_STAGE = 2
_NORM_OPS = {2: "torch.nn.modules.instancenorm.InstanceNorm2d", 3: "torch.nn.modules.instancenorm.InstanceNorm3d"}


def _as_lists(nested: Any) -> Any:
    """nnU-Net returns nested tuples (and numpy ints); plans hold lists of ints."""
    if isinstance(nested, (list, tuple)):
        return [_as_lists(v) for v in nested]
    return int(nested)


@register_network("unet", PlainConvUNet, REQUIRES_IMPORT)
def unet(patch_size: Sequence[int] | None = None, spacing: Sequence[float] | None = None) -> dict[str, Any]:
    """PlainConvUNet kwargs as nnU-Net plans them for this patch size and spacing (default 256 x 256 at 1 mm)."""
    from nnunetv2.experiment_planning.experiment_planners.network_topology import get_pool_and_conv_props

    patch = [int(p) for p in (DEFAULT_PATCH_SIZE if patch_size is None else patch_size)]
    spacing = [float(s) for s in (DEFAULT_SPACING if spacing is None else spacing)]
    dim = len(patch)
    if dim not in _CONV_OPS or len(spacing) != dim or any(s <= 0 for s in spacing) or any(p < 1 for p in patch):
        raise SvsegError(f"unet needs a 2D or 3D patch size and matching positive spacing, got {patch} and {spacing}")
    _, strides, kernel_sizes, _, _ = get_pool_and_conv_props(spacing, patch, MIN_FEATURE_MAP_EDGE, 999999)
    n_stages = len(strides)
    return {
        "n_stages": n_stages,
        "features_per_stage": [min(MAX_FEATURES[dim], BASE_FEATURES * 2**i) for i in range(n_stages)],
        "conv_op": _CONV_OPS[dim],
        "kernel_sizes": _as_lists(kernel_sizes),
        "strides": _as_lists(strides),
        "n_conv_per_stage": [CONVS_PER_STAGE] * n_stages,
        "n_conv_per_stage_decoder": [CONVS_PER_STAGE] * (n_stages - 1),
        "conv_bias": True,
        "norm_op": _NORM_OPS[dim],
        "norm_op_kwargs": {"eps": 1e-5, "affine": True},
        "dropout_op": None,
        "dropout_op_kwargs": None,
        "nonlin": "torch.nn.LeakyReLU",
        "nonlin_kwargs": {"inplace": True},
    }
