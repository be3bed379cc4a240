"""``--arch sts_net_tiny``: STS-Net through nnU-Net's loop as configuration ``2d_sts_net_tiny``, then prediction."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image as PILImage

from svseg.inference.api import predict
from svseg.training.api import train

EPOCHS = 3


def test_sts_net_tiny_trains_writes_a_checkpoint_and_predicts(data_root: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    result = train("Disks", 0, arch="sts_net_tiny", device="cpu", epochs=EPOCHS, iters_per_epoch=6, batch_size=4)
    assert result.configuration == "2d_sts_net_tiny"
    plans = json.loads((result.model_dir / "plans.json").read_text(encoding="utf-8"))
    block = plans["configurations"]["2d_sts_net_tiny"]["architecture"]
    assert block["network_class_name"] == "svseg.networks.sts_net.STSNet"
    assert block["arch_kwargs"]["width"] == 0.25

    checkpoint = torch.load(result.fold_dir / "checkpoint_final.pth", map_location="cpu", weights_only=True)
    assert checkpoint["current_epoch"] == EPOCHS
    losses = checkpoint["logging"]["train_losses"]
    assert len(losses) == EPOCHS and losses[-1] < losses[0]  # dice+CE falls while the disks are learned
    debug = json.loads((result.fold_dir / "debug.json").read_text(encoding="utf-8"))
    assert debug["enable_deep_supervision"] == "False"  # one stride-8 output, no auxiliary heads

    image = data_root / "raw" / "Dataset811_Disks" / "imagesTr" / "disk_003_0000.png"
    predicted = predict([image], tmp_path / "masks", model_dir=result.model_dir, folds=["0"])
    assert len(predicted.written) == 1
    mask = np.asarray(PILImage.open(predicted.written[0]))
    assert mask.shape == (64, 64) and set(np.unique(mask)) <= {0, 1}
