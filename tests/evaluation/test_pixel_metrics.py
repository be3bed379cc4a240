"""B4's formulas and empty-case table, and per-slice counts against nnU-Net's compute_tp_fp_fn_tn."""

from __future__ import annotations

import numpy as np
import pytest
from nnunetv2.evaluation.evaluate_predictions import compute_tp_fp_fn_tn

from svseg.evaluation.pixel_metrics import metrics_from_counts, safe_ratio, slice_counts


def values(tp: int, fp: int, fn: int, tn: int) -> dict[str, float]:
    return {name: float(v) for name, v in metrics_from_counts(tp, fp, fn, tn).items()}


def test_empty_case_table() -> None:
    both_empty = values(0, 0, 0, 100)
    assert all(np.isnan(both_empty[n]) for n in ("dice", "iou", "sensitivity", "precision", "f2"))
    assert both_empty["mae"] == 0.0
    ref_empty = values(0, 5, 0, 95)
    assert (ref_empty["dice"], ref_empty["iou"], ref_empty["precision"], ref_empty["f2"]) == (0, 0, 0, 0)
    assert np.isnan(ref_empty["sensitivity"]) and ref_empty["mae"] == 0.05
    pred_empty = values(0, 0, 5, 95)
    assert (pred_empty["dice"], pred_empty["iou"], pred_empty["sensitivity"], pred_empty["f2"]) == (0, 0, 0, 0)
    assert np.isnan(pred_empty["precision"]) and pred_empty["mae"] == 0.05


def test_f2_count_form_equals_the_precision_recall_form() -> None:
    m = values(20, 5, 10, 9965)
    p, r = m["precision"], m["sensitivity"]
    assert m["f2"] == pytest.approx(5 * p * r / (4 * p + r), rel=1e-12)
    assert m["dice"] == pytest.approx(8 / 11) and m["specificity"] == pytest.approx(9965 / 9970)


def test_safe_ratio_broadcasts_and_never_warns() -> None:
    with np.errstate(all="raise"):
        out = safe_ratio(np.array([1, 0, 2]), np.array([2, 0, 0]))
    assert out[0] == 0.5 and np.isnan(out[1]) and np.isnan(out[2])


def test_slice_counts_equal_nnunet_per_slice() -> None:
    rng = np.random.default_rng(0)
    ref, pred = rng.random((5, 16, 16)) > 0.7, rng.random((5, 16, 16)) > 0.6
    ref[2], pred[2] = False, False  # an empty slice takes the shortcut
    valid = rng.random((5, 16, 16)) > 0.1
    counts = slice_counts(ref & valid, pred & valid, valid)
    for s in range(5):
        assert tuple(counts[s]) == tuple(int(x) for x in compute_tp_fp_fn_tn(ref[s] & valid[s], pred[s] & valid[s],
                                                                              ~valid[s]))
    assert tuple(counts[2]) == (0, 0, 0, int(valid[2].sum()))
