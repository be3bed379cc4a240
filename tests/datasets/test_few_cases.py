"""``svseg import`` warns, and still imports, when nnU-Net's 5-fold split cannot be made."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from svseg.datasets import import_dataset
from svseg.paths import raw_root

from .makers import nnunet_raw, paired_2d


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "cross-validation" in
            r.getMessage()]


def test_fewer_than_five_training_cases_warn_but_import(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        result = import_dataset(paired_2d(tmp_path / "four", n=4), "Four")
    assert result.num_training == 4 and len(list((raw_root() / "Dataset001_Four" / "imagesTr").iterdir())) == 4
    assert _warnings(caplog) == [
        "Dataset001_Four: only 4 training cases; nnU-Net's 5-fold cross-validation needs at least 5, so train with "
        "`svseg train -f all`, add cases, or write your own splits_final.json after planning"]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        result = import_dataset(paired_2d(tmp_path / "six", n=6), "Six", test_fraction=0.34)
    assert (result.num_training, result.num_test) == (4, 2)
    assert len(_warnings(caplog)) == 1 and "only 4 training cases (2 more held out as test cases)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert import_dataset(paired_2d(tmp_path / "five", n=5), "Five").num_training == 5
    assert _warnings(caplog) == []


def test_an_nnunet_raw_dataset_with_three_cases_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        result = import_dataset(nnunet_raw(tmp_path / "Dataset007_Raw", n=3), "Raw")
    assert result.num_training == 3
    assert len(_warnings(caplog)) == 1 and "only 3 training cases" in caplog.text
