"""``svseg evaluate`` on hostile masks, folders and options: refused before metrics.json or any report exists."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from . import files
from .refusal import Case, assert_refused

Build = Callable[[Path, Path], Case]


def _pairs(tmp: Path, count: int = 3) -> tuple[Path, Path]:
    """``pred/`` and ``gt/`` with the same 0/1 square masks ``m0.png`` ..."""
    for index in range(count):
        files.mask_png(tmp / "pred" / f"m{index}.png", value=1)
        files.mask_png(tmp / "gt" / f"m{index}.png", value=1)
    return tmp / "pred", tmp / "gt"


def _evaluate(pred: Path, gt: Path, *extra: str) -> list[str]:
    return ["evaluate", "-p", str(pred), "-g", str(gt), "-j", "1", *extra]


def _volume_pairs(tmp: Path) -> tuple[Path, Path]:
    for index in range(2):
        files.volume(tmp / "pred" / f"v{index}.nii.gz", files.box_mask())
        files.volume(tmp / "gt" / f"v{index}.nii.gz", files.box_mask())
    return tmp / "pred", tmp / "gt"


def missing_predictions(home: Path, tmp: Path) -> Case:
    _, gt = _pairs(tmp)
    return Case(_evaluate(tmp / "no_pred", gt), (str(tmp / "no_pred"),))


def missing_references(home: Path, tmp: Path) -> Case:
    pred, _ = _pairs(tmp)
    return Case(_evaluate(pred, tmp / "no_gt"), (str(tmp / "no_gt"),))


def predictions_is_a_file(home: Path, tmp: Path) -> Case:
    _, gt = _pairs(tmp)
    (tmp / "pred.png").write_text("a file\n")
    return Case(_evaluate(tmp / "pred.png", gt), (str(tmp / "pred.png"),))


def empty_references(home: Path, tmp: Path) -> Case:
    pred, _ = _pairs(tmp)
    (tmp / "empty").mkdir()
    return Case(_evaluate(pred, tmp / "empty"), (str(tmp / "empty"),))


def no_common_case(home: Path, tmp: Path) -> Case:
    files.mask_png(tmp / "pred" / "a.png", value=1)
    files.mask_png(tmp / "gt" / "b.png", value=1)
    return Case(_evaluate(tmp / "pred", tmp / "gt"), ("b",))


def shape_mismatch(home: Path, tmp: Path) -> Case:
    pred, gt = _pairs(tmp)
    files.mask_png(pred / "m1.png", shape=(32, 64), value=1)
    return Case(_evaluate(pred, gt), ("m1.png",))


def geometry_mismatch(home: Path, tmp: Path) -> Case:
    pred, gt = _volume_pairs(tmp)
    files.volume(pred / "v1.nii.gz", files.box_mask(), spacing=(0.8, 0.8, 2.0))
    return Case(_evaluate(pred, gt), ("v1.nii.gz", "spacing"))


def irreconcilable_values(home: Path, tmp: Path) -> Case:
    pred, gt = _pairs(tmp)
    mask = np.zeros((64, 64), np.uint8)
    mask[5:10, 5:10], mask[20:30, 20:30] = 255, 7
    PILImage.fromarray(mask).save(gt / "m2.png")
    return Case(_evaluate(pred, gt), (str(gt / "m2.png"),))


def jpeg_reference_with_two_classes(home: Path, tmp: Path) -> Case:
    """A 0/128/255 reference saved as JPEG: refused by the rule import reads JPEG masks with."""
    pred, gt = _pairs(tmp)
    classes = np.zeros((64, 64), np.uint8)
    classes[8:24, 8:24], classes[36:56, 30:50] = 255, 128
    (gt / "m2.png").unlink()
    PILImage.fromarray(classes).save(gt / "m2.jpg", quality=90)
    return Case(_evaluate(pred, gt), (str(gt / "m2.jpg"), "mid-grey"))


def ignore_value_predicted(home: Path, tmp: Path) -> Case:
    pred, gt = _pairs(tmp)
    files.mask_png(pred / "m0.png", value=255)
    return Case(_evaluate(pred, gt, "--ignore-value", "255"), (str(pred / "m0.png"), "ignore"))


def float_mask_with_fractions(home: Path, tmp: Path) -> Case:
    pred, gt = _volume_pairs(tmp)
    files.volume(pred / "v0.nii.gz", files.box_mask(dtype=np.float32) * 0.4)
    return Case(_evaluate(pred, gt), (str(pred / "v0.nii.gz"),))


def negative_labels(home: Path, tmp: Path) -> Case:
    pred, gt = _volume_pairs(tmp)
    files.volume(gt / "v1.nii.gz", files.box_mask(value=-1, dtype=np.int16))
    return Case(_evaluate(pred, gt), (str(gt / "v1.nii.gz"),))


def truncated_prediction(home: Path, tmp: Path) -> Case:
    pred, gt = _pairs(tmp)
    files.truncate(pred / "m2.png", 0.5)
    return Case(_evaluate(pred, gt), (str(pred / "m2.png"),))


def thresholds_out_of_order(home: Path, tmp: Path) -> Case:
    return Case(_evaluate(*_pairs(tmp), "--thresholds", "0.5,0.1"), ("--thresholds",))


def thresholds_not_numbers(home: Path, tmp: Path) -> Case:
    return Case(_evaluate(*_pairs(tmp), "--thresholds", "small,tiny"), ("--thresholds",))


def output_under_a_file(home: Path, tmp: Path) -> Case:
    (tmp / "blocker").write_text("a file\n")
    return Case(_evaluate(*_pairs(tmp), "-o", str(tmp / "blocker" / "eval")), (str(tmp / "blocker"),))


def unknown_dataset(home: Path, tmp: Path) -> Case:
    return Case(_evaluate(*_pairs(tmp), "-d", "Elsewhere"), ("Elsewhere",))


def zero_slice_step(home: Path, tmp: Path) -> Case:
    return Case(_evaluate(*_pairs(tmp), "--slice-step", "0"), ("--slice-step",))


def zero_workers(home: Path, tmp: Path) -> Case:
    return Case(["evaluate", "-p", str(tmp / "pred"), "-g", str(_pairs(tmp)[1]), "-j", "0"], ("-j",))


def paper_grid_zero(home: Path, tmp: Path) -> Case:
    return Case(_evaluate(*_pairs(tmp), "--paper-grid", "0"), ("--paper-grid",))


def images_folder_missing(home: Path, tmp: Path) -> Case:
    return Case(_evaluate(*_pairs(tmp), "--images", str(tmp / "no_images")), (str(tmp / "no_images"),))


CASES: dict[str, Build] = {build.__name__: build for build in (
    missing_predictions, missing_references, predictions_is_a_file, empty_references, no_common_case, shape_mismatch,
    geometry_mismatch, irreconcilable_values, jpeg_reference_with_two_classes, ignore_value_predicted,
    float_mask_with_fractions, negative_labels,
    truncated_prediction, thresholds_out_of_order, thresholds_not_numbers, output_under_a_file, unknown_dataset,
    zero_slice_step, zero_workers, paper_grid_zero, images_folder_missing,
)}


@pytest.mark.parametrize("name", list(CASES))
def test_evaluate_refuses(name: str, home: Path, tmp_path: Path) -> None:
    case = CASES[name](home, tmp_path)
    assert_refused(case, home, tmp_path)
