"""Choosing the dataset id and folder for an import."""

from __future__ import annotations

import pytest

from svseg.datasets.target import ImportResult, claim_target
from svseg.errors import SvsegError
from svseg.paths import DatasetRef, preprocessed_root, raw_root


def test_next_free_id_skips_ids_used_in_any_root() -> None:
    (raw_root() / "Dataset001_A").mkdir(parents=True)
    (preprocessed_root() / "Dataset002_B").mkdir(parents=True)
    assert claim_target("C", None) == DatasetRef(3, "C")
    assert claim_target("C", 42) == DatasetRef(42, "C")


@pytest.mark.parametrize(
    ("name", "dataset_id", "message"),
    [
        ("A", None, "already exists as Dataset001_A"),
        ("a", None, "already exists as Dataset001_A"),
        ("New", 1, "id 1 is already used by Dataset001_A"),
        ("New", 1000, "1 to 999"),
        ("../escape", None, "invalid dataset name"),
        ("a/b", None, "invalid dataset name"),
    ],
)
def test_clashes_and_bad_names_are_refused(name: str, dataset_id: int | None, message: str) -> None:
    (raw_root() / "Dataset001_A").mkdir(parents=True)
    with pytest.raises(SvsegError, match=message):
        claim_target(name, dataset_id)


def test_summary_lines() -> None:
    ref = DatasetRef(4, "X")
    result = ImportResult(ref, ref.raw_dir, "paired-2d", 3, 1, {"background": 0, "cell": 1}, {"0": "zscore"}, ".png")
    lines = result.summary()
    assert lines[0].startswith("Dataset004_X (imported from a paired-2d folder)")
    assert "3 training, 1 test" in lines[1] and "cell=1" in lines[2] and "0=zscore" in lines[3]
