"""``svseg train`` on hostile folds, options, plans, records and checkpoints: refused before any training."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from . import files
from .conftest import DATASET, MODEL
from .refusal import Case, assert_refused

Build = Callable[[Path, Path], Case]
PROBE = "torch.nn.functional.torch.os.system"


def _train(*extra: str, fold: str = "1", dataset: str = "Disks") -> list[str]:
    return ["train", "-d", dataset, "-f", fold, "--device", "cpu", *extra]


def _preprocessed(home: Path) -> Path:
    return home / "preprocessed" / DATASET


def _fold0(home: Path) -> Path:
    return home / MODEL / "fold_0"


def _run_record(home: Path, edit: Callable[[dict], None]) -> Path:
    """A fold-0 svseg_run.json holding the dataset's plans, edited by `edit`."""
    plans = json.loads((_preprocessed(home) / "svsegPlans.json").read_text(encoding="utf-8"))
    edit(plans)
    record = _fold0(home) / "svseg_run.json"
    record.write_text(json.dumps({"configuration": "2d", "fold": 0, "plans": plans}), encoding="utf-8")
    return record


def fold_seven(home: Path, tmp: Path) -> Case:
    return Case(_train(fold="7"), ("fold 7",))


def fold_minus_one(home: Path, tmp: Path) -> Case:
    return Case(_train(fold="-1"), ("'-1'",))


def fold_x(home: Path, tmp: Path) -> Case:
    return Case(_train(fold="x"), ("'x'",))


def unplanned_dataset(home: Path, tmp: Path) -> Case:
    shutil.copytree(home / "raw" / DATASET, home / "raw" / "Dataset812_Unplanned")
    return Case(_train(dataset="Unplanned"), ("Dataset812_Unplanned",))


def interrupted_preprocessing(home: Path, tmp: Path) -> Case:
    (_preprocessed(home) / "svsegPlans_2d.complete.json").unlink()
    return Case(_train(), (str(_preprocessed(home) / "svsegPlans_2d"), "incomplete"))


def preprocessed_case_missing(home: Path, tmp: Path) -> Case:
    missing = _preprocessed(home) / "svsegPlans_2d" / "disk_004.b2nd"
    missing.unlink()
    return Case(_train(), (str(missing),))


def continue_nothing_but_a_broken_checkpoint(home: Path, tmp: Path) -> Case:
    checkpoint = _fold0(home) / "checkpoint_final.pth"
    files.truncate(checkpoint, 0.3)
    return Case(_train("--continue", fold="0"), (str(checkpoint),))


def continue_and_overwrite(home: Path, tmp: Path) -> Case:
    return Case(_train("--continue", "--overwrite", fold="0"), ("--continue", "--overwrite"))


def finished_fold_again(home: Path, tmp: Path) -> Case:
    return Case(_train(fold="0"), (str(_fold0(home)), "--overwrite"))


def hostile_run_record(home: Path, tmp: Path) -> Case:
    record = _run_record(home, lambda p: p["configurations"]["2d"]["architecture"]["arch_kwargs"].update(
        nonlin=PROBE, nonlin_kwargs={"command": f"touch {tmp / 'MARKER'}"}))
    return Case(_train("--continue", fold="0"), (str(record), "arch_kwargs.nonlin"))


def run_record_not_json(home: Path, tmp: Path) -> Case:
    record = _fold0(home) / "svseg_run.json"
    record.write_text('{"plans": {', encoding="utf-8")
    return Case(_train("--continue", fold="0"), (str(record),))


def malicious_checkpoint_on_continue(home: Path, tmp: Path) -> Case:
    checkpoint = files.malicious_pickle(_fold0(home) / "checkpoint_final.pth", tmp / "MARKER")
    return Case(_train("--continue", fold="0"), (str(checkpoint),))


def unknown_arch(home: Path, tmp: Path) -> Case:
    return Case(_train("--arch", "resnet9000"), ("'resnet9000'", "--arch"))


