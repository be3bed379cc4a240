"""Build the network a plans configuration names, refusing anything not in svseg's registry.

nnU-Net's ``get_network_from_plans`` imports whatever dotted path a plans file contains, so a
plans file could run arbitrary code. svseg checks the whole plans dict
(:func:`svseg.planning.plans_safety.check_plans_are_data`) and the architecture block against the
registry (:func:`svseg.networks.check_architecture_block`) first, and only then lets nnU-Net build
it, so the trainer and the predictor build exactly what nnU-Net's own tools would.

:class:`RegistryNetworkHooks` carries the two trainer hooks that concern the network: how it is
built (also what nnU-Net's predictor calls on the trainer class) and how deep supervision is
switched, which nnU-Net does unconditionally on ``network.decoder`` although SvANet has no
auxiliary outputs (docs/design/nnunet-integration.md, 'Deep supervision').
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from svseg.errors import SvsegError


def unwrap_network(network: nn.Module) -> nn.Module:
    """The plain module inside DDP and torch.compile wrappers."""
    module = network.module if isinstance(network, nn.parallel.DistributedDataParallel) else network
    return getattr(module, "_orig_mod", module)


def build_network_from_architecture(
    block: dict[str, Any],
    num_input_channels: int,
    num_output_channels: int,
    deep_supervision: bool,
    where: str = "plans",
) -> nn.Module:
    """The network of one resolved ``architecture`` block, built by nnU-Net after the registry check.

    The op names (already allow-listed by the check) are turned into torch.nn classes by the
    registry's table, so nnU-Net gets classes and imports none of the block's strings.
    """
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

    from svseg.networks import check_architecture_block
    from svseg.networks.registry import torch_op_class

    check_architecture_block(block, where)
    kwargs = dict(block["arch_kwargs"])
    for key in block["_kw_requires_import"]:
        if kwargs[key] is not None:
            kwargs[key] = torch_op_class(key, kwargs[key], where)
    return get_network_from_plans(
        block["network_class_name"],
        kwargs,
        [],
        num_input_channels,
        num_output_channels,
        allow_init=True,
        deep_supervision=deep_supervision,
    )


def build_network_from_plans(
    plans: dict[str, Any],
    configuration: str,
    num_input_channels: int,
    num_output_channels: int,
    deep_supervision: bool,
    source: Path | str | None = None,
) -> nn.Module:
    """The configuration's network, built by nnU-Net after the plans-are-data and registry checks.

    `source` names the plans file in error messages (default: the plans' name).
    """
    from svseg.nnunet_touchpoints import plans_manager
    from svseg.planning.plans_safety import check_plans_are_data

    where = str(source or f"plans {plans.get('plans_name') if isinstance(plans, dict) else None!r}")
    check_plans_are_data(plans, where)
    try:
        configuration_manager = plans_manager(plans).get_configuration(configuration)
    except (KeyError, RuntimeError, ValueError) as exc:
        name = plans.get("plans_name")
        raise SvsegError(f"plans {name!r}: configuration {configuration!r} unusable ({exc})") from None
    return build_network_from_architecture(
        configuration_manager.configuration["architecture"], num_input_channels, num_output_channels, deep_supervision,
        f"{where}: configurations[{configuration!r}].architecture",
    )


def architecture_supports_deep_supervision(block: dict[str, Any]) -> bool:
    """Whether the architecture has auxiliary low-resolution outputs nnU-Net can supervise."""
    from svseg.networks import network_supports_deep_supervision

    return bool(network_supports_deep_supervision(block["network_class_name"]))


class RegistryNetworkHooks:
    """Trainer hooks for building the network from the registry and toggling deep supervision.

    A mixin for :class:`svseg.training.trainer.SvsegTrainer` (it relies on nnU-Net's trainer
    attributes ``network`` and ``enable_deep_supervision``).
    """

    network: nn.Module
    enable_deep_supervision: bool

    @staticmethod
    def build_network_architecture(
        plans_manager: Any,
        configuration_manager: Any,
        num_input_channels: int,
        num_output_channels: int,
        enable_deep_supervision: bool = True,
    ) -> nn.Module:
        """nnU-Net's network hook (also used by nnU-Net's predictor), through svseg's registry."""
        return build_network_from_architecture(
            configuration_manager.configuration["architecture"],
            num_input_channels,
            num_output_channels,
            enable_deep_supervision,
        )

    def set_deep_supervision_enabled(self, enabled: bool) -> None:
        """Switch auxiliary outputs on or off, where the network has them and the run uses them.

        nnU-Net calls this on every network and switches it back on after validation; a network
        without a ``decoder.deep_supervision`` flag (SvANet) is left alone, and a network trained
        without deep supervision is never switched on.
        """
        decoder = getattr(unwrap_network(self.network), "decoder", None)
        if decoder is not None and hasattr(decoder, "deep_supervision"):
            decoder.deep_supervision = bool(enabled and self.enable_deep_supervision)
