"""Listing the cases of an nnU-Net raw folder as nnU-Net finds them."""

from __future__ import annotations

from pathlib import Path

from svseg.datasets.problems import ProblemList
from svseg.datasets.raw_dataset import list_raw_cases


def _touch(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"x")


def test_channels_are_grouped_and_labels_attached(tmp_path: Path) -> None:
    _touch(tmp_path / "imagesTr", "a_0000.nii.gz", "a_0001.nii.gz", "b_c_0000.nii.gz")
    _touch(tmp_path / "labelsTr", "a.nii.gz", "b_c.nii.gz")
    problems = ProblemList()
    cases = list_raw_cases(tmp_path, {"file_ending": ".nii.gz"}, "Tr", problems)
    assert not problems
    assert [(c.case_id, len(c.images), c.label.name) for c in cases] == [("a", 2, "a.nii.gz"), ("b_c", 1, "b_c.nii.gz")]


def test_misnamed_files_gaps_and_orphans_are_problems(tmp_path: Path) -> None:
    _touch(tmp_path / "imagesTr", "a.png", "b_0000.png", "b_0002.png", "c_0000.jpg")
    _touch(tmp_path / "labelsTr", "b.png", "z.png", "notes.txt")
    problems = ProblemList()
    cases = list_raw_cases(tmp_path, {"file_ending": ".png"}, "Tr", problems)
    text = [str(p) for p in problems.items]
    assert cases == []
    assert sum("not named CASE_0000.png" in t for t in text) == 2
    assert any("channels [0, 2]" in t for t in text)
    assert any("z.png: label has no image" in t for t in text) and any("notes.txt" in t for t in text)


def test_dataset_key_lists_cases_anywhere(tmp_path: Path) -> None:
    content = {"file_ending": ".png", "dataset": {"k": {"images": ["imgs/k.png"], "label": "$MASKS/k_mask.png"}}}
    cases = list_raw_cases(tmp_path, content, "Tr", ProblemList())
    assert cases[0].images == (tmp_path / "imgs" / "k.png",) and cases[0].label.name == "k_mask.png"


def test_missing_test_folder_is_fine_but_missing_training_folder_is_not(tmp_path: Path) -> None:
    problems = ProblemList()
    assert list_raw_cases(tmp_path, {"file_ending": ".png"}, "Ts", problems) == [] and not problems
    list_raw_cases(tmp_path, {"file_ending": ".png"}, "Tr", problems)
    assert "imagesTr" in str(problems.items[0])
