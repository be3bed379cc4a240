"""Tiny planned datasets for training tests, built once per session with svseg's planner.

Two raw datasets are written in nnU-Net's layout: 8 grey 64 x 64 PNGs with bright disks, and 4
NIfTI volumes of 6 x 64 x 64 voxels with anisotropic spacing (3 mm between slices, 0.8 mm in
plane) with bright disks in every slice. ``svseg plan-and-preprocess`` (preset ``cpu_quick``)
fingerprints, plans and preprocesses them; the fixture then swaps the planned network for a
shrunk nnU-Net U-Net and a short recipe, so CPU training takes seconds. Each test gets a copy
of the raw and preprocessed folders in its own data root, so results never leak between tests.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image as PILImage

# nnU-Net sizes its spawn pools from this variable when first imported: keep them to the cores.
os.environ.setdefault("nnUNet_def_n_proc", str(min(2, os.cpu_count() or 1)))

PNG_ID, NIFTI_ID = 811, 812
PNG_NAME, NIFTI_NAME = "Disks", "Vols"
SIDE = 64

# A short recipe that still learns the disks: used by every training test unless overridden.
TEST_RECIPE = {
    "optimizer": "adamw",
    "weight_decay": 0.0,
    "lr": 3e-3,
    "lr_schedule": "warmup_cosine",
    "warmup_epochs": 1,
    "warmup_start_lr": 1e-3,
    "final_lr": 1e-4,
    "loss": "dice_ce",
    "epochs": 2,
    "iters_per_epoch": 6,
    "val_iters_per_epoch": 2,
    "batch_size": 4,
    "oversample_foreground": 0.5,
    "freeze_encoder_fraction": 0.0,
    "checkpoint_every": 1,
}


def disk_image(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A noisy image with 1-3 bright disks of radius 4-9 px, and its 0/1 mask."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    label = np.zeros(shape, np.uint8)
    for _ in range(rng.integers(1, 4)):
        radius = rng.integers(4, 10)
        cy, cx = rng.integers(radius, shape[0] - radius), rng.integers(radius, shape[1] - radius)
        label[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = 1
    image = rng.normal(60, 15, shape) + 120 * label
    return np.clip(image, 0, 255).astype(np.uint8), label


def write_png_dataset(raw: Path, cases: int = 8) -> None:
    """Grey PNG cases ``disk_NNN_0000.png`` with 0/1 label PNGs."""
    folder = raw / f"Dataset{PNG_ID:03d}_{PNG_NAME}"
    (folder / "imagesTr").mkdir(parents=True)
    (folder / "labelsTr").mkdir()
    rng = np.random.default_rng(0)
    for index in range(cases):
        image, label = disk_image(rng, (SIDE, SIDE))
        PILImage.fromarray(image).save(folder / "imagesTr" / f"disk_{index:03d}_0000.png")
        PILImage.fromarray(label).save(folder / "labelsTr" / f"disk_{index:03d}.png")
    dataset = {"channel_names": {"0": "rescale_to_0_1"}, "labels": {"background": 0, "disk": 1},
               "numTraining": cases, "file_ending": ".png"}
    (folder / "dataset.json").write_text(json.dumps(dataset))


def write_nifti_dataset(raw: Path, cases: int = 4, slices: int = 6) -> None:
    """Anisotropic NIfTI volumes (spacing x, y, z = 0.8, 0.8, 3.0 mm) with disks in every slice."""
    folder = raw / f"Dataset{NIFTI_ID:03d}_{NIFTI_NAME}"
    (folder / "imagesTr").mkdir(parents=True)
    (folder / "labelsTr").mkdir()
    rng = np.random.default_rng(1)
    for index in range(cases):
        pairs = [disk_image(rng, (SIDE, SIDE)) for _ in range(slices)]
        image = np.stack([p[0] for p in pairs]).astype(np.int16)
        label = np.stack([p[1] for p in pairs])
        for array, path in ((image, folder / "imagesTr" / f"vol_{index:03d}_0000.nii.gz"),
                            (label, folder / "labelsTr" / f"vol_{index:03d}.nii.gz")):
            itk = sitk.GetImageFromArray(array)
            itk.SetSpacing((0.8, 0.8, 3.0))
            sitk.WriteImage(itk, str(path))
    dataset = {"channel_names": {"0": "MR"}, "labels": {"background": 0, "disk": 1},
               "numTraining": cases, "file_ending": ".nii.gz"}
    (folder / "dataset.json").write_text(json.dumps(dataset))


def plan_with_svseg(dataset: str) -> None:
    """svseg's own plan-and-preprocess with the small ``cpu_quick`` preset (svanet_tiny)."""
    from svseg.planning.api import plan_and_preprocess

    plan_and_preprocess(dataset, preset="cpu_quick", num_processes=1)


