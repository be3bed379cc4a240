"""``svseg train`` refusals that need more than reading the options: one line, exit 2, no trace.

Unwritable results, unfinished preprocessing, folds nnU-Net's split does not have, a fold another
run holds (lock), plans whose network cannot be built and a refusal inside nnU-Net's trainer; a
stale lock and a killed run's temporaries are cleared by the next run. Every case stops before
training, so each test takes seconds (the planned datasets come from tests/training/conftest.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from svseg.cli import app

runner = CliRunner()
DISKS = "Dataset811_Disks"
MODEL = Path("results") / DISKS / "SvsegTrainer__svsegPlans__2d"


def _train(*args: str) -> tuple[int, list[str]]:
    result = runner.invoke(app, ["train", "-d", "Disks", "--device", "cpu", *args])
    return result.exit_code, [line for line in result.output.splitlines() if line.strip()]


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def _one_error(code: int, lines: list[str], *fragments: str) -> str:
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith("svseg: error: "), lines
    for fragment in fragments:
        assert fragment in lines[0], lines
    return lines[0]


def test_unwritable_results_folder(data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a regular file where the results root should be")
    monkeypatch.setenv("nnUNet_results", str(blocker / "results"))
    fold_dir = blocker / "results" / DISKS / "SvsegTrainer__svsegPlans__2d" / "fold_0"
    _one_error(*_train("-f", "0"), f"{fold_dir}: cannot create the fold results folder: {blocker} is a file")
    assert blocker.read_text() == "a regular file where the results root should be"
    assert _files(data_root / "results") == []


@pytest.mark.parametrize("fold", ["0", "all"])
@pytest.mark.parametrize("interruption", ["no_record", "missing_case_file"])
def test_unfinished_preprocessing(data_root: Path, fold: str, interruption: str) -> None:
    data = data_root / "preprocessed" / DISKS / "svsegPlans_2d"
    if interruption == "no_record":  # killed inside nnU-Net's preprocessing: no completion record yet
        (data.parent / "svsegPlans_2d.complete.json").unlink()
        named = f"{data}: preprocessing of {DISKS} is incomplete (no completion record svsegPlans_2d.complete.json)"
    else:  # files lost after it finished
        (data / "disk_005.pkl").unlink()
        (data / "disk_006_seg.b2nd").unlink()
        named = f"{data / 'disk_005.pkl'}: missing, with 1 other preprocessed file(s) of {DISKS}"
    _one_error(*_train("-f", fold), named, "run svseg plan-and-preprocess -d Disks again; it resumes")
    assert _files(data_root / "results") == []


@pytest.mark.parametrize("fold", ["5", "7"])
def test_fold_outside_nnunets_five(data_root: Path, fold: str) -> None:
    _one_error(*_train("-f", fold), f"fold {fold}: nnU-Net's 5-fold split has folds 0-4; use one of them or `-f all`")
    assert _files(data_root / "results") == []


_HOLDER = (
    "import sys, time\n"
    "from svseg.utils.locks import run_lock\n"
    "with run_lock(sys.argv[1], 'svseg train -d Dataset811_Disks -f 0 (2d)'):\n"
    "    print('held', flush=True)\n"
    "    time.sleep(60)\n"
)


def test_a_fold_in_training_is_refused_and_other_folds_are_not(data_root: Path) -> None:
    lock = data_root / MODEL / ".train_fold_0.lock"
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(lock)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        before = _files(data_root / "results")
        _one_error(*_train("-f", "0"), f"{lock}: svseg train -d {DISKS} -f 0 (2d) is already running "
                                       f"(pid {holder.pid} on ")
        assert _files(data_root / "results") == before  # the holder's lock file and its folders only
        assert not (data_root / MODEL / "fold_0").exists()
        fold_1 = data_root / MODEL / "fold_1"
        fold_1.mkdir()
        (fold_1 / "checkpoint_final.pth").write_bytes(b"weights")
        _one_error(*_train("-f", "1"), "this fold is already trained")  # fold 1 passes its own lock
        assert not (data_root / MODEL / ".train_fold_1.lock").exists()
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)


def test_stale_lock_and_killed_runs_temporaries_are_cleared(data_root: Path) -> None:
    fold_dir = data_root / MODEL / "fold_0"
    (fold_dir / "validation").mkdir(parents=True)
    (fold_dir / "checkpoint_final.pth").write_bytes(b"weights")
    leftovers = [fold_dir / ".checkpoint_final.pth.k2j4_9xq.tmp.pth",
                 fold_dir / "validation" / ".disk_001.png.ab12cd34.tmp.png"]
    for path in leftovers:
        path.write_bytes(b"")  # what kill -9 during a checkpoint or mask write leaves
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=30)
    lock = data_root / MODEL / ".train_fold_0.lock"
    lock.write_text(json.dumps({"pid": dead.pid, "host": os.uname().nodename, "started": 1.7e9,
                                "command": f"svseg train -d {DISKS} -f 0 (2d)"}))
    result = runner.invoke(app, ["train", "-d", "Disks", "-f", "0", "--device", "cpu"])
    assert result.exit_code == 2, result.output
    flat = " ".join(result.output.split())  # the log wraps at the terminal's width, which varies
    assert "taking over the lock" in flat and f"pid {dead.pid}" in flat and "already trained" in flat
    assert not any(path.exists() for path in leftovers) and not lock.exists()
    assert (fold_dir / "checkpoint_final.pth").read_bytes() == b"weights"


def _edit_plans(home: Path, edit) -> None:
    path = home / "preprocessed" / DISKS / "svsegPlans.json"
    plans = json.loads(path.read_text(encoding="utf-8"))
    edit(plans)
    path.write_text(json.dumps(plans))


def test_plans_whose_network_cannot_be_built_leave_no_trace(data_root: Path) -> None:
    def drop_a_stage_width(plans: dict) -> None:
        kwargs = plans["configurations"]["2d"]["architecture"]["arch_kwargs"]
        kwargs["features_per_stage"] = kwargs["features_per_stage"][:-1]

    _edit_plans(data_root, drop_a_stage_width)
    _one_error(*_train("-f", "0"), f"{data_root / 'preprocessed' / DISKS / 'svsegPlans.json'}: the network of "
                                   "configuration '2d' cannot be built from its architecture (features_per_stage")
    assert _files(data_root / "results") == []


def test_a_refusal_inside_nnunets_trainer_leaves_no_fold_folder(data_root: Path) -> None:
    def no_validation_batches(plans: dict) -> None:
        plans["svseg"]["recipe"]["val_iters_per_epoch"] = 0  # valid plans, refused by the trainer's set-up

    _edit_plans(data_root, no_validation_batches)
    code, lines = _train("-f", "0")  # the launch logs its device first, then the trainer refuses
    assert code == 2 and any(line.startswith("svseg: error: recipe.val_iters_per_epoch must be >= 1") for line in lines)
    assert _files(data_root / "results") == []  # no fold folder, svseg_run.json or training log
