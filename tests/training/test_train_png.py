"""A short CPU training on grey PNGs: nnU-Net's model folder, a model that learned, nnU-Net can read it.

One model (nnU-Net's 2D U-Net from the plan, shrunk to a few channels) is trained once for this
module and inspected by every test.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from svseg.errors import SvsegError
from svseg.training.api import TrainResult, train

EPOCHS, ITERATIONS = 3, 8


@pytest.fixture(scope="module")
def trained(module_root: Path, root_switch: Callable[[Path], Any]) -> tuple[Path, TrainResult]:
    with root_switch(module_root):
        result = train("Disks", 0, device="cpu", epochs=EPOCHS, iters_per_epoch=ITERATIONS)
    return module_root, result


def test_model_folder_has_nnunets_layout(trained: tuple[Path, TrainResult]) -> None:
    home, result = trained
    assert result.model_dir == home / "results" / "Dataset811_Disks" / "SvsegTrainer__svsegPlans__2d"
    assert result.fold_dir == result.model_dir / "fold_0"
    for name in ("plans.json", "dataset.json", "dataset_fingerprint.json"):
        assert (result.model_dir / name).is_file(), name
    fold = result.fold_dir
    for name in ("checkpoint_final.pth", "checkpoint_best.pth", "progress.png", "debug.json",
                 "validation/summary.json", "validation/evaluation/metrics.json", "validation/evaluation/report.md"):
        assert (fold / name).is_file(), name
    assert not (fold / "checkpoint_latest.pth").exists()  # nnU-Net removes it once final exists
    assert len(list(fold.glob("training_log_*.txt"))) == 1
    assert sorted(p.name for p in (fold / "validation").glob("*.png")) == ["disk_003.png", "disk_007.png"]


def test_plans_copy_records_the_run(trained: tuple[Path, TrainResult]) -> None:
    _, result = trained
    plans = json.loads((result.model_dir / "plans.json").read_text(encoding="utf-8"))
    assert plans["svseg"]["recipe"]["epochs"] == EPOCHS
    assert plans["svseg"]["recipe"]["iters_per_epoch"] == ITERATIONS
    assert plans["configurations"]["2d"]["batch_size"] == plans["svseg"]["recipe"]["batch_size"]
    record = json.loads((result.fold_dir / "svseg_run.json").read_text(encoding="utf-8"))
    assert record["plans"]["svseg"] == plans["svseg"] and record["configuration"] == "2d"


def test_checkpoint_is_nnunets_format_and_weights_only(trained: tuple[Path, TrainResult]) -> None:
    _, result = trained
    checkpoint = torch.load(result.fold_dir / "checkpoint_final.pth", map_location="cpu", weights_only=True)
    assert checkpoint["trainer_name"] == "SvsegTrainer"
    assert checkpoint["init_args"]["configuration"] == "2d" and checkpoint["init_args"]["fold"] == 0
    assert checkpoint["current_epoch"] == EPOCHS
    assert len(checkpoint["logging"]["train_losses"]) == EPOCHS
    assert tuple(checkpoint["inference_allowed_mirroring_axes"]) == (0, 1)
    debug = json.loads((result.fold_dir / "debug.json").read_text(encoding="utf-8"))
    assert debug["enable_deep_supervision"] == "True"  # nnU-Net's U-Net has auxiliary outputs


def test_model_learned_the_disks(trained: tuple[Path, TrainResult]) -> None:
    _, result = trained
    # chance level is about the foreground fraction (~5 %); the disks are easy
    assert result.metrics["foreground_dice"] > 0.6
    metrics = json.loads((result.fold_dir / "validation" / "evaluation" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["settings"]["n_cases"] == 2
    assert metrics["settings"]["thresholds"] == {"ultra_small": 0.01, "small": 0.1}
    assert any("validation Dice" in line for line in result.summary())


def test_second_training_of_a_finished_fold_is_refused(trained: tuple[Path, TrainResult],
                                                       root_switch: Callable[[Path], Any]) -> None:
    home, result = trained
    before = (result.fold_dir / "checkpoint_final.pth").stat().st_mtime_ns
    with root_switch(home), pytest.raises(SvsegError, match=r"already trained.*--continue.*--overwrite"):
        train("Disks", 0, device="cpu")
    assert (result.fold_dir / "checkpoint_final.pth").stat().st_mtime_ns == before


def test_nnunets_own_predictor_loads_the_model_folder(trained: tuple[Path, TrainResult],
                                                      root_switch: Callable[[Path], Any],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """nnUNet_extTrainer lets nnU-Net find SvsegTrainer by the name stored in the checkpoint."""
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    import svseg.nnunet_ext

    home, result = trained
    monkeypatch.setenv("nnUNet_extTrainer", str(svseg.nnunet_ext.EXT_TRAINER_DIR))
    monkeypatch.setenv("nnUNet_compile", "f")
    predictor = nnUNetPredictor(use_mirroring=False, perform_everything_on_device=False,
                                device=torch.device("cpu"), allow_tqdm=False)
    with root_switch(home):
        predictor.initialize_from_trained_model_folder(str(result.model_dir), (0,), "checkpoint_final.pth")
    assert type(predictor.network).__name__ == "PlainConvUNet"
    raw = home / "raw" / "Dataset811_Disks"
    image = np.asarray(PILImage.open(raw / "imagesTr" / "disk_003_0000.png"), dtype=np.float32)
    label = np.asarray(PILImage.open(raw / "labelsTr" / "disk_003.png"))
    mask = predictor.predict_single_npy_array(image[None, None], {"spacing": [999, 1, 1]})[0]
    dice = 2 * np.sum((mask == 1) & (label == 1)) / (np.sum(mask == 1) + np.sum(label == 1))
    assert dice > 0.6


def test_a_resumed_trainer_continues_from_the_checkpoint_epoch(trained: tuple[Path, TrainResult],
                                                                 root_switch: Callable[[Path], Any]) -> None:
    """The quick half of test_resume.py: state restored from a checkpoint, loop starts at its epoch."""
    from svseg.training.job import TrainingJob, build_trainer

    home, result = trained
    record = json.loads((result.fold_dir / "svseg_run.json").read_text(encoding="utf-8"))
    dataset_json = json.loads((result.model_dir / "dataset.json").read_text(encoding="utf-8"))
    job = TrainingJob(record["plans"], "2d", 0, dataset_json,
                      resume_checkpoint=str(result.fold_dir / "checkpoint_final.pth"))
    with root_switch(home):
        trainer = build_trainer(job, torch.device("cpu"))
    assert trainer.current_epoch == EPOCHS  # run_training() iterates range(current_epoch, num_epochs)
    assert len(trainer.logger.get_value("train_losses", None)) == EPOCHS
    assert trainer.lr_scheduler.recipe.epochs == EPOCHS
