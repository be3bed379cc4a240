"""The planner on real (small) datasets: plans load in svseg and nnU-Net, the network builds from them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from nnunetv2.experiment_planning.plan_and_preprocess_api import extract_fingerprint_dataset
from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

from svseg.paths import export_nnunet_environment, preprocessed_root
from svseg.planning.fingerprint import AreaRatioFingerprintExtractor
from svseg.planning.planner import SvsegPlanner
from svseg.planning.plans import load_plans, plans_path
from svseg.planning.presets import load_preset
from svseg.training.network_from_plans import build_network_from_plans


def _plan(dataset_id: int, folder: str, preset: str = "cpu_quick", gpu_memory_gb: float | None = None,
          **rules: object):
    export_nnunet_environment()
    extract_fingerprint_dataset(dataset_id, AreaRatioFingerprintExtractor, num_processes=1, clean=False,
                                verbose=False, show_progress_bar=False)
    loaded = load_preset(preset)
    loaded = dataclasses.replace(loaded, planning=dataclasses.replace(loaded.planning, **rules))
    SvsegPlanner(dataset_id, loaded, gpu_memory_gb).plan_experiment()
    return load_plans(plans_path(preprocessed_root() / folder))


def _decision(plans, prefix: str) -> dict:
    return next(d for d in plans.decisions if d["what"].startswith(prefix))


def test_png_plans_load_in_nnunet_and_build_the_network(png_dataset: Path) -> None:
    plans = _plan(1, "Dataset001_Png")
    assert plans.plans_name == "svsegPlans" and plans.preset == "cpu_quick"
    assert plans.network.name == "svanet_tiny" and list(plans.raw["configurations"]) == ["2d"]
    config = PlansManager(plans.raw).get_configuration("2d")
    assert config.patch_size == [128, 128]  # 100 x 100 slice rounded up to 32, within the preset's cap
    assert config.batch_size == plans.recipe.batch_size == _decision(plans, "batch")["value"]
    assert config.spacing == [1.0, 1.0] == _decision(plans, "in-plane spacing")["value"]
    assert plans.strata == {"ultra_small": 0.01, "small": 0.1}
    whats = [d["what"] for d in plans.decisions]
    for expected in ("in-plane spacing", "patch size", "batch size", "foreground oversampling",
                     "iterations per epoch", "stratum thresholds", "training recipe"):
        assert any(what.startswith(expected) for what in whats), expected
    assert all(d["reason"] for d in plans.decisions)

    network = build_network_from_plans(plans.raw, "2d", 1, 2, deep_supervision=False).eval()
    with torch.no_grad():
        logits = network(torch.zeros(1, 1, *config.patch_size))
    assert tuple(logits.shape) == (1, 2, *config.patch_size)


def test_nifti_gets_only_a_2d_configuration_cut_along_z(nifti_dataset: Path) -> None:
    plans = _plan(2, "Dataset002_Vol", preset="svanet_paper")
    assert list(plans.raw["configurations"]) == ["2d"]
    assert plans.raw["transpose_forward"][0] == 0  # z (4 mm) is the coarsest axis
    config = PlansManager(plans.raw).get_configuration("2d")
    assert config.spacing == pytest.approx([0.8, 0.5])
    assert config.patch_size == [96, 128] and config.batch_size == 4  # paper batch, fits 85 GB
    assert config.network_arch_class_name == "svseg.networks.svanet.SvANet"
    # one pass over 18 slices at batch 4: ceil(14.4 / 4) = 4 training iterations
    assert (plans.recipe.iters_per_epoch, plans.recipe.val_iters_per_epoch) == (4, 1)


def test_spacing_is_refined_when_objects_shrink(png_dataset_with_objects) -> None:
    png_dataset_with_objects("Dataset003_Tiny", (2, 2))
    tiny = _plan(3, "Dataset003_Tiny", max_upscale=2.0)  # off in the shipped presets, on here
    # objects of 4 px and 500 px; p05 of (4, 4, 4, 4, 500 x 4) is 4 px = 4 mm² at 1 mm
    spacing = _decision(tiny, "in-plane spacing")
    assert spacing["value"] == pytest.approx([0.5, 0.5])  # 4 px -> 16 px needs 2x, the cap
    assert PlansManager(tiny.raw).get_configuration("2d").spacing == pytest.approx([0.5, 0.5])
    assert tiny.raw["configurations"]["2d"]["median_image_size_in_voxels"] == pytest.approx([200, 200])
    assert np.prod(tiny.raw["configurations"]["2d"]["patch_size"]) <= 128 * 128  # the preset's cap still holds


def test_gpu_memory_target_changes_the_batch(png_dataset: Path) -> None:
    large = _plan(1, "Dataset001_Png", preset="nnunet_default", gpu_memory_gb=80)
    small = _plan(1, "Dataset001_Png", preset="nnunet_default", gpu_memory_gb=12)
    assert large.recipe.batch_size >= small.recipe.batch_size >= 1
    assert "12 GB" in _decision(small, "batch")["reason"]
