"""Validating raw datasets: every problem collected, each naming its file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from svseg.datasets import DatasetProblemsError, validate_dataset, validate_folder
from svseg.errors import SvsegError
from svseg.paths import raw_root

from .makers import disk_mask, nnunet_raw, noise_image, write_palette_png, write_png, write_volume


def _messages(folder: Path) -> list[str]:
    return [str(p) for p in validate_folder(folder).problems]


def _edit_json(folder: Path, **changes) -> None:
    content = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
    content.update(changes)
    (folder / "dataset.json").write_text(json.dumps(content))


def test_a_good_dataset_passes(tmp_path: Path) -> None:
    report = validate_folder(nnunet_raw(tmp_path / "D"))
    assert report.ok and (report.num_training, report.num_test) == (3, 1)
    assert report.labels == {"background": 0, "cell": 1} and report.file_ending == ".png"


@pytest.mark.parametrize(
    ("break_it", "fragment"),
    [
        (lambda d: (d / "labelsTr" / "c1.png").unlink(), "c1_0000.png: missing label"),
        (lambda d: write_png(d / "labelsTr" / "c1.png", disk_mask((16, 19), 1)), "c1.png: does not match image"),
        (lambda d: write_png(d / "labelsTr" / "c2.png", disk_mask((16, 18), 2)), "c2.png: label values [2]"),
        (lambda d: (d / "imagesTr" / "c0_0000.png").write_bytes(b""), "c0_0000.png: file is empty"),
        (lambda d: (d / "imagesTr" / "c0_0000.png").write_bytes(b"junk"), "c0_0000.png: cannot be read"),
        (lambda d: write_png(d / "imagesTr" / "c2_0000.png", noise_image((16, 18, 3), 1)), "has 3 channel(s)"),
        (lambda d: write_palette_png(d / "labelsTr" / "c0.png", disk_mask((16, 18), 1), [(0, 0, 0), (9, 9, 9)]),
         "c0.png: palette"),
        (lambda d: _edit_json(d, numTraining=7), "numTraining is 7"),
        (lambda d: _edit_json(d, file_ending=".jpg"), "'.jpg' cannot be read by nnU-Net"),
        (lambda d: _edit_json(d, labels={"background": 0, "a": 2}), "consecutive"),
        (lambda d: _edit_json(d, labels={"bg": 0, "a": 1}), "\"background\": 0"),
        (lambda d: _edit_json(d, labels={"background": 0, "a": "1"}), "use an integer"),
        (lambda d: _edit_json(d, channel_names={"1": "CT"}), "channel_names"),
        (lambda d: _edit_json(d, labels={"background": 0, "a": [1]}), "regions_class_order"),
        (lambda d: (d / "dataset.json").write_text("{"), "dataset.json: not valid JSON"),
        (lambda d: (d / "dataset.json").write_text("{}"), "missing keys"),
    ],
)
def test_each_problem_names_its_file(tmp_path: Path, break_it, fragment: str) -> None:
    folder = nnunet_raw(tmp_path / "D")
    break_it(folder)
    assert any(fragment in message for message in _messages(folder)), _messages(folder)


def test_fewer_than_two_cases_and_float_labels(tmp_path: Path) -> None:
    folder = tmp_path / "V"
    write_volume(folder / "imagesTr" / "a_0000.nii.gz", noise_image((2, 4, 4), 0))
    write_volume(folder / "labelsTr" / "a.nii.gz", np.full((2, 4, 4), 0.5, np.float32))
    (folder / "dataset.json").write_text(json.dumps({"channel_names": {"0": "CT"}, "labels": {"background": 0},
                                                      "numTraining": 1, "file_ending": ".nii.gz"}))
    messages = _messages(folder)
    assert any("at least 2 training cases" in m for m in messages)
    assert any("a.nii.gz: non-integer label values" in m for m in messages)


def test_validate_dataset_resolves_names_and_raises_one_line(tmp_path: Path) -> None:
    folder = nnunet_raw(raw_root() / "Dataset003_Cells")
    assert validate_dataset("Cells").num_training == 3
    write_png(folder / "labelsTr" / "c0.png", disk_mask((16, 18), 5))
    (folder / "labelsTr" / "c1.png").unlink()
    with pytest.raises(DatasetProblemsError) as error:
        validate_dataset(3)
    assert "\n" not in str(error.value) and "and 1 more problem" in str(error.value)
    assert len(error.value.problems) == 2
    with pytest.raises(SvsegError, match="unknown dataset"):
        validate_dataset("Nope")
