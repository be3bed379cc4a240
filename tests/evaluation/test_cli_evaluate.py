"""``svseg evaluate`` at the CLI edge: a good run, and every bad input gives exit 2, names the file, writes nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from typer.testing import CliRunner

from svseg.cli import app

from .examples import example_1, write_pngs

runner = CliRunner()


def snapshot(*folders: Path) -> dict[str, str]:
    """Every file under the folders with its hash, to prove inputs stay byte for byte the same."""
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for f in folders if f.exists()
            for p in sorted(f.rglob("*")) if p.is_file()}


def invoke(pred: Path, gt: Path, out: Path, *extra: str):
    return runner.invoke(app, ["evaluate", "-p", str(pred), "-g", str(gt), "-o", str(out), "-j", "1", *extra])


def test_evaluate_prints_the_headline_and_the_report_path(example_2_folders: tuple[Path, Path], tmp_path: Path) -> None:
    pred, gt = example_2_folders
    result = invoke(pred, gt, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "ultra_small" in result.output and "report.md" in result.output.replace("\n", "")
    assert (tmp_path / "out" / "metrics.json").is_file()


def test_evaluate_with_a_dataset_names_the_classes(example_2_folders: tuple[Path, Path], tmp_path: Path,
                                                   isolated_data_root: Path) -> None:
    raw = isolated_data_root / "raw" / "Dataset042_Tiny"
    raw.mkdir(parents=True)
    (raw / "dataset.json").write_text('{"labels": {"background": 0, "lesion": 1}, "file_ending": ".png"}')
    pred, gt = example_2_folders
    result = invoke(pred, gt, tmp_path / "out", "-d", "Tiny")
    assert result.exit_code == 0, result.output
    assert '"1": "lesion"' in (tmp_path / "out" / "metrics.json").read_text(encoding="utf-8")


def _missing_prediction(pred: Path, gt: Path) -> str:
    (pred / "B.png").unlink()
    return "B.png"


def _shape_mismatch(pred: Path, gt: Path) -> str:
    write_pngs(pred, {"A": np.zeros((50, 100), np.uint8)})
    return "A.png"


def _unreadable(pred: Path, gt: Path) -> str:
    (pred / "C.png").write_bytes(b"not a png at all")
    return "C.png"


def _empty_reference_folder(pred: Path, gt: Path) -> str:
    for path in gt.iterdir():
        path.unlink()
    return str(gt)


def _missing_folder(pred: Path, gt: Path) -> str:
    for path in gt.iterdir():
        path.unlink()
    gt.rmdir()
    return str(gt)


@pytest.mark.parametrize("breaker", [_missing_prediction, _shape_mismatch, _unreadable, _empty_reference_folder,
                                     _missing_folder])
def test_bad_inputs_exit_2_name_the_file_and_write_nothing(breaker, example_2_folders: tuple[Path, Path],
                                                          tmp_path: Path) -> None:
    pred, gt = example_2_folders
    named = breaker(pred, gt)
    before = snapshot(pred, gt)
    result = invoke(pred, gt, tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert named in result.output.replace("\n", "")
    assert not (tmp_path / "out").exists() and not (pred / "evaluation").exists()
    assert snapshot(pred, gt) == before


def test_geometry_mismatch_exits_2(tmp_path: Path) -> None:
    ref, pred = example_1()
    for folder, array, spacing in ((tmp_path / "gt", ref, (1.0, 1.0, 2.0)), (tmp_path / "pred", pred, (1.0, 1.0, 2.5))):
        folder.mkdir()
        image = sitk.GetImageFromArray(np.repeat(array[None], 3, axis=0))
        image.SetSpacing(spacing)
        sitk.WriteImage(image, str(folder / "vol.nii.gz"))
    result = invoke(tmp_path / "pred", tmp_path / "gt", tmp_path / "out")
    assert result.exit_code == 2, result.output
    output = result.output.replace("\n", "")
    assert "vol.nii.gz" in output and "geometry mismatch" in output
    assert not (tmp_path / "out").exists()


def test_thresholds_set_the_strata_and_are_recorded(example_2_folders: tuple[Path, Path], tmp_path: Path) -> None:
    import json

    pred, gt = example_2_folders  # case A's reference object: 30 px of 100 x 100, area ratio 0.003
    counts = {}
    for name, extra in (("default", ()), ("custom", ("--thresholds", "0.001,0.01"))):
        result = invoke(pred, gt, tmp_path / name, *extra)
        assert result.exit_code == 0, result.output
        metrics = json.loads((tmp_path / name / "metrics.json").read_text(encoding="utf-8"))
        counts[name] = {s: metrics["object"][s]["n_objects"] for s in ("ultra_small", "small", "all")}
        counts[name]["recorded"] = metrics["settings"]["thresholds"]
    assert counts["default"] == {"ultra_small": 1, "small": 1, "all": 1,
                                 "recorded": {"ultra_small": 0.01, "small": 0.1}}
    assert counts["custom"] == {"ultra_small": 0, "small": 1, "all": 1,
                                "recorded": {"ultra_small": 0.001, "small": 0.01}}


@pytest.mark.parametrize("value", ["0.1,0.01", "0.05,0.05", "0,0.1", "0.01,1", "1,10", "0.01", "0.01,0.1,0.2",
                                   "small,big", "nan,0.1"])
def test_bad_thresholds_exit_2_with_one_line_and_write_nothing(example_2_folders: tuple[Path, Path],
                                                               tmp_path: Path, value: str) -> None:
    pred, gt = example_2_folders
    result = invoke(pred, gt, tmp_path / "out", "--thresholds", value)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("svseg: error: --thresholds") and value in lines[0], result.output
    assert not (tmp_path / "out").exists() and not (pred / "evaluation").exists()
