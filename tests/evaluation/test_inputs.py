"""Pairing by stem, reading checks and dataset.json labels: every problem is one SvsegError naming the file."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from svseg.errors import SvsegError
from svseg.evaluation.inputs import CasePair, labels_from_dataset_json, load_pair, pair_cases, split_labels

from .examples import blank, write_pngs


def test_pairs_by_stem_across_formats_and_sorted(tmp_path: Path) -> None:
    write_pngs(tmp_path / "gt", {"b": blank(), "a": blank()})
    write_pngs(tmp_path / "pred", {"a": blank()})
    sitk.WriteImage(sitk.GetImageFromArray(blank()[None]), str(tmp_path / "pred" / "b.nii.gz"))
    (tmp_path / "pred" / "notes.txt").write_text("not a mask")
    pairs = pair_cases(tmp_path / "pred", tmp_path / "gt")
    assert [(p.case, p.pred_path.name) for p in pairs] == [("a", "a.png"), ("b", "b.nii.gz")]
    only_png = pair_cases(tmp_path / "pred", tmp_path / "gt", file_ending=".png", chill=True)
    assert [p.case for p in only_png] == ["a"]


def test_extra_predictions_are_skipped_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_pngs(tmp_path / "gt", {"a": blank()})
    write_pngs(tmp_path / "pred", {"a": blank(), "zzz": blank()})
    with caplog.at_level(logging.WARNING):
        assert [p.case for p in pair_cases(tmp_path / "pred", tmp_path / "gt")] == ["a"]
    assert "zzz" in caplog.text


def test_duplicate_stems_and_no_match(tmp_path: Path) -> None:
    write_pngs(tmp_path / "gt", {"a": blank()})
    write_pngs(tmp_path / "pred", {"a": blank()})
    sitk.WriteImage(sitk.GetImageFromArray(blank()[None]), str(tmp_path / "pred" / "a.nii.gz"))
    with pytest.raises(SvsegError, match="share the stem"):
        pair_cases(tmp_path / "pred", tmp_path / "gt")
    write_pngs(tmp_path / "other", {"x": blank()})
    with pytest.raises(SvsegError, match="no prediction matches"):
        pair_cases(tmp_path / "other", tmp_path / "gt", chill=True)


def test_masks_must_be_integer_labels(tmp_path: Path) -> None:
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    ref = blank().astype(np.float32)[None]
    sitk.WriteImage(sitk.GetImageFromArray(ref), str(tmp_path / "gt" / "a.nii.gz"))
    sitk.WriteImage(sitk.GetImageFromArray(ref + 0.5), str(tmp_path / "pred" / "a.nii.gz"))
    pair = CasePair("a", tmp_path / "gt" / "a.nii.gz", tmp_path / "pred" / "a.nii.gz")
    with pytest.raises(SvsegError, match="non-integer"):
        load_pair(pair)
    sitk.WriteImage(sitk.GetImageFromArray(ref - 1), str(tmp_path / "pred" / "a.nii.gz"))
    with pytest.raises(SvsegError, match="negative"):
        load_pair(pair)
    sitk.WriteImage(sitk.GetImageFromArray(ref + 2), str(tmp_path / "pred" / "a.nii.gz"))
    _, pred = load_pair(pair)
    assert np.issubdtype(pred.array.dtype, np.integer) and pred.array.max() == 2


def test_labels_from_dataset_json(tmp_path: Path) -> None:
    path = tmp_path / "dataset.json"
    path.write_text(json.dumps({"labels": {"background": 0, "kidney": 1, "tumour": 2, "ignore": 3}}))
    assert labels_from_dataset_json(path) == ({"kidney": 1, "tumour": 2}, 3)
    path.write_text(json.dumps({"labels": {"background": 0, "kidney": [1, 2]}}))
    with pytest.raises(SvsegError, match="region-based"):
        labels_from_dataset_json(path)
    path.write_text("{not json")
    with pytest.raises(SvsegError, match=r"dataset\.json"):
        labels_from_dataset_json(path)
    with pytest.raises(SvsegError, match="not found"):
        labels_from_dataset_json(tmp_path / "missing.json")
    assert split_labels({"background": 0, "a": 1}) == ({"a": 1}, None)


def test_region_labels_passed_to_the_api_are_user_errors() -> None:
    with pytest.raises(SvsegError, match="kidney"):
        split_labels({"background": 0, "kidney": [1, 2]})  # type: ignore[dict-item]
