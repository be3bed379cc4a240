"""``--continue`` after a crash: the epoch counter goes on from the last checkpoint, not from 0."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from svseg.training.api import train

EPOCHS = 5
START_TIMEOUT_S = 600


def _start_training(home: Path, fold_dir: Path) -> subprocess.Popen:
    """``svseg train`` in its own process group, so the kill takes its workers with it."""
    env = {**os.environ, "SVSEG_HOME": str(home), "SVSEG_QUIET": "1"}
    for variable in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        env.pop(variable, None)
    command = [sys.executable, "-m", "svseg.cli", "train", "-d", "Disks", "-f", "1", "--device", "cpu",
               "--epochs", str(EPOCHS), "--iters-per-epoch", "3"]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def _kill_after_first_checkpoint(process: subprocess.Popen, latest: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not latest.exists():
        assert process.poll() is None, "training ended before writing checkpoint_latest.pth"
        assert time.monotonic() < deadline, "no checkpoint_latest.pth in time"
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # a crash: no clean-up of any kind
    process.wait()


def _first_epoch_of_log(log_file: Path) -> int:
    """The first ``<timestamp>: Epoch N`` line of an nnU-Net training log."""
    match = re.search(r": Epoch (\d+)\s*$", log_file.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert match, f"no epoch in {log_file}"
    return int(match.group(1))


@pytest.mark.slow  # two trainings and a validation: ~1-2 min on 2 cores; the quick check is in test_train_png.py
def test_resume_continues_the_epoch_counter(data_root: Path) -> None:
    fold_dir = data_root / "results" / "Dataset811_Disks" / "SvsegTrainer__svsegPlans__2d" / "fold_1"
    latest = fold_dir / "checkpoint_latest.pth"
    _kill_after_first_checkpoint(_start_training(data_root, fold_dir), latest)
    assert not (fold_dir / "checkpoint_final.pth").exists()
    saved = torch.load(latest, map_location="cpu", weights_only=True)  # whole despite the kill: atomic write
    resumed_from = saved["current_epoch"]
    assert 1 <= resumed_from < EPOCHS
    logs_before = set(fold_dir.glob("training_log_*.txt"))
    time.sleep(1)  # nnU-Net names its log by the second

    result = train("Disks", 1, device="cpu", resume=True)

    new_logs = set(fold_dir.glob("training_log_*.txt")) - logs_before
    assert len(new_logs) == 1 and _first_epoch_of_log(new_logs.pop()) == resumed_from
    final = torch.load(fold_dir / "checkpoint_final.pth", map_location="cpu", weights_only=True)
    assert final["current_epoch"] == EPOCHS
    losses = final["logging"]["train_losses"]
    assert len(losses) == EPOCHS and losses[:resumed_from] == saved["logging"]["train_losses"][:resumed_from]
    assert result.metrics["foreground_dice"] is not None