def unknown_loss(home: Path, tmp: Path) -> Case:
    return Case(_train("--loss", "focal_tversky"), ("focal_tversky",))


def pretrained_missing(home: Path, tmp: Path) -> Case:
    return Case(_train("--pretrained", str(tmp / "encoder.pth")), (str(tmp / "encoder.pth"),))


def pretrained_malicious(home: Path, tmp: Path) -> Case:
    weights = files.malicious_pickle(tmp / "encoder.pth", tmp / "MARKER")
    return Case(_train("--pretrained", str(weights)), (str(weights),))


def pretrained_truncated(home: Path, tmp: Path) -> Case:
    weights = tmp / "encoder.pth"
    shutil.copyfile(_fold0(home) / "checkpoint_final.pth", weights)
    files.truncate(weights, 0.5)
    return Case(_train("--pretrained", str(weights)), (str(weights),))


def negative_epochs(home: Path, tmp: Path) -> Case:
    return Case(_train("--epochs", "-2"), ("epochs",))


def zero_batch(home: Path, tmp: Path) -> Case:
    return Case(_train("--batch-size", "0"), ("batch_size",))


def learning_rate_nan(home: Path, tmp: Path) -> Case:
    return Case(_train("--lr", "nan"), ("lr",))


def unknown_device(home: Path, tmp: Path) -> Case:
    return Case(["train", "-d", "Disks", "-f", "1", "--device", "tpu"], ("'tpu'",))


def zero_gpus(home: Path, tmp: Path) -> Case:
    return Case(_train("--num-gpus", "0"), ("--num-gpus",))


def unknown_preset(home: Path, tmp: Path) -> Case:
    return Case(_train("--preset", "no_such_preset"), ("no_such_preset",))


def hostile_reader_in_preprocessed_dataset_json(home: Path, tmp: Path) -> Case:
    path = _preprocessed(home) / "dataset.json"
    content = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**content, "overwrite_image_reader_writer": "load_json"}), encoding="utf-8")
    return Case(_train(), (str(path), "overwrite_image_reader_writer"))


def corrupted_preprocessed_dataset_json(home: Path, tmp: Path) -> Case:
    path = _preprocessed(home) / "dataset.json"
    path.write_text('{"labels": {"background": 0,', encoding="utf-8")
    return Case(_train(), (str(path),))


def plans_not_an_object(home: Path, tmp: Path) -> Case:
    path = _preprocessed(home) / "svsegPlans.json"
    path.write_text("[]", encoding="utf-8")
    return Case(_train(), (str(path),))


def corrupted_split_file(home: Path, tmp: Path) -> Case:
    path = _preprocessed(home) / "splits_final.json"
    path.write_text('[{"train": ["disk_000"], "val":', encoding="utf-8")
    return Case(_train(), (str(path),))


def results_root_is_a_file(home: Path, tmp: Path) -> Case:
    shutil.rmtree(home / "results")
    (home / "results").write_text("a file where the results go\n")
    return Case(_train(), (str(home / "results"),))


CASES: dict[str, Build] = {build.__name__: build for build in (
    fold_seven, fold_minus_one, fold_x, unplanned_dataset, interrupted_preprocessing, preprocessed_case_missing,
    continue_nothing_but_a_broken_checkpoint, continue_and_overwrite, finished_fold_again, hostile_run_record,
    run_record_not_json, malicious_checkpoint_on_continue, unknown_arch, unknown_loss, pretrained_missing,
    pretrained_malicious, pretrained_truncated, negative_epochs, zero_batch, learning_rate_nan, unknown_device,
    zero_gpus, unknown_preset, hostile_reader_in_preprocessed_dataset_json, corrupted_preprocessed_dataset_json,
    plans_not_an_object, corrupted_split_file, results_root_is_a_file,
)}


@pytest.mark.parametrize("name", list(CASES))
def test_train_refuses(name: str, home: Path, tmp_path: Path) -> None:
    case = CASES[name](home, tmp_path)
    assert_refused(case, home, tmp_path)
