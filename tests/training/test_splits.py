"""A numbered fold of a dataset nnU-Net cannot split 5 ways: one clear error before any work.

nnU-Net 2.8.1 makes a 5-fold KFold split when ``splits_final.json`` is missing (sklearn refuses
fewer than 5 cases), uses a user's split file as written, and would draw a random 80:20 split for
a fold beyond the file's folds, which svseg refuses. The ``Vols`` test dataset has 4 training cases.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from svseg.cli import app
from svseg.errors import SvsegError
from svseg.training.api import train
from svseg.training.splits import check_fold_split, count_training_cases

runner = CliRunner()
VOLS = "Dataset812_Vols"
CASES = [f"vol_{i:03d}" for i in range(4)]


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_four_cases_and_no_split_file_fail_before_any_work(data_root: Path) -> None:
    preprocessed = data_root / "preprocessed" / VOLS
    before = _files(preprocessed)
    expected = (f"dataset {VOLS} has 4 training cases; nnU-Net's 5-fold cross-validation needs at least 5: use "
                f"`-f all`, add cases, or write your own split to {preprocessed / 'splits_final.json'}")
    with pytest.raises(SvsegError) as info:
        train("Vols", 0, device="cpu")
    assert str(info.value) == expected
    result = runner.invoke(app, ["train", "-d", "Vols", "-f", "3", "--device", "cpu"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"svseg: error: dataset {VOLS} has 4 training cases"), result.output
    assert _files(data_root / "results") == [] and _files(preprocessed) == before


@pytest.mark.slow  # a real (1-epoch) training and validation: ~35 s on a busy 2-core CPU
def test_a_users_split_file_with_two_folds_trains(data_root: Path) -> None:
    splits = [{"train": CASES[:3], "val": CASES[3:]}, {"train": CASES[1:], "val": CASES[:1]}]
    (data_root / "preprocessed" / VOLS / "splits_final.json").write_text(json.dumps(splits))
    result = train("Vols", 1, device="cpu", epochs=1, iters_per_epoch=2)
    assert (result.fold_dir / "checkpoint_final.pth").is_file()
    assert [p.name for p in (result.fold_dir / "validation").glob("*.nii.gz")] == ["vol_000.nii.gz"]


def test_a_fold_beyond_the_split_file_is_refused(data_root: Path) -> None:
    preprocessed = data_root / "preprocessed" / VOLS
    plans = json.loads((preprocessed / "svsegPlans.json").read_text(encoding="utf-8"))
    splits_file = preprocessed / "splits_final.json"
    splits_file.write_text(json.dumps([{"train": CASES[:3], "val": CASES[3:]}]))
    check_fold_split(VOLS, preprocessed, plans, "2d", 0)  # a fold of the file: used as written
    with pytest.raises(SvsegError) as info:
        check_fold_split(VOLS, preprocessed, plans, "2d", 2)
    assert str(info.value) == f"{splits_file}: defines fold 0, not fold 2; use one of them or `-f all`"
    check_fold_split(VOLS, preprocessed, plans, "2d", "all")
    seven = [{"train": CASES[1:], "val": CASES[:1]}] * 7  # a user's own 7-fold file allows folds 0-6
    splits_file.write_text(json.dumps(seven))
    check_fold_split(VOLS, preprocessed, plans, "2d", 6)
    with pytest.raises(SvsegError, match=r"defines folds 0-6, not fold 7"):
        check_fold_split(VOLS, preprocessed, plans, "2d", 7)
    (preprocessed / "splits_final.json").write_text('{"fold": 0}')
    with pytest.raises(SvsegError, match=r"splits_final\.json: not nnU-Net's split format"):
        check_fold_split(VOLS, preprocessed, plans, "2d", 0)


def test_counting_cases_like_nnunets_dataset_classes(data_root: Path, tmp_path: Path) -> None:
    preprocessed = data_root / "preprocessed" / VOLS
    plans = json.loads((preprocessed / "svsegPlans.json").read_text(encoding="utf-8"))
    assert count_training_cases(preprocessed, plans, "2d") == 4  # the real preprocessed folder
    identifier = plans["configurations"]["2d"]["data_identifier"]
    hand = tmp_path / "pre"
    (hand / identifier).mkdir(parents=True)
    for name in ("a.b2nd", "a_seg.b2nd", "a.pkl", "b.npz", "b.pkl"):
        (hand / identifier / name).write_bytes(b"")
    assert count_training_cases(hand, plans, "2d") == 2
    one = tmp_path / "one"
    (one / identifier).mkdir(parents=True)
    (one / identifier / "a.b2nd").write_bytes(b"")
    (one / "splits_final.json").write_text(json.dumps([{"train": ["a"], "val": ["a"]}]))
    check_fold_split("One", one, plans, "2d", 0)  # the user's own split of one case is used as written
    with pytest.raises(SvsegError, match=r"defines fold 0, not fold 1"):
        check_fold_split("One", one, plans, "2d", 1)
    (tmp_path / "unplanned").mkdir()
    (tmp_path / "unplanned" / "dataset.json").write_text('{"numTraining": 3}')
    assert count_training_cases(tmp_path / "unplanned", plans, "2d") == 3
