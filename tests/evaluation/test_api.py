"""evaluate_folders end to end on PNG folders: outputs, nnU-Net agreement, parallel, chill, labels."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from svseg.errors import SvsegError
from svseg.evaluation import evaluate_folders

from .examples import blank, box, example_3, write_pngs
from .test_properties import random_cases


def strict_json(path: Path) -> dict:
    def reject(constant: str) -> None:
        raise AssertionError(f"{path} holds {constant}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=reject)


def test_example_2_from_png_files(example_2_folders: tuple[Path, Path], tmp_path: Path) -> None:
    pred, gt = example_2_folders
    result = evaluate_folders(pred, gt, tmp_path / "out", num_workers=1)
    assert result.out_dir == tmp_path / "out"
    for path in (result.metrics_path, result.report_path, *result.plot_paths):
        assert path.is_file() and path.stat().st_size > 0
    overlays = {f"overlay_{stratum}_{kind}.png" for stratum in ("ultra_small", "small", "all")
                for kind in ("objects", "slices")}
    assert {p.name for p in result.plot_paths} == {"dice_by_stratum.png", "dice_vs_area_ratio.png", *overlays}
    assert result.html_path == tmp_path / "out" / "report.html" and result.html_path.stat().st_size > 0
    metrics = strict_json(result.metrics_path)
    assert metrics == result.metrics
    assert set(metrics) >= {"protocol", "settings", "object", "image", "paper", "slices", "objects"}
    assert "volume" not in metrics
    assert metrics["image"]["all"]["dice"] == pytest.approx(0.363636, abs=1e-6)
    assert metrics["object"]["all"]["detection"]["overlap"]["f1"] == pytest.approx(2 / 3, abs=1e-6)
    assert metrics["paper"]["ultra_small"]["mdice"] == pytest.approx(0.903533, abs=1e-6)
    report = result.report_path.read_text(encoding="utf-8")
    assert "## Object level (headline)" in report and "## Comparison with the SvANet paper" in report
    assert [row["stratum"] for row in result.summary_table()] == ["ultra_small", "small", "all"]


def test_default_output_folder_is_inside_the_predictions(example_2_folders: tuple[Path, Path]) -> None:
    pred, gt = example_2_folders
    result = evaluate_folders(pred, gt, num_workers=1, plots=False)
    assert result.out_dir == pred / "evaluation" and result.metrics_path.is_file()
    again = evaluate_folders(pred, gt, num_workers=1, plots=False)  # the output folder is not an input
    assert again.metrics["settings"]["n_cases"] == 3


def test_image_block_equals_nnunet_per_case_means(tmp_path: Path) -> None:
    """Part D, test 2: image.all.per_class[c] Dice and IoU = nnU-Net's mean[c] to 1e-9."""
    from nnunetv2.evaluation.evaluate_predictions import compute_metrics_on_folder_simple

    cases = random_cases(3, n=10)
    cases["empty_fp"] = (blank(), example_3()[1])
    cases["empty"] = (blank(), blank())
    gt = write_pngs(tmp_path / "gt", {k: ref for k, (ref, _) in cases.items()})
    pred = write_pngs(tmp_path / "pred", {k: p for k, (_, p) in cases.items()})
    metrics = evaluate_folders(pred, gt, tmp_path / "out", labels={"a": 1, "b": 2}, num_workers=1, plots=False).metrics
    summary = tmp_path / "summary.json"
    compute_metrics_on_folder_simple(str(gt), str(pred), [1, 2], str(summary), num_processes=1)
    nnunet = json.loads(summary.read_text(encoding="utf-8"))
    for label in ("1", "2"):
        ours = metrics["image"]["all"]["per_class"][label]
        assert ours["dice"] == pytest.approx(nnunet["mean"][label]["Dice"], abs=1e-9)
        assert ours["iou"] == pytest.approx(nnunet["mean"][label]["IoU"], abs=1e-9)
    assert metrics["image"]["all"]["dice"] == pytest.approx(nnunet["foreground_mean"]["Dice"], abs=1e-9)


def test_parallel_equals_sequential(tmp_path: Path) -> None:
    cases = random_cases(4, n=6)
    gt = write_pngs(tmp_path / "gt", {k: ref for k, (ref, _) in cases.items()})
    pred = write_pngs(tmp_path / "pred", {k: p for k, (_, p) in cases.items()})
    sequential = evaluate_folders(pred, gt, tmp_path / "one", num_workers=1, plots=False).metrics
    parallel = evaluate_folders(pred, gt, tmp_path / "two", num_workers=2, plots=False).metrics
    assert parallel == sequential


def test_chill_evaluates_only_the_predictions_present(example_2_folders: tuple[Path, Path], tmp_path: Path) -> None:
    pred, gt = example_2_folders
    (pred / "C.png").unlink()
    with pytest.raises(SvsegError, match=r"C\.png"):
        evaluate_folders(pred, gt, tmp_path / "out", num_workers=1)
    assert not (tmp_path / "out").exists()
    result = evaluate_folders(pred, gt, tmp_path / "out", num_workers=1, chill=True, plots=False)
    assert result.metrics["settings"]["cases"] == ["A", "B"]


