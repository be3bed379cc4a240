"""The plans a run trains with: recipe written in, ``--arch`` as an inheriting configuration."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

from svseg.errors import SvsegError
from svseg.planning.plans import SvsegPlans, load_plans, parse_plans
from svseg.training.network_from_plans import build_network_from_plans
from svseg.training.run_plans import model_folder_name, plans_for_run, training_configuration


def _plans(data_root: Path) -> tuple[SvsegPlans, Path]:
    folder = next((data_root / "preprocessed").glob("Dataset*_Disks"))
    return load_plans(folder / "svsegPlans.json"), folder / "dataset.json"


def test_recipe_and_batch_size_go_into_the_copy(data_root: Path) -> None:
    plans, dataset_json = _plans(data_root)
    original = copy.deepcopy(plans.raw)
    recipe = plans.recipe.with_overrides(epochs=7, batch_size=3)
    dataset = json.loads(dataset_json.read_text(encoding="utf-8"))
    raw, configuration = plans_for_run(plans, recipe, dataset, preset="paper")
    assert configuration == "2d"
    assert raw["svseg"]["recipe"]["epochs"] == 7 and raw["svseg"]["preset"] == "paper"
    assert raw["configurations"]["2d"]["batch_size"] == 3
    assert plans.raw == original  # the dataset's plans are never modified
    assert model_folder_name(configuration) == "SvsegTrainer__svsegPlans__2d"


def test_arch_adds_an_inheriting_configuration_nnunet_can_resolve(data_root: Path) -> None:
    plans, dataset_json = _plans(data_root)
    dataset = json.loads(dataset_json.read_text(encoding="utf-8"))
    raw, configuration = plans_for_run(plans, plans.recipe, dataset, arch="svanet_tiny")
    assert configuration == "2d_svanet_tiny" == training_configuration(plans, "svanet_tiny")
    block = raw["configurations"][configuration]
    assert block["inherits_from"] == "2d"
    assert block["data_identifier"] == raw["configurations"]["2d"]["data_identifier"]
    assert block["architecture"]["network_class_name"].endswith("SvANet")
    resolved = PlansManager(raw).get_configuration(configuration)
    assert resolved.patch_size == PlansManager(raw).get_configuration("2d").patch_size
    run = parse_plans(raw, Path("plans.json"))
    assert run.configuration == configuration and run.network.name == "svanet_tiny"
    network = build_network_from_plans(raw, configuration, 1, 2, deep_supervision=False)
    assert type(network).__name__ == "SvANet"
    # the plans' own network gives the plans' own configuration
    assert training_configuration(plans, "unet") == "2d"


def test_unknown_arch_is_a_user_error(data_root: Path) -> None:
    plans, dataset_json = _plans(data_root)
    with pytest.raises(SvsegError, match="unknown architecture 'nonet'"):
        plans_for_run(plans, plans.recipe, json.loads(dataset_json.read_text(encoding="utf-8")), arch="nonet")


def test_preset_replaces_the_recipe_and_overrides_go_on_top(data_root: Path) -> None:
    from svseg.planning.presets import load_preset
    from svseg.training.api import run_recipe

    plans, _ = _plans(data_root)
    recipe = run_recipe(plans.recipe, "svanet_paper", {"epochs": 3, "lr": None})
    paper = load_preset("svanet_paper").recipe
    assert recipe.epochs == 3 and recipe.lr == paper.lr == 5e-4 and recipe.loss == "ce"
    assert recipe.freeze_encoder_fraction == paper.freeze_encoder_fraction
    assert run_recipe(plans.recipe, None, {"batch_size": 5}).batch_size == 5
