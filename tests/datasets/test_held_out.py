"""Staging held-out cases: test split first, else the fold's validation cases; raw data untouched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from svseg.datasets.held_out import held_out_case_ids, stage_cases
from svseg.errors import SvsegError


def _raw(tmp_path: Path, with_test: bool) -> Path:
    raw = tmp_path / "raw" / "Dataset001_X"
    for split, cases in (("Tr", ["a", "b", "c"]), ("Ts", ["t1", "t2"] if with_test else [])):
        for case in cases:
            (raw / f"images{split}").mkdir(parents=True, exist_ok=True)
            (raw / f"labels{split}").mkdir(parents=True, exist_ok=True)
            (raw / f"images{split}" / f"{case}_0000.png").write_bytes(f"image {case}".encode())
            (raw / f"labels{split}" / f"{case}.png").write_bytes(f"label {case}".encode())
    (raw / "dataset.json").write_text(json.dumps({"file_ending": ".png"}))
    return raw


def test_the_test_split_wins_and_is_staged_in_nnunet_layout(tmp_path) -> None:
    raw = _raw(tmp_path, with_test=True)
    cases, source = held_out_case_ids(raw, tmp_path / "pre", 0)
    assert (cases, source) == (["t1", "t2"], "test")
    staged = stage_cases(raw, cases, source, tmp_path / "staged")
    assert sorted(p.name for p in staged.images_dir.iterdir()) == ["t1_0000.png", "t2_0000.png"]
    assert (staged.images_dir / "t1_0000.png").read_bytes() == b"image t1"
    assert (staged.labels_dir / "t2.png").read_bytes() == b"label t2"
    assert (raw / "imagesTs" / "t1_0000.png").is_file()  # copied, not moved


def test_without_a_test_split_the_folds_validation_cases_are_used(tmp_path) -> None:
    raw = _raw(tmp_path, with_test=False)
    pre = tmp_path / "pre"
    pre.mkdir()
    (pre / "splits_final.json").write_text(json.dumps([{"train": ["a", "b"], "val": ["c"]},
                                                       {"train": ["b", "c"], "val": ["a"]}]))
    assert held_out_case_ids(raw, pre, 1) == (["a"], "validation fold 1")
    staged = stage_cases(raw, ["a"], "validation fold 1", tmp_path / "staged")
    assert (staged.labels_dir / "a.png").read_bytes() == b"label a"
    with pytest.raises(SvsegError, match="fold 5"):
        held_out_case_ids(raw, pre, 5)


def test_no_held_out_cases_at_all_is_a_user_error(tmp_path) -> None:
    with pytest.raises(SvsegError, match="no test split"):
        held_out_case_ids(_raw(tmp_path, with_test=False), tmp_path / "pre", 0)


def test_multi_file_cases_keep_every_channel_file(tmp_path) -> None:
    raw = _raw(tmp_path, with_test=True)
    (raw / "imagesTs" / "t1_0001.png").write_bytes(b"second channel")
    staged = stage_cases(raw, ["t1"], "test", tmp_path / "staged")
    assert sorted(p.name for p in staged.images_dir.iterdir()) == ["t1_0000.png", "t1_0001.png"]
    assert (staged.images_dir / "t1_0001.png").read_bytes() == b"second channel"


def test_a_case_without_its_first_channel_file_is_refused(tmp_path) -> None:
    raw = _raw(tmp_path, with_test=True)
    (raw / "imagesTs" / "t1_0000.png").rename(raw / "imagesTs" / "t1_0001.png")
    with pytest.raises(SvsegError, match=r"no image file t1_0000\.png"):
        stage_cases(raw, ["t1"], "test", tmp_path / "staged")
