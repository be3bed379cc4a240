"""The plans one training run uses: the dataset's plans plus preset, overrides and ``--arch``.

The trainer reads every hyperparameter from the plans it is given (house rule R4), so everything a
user changes for one run is written into a copy of the plans before the trainer is built; nnU-Net
then copies that dict to the model folder, which therefore records the run as it really was.

``--arch NAME`` trains another registered architecture on the same preprocessed data: the copy
gets a configuration ``<base>_<NAME>`` (e.g. ``2d_unet``) that inherits from the base
configuration, keeps its ``data_identifier`` (no re-preprocessing) and overrides the whole
``architecture`` block (nnU-Net's inheritance is a shallow update). nnU-Net's predictor finds it
as configuration ``2d_unet`` in the model folder's plans. The copy's svseg section is pointed at
that configuration and network, so the model folder's plans describe the model in it.

``--arch`` naming the plan's own network is the plan's model: it trains in the base configuration,
the same folder as a run without ``--arch``. Either way the svseg section names the network, and
that name is what ``svseg predict --arch`` and ``svseg compare`` look up
(:func:`svseg.inference.model_loading.model_arch`), so one name reaches one model.
"""

from __future__ import annotations

import copy
from typing import Any

from svseg.errors import SvsegError
from svseg.planning.plans import PLANS_NAME, Recipe, SvsegPlans

TRAINER_NAME = "SvsegTrainer"


def training_configuration(plans: SvsegPlans, arch: str | None) -> str:
    """The configuration a run trains: the plans' own (no `arch`, or the plan's network), else ``<base>_<arch>``.

    The model folder is named after it (:func:`model_folder_name`), keeping nnU-Net's scheme.
    """
    if arch is None or arch == plans.network.name:
        return plans.configuration
    return f"{plans.configuration}_{arch}"


def model_folder_name(configuration: str, plans_name: str = PLANS_NAME, trainer: str = TRAINER_NAME) -> str:
    """nnU-Net's model folder name, e.g. ``SvsegTrainer__svsegPlans__2d``."""
    return f"{trainer}__{plans_name}__{configuration}"


def trainer_name_for(network: str) -> str:
    """The svseg trainer a network (registered name or class path) trains with.

    A network class that needs its own training step names its trainer in a
    ``trainer_class_name`` class attribute (L-SNet: ``LSNetTrainer``); all others use
    ``SvsegTrainer``. Like nnU-Net, the model folder is named after the trainer.
    """
    from svseg.networks import list_networks, network_entry

    for name in list_networks():
        entry = network_entry(name)
        if network in (name, entry.class_path):
            return str(getattr(entry.network_class, "trainer_class_name", TRAINER_NAME))
    return TRAINER_NAME


def svseg_trainers() -> dict[str, type]:
    """svseg's trainer classes by name: the ones svseg/nnunet_ext re-exports for nnU-Net's own tools."""
    from svseg.training.lsnet_trainer import LSNetTrainer
    from svseg.training.trainer import SvsegTrainer

    return {cls.__name__: cls for cls in (SvsegTrainer, LSNetTrainer)}


def trainer_class(name: str) -> type:
    """svseg's trainer class called `name`."""
    trainers = svseg_trainers()
    if name not in trainers:
        raise SvsegError(f"unknown svseg trainer {name!r}; known: {', '.join(trainers)}")
    return trainers[name]


def architecture_configuration(
    plans: SvsegPlans, arch: str, dataset_json: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """Name and dict of the ``<base>_<arch>`` configuration for registered network `arch`."""
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels

    from svseg.networks import architecture_block, is_network, list_networks
    from svseg.nnunet_touchpoints import plans_manager

    if not is_network(arch):
        raise SvsegError(f"unknown architecture {arch!r} (--arch); registered: {', '.join(list_networks())}")
    manager = plans_manager(copy.deepcopy(plans.raw))
    base = manager.get_configuration(plans.configuration)
    block = architecture_block(
        arch,
        base.patch_size,
        base.spacing,
        determine_num_input_channels(manager, base, dataset_json),
        manager.get_label_manager(dataset_json).num_segmentation_heads,
    )
    configuration = {
        "inherits_from": plans.configuration,
        "data_identifier": base.data_identifier,
        "architecture": block,
    }
    return training_configuration(plans, arch), configuration


def plans_for_run(
    plans: SvsegPlans,
    recipe: Recipe,
    dataset_json: dict[str, Any],
    arch: str | None = None,
    preset: str | None = None,
) -> tuple[dict[str, Any], str]:
    """A copy of the plans with the run's recipe (and ``--arch`` configuration), and the configuration name."""
    raw = copy.deepcopy(plans.raw)
    raw.pop("continue_training", None)
    section = raw["svseg"]
    configuration = training_configuration(plans, arch)
    if configuration not in raw["configurations"]:
        name, block = architecture_configuration(plans, arch or "", dataset_json)
        raw["configurations"][name] = block
    if configuration != plans.configuration:
        section["configuration"] = configuration
        section["network"] = {"name": arch, "kwargs": {}}
    section["recipe"] = recipe.to_json()
    if preset is not None:
        section["preset"] = preset
    raw["configurations"][configuration]["batch_size"] = recipe.batch_size
    return raw, configuration
