"""Shipped presets load and say what training-recipe.md and nnU-Net say; bad presets name the problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from svseg.errors import SvsegError
from svseg.networks import is_network
from svseg.planning.presets import list_presets, load_preset


def test_every_shipped_preset_loads_with_a_registered_network() -> None:
    names = list_presets()
    assert {"svanet_paper", "nnunet_default", "cpu_quick"} <= set(names)
    for name in names:
        preset = load_preset(name)
        assert preset.name == name and is_network(preset.network.name) and preset.description


def test_paper_preset_is_the_official_recipe() -> None:
    preset = load_preset("svanet_paper")
    recipe = preset.recipe
    assert (recipe.optimizer, recipe.weight_decay, recipe.loss, recipe.batch_size, recipe.epochs) == (
        "adamw", 0.03, "ce", 4, 100)
    assert (recipe.lr_schedule, recipe.warmup_start_lr, recipe.lr, recipe.final_lr) == (
        "warmup_cosine", 5e-5, 5e-4, 1e-6)
    assert recipe.freeze_encoder_fraction == 0.1
    assert preset.network.name == "svanet" and preset.planning.max_patch_size == (512, 512)
    assert not preset.planning.auto_batch_size
    assert "5e-5 to 1e-6" in preset.notes  # where the paper's text differs


def test_nnunet_preset_is_nnunets_recipe() -> None:
    recipe = load_preset("nnunet_default").recipe
    assert (recipe.optimizer, recipe.lr, recipe.momentum, recipe.nesterov) == ("sgd", 0.01, 0.99, True)
    assert (recipe.lr_schedule, recipe.loss, recipe.epochs, recipe.iters_per_epoch) == ("poly", "dice_ce", 1000, 250)
    assert recipe.oversample_foreground == 0.33


def test_quick_preset_is_tiny() -> None:
    preset = load_preset("cpu_quick")
    assert preset.network.name == "svanet_tiny" and preset.recipe.epochs * preset.recipe.iters_per_epoch <= 50


def test_a_preset_file_by_path(tmp_path: Path) -> None:
    data = json.loads((Path(__file__).resolve().parents[2] / "plans" / "cpu_quick.json").read_text(encoding="utf-8"))
    data["name"] = "mine"
    data["recipe"]["epochs"] = 7
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(data))
    assert load_preset(str(path)).recipe.epochs == 7


@pytest.mark.parametrize(("content", "message"), [
    ("{ nope", "not valid JSON"),
    ('{"network": {"name": "svanet"}, "recipe": {"optimiser": "adamw"}}', "unknown recipe key"),
    ('{"network": {"name": "svanet"}, "planning": {"max_patch_size": [512]}}', "max_patch_size"),
    ('{"network": {"name": "svanet"}, "strata": {"ultra_small": 0.5, "small": 0.1}}', "strata"),
])
def test_bad_preset_files_name_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(SvsegError, match=message) as error:
        load_preset(str(path))
    assert "bad.json" in str(error.value)


def test_unknown_preset_lists_the_shipped_ones() -> None:
    with pytest.raises(SvsegError, match=r"unknown preset 'nope'.*svanet_paper"):
        load_preset("nope")
