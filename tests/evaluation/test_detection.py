"""Lesion-wise matching rules, the stratum of predicted objects, and the empty-case rules (B8)."""

from __future__ import annotations

import numpy as np

from svseg.evaluation.detection import detection_by_stratum, detection_summary, match_objects
from svseg.objects import label_components


def match(ref: np.ndarray, pred: np.ndarray):
    r, p = label_components(ref[None]), label_components(pred[None])
    return r, p, match_objects(r, r.area / ref.size, p, p.area / ref.size)


def test_one_prediction_covering_two_objects() -> None:
    ref, pred = np.zeros((20, 20), bool), np.zeros((20, 20), bool)
    ref[2:4, 2:4] = ref[2:4, 6:8] = True
    pred[2:4, 2:8] = True
    _, _, m = match(ref, pred)
    assert m.ref_overlap.tolist() == [True, True] and m.pred_overlap.tolist() == [True]
    assert m.ref_iou50.tolist() == [False, False] and m.pred_iou50.tolist() == [False]  # IoU 4/12 each


def test_iou_must_be_strictly_above_one_half() -> None:
    ref, pred = np.zeros((10, 10), bool), np.zeros((10, 10), bool)
    ref[0:2, 0:2] = True
    pred[0:2, 0:1] = True  # IoU exactly 0.5
    assert not match(ref, pred)[2].ref_iou50[0]
    pred[0:2, 0:2] = True
    pred[2, 0] = True  # IoU 4/5
    assert match(ref, pred)[2].ref_iou50[0]


def test_predicted_object_takes_the_stratum_of_its_largest_overlap_ties_to_the_smaller() -> None:
    ref, pred = np.zeros((100, 100), bool), np.zeros((100, 100), bool)
    ref[0:30, 0:30] = True  # big, ratio 0.09
    ref[0:2, 32:34] = True  # small, ratio 0.0004
    pred[0:2, 28:34] = True  # 4 px on each: a tie
    pred[60:62, 60:62] = True  # overlaps nothing: its own ratio
    _, _, m = match(ref, pred)
    assert m.pred_ratio.tolist() == [0.0004, 0.0004]
    pred[0:3, 29:30] = True  # now 5 px on the big one
    _, _, m = match(ref, pred)
    assert m.pred_ratio[0] == 0.09


def test_detection_summary_empty_rules() -> None:
    assert detection_summary(0, 0, 0, 0)["f1"] is None and detection_summary(0, 0, 0, 0)["recall"] is None
    only_pred = detection_summary(0, 0, 3, 0)
    assert only_pred["recall"] is None and only_pred["precision"] == 0.0 and only_pred["f1"] == 0.0
    only_ref = detection_summary(2, 0, 0, 0)
    assert only_ref["recall"] == 0.0 and only_ref["precision"] is None and only_ref["f1"] == 0.0
    assert detection_summary(2, 0, 2, 0)["f1"] == 0.0
    assert detection_summary(4, 3, 2, 1)["f1"] == 2 * 0.75 * 0.5 / 1.25


def test_detection_by_stratum_is_cumulative() -> None:
    flags = {"overlap": np.array([True, False, True]), "iou50": np.array([True, False, False])}
    pred_flags = {"overlap": np.array([True, False]), "iou50": np.array([False, False])}
    result = detection_by_stratum(np.array([0.001, 0.05, 0.5]), flags, np.array([0.001, 0.002]), pred_flags,
                                  (0.01, 0.1))
    assert [result[s]["overlap"]["n_ref"] for s in ("ultra_small", "small", "all")] == [1, 2, 3]
    assert result["ultra_small"]["overlap"]["precision"] == 0.5
    assert result["all"]["iou50"]["n_ref_detected"] == 1
