"""Build the network a plans configuration names, refusing anything not in svseg's registry.

nnU-Net's ``get_network_from_plans`` imports whatever dotted path a plans file contains, so a
plans file could run arbitrary code. svseg checks the architecture block against the registry
first (:func:`svseg.networks.check_architecture_block`) and only then lets nnU-Net build it, so
the trainer and the predictor build exactly what nnU-Net's own tools would.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from svseg.errors import SvsegError


def build_network_from_plans(
    plans: dict[str, Any],
    configuration: str,
    num_input_channels: int,
    num_output_channels: int,
    deep_supervision: bool,
) -> nn.Module:
    """The configuration's network, built by nnU-Net after svseg's registry check."""
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    from svseg.networks import check_architecture_block

    try:
        configuration_manager = PlansManager(plans).get_configuration(configuration)
    except (KeyError, RuntimeError, ValueError) as exc:
        raise SvsegError(f"plans {plans.get('plans_name')!r}: configuration {configuration!r} unusable ({exc})") from None
    block = configuration_manager.configuration["architecture"]
    check_architecture_block(block)
    return get_network_from_plans(
        block["network_class_name"],
        block["arch_kwargs"],
        block["_kw_requires_import"],
        num_input_channels,
        num_output_channels,
        allow_init=True,
        deep_supervision=deep_supervision,
    )
