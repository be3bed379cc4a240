"""One planned dataset and model folder for the hostile-input suite, built once per session.

The PNG disk dataset of tests/training/conftest.py (8 grey 64 x 64 cases) is planned by svseg's
``plan-and-preprocess`` (preset ``cpu_quick``) with its network swapped for that conftest's small
nnU-Net U-Net, and a model folder for fold 0 is written from those plans the way
tests/inference/models.py does (the trainer's layout, seeded weights): what the train and predict
cases need, without minutes of training (the kill -9 suite trains for real). Each test gets a copy
of the whole data root, so a test may edit any file of it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..inference.models import make_model_folder
from ..training.conftest import PNG_ID, PNG_NAME, use_small_unet, write_png_dataset

DATASET = f"Dataset{PNG_ID:03d}_{PNG_NAME}"
MODEL = f"results/{DATASET}/SvsegTrainer__svsegPlans__2d"


@pytest.fixture(scope="session")
def planned_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A data root with the disks raw, planned, preprocessed and a fold 0 model (never edited)."""
    from nnunetv2.experiment_planning.dataset_fingerprint.fingerprint_extractor import DatasetFingerprintExtractor

    from svseg.planning.api import plan_and_preprocess

    home = tmp_path_factory.mktemp("hostile_home")
    original = DatasetFingerprintExtractor.__init__

    def fewer_samples(self, *args, **kwargs) -> None:  # 1e5 intensity samples instead of 1e8: fast, unchecked
        original(self, *args, **kwargs)
        self.num_foreground_voxels_for_intensitystats = 1e5

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatasetFingerprintExtractor, "__init__", fewer_samples)
        patch.setenv("SVSEG_HOME", str(home))
        for variable in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
            patch.setenv(variable, "")  # recorded, so leaving the context restores the caller's value
            patch.delenv(variable)
        write_png_dataset(home / "raw")
        plan_and_preprocess(PNG_NAME, preset="cpu_quick", num_processes=1)
        folder = home / "preprocessed" / DATASET
        use_small_unet(folder / "svsegPlans.json")
        plans = json.loads((folder / "svsegPlans.json").read_text(encoding="utf-8"))
        dataset_json = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
        make_model_folder(home / "results", (plans, dataset_json), checkpoints=("final", "latest"))
    yield home


@pytest.fixture
def home(planned_home: Path, isolated_data_root: Path) -> Path:
    """This test's data root: a copy of the planned one (raw, preprocessed, results)."""
    for kind in ("raw", "preprocessed", "results"):
        shutil.copytree(planned_home / kind, isolated_data_root / kind, symlinks=True)
    return isolated_data_root
