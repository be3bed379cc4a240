"""The encoder: finding it, loading pretrained weights into it, and how long it stays frozen.

The official SvANet recipe freezes the ImageNet-pretrained encoder for the first
``ceil(0.1 * epochs)`` epochs while BatchNorm statistics keep updating
(docs/design/training-recipe.md). svseg freezes only when pretrained encoder weights were
actually loaded: freezing a randomly initialised encoder would only waste epochs.

Freezing is done by holding the encoder's optimizer parameter group at learning rate 0
(:class:`svseg.training.schedules.RecipeLRScheduler`), not by switching ``requires_grad``:
DistributedDataParallel registers its gradient hooks once at wrapping time and fails when
parameters stop receiving gradients later, and torch.compile would recompile on the switch. A
zero rate leaves the weights untouched with AdamW (decoupled decay is scaled by the rate) and
SGD alike, keeps BatchNorm in training mode like the official code, and needs no hook.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from torch import nn

from svseg.errors import SvsegError
from svseg.planning.plans import Recipe
from svseg.training.network_from_plans import unwrap_network
from svseg.utils.torch_files import PRETRAINED, load_torch_file

log = logging.getLogger(__name__)


def find_encoder(network: nn.Module) -> nn.Module | None:
    """The network's ``encoder`` sub-module (nnU-Net's U-Nets and SvANet have one), or None."""
    encoder = getattr(unwrap_network(network), "encoder", None)
    return encoder if isinstance(encoder, nn.Module) else None


def parameter_groups(network: nn.Module) -> tuple[list[dict[str, Any]], int | None]:
    """Optimizer parameter groups: the encoder first (if any), then everything else.

    The grouping depends only on the architecture, never on whether freezing is used, so an
    optimizer state saved by one run always loads into a resumed one. Returns the groups and the
    encoder group's index (None without an encoder).
    """
    params = [p for p in network.parameters() if p.requires_grad]
    encoder = find_encoder(network)
    if encoder is None:
        return [{"params": params}], None
    encoder_ids = {id(p) for p in encoder.parameters()}
    in_encoder = [p for p in params if id(p) in encoder_ids]
    rest = [p for p in params if id(p) not in encoder_ids]
    if not in_encoder or not rest:
        return [{"params": params}], None
    return [{"params": in_encoder}, {"params": rest}], 0


def frozen_until_epoch(recipe: Recipe, num_epochs: int, pretrained_encoder: bool) -> int:
    """First epoch in which the encoder trains (0 = never frozen)."""
    if not pretrained_encoder or recipe.freeze_encoder_fraction <= 0:
        return 0
    return math.ceil(recipe.freeze_encoder_fraction * num_epochs)


def load_pretrained_encoder(network: nn.Module, path: Path) -> None:
    """Load pretrained encoder weights from `path` into the network's encoder (in place).

    Two kinds of file are accepted. An svseg/nnU-Net checkpoint (a dict with ``network_weights``,
    e.g. a model trained on another dataset): its ``encoder.*`` tensors are copied where name and
    shape match. Anything else is an ImageNet state dict in the family's published format, loaded by
    the network's own ``load_pretrained_encoder`` (torchvision ResNet-50 for SvANet, ResNeXt-50 for
    STS-Net, Res2Net-50 v1b for M2SNet) or, failing that, by
    :func:`svseg.networks.pretrained.load_resnet_weights`.
    Every file is read with ``weights_only=True``. Raises SvsegError when nothing fits, so a wrong
    file never trains silently from scratch.
    """
    path = Path(path)
    encoder = find_encoder(network)
    if encoder is None:
        raise SvsegError(f"{path}: this network has no 'encoder' to load pretrained weights into")
    if not path.exists():
        raise SvsegError(f"{path}: pretrained weights file not found (svseg never downloads weights)")
    loaded = load_torch_file(path, "cpu", PRETRAINED)  # weights-only; unsafe files refused
    if isinstance(loaded, dict) and isinstance(loaded.get("network_weights"), dict):
        _copy_encoder_tensors(encoder, loaded["network_weights"], path)
    elif callable(getattr(unwrap_network(network), "load_pretrained_encoder", None)):
        unwrap_network(network).load_pretrained_encoder(path)  # each family knows its published key format
    else:
        from svseg.networks.pretrained import load_resnet_weights

        load_resnet_weights(encoder, path)
    log.info("pretrained encoder weights loaded from %s", path)


def _copy_encoder_tensors(encoder: nn.Module, weights: dict[str, Any], path: Path) -> None:
    """Copy ``encoder.*`` tensors of a whole-network state dict whose name and shape match."""
    source = {k.removeprefix("module."): v for k, v in weights.items()}
    target = encoder.state_dict()
    matched = {
        name: source[f"encoder.{name}"]
        for name, tensor in target.items()
        if f"encoder.{name}" in source and source[f"encoder.{name}"].shape == tensor.shape
    }
    if not matched:
        raise SvsegError(f"{path}: no encoder tensor of this checkpoint matches this network by name and shape")
    encoder.load_state_dict(matched, strict=False)
    log.info("pretrained encoder: %d of %d tensors copied from %s", len(matched), len(target), path)
