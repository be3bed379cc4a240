"""Pairing images with labels by stem."""

from __future__ import annotations

from pathlib import Path

from svseg.datasets.pairing import pair_cases, safe_case_id
from svseg.datasets.problems import ProblemList


def _touch(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"x")


def test_stems_pair_across_endings_and_label_suffixes(tmp_path: Path) -> None:
    _touch(tmp_path / "images", "a.png", "b.jpg", "c.nii.gz", "notes.txt")
    _touch(tmp_path / "labels", "a.tif", "b_mask.png", "c_seg.nii.gz")
    problems = ProblemList()
    cases = pair_cases(tmp_path / "images", tmp_path / "labels", problems)
    assert not problems
    assert [(c.case_id, c.images[0].name, c.label.name) for c in cases] == [
        ("a", "a.png", "a.tif"), ("b", "b.jpg", "b_mask.png"), ("c", "c.nii.gz", "c_seg.nii.gz")]


def test_exact_label_name_wins_over_suffix_stripped(tmp_path: Path) -> None:
    _touch(tmp_path / "images", "a.png", "a_mask.png")
    _touch(tmp_path / "labels", "a.png", "a_mask.png")
    cases = pair_cases(tmp_path / "images", tmp_path / "labels", ProblemList())
    assert [(c.case_id, c.label.name) for c in cases] == [("a", "a.png"), ("a_mask", "a_mask.png")]


def test_every_pairing_problem_is_collected(tmp_path: Path) -> None:
    _touch(tmp_path / "images", "a.png", "a.tif", "b.png", "c.png")
    _touch(tmp_path / "labels", "b.png", "b.bmp", "orphan.png")
    problems = ProblemList()
    cases = pair_cases(tmp_path / "images", tmp_path / "labels", problems)
    messages = [str(p) for p in problems.items]
    assert cases == []
    assert any("duplicate stem 'a'" in m and "a.png, a.tif" in m for m in messages)
    assert any("duplicate stem 'b'" in m for m in messages)
    assert any("missing label for image c.png" in m for m in messages)
    assert any("orphan.png" in m and "has no image" in m for m in messages)
    assert len(messages) == 4  # the image b.png is not also reported as missing its label


def test_unlabelled_images_become_test_cases_when_asked(tmp_path: Path) -> None:
    _touch(tmp_path / "images", "a.png", "b.png")
    _touch(tmp_path / "labels", "a.png")
    problems = ProblemList()
    cases = pair_cases(tmp_path / "images", tmp_path / "labels", problems, unlabelled_as_test=True)
    assert not problems and [(c.case_id, c.test, c.label) for c in cases][1] == ("b", True, None)


def test_case_ids_are_made_safe_and_clashes_reported(tmp_path: Path) -> None:
    assert safe_case_id("patient 01 (left)") == "patient_01_left"
    _touch(tmp_path / "images", "a b.png", "a_b.png")
    _touch(tmp_path / "labels", "a b.png", "a_b.png")
    problems = ProblemList()
    pair_cases(tmp_path / "images", tmp_path / "labels", problems)
    assert "clashes" in str(problems.items[0])


def test_dicom_case_folders_pair_with_label_files_or_folders(tmp_path: Path) -> None:
    (tmp_path / "images" / "p1").mkdir(parents=True)
    (tmp_path / "images" / "p2").mkdir()
    _touch(tmp_path / "labels", "p1.nii.gz")
    (tmp_path / "labels" / "p2").mkdir()
    cases = pair_cases(tmp_path / "images", tmp_path / "labels", ProblemList(), dicom=True)
    assert [(c.case_id, c.label.name) for c in cases] == [("p1", "p1.nii.gz"), ("p2", "p2")]
