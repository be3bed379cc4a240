"""A planned dataset and a model folder to edit into hostile plans (built once per session).

The PNG disk dataset of tests/training/conftest.py is planned by ``svseg plan-and-preprocess``
(preset ``cpu_quick``) with its network swapped for the small nnU-Net U-Net, the one network
whose plans name torch.nn classes for nnU-Net to import. The model folder is written as
tests/inference/models.py does (seeded random weights, the trainer's layout) from those plans.
Each test gets a copy of the raw and preprocessed folders and its own model folder.
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


@pytest.fixture(scope="session")
def planned_disks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A data root holding the planned and preprocessed PNG disk dataset (never edited)."""
    home = tmp_path_factory.mktemp("security_planned")
    with planning_root(home):
        plan_png_disks(home)
    yield home


@pytest.fixture
def disks_root(planned_disks: Path, isolated_data_root: Path) -> Path:
    """This test's data root: a copy of the planned dataset, results empty."""
    for kind in ("raw", "preprocessed"):
        shutil.copytree(planned_disks / kind, isolated_data_root / kind)
    (isolated_data_root / "results").mkdir(exist_ok=True)
    return isolated_data_root


@pytest.fixture
def model_dir(planned_disks: Path, tmp_path: Path) -> Path:
    """A model folder (fold 0, final checkpoint) whose plans.json is svseg's plans for the disks."""
    folder = planned_disks / "preprocessed" / DATASET
    plans = json.loads((folder / "svsegPlans.json").read_text(encoding="utf-8"))
    dataset_json = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
    return make_model_folder(tmp_path / "results", (plans, dataset_json))
