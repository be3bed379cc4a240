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
from ..planned_roots import plan_png_disks, planning_root
from ..training.conftest import PNG_ID, PNG_NAME

DATASET = f"Dataset{PNG_ID:03d}_{PNG_NAME}"
MODEL = f"results/{DATASET}/SvsegTrainer__svsegPlans__2d"


@pytest.fixture(scope="session")
def planned_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A data root with the disks raw, planned, preprocessed and a fold 0 model (never edited)."""
    home = tmp_path_factory.mktemp("hostile_home")
    with planning_root(home):
        folder = plan_png_disks(home)
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