def test_labels_names_and_ignore_label(tmp_path: Path) -> None:
    ref, pred = blank(), blank()
    ref[box(10, 15, 10, 14)] = 1
    pred[box(12, 16, 10, 14)] = 1
    ref[box(50, 59, 50, 59)] = 255  # an ignore region with a prediction inside: not a false positive
    pred[box(52, 55, 52, 55)] = 1
    gt, prd = write_pngs(tmp_path / "gt", {"a": ref}), write_pngs(tmp_path / "pred", {"a": pred})
    labels = {"background": 0, "tumour": 1, "ignore": 255}
    metrics = evaluate_folders(prd, gt, tmp_path / "out", labels=labels, num_workers=1, plots=False).metrics
    assert metrics["settings"]["labels"] == {"1": "tumour"} and metrics["settings"]["ignore_label"] == 255
    counts = metrics["slices"][0]["per_class"]["1"]
    assert (counts["tp"], counts["fp"], counts["fn"], counts["tn"]) == (20, 5, 10, 10_000 - 100 - 35)
    assert metrics["object"]["all"]["detection"]["overlap"]["n_pred"] == 1


def test_classes_found_without_labels_are_the_union(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ref, pred = blank(), blank()
    ref[box(10, 15, 10, 14)] = 1
    pred[box(10, 15, 10, 14)] = 1
    pred[box(40, 45, 40, 44)] = 3  # a class only the prediction has: 30 px
    gt, prd = write_pngs(tmp_path / "gt", {"a": ref}), write_pngs(tmp_path / "pred", {"a": pred})
    with caplog.at_level(logging.WARNING):
        metrics = evaluate_folders(prd, gt, tmp_path / "out", num_workers=1, plots=False).metrics
    assert "unexpected predicted label 3 in 1 file(s), 30 px" in caplog.text
    assert metrics["settings"]["labels"] == {"1": "1", "3": "3"}
    assert metrics["settings"]["values"]["unexpected_labels"] == {"3": {"n_files": 1, "n_pixels": 30}}
    assert metrics["image"]["all"]["per_class"]["3"]["dice"] == 0.0
    assert metrics["image"]["all"]["per_class"]["1"]["dice"] == 1.0 and metrics["image"]["all"]["dice"] == 0.5


def test_a_given_label_list_still_scores_an_unexpected_prediction_label(tmp_path: Path) -> None:
    """With labels {1}, a predicted 3 used to vanish; it is now an extra class of false positives."""
    ref, pred = blank(), blank()
    ref[box(10, 15, 10, 14)] = 1
    pred[box(10, 15, 10, 14)] = 1
    pred[box(40, 45, 40, 44)] = 3
    gt, prd = write_pngs(tmp_path / "gt", {"a": ref}), write_pngs(tmp_path / "pred", {"a": pred})
    labels = {"background": 0, "tumour": 1}
    metrics = evaluate_folders(prd, gt, tmp_path / "out", labels=labels, num_workers=1, plots=False).metrics
    assert metrics["settings"]["labels"] == {"1": "tumour", "3": "3"}
    counts = metrics["slices"][0]["per_class"]["3"]
    assert (counts["tp"], counts["fp"], counts["fn"]) == (0, 30, 0)


def test_predictions_sharing_no_class_with_the_references_are_refused(tmp_path: Path) -> None:
    ref, pred = blank(), blank()
    ref[box(10, 15, 10, 14)] = 1
    pred[box(10, 15, 10, 14)] = 3
    gt, prd = write_pngs(tmp_path / "gt", {"a": ref}), write_pngs(tmp_path / "pred", {"a": pred})
    with pytest.raises(SvsegError, match=r"a\.png: prediction values \{0, 3\} share no class .*\{0, 1\}"):
        evaluate_folders(prd, gt, tmp_path / "out", num_workers=1)
    assert not (tmp_path / "out").exists()


def test_bad_settings_are_user_errors(example_2_folders: tuple[Path, Path], tmp_path: Path) -> None:
    pred, gt = example_2_folders
    for kwargs in ({"thresholds": (0.1, 0.01)}, {"slice_step": 0}, {"num_workers": 0}):
        with pytest.raises(SvsegError):
            evaluate_folders(pred, gt, tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_area_ratio_thresholds_can_be_changed(example_2_folders: tuple[Path, Path], tmp_path: Path) -> None:
    pred, gt = example_2_folders
    metrics = evaluate_folders(pred, gt, tmp_path / "o", thresholds=(0.001, 0.01), num_workers=1, plots=False).metrics
    assert metrics["object"]["ultra_small"]["n_objects"] == 0 and metrics["object"]["small"]["n_objects"] == 1
    assert np.isclose(metrics["settings"]["thresholds"]["ultra_small"], 0.001)
