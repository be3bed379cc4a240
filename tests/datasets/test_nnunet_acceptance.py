"""nnU-Net itself accepts what ``svseg import`` writes, unchanged.

The quick test runs nnU-Net's ``verify_dataset_integrity`` (one spawned worker); the slow one
runs nnU-Net's own fingerprinting, planning and 2D preprocessing through its Python API.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from svseg.datasets import import_dataset
from svseg.paths import export_nnunet_environment, preprocessed_root

from .makers import disk_mask, msd_task, paired_2d, paired_volumes, write_png


def _grey_2d(tmp_path: Path) -> Path:
    source = paired_2d(tmp_path / "png", n=4, shape=(32, 32))
    write_png(source / "labels" / "case0.png", disk_mask((32, 32), 255, radius=5, centre=(12, 12)))
    return source


def test_readable_endings_match_nnunet() -> None:
    from nnunetv2.imageio.reader_writer_registry import LIST_OF_IO_CLASSES

    from svseg.datasets.validate import NNUNET_READABLE_ENDINGS

    nnunet = {ending for io_class in LIST_OF_IO_CLASSES for ending in io_class.supported_file_endings}
    assert set(NNUNET_READABLE_ENDINGS) == nnunet


def test_nnunet_verifies_imported_png_nifti_and_multichannel_datasets(tmp_path: Path) -> None:
    from nnunetv2.experiment_planning.verify_dataset_integrity import verify_dataset_integrity

    flat = import_dataset(_grey_2d(tmp_path), "Flat")
    volumes = import_dataset(paired_volumes(tmp_path / "vol", n=2), "Volumes")
    decathlon = import_dataset(msd_task(tmp_path / "Task09_Two"), "TwoChannels")
    export_nnunet_environment()
    for result in (flat, volumes, decathlon):
        verify_dataset_integrity(str(result.folder), num_processes=1)  # raises on any problem


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["png", "rgb", "nifti"])
def test_nnunet_plans_and_preprocesses_an_imported_dataset(tmp_path: Path, kind: str) -> None:
    from nnunetv2.experiment_planning.plan_and_preprocess_api import (
        extract_fingerprints,
        plan_experiments,
        preprocess,
    )

    sources = {
        "png": lambda: _grey_2d(tmp_path),
        "rgb": lambda: paired_2d(tmp_path / "rgb", n=3, rgb=True, shape=(32, 32)),
        "nifti": lambda: paired_volumes(tmp_path / "vol", n=3, shape=(6, 24, 20)),
    }
    source = sources[kind]()
    result = import_dataset(source, f"Accept{kind}")
    export_nnunet_environment()
    dataset_id = result.ref.dataset_id
    extract_fingerprints([dataset_id], num_processes=1, check_dataset_integrity=True, verbose=False)
    plan_experiments([dataset_id])
    preprocess([dataset_id], configurations=("2d",), num_processes=(1,), verbose=False)
    out = preprocessed_root() / result.ref.folder_name
    assert (out / "nnUNetPlans.json").is_file()
    # nnU-Net's planner copies dataset.json, so the channel rule reaches the preprocessed folder (and, through
    # the dataset.json the trainer is given and saves, the model folder)
    recorded = json.loads((result.folder / "dataset.json").read_text(encoding="utf-8"))["svseg"]["input_channels"]
    assert json.loads((out / "dataset.json").read_text(encoding="utf-8"))["svseg"]["input_channels"] == recorded
    arrays = sorted((out / "nnUNetPlans_2d").iterdir())
    assert len([p for p in arrays if p.name.endswith(".pkl")]) == result.num_training
