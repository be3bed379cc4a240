"""Training on anisotropic NIfTI volumes, fold ``all``: 2D slices in, volumes on the raw grid out."""

from __future__ import annotations

import json
from pathlib import Path

import SimpleITK as sitk
import torch

from svseg.training.api import train


def test_volumes_fold_all(data_root: Path) -> None:
    result = train("Vols", "all", device="cpu", epochs=2, iters_per_epoch=4)
    assert result.model_dir.name == "SvsegTrainer__svsegPlans__2d" and result.fold_dir.name == "fold_all"
    checkpoint = torch.load(result.fold_dir / "checkpoint_final.pth", map_location="cpu", weights_only=True)
    assert checkpoint["init_args"]["fold"] == "all" and checkpoint["current_epoch"] == 2
    assert (result.fold_dir / "progress.png").is_file()

    # fold "all" validates on the training cases; masks come back as volumes on the raw grid
    predictions = sorted((result.fold_dir / "validation").glob("*.nii.gz"))
    assert [p.name for p in predictions] == [f"vol_{i:03d}.nii.gz" for i in range(4)]
    reference = sitk.ReadImage(str(data_root / "raw" / "Dataset812_Vols" / "labelsTr" / "vol_000.nii.gz"))
    predicted = sitk.ReadImage(str(predictions[0]))
    assert predicted.GetSize() == reference.GetSize()
    assert predicted.GetSpacing() == reference.GetSpacing()
    metrics = json.loads((result.fold_dir / "validation" / "evaluation" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["settings"]["n_cases"] == 4 and "volume" in metrics
    assert result.metrics["n_cases"] == 4
