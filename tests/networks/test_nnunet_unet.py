"""Tests for svseg/networks/nnunet_unet.py against what nnU-Net 2.8.1's own ExperimentPlanner writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from svseg.errors import SvsegError
from svseg.networks import architecture_block, create_network


def plan_fake_2d_dataset(
    root: Path, monkeypatch: pytest.MonkeyPatch, shape: tuple[int, int], spacing: tuple[float, float]
) -> dict:
    """Run nnU-Net's default ExperimentPlanner on a 20-case 2D fingerprint; return the written 2d configuration."""
    for variable in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        (root / variable).mkdir(parents=True)
        monkeypatch.setenv(variable, str(root / variable))
    name, cases = "Dataset987_Probe", 20
    raw = root / "nnUNet_raw" / name
    raw.mkdir()
    dataset = {f"c{i}": {"images": [f"c{i}.png"], "label": f"c{i}_seg.png"} for i in range(cases)}
    dataset_json = {
        "channel_names": {"0": "grey"},
        "labels": {"background": 0, "lesion": 1},
        "numTraining": cases,
        "file_ending": ".png",
        "dataset": dataset,
    }
    (raw / "dataset.json").write_text(json.dumps(dataset_json))
    Image.fromarray(np.zeros(shape, np.uint8)).save(raw / "c0.png")  # the planner reads one file for its reader
    preprocessed = root / "nnUNet_preprocessed" / name
    preprocessed.mkdir()
    intensity = {"mean": 0.5, "median": 0.5, "std": 0.1, "min": 0, "max": 1, "percentile_00_5": 0, "percentile_99_5": 1}
    fingerprint = {
        "spacings": [[999.0, *spacing]] * cases,
        "shapes_after_crop": [[1, *shape]] * cases,
        "foreground_intensity_properties_per_channel": {"0": intensity},
        "median_relative_size_after_cropping": 1.0,
    }
    (preprocessed / "dataset_fingerprint.json").write_text(json.dumps(fingerprint))
    from nnunetv2.experiment_planning.experiment_planners.default_experiment_planner import ExperimentPlanner

    ExperimentPlanner(987, 8).plan_experiment()
    return json.loads((preprocessed / "nnUNetPlans.json").read_text(encoding="utf-8"))["configurations"]["2d"]


@pytest.mark.parametrize(
    ("shape", "spacing"),
    [((256, 256), (1.0, 1.0)), ((200, 300), (0.7, 0.7)), ((512, 384), (0.5, 1.2))],
)
def test_matches_the_nnunet_planner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shape: tuple[int, int], spacing: tuple[float, float]
) -> None:
    configuration = plan_fake_2d_dataset(tmp_path, monkeypatch, shape, spacing)
    block = architecture_block("unet", configuration["patch_size"], configuration["spacing"], 1, 2)
    assert block == configuration["architecture"]


def test_default_is_the_256_topology_and_deep_supervision_outputs() -> None:
    block = architecture_block("unet", (256, 256), (1.0, 1.0), 1, 2)["arch_kwargs"]
    assert block["n_stages"] == 7 and block["features_per_stage"] == [32, 64, 128, 256, 512, 512, 512]
    model = create_network("unet", 1, 2, deep_supervision=True, patch_size=(64, 64)).eval()
    with torch.no_grad():
        outputs = model(torch.randn(1, 1, 64, 64))
    assert [tuple(o.shape[2:]) for o in outputs] == [(64, 64), (32, 32), (16, 16), (8, 8)]
    model.decoder.deep_supervision = False
    with torch.no_grad():
        assert model(torch.randn(1, 1, 64, 64)).shape == (1, 2, 64, 64)


def test_rejects_bad_geometry() -> None:
    with pytest.raises(SvsegError):
        create_network("unet", 1, 2, patch_size=(64, 64), spacing=(1.0,))
