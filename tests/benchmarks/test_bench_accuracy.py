"""benchmarks/bench_accuracy.py: its tables from real evaluations, and its plumbing end to end on tiny data.

The table test scores hand-made masks whose figures are known without svseg: 5 x 5 squares
(ultra-small in a 100 x 100 image) and 10 x 10 squares (small) predicted one row too low have
object Dice (k - 1) / k, i.e. 0.8 and 0.9, and are all still detected.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import bench_accuracy_report as report  # noqa: E402  (the benchmark's modules live in benchmarks/)
from bench_accuracy_suites import suite_configs  # noqa: E402

from svseg.evaluation import evaluate_folders  # noqa: E402

SQUARES = [(10, 10, 5), (40, 60, 5), (70, 20, 10)]  # (top, left, side): two ultra-small, one small per case


def _masks(shift: int) -> np.ndarray:
    mask = np.zeros((100, 100), dtype=np.uint8)
    for top, left, side in SQUARES:
        mask[top + shift: top + shift + side, left: left + side] = 1
    return mask


def _evaluate(tmp_path: Path, name: str, shift: int, cases: list[str]) -> dict:
    for kind, value in (("pred", shift), ("gt", 0)):
        folder = tmp_path / name / kind
        folder.mkdir(parents=True, exist_ok=True)
        for case in cases:
            Image.fromarray(_masks(value)).save(folder / f"{case}.png")
    result = evaluate_folders(tmp_path / name / "pred", tmp_path / name / "gt", tmp_path / name / "out",
                              labels={"background": 0, "square": 1}, num_workers=1, plots=False)
    return result.metrics


def test_tables_pool_folds_and_difference_against_the_reference(tmp_path: Path) -> None:
    cases = ["a", "b", "c"]
    perfect = _evaluate(tmp_path, "perfect", 0, cases)
    shifted_folds = [_evaluate(tmp_path, "fold0", 1, cases[:2]), _evaluate(tmp_path, "fold1", 1, cases[2:])]
    shifted = report.pool_metrics(shifted_folds)
    runs = [report.RunScores("unet", None, 10, 0.5, report.pool_metrics([perfect])),
            report.RunScores("default", "unet", 50, 0.1, shifted, "shifted by one row")]
    table = report.mode_table(runs, n_resamples=300)

    assert list(table) == ["ultra_small", "small", "all"]
    for stratum, rows in table.items():
        assert list(rows) == ["unet", "default"]
        for figure in report.FIGURES:  # the reference against itself: exactly zero, zero width
            difference = rows["unet"][f"{figure}_difference"]
            if rows["unet"][figure]["estimate"] is None:  # no slice's objects are all ultra-small here
                assert (stratum, figure) == ("ultra_small", "image_dice") and difference["estimate"] is None
                continue
            assert difference == {"estimate": 0.0, "low": 0.0, "high": 0.0, "n_undefined": 0}, (stratum, figure)
    ultra, small = table["ultra_small"]["default"], table["small"]["default"]
    assert ultra["objects"] == 6 and small["objects"] == 9 and ultra["cases"] == 3
    assert ultra["object_dice"]["estimate"] == pytest.approx(0.8)  # (5 - 1) / 5 for every ultra-small square
    assert ultra["object_dice"]["low"] == pytest.approx(0.8) and ultra["object_dice"]["high"] == pytest.approx(0.8)
    assert ultra["object_dice_difference"]["estimate"] == pytest.approx(-0.2)
    assert small["object_dice"]["estimate"] == pytest.approx((6 * 0.8 + 3 * 0.9) / 9)
    assert small["detection_f1"]["estimate"] == pytest.approx(1.0)
    assert small["detection_f1_difference"]["estimate"] == pytest.approx(0.0)
    # whole-slice Dice: 2 x (2 x 20 + 90) overlapping pixels over 2 x 150 pixels
    assert table["all"]["default"]["image_dice"]["estimate"] == pytest.approx(260 / 300)
    pooled_once = report.mode_table([report.RunScores("x", None, 1, None, report.pool_metrics(
        [_evaluate(tmp_path, "whole", 1, cases)]))], n_resamples=300)
    assert pooled_once["small"]["x"]["object_dice"] == small["object_dice"]  # two folds pooled = one evaluation

    text = report.stratum_markdown(table["ultra_small"], "ultra_small", "compute")
    lines = [line for line in text.splitlines() if line.startswith("|")]
    assert len(lines) == 4 and lines[0].count("|") == 10
    assert lines[2].startswith("| `unet` (reference) | 10 | 0.500 | 1.000 [1.000, 1.000] | +0.000 [+0.000, +0.000]")
    assert "`default` (vs `unet`) | 50 | 0.100 | 0.800 [0.800, 0.800] | -0.200 [-0.200, -0.200] *" in lines[3]


def test_pooling_refuses_a_case_held_out_twice(tmp_path: Path) -> None:
    metrics = _evaluate(tmp_path, "twice", 0, ["a"])
    with pytest.raises(ValueError, match="held out in two folds"):
        report.pool_metrics([metrics, metrics])


def test_every_ablation_compares_with_the_unablated_plan() -> None:
    configs = suite_configs("ablations", "cpu_quick", [])
    names = [config.name for config in configs]
    assert names[0] == "default" and configs[0].reference is None and len(set(names)) == len(names)
    assert all(config.reference == "default" for config in configs[1:])
    main = suite_configs("main", "cpu_quick", [])
    assert [(c.name, c.arch, c.reference) for c in main] == [("unet", "unet", None), ("default", None, "unet")]


def test_a_second_draw_of_the_reference_is_trained_while_a_decision_that_does_not_fire_is_not(
    tmp_path: Path,
) -> None:
    from bench_accuracy import Layout, same_plan
    from bench_accuracy_suites import Config

    layout = Layout(tmp_path, tmp_path / "raw", "Dataset001_X")
    configs = [Config("default", "cpu_quick", reference=None),
               Config("default_repeat", "cpu_quick", reference="default", draw=2),
               Config("raised_oversampling", "cpu_quick", {"planning": {"ultra_small_majority": 0.5}}),
               Config("patch_whole_slice", "cpu_quick", {"planning": {"max_patch_size": None}})]
    configs[2:] = [Config(c.name, c.preset, c.overrides, reference="default") for c in configs[2:]]
    keys = {c.name: c.name for c in configs}
    for config, signature in zip(configs, ["plan A", "plan A", "plan A", "plan B"], strict=True):
        layout.plan_dir(config.name).mkdir(parents=True)
        (layout.plan_dir(config.name) / "plan.json").write_text(json.dumps({"signature": signature}))
    by_name = {c.name: c for c in configs}
    assert [same_plan(layout, keys, c, by_name) for c in configs] == [False, False, True, False]


def _tiny_png_dataset(root: Path, cases: int = 10) -> None:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:64, :64]
    for folder in ("images", "labels"):
        (root / folder).mkdir(parents=True)
    for index in range(cases):
        mask = np.zeros((64, 64), dtype=bool)
        for _ in range(4):
            top, left, radius = rng.integers(6, 58), rng.integers(6, 58), rng.integers(2, 5)
            mask |= (yy - top) ** 2 + (xx - left) ** 2 <= radius * radius
        image = (rng.normal(60, 10, (64, 64, 3)) + 120 * mask[..., None]).clip(0, 255).astype(np.uint8)
        Image.fromarray(image).save(root / "images" / f"case{index:02d}.png")
        Image.fromarray((mask * 255).astype(np.uint8)).save(root / "labels" / f"case{index:02d}.png")


@pytest.mark.slow
def test_end_to_end_on_tiny_data_and_resume(tmp_path: Path) -> None:
    """Import, plan, time, train 1 iteration per network, predict, evaluate, tables; a rerun trains nothing."""
    _tiny_png_dataset(tmp_path / "source")
    out = tmp_path / "bench"
    command = [sys.executable, str(BENCHMARKS / "bench_accuracy.py"), "--data", str(tmp_path / "source"),
               "--labels", "background,blob", "--out", str(out), "--modes", "compute,iterations",
               "--budget-seconds", "0.001", "--iterations", "2", "--epochs", "1", "--speed-warmup", "0",
               "--speed-repeats", "2", "--speed-iterations", "1", "--resamples", "100", "--jobs", "2"]
    first = subprocess.run(command, capture_output=True, text=True, check=False, cwd=tmp_path)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    result = json.loads((out / "accuracy.json").read_text(encoding="utf-8"))
    assert result["iterations"] == {"compute": {"unet": 1, "default": 1}, "iterations": {"unet": 2, "default": 2}}
    assert set(result["speed"]) == {"unet", "default"} and len(result["speed"]["unet"]["repeats"]) == 2
    assert result["context"]["split"] == "fixed: 6 training cases, 4 held-out test cases"
    for mode in ("compute", "iterations"):
        assert list(result["tables"][mode]) == ["ultra_small", "small", "all"]
        for rows in result["tables"][mode].values():
            assert rows["default"]["reference"] == "unet" and rows["default"]["cases"] == 4
            for figure in report.FIGURES:
                assert rows["unet"][f"{figure}_difference"]["estimate"] in (0.0, None)
                assert rows["unet"][f"{figure}_difference"]["low"] in (0.0, None)
    markdown = (out / "accuracy.md").read_text(encoding="utf-8")
    assert markdown.count("| `default` (vs `unet`) |") == 6 and "## Equal compute budget" in markdown
    runs = sorted(out.glob("runs/*/it*/fold_0/run.json"))
    assert len(runs) == 4
    stamps = [path.stat().st_mtime_ns for path in runs]
    again = subprocess.run(command, capture_output=True, text=True, check=False, cwd=tmp_path)
    assert again.returncode == 0 and "training" not in again.stdout and "timing" not in again.stdout
    assert [path.stat().st_mtime_ns for path in runs] == stamps
