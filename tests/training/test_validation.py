"""The fold's stratified validation is drawn on the raw images, found from the preprocessed folder's name."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from svseg.training.validation import evaluate_validation, raw_images_dir

from ..evaluation.examples import example_3, write_pngs

DATASET_JSON = {"labels": {"background": 0, "lesion": 1}, "file_ending": ".png", "channel_names": {"0": "x"}}
STRATA = {"ultra_small": 0.01, "small": 0.1}


def _fold(root: Path, with_raw_images: bool) -> tuple[Path, Path]:
    ref, pred = example_3()
    name = "Dataset042_Tiny"
    raw = root / "raw" / name
    raw.mkdir(parents=True)
    (raw / "dataset.json").write_text('{"labels": {"background": 0, "lesion": 1}, "file_ending": ".png"}')
    if with_raw_images:
        write_pngs(raw / "imagesTr", {"case_a_0000": np.tile(np.arange(100, dtype=np.uint8), (100, 1))})
    gt = write_pngs(root / "preprocessed" / name / "gt_segmentations", {"case_a": ref})
    fold = root / "results" / name / "SvsegTrainer__plans__2d" / "fold_0"
    write_pngs(fold / "validation", {"case_a": pred})
    return fold, gt


def test_validation_overlays_use_the_raw_training_images(isolated_data_root: Path) -> None:
    fold, gt = _fold(isolated_data_root, with_raw_images=True)
    assert raw_images_dir(gt) == isolated_data_root / "raw" / "Dataset042_Tiny" / "imagesTr"
    result = evaluate_validation(fold, gt, DATASET_JSON, STRATA, num_workers=1)
    evaluation = fold / "validation" / "evaluation"
    assert result["metrics_path"] == str(evaluation / "metrics.json")
    report = (evaluation / "report.md").read_text(encoding="utf-8")
    assert "outlines on the images of" in report and "imagesTr" in report
    assert (evaluation / "report.html").is_file() and (evaluation / "overlay_all_objects.png").is_file()


def test_without_raw_images_the_validation_still_runs_with_masks_only(isolated_data_root: Path) -> None:
    fold, gt = _fold(isolated_data_root, with_raw_images=False)
    assert raw_images_dir(gt) is None
    evaluate_validation(fold, gt, DATASET_JSON, STRATA, num_workers=1)
    assert "masks only" in (fold / "validation" / "evaluation" / "report.md").read_text(encoding="utf-8")