def use_small_unet(plans_file: Path) -> None:
    """Swap the planned network for nnU-Net's 2D U-Net cut to 8..32 channels, with the test recipe.

    SvANet-tiny takes seconds per step on a busy 2-core machine; this U-Net (nnU-Net's topology
    for the planned patch, fewer channels) learns the disks in a few dozen steps. SvANet itself
    is trained by the ``--arch svanet_tiny`` tests.
    """
    from svseg.networks import architecture_block

    plans = json.loads(plans_file.read_text(encoding="utf-8"))
    configuration = plans["configurations"]["2d"]
    block = architecture_block("unet", configuration["patch_size"], configuration["spacing"], 1, 2)
    stages = block["arch_kwargs"]["n_stages"]
    block["arch_kwargs"]["features_per_stage"] = [min(8 * 2**i, 32) for i in range(stages)]
    configuration["architecture"] = block
    plans["svseg"]["network"] = {"name": "unet", "kwargs": {}}
    plans["svseg"]["recipe"].update(TEST_RECIPE)
    plans_file.write_text(json.dumps(plans, indent=2))


@dataclass(frozen=True)
class PlannedRoot:
    """A data root with both datasets raw and preprocessed."""

    home: Path


@pytest.fixture(scope="session")
def planned_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlannedRoot]:
    """Both datasets, planned once per session by svseg's planner under a session data root."""
    home = tmp_path_factory.mktemp("planned_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SVSEG_HOME", str(home))
        for variable in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
            patch.delenv(variable, raising=False)
        write_png_dataset(home / "raw")
        write_nifti_dataset(home / "raw")
        for dataset_id, name in ((PNG_ID, PNG_NAME), (NIFTI_ID, NIFTI_NAME)):
            plan_with_svseg(name)
            use_small_unet(home / "preprocessed" / f"Dataset{dataset_id:03d}_{name}" / "svsegPlans.json")
    yield PlannedRoot(home)


@pytest.fixture
def data_root(planned_root: PlannedRoot, isolated_data_root: Path) -> Path:
    """This test's data root holding copies of the planned datasets (results start empty)."""
    return copy_planned(planned_root, isolated_data_root)


def copy_planned(planned: PlannedRoot, home: Path) -> Path:
    """Copy the planned raw and preprocessed folders into data root `home` (results start empty)."""
    for kind in ("raw", "preprocessed"):
        shutil.copytree(planned.home / kind, home / kind)
    (home / "results").mkdir(exist_ok=True)
    return home


@pytest.fixture(scope="module")
def module_root(planned_root: PlannedRoot, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root shared by one test module (for a model trained once and inspected by many tests)."""
    return copy_planned(planned_root, tmp_path_factory.mktemp("module_home"))


@contextmanager
def using_root(home: Path) -> Iterator[None]:
    """Point svseg and nnU-Net at data root `home` for the duration of the block."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SVSEG_HOME", str(home))
        for kind, variable in (("raw", "nnUNet_raw"), ("preprocessed", "nnUNet_preprocessed"),
                               ("results", "nnUNet_results")):
            patch.setenv(variable, str(home / kind))
        yield


@pytest.fixture(scope="session")
def root_switch() -> Callable[[Path], Any]:
    """:func:`using_root`, for tests."""
    return using_root
