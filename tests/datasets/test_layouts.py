"""Layout detection from folder names and file endings."""

from __future__ import annotations

from pathlib import Path

import pytest

from svseg.datasets.layouts import LayoutKind, detect_layout
from svseg.errors import SvsegError

from .makers import msd_task, nnunet_raw, noise_image, paired_2d, paired_volumes, write_dicom_series, write_png


def test_paired_folders_2d_volumes_and_dicom(tmp_path: Path) -> None:
    assert detect_layout(paired_2d(tmp_path / "a", n=1)).kind is LayoutKind.PAIRED_2D
    assert detect_layout(paired_volumes(tmp_path / "b", n=1)).kind is LayoutKind.PAIRED_VOLUMES
    write_dicom_series(tmp_path / "c" / "Images" / "p0", noise_image((2, 4, 4), 0).astype("int16"))
    (tmp_path / "c" / "Masks").mkdir()
    layout = detect_layout(tmp_path / "c")
    assert layout.kind is LayoutKind.DICOM and layout.labels_dir.name == "Masks"


def test_msd_and_nnunet_raw_are_told_apart_by_dataset_json(tmp_path: Path) -> None:
    assert detect_layout(msd_task(tmp_path / "Task01", n_train=1, n_test=0)).kind is LayoutKind.MSD
    assert detect_layout(nnunet_raw(tmp_path / "Dataset001_X", n=1)).kind is LayoutKind.NNUNET_RAW


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        (lambda root: None, "no such folder"),
        (lambda root: root.write_text("x"), "not a folder"),
        (lambda root: root.mkdir(), "folder is empty"),
        (lambda root: (root / "pictures").mkdir(parents=True), "no images/ folder"),
        (lambda root: write_png(root / "images" / "a.png", noise_image((4, 4), 0)), "no labels/ or masks/"),
    ],
)
def test_unrecognised_folders_are_user_errors(tmp_path: Path, prepare, message: str) -> None:
    root = tmp_path / "src"
    prepare(root)
    with pytest.raises(SvsegError, match=message):
        detect_layout(root)


def test_mixed_2d_and_volumes_or_files_and_folders_are_refused(tmp_path: Path) -> None:
    source = paired_2d(tmp_path / "src", n=1)
    (source / "images" / "v.nii.gz").write_bytes(b"x")
    with pytest.raises(SvsegError, match="mixes 2D images"):
        detect_layout(source)
    (source / "images" / "v.nii.gz").unlink()
    (source / "images" / "series").mkdir()
    with pytest.raises(SvsegError, match="both files and folders"):
        detect_layout(source)


def test_hidden_files_are_ignored(tmp_path: Path) -> None:
    source = paired_2d(tmp_path / "src", n=1)
    (source / "images" / ".DS_Store").write_bytes(b"junk")
    assert detect_layout(source).kind is LayoutKind.PAIRED_2D
