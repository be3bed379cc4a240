"""Before a CPU training: the estimate for a GPU-sized plan and the CPU preset's commands."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import pytest
import torch

import svseg.training.cpu_estimate as cpu_estimate
from svseg.networks import count_macs
from svseg.planning.plans import load_plans
from svseg.training.cpu_estimate import duration, estimate_cpu_training, warn_if_gpu_sized
from svseg.training.network_from_plans import build_network_from_plans


def test_durations_read_like_a_person_writes_them() -> None:
    assert [duration(s) for s in (20, 60, 61, 5399, 5400, 27000, 172799, 172800, 3.5 * 86400)] == [
        "1 min", "1 min", "2 min", "90 min", "1.5 h", "7.5 h", "48.0 h", "2.0 days", "3.5 days"]


def _planned(home: Path) -> tuple[dict, dict]:
    folder = home / "preprocessed" / "Dataset811_Disks"
    plans = json.loads((folder / "svsegPlans.json").read_text(encoding="utf-8"))
    return plans, json.loads((folder / "dataset.json").read_text(encoding="utf-8"))


def test_a_cpu_preset_is_not_estimated(data_root: Path) -> None:
    plans, dataset_json = _planned(data_root)
    assert plans["svseg"]["preset"] == "cpu_quick"
    recipe = load_plans(data_root / "preprocessed" / "Dataset811_Disks" / "svsegPlans.json").recipe
    assert warn_if_gpu_sized(plans, "2d", dataset_json, recipe, "Disks", 0, "unet") is None


def test_a_gpu_preset_gets_the_estimate_and_the_cpu_commands(data_root: Path, caplog: pytest.LogCaptureFixture
                                                             ) -> None:
    plans, dataset_json = _planned(data_root)
    gpu_plans = copy.deepcopy(plans)
    gpu_plans["svseg"]["preset"] = "svanet_paper"
    recipe = load_plans(data_root / "preprocessed" / "Dataset811_Disks" / "svsegPlans.json").recipe
    long_recipe = recipe.with_overrides(epochs=100000, iters_per_epoch=250, val_iters_per_epoch=50)
    with caplog.at_level(logging.WARNING, logger="svseg.training.cpu_estimate"):
        estimate = warn_if_gpu_sized(gpu_plans, "2d", dataset_json, long_recipe, "Disks", 2, "unet")
    lines = [record.getMessage() for record in caplog.records]
    assert estimate is not None and estimate.total_seconds > cpu_estimate.SLOW_SECONDS and len(lines) == 2
    assert lines[0].startswith("training on the CPU: this plan (preset svanet_paper, unet) needs about ")
    assert lines[1].endswith("svseg plan-and-preprocess -d Disks --preset cpu_default && svseg train -d Disks -f 2")
    # the meta-device count equals the count on the real network, and the cost is 3 forward passes per image
    patch = plans["configurations"]["2d"]["patch_size"]
    real = build_network_from_plans(plans, "2d", 1, 2, deep_supervision=False)
    assert estimate.gflop_per_iteration == pytest.approx(6 * count_macs(real, (1, 1, *patch)) * recipe.batch_size / 1e9)
    double = estimate_cpu_training(gpu_plans, "2d", 1, 2, long_recipe.with_overrides(batch_size=2 * recipe.batch_size))
    assert double.gflop_per_iteration == pytest.approx(2 * estimate.gflop_per_iteration)


def test_train_prints_the_advice_before_a_gpu_sized_run(data_root: Path, monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    """The wiring in svseg.training.api: a 'GPU-sized' run (thresholds lowered) logs before nnU-Net starts."""
    from svseg.training.api import train

    monkeypatch.setattr(cpu_estimate, "CPU_PRESETS", ())
    monkeypatch.setattr(cpu_estimate, "SLOW_SECONDS", 0.0)
    with caplog.at_level(logging.WARNING, logger="svseg.training.cpu_estimate"):
        result = train("Disks", 0, device="cpu", epochs=1, iters_per_epoch=2)
    advice = [record.getMessage() for record in caplog.records if record.name == "svseg.training.cpu_estimate"]
    assert len(advice) == 2 and "svseg train -d Disks -f 0" in advice[1]
    assert (result.fold_dir / "checkpoint_final.pth").is_file()  # advice only: the run went ahead
    assert torch.get_num_threads() >= 1
