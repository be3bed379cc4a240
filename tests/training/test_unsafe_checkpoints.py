"""A hostile checkpoint (a pickle whose ``__reduce__`` calls os.system) never runs, wherever it is given.

It is placed as ``checkpoint_final/latest/best.pth`` for ``train --continue``, handed to
``train --pretrained``, and left in the model folder ``compare`` predicts with; each is refused in
one line naming the file, and the marker file the payload would create never appears.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

import svseg.training.api
from svseg.comparison.api import compare_architectures
from svseg.errors import SvsegError
from svseg.training.api import TrainResult, train

MODEL = "Dataset811_Disks/SvsegTrainer__svsegPlans__2d"


class _Payload:
    """Unpickling this runs ``touch MARKER``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def _hostile(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"network_weights": {}, "optimizer_state": {}, "current_epoch": 1, "logging": {}, "_best_ema": 0.0,
                "extra": _Payload(marker)}, path)
    return path


@pytest.mark.parametrize("name", ["checkpoint_final.pth", "checkpoint_latest.pth", "checkpoint_best.pth"])
def test_train_continue_refuses_a_hostile_checkpoint(data_root: Path, name: str) -> None:
    marker = data_root / "MARKER"
    path = _hostile(data_root / "results" / MODEL / "fold_0" / name, marker)
    with pytest.raises(SvsegError, match=r"refused: this checkpoint needs a full unpickle \(it names posix\.system\)"
                       ) as info:
        train("Disks", 0, device="cpu", resume=True)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)
    assert not marker.exists()


def test_train_pretrained_refuses_a_hostile_weights_file(data_root: Path) -> None:
    marker = data_root / "MARKER"
    path = _hostile(data_root / "downloads" / "encoder.pth", marker)
    with pytest.raises(SvsegError, match=r"refused: this pretrained weights file needs a full unpickle") as info:
        train("Disks", 0, device="cpu", pretrained=path)
    assert str(info.value).startswith(f"{path}: ")
    assert not marker.exists() and not (data_root / "results" / MODEL / "fold_0" / "checkpoint_final.pth").exists()


def test_compare_refuses_a_hostile_checkpoint_in_the_model_it_predicts_with(data_root: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    marker = data_root / "MARKER"
    model_dir = data_root / "results" / MODEL
    preprocessed = data_root / "preprocessed" / "Dataset811_Disks"
    model_dir.mkdir(parents=True)
    shutil.copy(preprocessed / "svsegPlans.json", model_dir / "plans.json")  # its svseg section names unet
    shutil.copy(preprocessed / "dataset.json", model_dir / "dataset.json")
    path = _hostile(model_dir / "fold_0" / "checkpoint_final.pth", marker)
    cases = [f"disk_{index:03d}" for index in range(8)]  # the split nnU-Net writes when fold 0 trains
    (preprocessed / "splits_final.json").write_text(json.dumps([{"train": cases[2:], "val": cases[:2]}]))
    monkeypatch.setattr(svseg.training.api, "train",
                        lambda *args, **kwargs: TrainResult(model_dir, model_dir / "fold_0", "2d"))
    with pytest.raises(SvsegError, match="refused") as info:
        compare_architectures("Disks", 0, "unet", device="cpu", out_dir=data_root / "comparison")
    assert str(info.value).startswith(f"{path}: ")
    assert not marker.exists()
