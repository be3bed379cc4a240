"""``svseg train`` input errors: one line, exit code 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from svseg.cli import app

runner = CliRunner()


def _results_files(home: Path) -> list[Path]:
    results = home / "results"
    return sorted(p for p in results.rglob("*") if p.is_file()) if results.exists() else []


def _invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["train", *args])
    return result.exit_code, result.output


def test_unknown_dataset(isolated_data_root: Path) -> None:
    code, output = _invoke("-d", "NOPE", "-f", "0", "--device", "cpu")
    assert code == 2 and "unknown dataset 'NOPE'" in output


def test_dataset_without_plans(isolated_data_root: Path) -> None:
    raw = isolated_data_root / "raw" / "Dataset777_Raw"
    raw.mkdir(parents=True)
    (raw / "dataset.json").write_text("{}")
    code, output = _invoke("-d", "Raw", "-f", "0", "--device", "cpu")
    assert code == 2 and "plans file not found" in output and "plan-and-preprocess" in output
    assert _results_files(isolated_data_root) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--arch", "nonet"], "unknown architecture 'nonet'"),
        (["--continue", "--overwrite"], "exclude each other"),
        (["--num-gpus", "0"], "--num-gpus 0"),
        (["--device", "tpu"], "unknown device"),
        (["--epochs", "0"], "recipe.epochs"),
        (["--num-workers", "-1"], "--num-workers -1"),
        (["--preset", "nope"], "unknown preset 'nope'"),
        (["--pretrained", "missing.pth"], "missing.pth: pretrained weights file not found"),
        (["--continue", "--pretrained", "missing.pth"], "--pretrained only applies to a new training"),
    ],
)
def test_bad_options(data_root: Path, args: list[str], message: str) -> None:
    code, output = _invoke("-d", "Disks", "-f", "0", "--device", "cpu", *args)
    assert code == 2, output
    assert message in output.replace("\n", "")
    assert _results_files(data_root) == []


@pytest.mark.parametrize("fold", ["x", "-1", "1.5"])
def test_bad_fold(data_root: Path, fold: str) -> None:
    code, output = _invoke("-d", "Disks", "-f", fold, "--device", "cpu")
    assert code == 2 and "fold" in output


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_requested_without_a_gpu(data_root: Path) -> None:
    code, output = _invoke("-d", "Disks", "-f", "0", "--device", "cuda")
    assert code == 2 and "no CUDA GPU" in output


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_multi_gpu_without_gpus(data_root: Path) -> None:
    code, output = _invoke("-d", "Disks", "-f", "0", "--num-gpus", "2")
    assert code == 2 and "needs CUDA GPUs" in output
    assert _results_files(data_root) == []


def test_finished_fold_is_not_retrained(data_root: Path) -> None:
    fold_dir = data_root / "results" / "Dataset811_Disks" / "SvsegTrainer__svsegPlans__2d" / "fold_0"
    fold_dir.mkdir(parents=True)
    (fold_dir / "checkpoint_final.pth").write_bytes(b"weights")
    code, output = _invoke("-d", "Disks", "-f", "0", "--device", "cpu")
    assert code == 2
    flat = output.replace("\n", "")
    assert "already trained" in flat and "--continue" in flat and "--overwrite" in flat
    assert _results_files(data_root) == [fold_dir / "checkpoint_final.pth"]
    assert (fold_dir / "checkpoint_final.pth").read_bytes() == b"weights"
