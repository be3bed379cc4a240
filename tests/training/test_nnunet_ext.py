"""nnU-Net's own trainer lookup finds SvsegTrainer through the shipped nnUNet_extTrainer folder."""

from __future__ import annotations

import pytest

import svseg.nnunet_ext
from svseg.training.trainer import SvsegTrainer


def test_recursive_find_trainer_class_by_name_finds_svseg_trainer(monkeypatch: pytest.MonkeyPatch) -> None:
    from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name

    monkeypatch.setenv("nnUNet_extTrainer", str(svseg.nnunet_ext.EXT_TRAINER_DIR))
    assert recursive_find_trainer_class_by_name("SvsegTrainer") is SvsegTrainer


def test_without_the_folder_nnunet_does_not_know_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name

    monkeypatch.delenv("nnUNet_extTrainer", raising=False)
    with pytest.raises(RuntimeError, match="SvsegTrainer"):
        recursive_find_trainer_class_by_name("SvsegTrainer")
