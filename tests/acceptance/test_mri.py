"""Form h: four-modality MRI (FLAIR, T1, T1c, T2) with three lesion classes, held two ways.

As one 4D NIfTI per case (x, y, z, modality), as the Decathlon ships it: the module walks all
five commands on it. As ``CASE_0000`` .. ``CASE_0003`` files per case: import must give the same
raw dataset (pixel for pixel: both are written from one seed), and predict reads a folder of
such files as nnU-Net's cases, so the new cases are predicted with the 4D model.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .checks import files_by_stem
from .conftest import Trained, data_root, use_root
from .userdata import MRI_CLASSES, write_mri_form
from .walk import (
    as_labels,
    assert_same_raw_dataset,
    check_good_prediction,
    check_masks_3d,
    check_metrics,
    predict_and_evaluate,
    svseg,
    walk,
)

MRI_IMPORT = ("--labels", "background," + ",".join(MRI_CLASSES), "--channel-names", "FLAIR,T1,T1c,T2")
LABELS = {0, 1, 2, 3}


@pytest.fixture(scope="module")
def mri_4d(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    root = tmp_path_factory.mktemp("mri")
    with data_root(root / "svseg_data") as home:
        folders = write_mri_form(root / "four_d", four_d=True)
        return Trained(home, folders, walk(folders, "Brain4D", import_args=MRI_IMPORT))


@pytest.fixture(autouse=True)
def _module_root(mri_4d: Trained, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test here works in the data root holding the module's model."""
    return use_root(mri_4d, monkeypatch)


def test_mri_as_4d_nifti(mri_4d: Trained) -> None:
    """All five commands; a 4D scan's grid is its first three axes, so masks are checked against the user's masks."""
    folders, masks = mri_4d.folders, mri_4d.folders.root / "masks"
    check_masks_3d(folders, masks, LABELS, {name: None for name in files_by_stem(folders.new_images)})
    check_metrics(folders, masks, [1, 2, 3], as_labels)
    check_good_prediction(folders, masks, "Brain4D", [1, 2, 3], as_labels)


def test_mri_channel_files_are_predicted_as_cases(mri_4d: Trained, tmp_path: Path) -> None:
    """New cases as ``CASE_000k`` files: one mask ``CASE.nii.gz`` per case on the grid of ``CASE_0000``."""
    folders = write_mri_form(tmp_path / "channels", four_d=False)
    masks = predict_and_evaluate(mri_4d.run, folders, tmp_path / "masks")
    scans = {name[: -len("_0000")]: path for name, path in files_by_stem(folders.new_images).items()
             if name.endswith("_0000")}
    check_masks_3d(folders, masks, LABELS, scans)
    check_metrics(folders, masks, [1, 2, 3], as_labels)
    check_good_prediction(folders, masks, "Brain4D", [1, 2, 3], as_labels)


def test_mri_channel_files_import_as_one_case_each(mri_4d: Trained, tmp_path: Path) -> None:
    """Training cases as ``CASE_000k`` files import to the same dataset as the 4D files."""
    home = mri_4d.home
    folders = write_mri_form(tmp_path / "channels", four_d=False)
    svseg("import", "-i", folders.train, "-n", "BrainChannels", *MRI_IMPORT)
    assert_same_raw_dataset(home, "BrainChannels", "Brain4D", pixels=True)
