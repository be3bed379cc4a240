"""Which preset a plan gets when none is named: svanet_paper with a CUDA GPU, cpu_default without."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from svseg.cli import app
from svseg.networks import is_network
from svseg.planning.plans import load_plans
from svseg.planning.presets import CPU_PRESET, DEFAULT_PRESET, default_preset, load_preset


@pytest.mark.parametrize(("cuda", "expected"), [(True, "svanet_paper"), (False, "cpu_default")])
def test_default_follows_the_gpu(monkeypatch: pytest.MonkeyPatch, cuda: bool, expected: str) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert default_preset() == expected
    assert (DEFAULT_PRESET, CPU_PRESET) == ("svanet_paper", "cpu_default")


def test_cpu_preset_is_cpu_sized() -> None:
    preset = load_preset(CPU_PRESET)
    assert is_network(preset.network.name) and preset.network.name != "svanet"
    assert preset.planning.max_patch_size is not None and max(preset.planning.max_patch_size) <= 128
    assert not preset.planning.auto_batch_size and not preset.planning.epoch_is_one_pass
    # nnU-Net's 0.33, not raised for ultra-small majorities: that rule and spacing refinement
    # measured no help (docs/planning.md), so the CPU default plans without them
    assert preset.recipe.oversample_foreground == pytest.approx(0.33)
    assert preset.planning.ultra_small_majority == 1.0 and preset.planning.max_upscale == 1.0


def test_plan_without_a_preset_on_a_cpu_machine(png_dataset: Path, isolated_data_root: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    from svseg.planning.api import plan_and_preprocess

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with caplog.at_level(logging.INFO, logger="svseg.planning.api"):  # before the CLI takes over logging
        planned = plan_and_preprocess("Png", num_processes=1, preprocess=False)
    assert planned.plans.preset == "cpu_default"
    assert any("--preset svanet_paper" in record.getMessage() for record in caplog.records)
    result = CliRunner().invoke(app, ["plan-and-preprocess", "-d", "Png", "-np", "1", "--no-preprocess"])
    assert result.exit_code == 0, result.output
    assert "Dataset001_Png: 4 cases, 4 slices (0 without foreground), preset cpu_default" in result.output
    plans = load_plans(isolated_data_root / "preprocessed" / "Dataset001_Png" / "svsegPlans.json")
    assert plans.preset == "cpu_default" and plans.network.name == load_preset(CPU_PRESET).network.name
    named = plan_and_preprocess("Png", preset="cpu_quick", num_processes=1, preprocess=False)
    assert named.plans.preset == "cpu_quick"  # a named preset is always used as named
