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


def test_channel_files_with_masks_named_after_the_case_are_one_case(tmp_path: Path) -> None:
    """nnU-Net's naming: CASE_0000 .. CASE_0003 plus CASE (or CASE_seg) is one case of four files in order."""
    _touch(tmp_path / "images", *(f"{case}_{k:04d}.nii.gz" for case in ("b", "a") for k in (3, 1, 0, 2)))
    _touch(tmp_path / "labels", "a.nii.gz", "b_seg.nii.gz")
    problems = ProblemList()
    cases = pair_cases(tmp_path / "images", tmp_path / "labels", problems)
    assert not problems
    assert [(c.case_id, [p.name for p in c.images], c.label.name) for c in cases] == [
        ("a", [f"a_{k:04d}.nii.gz" for k in range(4)], "a.nii.gz"),
        ("b", [f"b_{k:04d}.nii.gz" for k in range(4)], "b_seg.nii.gz")]


def test_masks_named_after_each_file_keep_numbered_files_apart(tmp_path: Path) -> None:
    _touch(tmp_path / "images", "frame_0000.png", "frame_0001.png", "frame_0003.png")
    _touch(tmp_path / "labels", "frame_0000.png", "frame_0001_mask.png", "frame_0003.png")
    problems = ProblemList()
    cases = pair_cases(tmp_path / "images", tmp_path / "labels", problems)
    assert not problems  # no complaint about the gap: these are not channel files
    assert [(c.case_id, len(c.images), c.label.name) for c in cases] == [
        ("frame_0000", 1, "frame_0000.png"), ("frame_0001", 1, "frame_0001_mask.png"),
        ("frame_0003", 1, "frame_0003.png")]


def test_channel_file_problems_are_collected_per_case(tmp_path: Path) -> None:
    _touch(tmp_path / "images", "a_0000.nii.gz", "a_0002.nii.gz", "b_0000.nii.gz", "b_0001.nii.gz",
           "c_0000.nii.gz", "c_0001.nii.gz")
    _touch(tmp_path / "labels", "a.nii.gz", "c.nii.gz", "d.nii.gz")
    problems = ProblemList()
    cases = pair_cases(tmp_path / "images", tmp_path / "labels", problems)
    assert [c.case_id for c in cases] == ["c"]
    messages = sorted(str(p) for p in problems.items)
    assert len(messages) == 3, messages  # a.nii.gz is not also an orphan label: its case was reported
    assert any("a_NNNN.nii.gz" in m and "case 'a' has channel files _0000, _0002" in m for m in messages)
    assert any(m.startswith(str(tmp_path / "images" / "b_0000.nii.gz")) and "missing label for case 'b' "
               "(b_0000.nii.gz, b_0001.nii.gz) (no b.* in labels/)" in m for m in messages)
    assert any("label d.nii.gz has no image" in m for m in messages)


def test_unlabelled_channel_cases_become_test_cases_when_asked(tmp_path: Path) -> None:
    _touch(tmp_path / "images", "a_0000.png", "a_0001.png", "b_0000.png", "b_0001.png")
    _touch(tmp_path / "labels", "a.png")
    problems = ProblemList()
    cases = pair_cases(tmp_path / "images", tmp_path / "labels", problems, unlabelled_as_test=True)
    assert not problems
    assert [(c.case_id, len(c.images), c.test) for c in cases] == [("a", 2, False), ("b", 2, True)]
