"""``--arch svanet_tiny``: SvANet through nnU-Net's loop as configuration ``2d_svanet_tiny``."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from svseg.training.api import train


def test_svanet_tiny_as_an_extra_configuration(data_root: Path) -> None:
    result = train("Disks", 1, arch="svanet_tiny", device="cpu", epochs=1, iters_per_epoch=2, batch_size=2)
    assert result.configuration == "2d_svanet_tiny"
    assert result.model_dir.name == "SvsegTrainer__svsegPlans__2d_svanet_tiny"

    plans = json.loads((result.model_dir / "plans.json").read_text(encoding="utf-8"))
    block = plans["configurations"]["2d_svanet_tiny"]
    assert block["inherits_from"] == "2d" and block["architecture"]["network_class_name"].endswith(".SvANet")
    assert block["data_identifier"] == plans["configurations"]["2d"]["data_identifier"]  # no re-preprocessing
    assert plans["svseg"]["configuration"] == "2d_svanet_tiny" and plans["svseg"]["network"]["name"] == "svanet_tiny"
    assert block["batch_size"] == 2

    checkpoint = torch.load(result.fold_dir / "checkpoint_final.pth", map_location="cpu", weights_only=True)
    assert checkpoint["init_args"]["configuration"] == "2d_svanet_tiny"
    debug = json.loads((result.fold_dir / "debug.json").read_text(encoding="utf-8"))
    assert debug["enable_deep_supervision"] == "False"  # SvANet has no auxiliary outputs
    assert (result.fold_dir / "validation" / "evaluation" / "metrics.json").is_file()
    # the dataset's own plans are untouched: --arch only changes the model folder's copy
    own = json.loads((data_root / "preprocessed" / "Dataset811_Disks" / "svsegPlans.json").read_text(encoding="utf-8"))
    assert "2d_svanet_tiny" not in own["configurations"]
