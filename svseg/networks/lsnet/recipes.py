"""Registry recipes: ``lsnet`` (nnU-Net U-Net L-Net and S-Net) and ``lsnet_tiny`` (for CPU tests and the demo).

L-Net gets the ``unet`` recipe's topology for the plan's patch (so it sees whole tiles like the
plain U-Net); S-Net is a registered network built for ``roi_size`` x ``roi_size`` inputs (its own
recipe, so ``snet="svanet"`` works too: ``roi_size`` is kept a multiple of 32 for SvANet's strides).
Every value is written out in plans, so a model folder records the exact network.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from svseg.errors import SvsegError
from svseg.networks.lsnet.lnet import lnet_backbone_kwargs
from svseg.networks.lsnet.model import LSNet
from svseg.networks.recipe_kwargs import check_options, keyword_defaults
from svseg.networks.registry import is_network, register_network

DEFAULT_PATCH_SIZE = (256, 256)
DEFAULT_SPACING = (1.0, 1.0)
ROI_MULTIPLE = 32

_CLASS_OPTIONS: dict[str, Any] = keyword_defaults(LSNet, exclude=("lnet", "snet_kwargs"))
OPTIONS: dict[str, Any] = {**_CLASS_OPTIONS, "lnet_width": 1.0, "snet_kwargs": None}
"""Every override a recipe accepts: LSNet's keyword arguments plus ``lnet_width`` (L-Net feature multiplier)."""

TINY_VARIANT: dict[str, Any] = {"lnet_width": 0.25, "roi_size": 32, "max_rois": 16}
"""lsnet_tiny: L-Net at a quarter of the U-Net's widths, S-Net a U-Net on 32 x 32 RoIs, 16 RoIs per step."""


def lsnet_kwargs(variant: dict[str, Any], patch_size: Sequence[int] | None = None,
                 spacing: Sequence[float] | None = None, **overrides: Any) -> dict[str, Any]:
    """Complete LSNet kwargs (plain JSON) for a variant plus overrides; unknown names are user errors."""
    check_options("L-SNet", OPTIONS, overrides)
    options = {**OPTIONS, **variant, **overrides}
    patch = [int(p) for p in (DEFAULT_PATCH_SIZE if patch_size is None else patch_size)]
    spacing = [float(s) for s in (DEFAULT_SPACING if spacing is None else spacing)]
    roi = int(options["roi_size"])
    if roi < ROI_MULTIPLE or roi % ROI_MULTIPLE:
        raise SvsegError(f"L-SNet roi_size must be a positive multiple of {ROI_MULTIPLE}, got {roi}")
    snet = str(options["snet"])
    if snet.startswith("lsnet") or not is_network(snet):
        raise SvsegError(f"L-SNet snet={snet!r} must name a registered 2D network other than L-SNet")
    kwargs = {key: options[key] for key in _CLASS_OPTIONS}
    kwargs["lnet"] = lnet_backbone_kwargs(patch, spacing, float(options["lnet_width"]))
    kwargs["snet_kwargs"] = {"patch_size": [roi, roi], "spacing": [1.0, 1.0], **dict(options["snet_kwargs"] or {})}
    return kwargs


@register_network("lsnet", LSNet)
def lsnet(patch_size: Sequence[int] | None = None, spacing: Sequence[float] | None = None,
          **overrides: Any) -> dict[str, Any]:
    """The paper's pipeline with nnU-Net U-Nets: L-Net as planned for the patch, S-Net on 64 x 64 RoIs."""
    return lsnet_kwargs({}, patch_size, spacing, **overrides)


@register_network("lsnet_tiny", LSNet)
def lsnet_tiny(patch_size: Sequence[int] | None = None, spacing: Sequence[float] | None = None,
               **overrides: Any) -> dict[str, Any]:
    """Reduced L-SNet for CPU tests, the demo and comparisons (see :data:`TINY_VARIANT`)."""
    return lsnet_kwargs(TINY_VARIANT, patch_size, spacing, **overrides)
