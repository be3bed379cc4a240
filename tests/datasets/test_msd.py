"""Reading Medical Segmentation Decathlon tasks."""

from __future__ import annotations

import json
from pathlib import Path

from svseg.datasets.msd import read_decathlon_task
from svseg.datasets.problems import ProblemList

from .makers import msd_task, noise_image, write_volume


def test_cases_labels_and_modalities_from_dataset_json(tmp_path: Path) -> None:
    problems = ProblemList()
    task = read_decathlon_task(msd_task(tmp_path / "Task", n_train=2, n_test=1), problems)
    assert not problems
    assert [(c.case_id, c.test, c.label is not None) for c in task.cases] == [
        ("task_000", False, True), ("task_001", False, True), ("task_002", True, False)]
    assert task.label_names == ["background", "edema", "tumour"] and task.channel_names == ["CT", "MR1"]


def test_nnunet_v1_tasks_with_channel_files(tmp_path: Path) -> None:
    root = tmp_path / "Task"
    for c in range(2):
        write_volume(root / "imagesTr" / f"x_{c:04d}.nii.gz", noise_image((2, 3, 4), seed=c))
    write_volume(root / "labelsTr" / "x.nii.gz", (noise_image((2, 3, 4), seed=0) > 100).astype("uint8"))
    (root / "dataset.json").write_text(json.dumps({
        "modality": {"0": "T1", "1": "T2"}, "labels": {"0": "background", "1": "a"},
        "training": [{"image": "./imagesTr/x.nii.gz", "label": "./labelsTr/x.nii.gz"}], "test": []}))
    task = read_decathlon_task(root, ProblemList())
    assert [p.name for p in task.cases[0].images] == ["x_0000.nii.gz", "x_0001.nii.gz"]


def test_missing_files_and_bad_keys_are_problems(tmp_path: Path) -> None:
    root = tmp_path / "Task"
    root.mkdir()
    (root / "dataset.json").write_text(json.dumps({
        "modality": {"1": "CT"}, "labels": {"0": "background", "x": "a"},
        "training": [{"image": "./imagesTr/gone.nii.gz", "label": "./labelsTr/gone.nii.gz"}, {"image": "y"}]}))
    problems = ProblemList()
    task = read_decathlon_task(root, problems)
    text = " | ".join(str(p) for p in problems.items)
    assert task.cases == [] and task.channel_names is None and task.label_names is None
    assert "gone.nii.gz: listed in dataset.json but missing" in text
    assert "needs 'image' and 'label'" in text and "keys must be integers" in text and "keys must be 0..0" in text
