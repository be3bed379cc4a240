"""Pixel metrics from confusion counts (evaluation-protocol.md B4), for one slice, one object or a pool.

Every metric is a ratio of counts, so one vectorised helper covers slices, objects and
pooled sums alike. There is no smoothing epsilon: a 0/0 is NaN (JSON ``null``), which gives
exactly the empty-case table of B4 (and nnU-Net's NaN Dice when reference and prediction are
both empty). The counts themselves come from nnU-Net's ``compute_tp_fp_fn_tn`` so that svseg
and nnU-Net can never disagree on what a true positive is.
"""

from __future__ import annotations

import numpy as np

#: Metrics defined from TP/FP/FN/TN, in report order. MAE is the hard-label MAE (FP + FN) / N.
COUNT_METRICS = ("dice", "iou", "sensitivity", "precision", "specificity", "f2", "mae")


def safe_ratio(numerator: np.ndarray | float, denominator: np.ndarray | float) -> np.ndarray:
    """Element-wise numerator / denominator with NaN wherever the denominator is 0."""
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    out = np.full(np.broadcast_shapes(num.shape, den.shape), np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def metrics_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray) -> dict[str, np.ndarray]:
    """Dice, IoU, sensitivity, precision, specificity, F2 and MAE from counts (any shape).

    F2 is F-beta with beta = 2 in count form, 5TP / (5TP + 4FN + FP), which stays defined when
    precision or recall is not (B4). Dice and IoU are nnU-Net's formulas.
    """
    tp, fp, fn, tn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn, tn))
    return {
        "dice": safe_ratio(2 * tp, 2 * tp + fp + fn),
        "iou": safe_ratio(tp, tp + fp + fn),
        "sensitivity": safe_ratio(tp, tp + fn),
        "precision": safe_ratio(tp, tp + fp),
        "specificity": safe_ratio(tn, tn + fp),
        "f2": safe_ratio(5 * tp, 5 * tp + 4 * fn + fp),
        "mae": safe_ratio(fp + fn, tp + fp + fn + tn),
    }


def slice_counts(ref: np.ndarray, pred: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """TP, FP, FN, TN per slice of a (S, H, W) pair of boolean masks, as an (S, 4) int array.

    Slices where neither mask has a pixel are filled in directly as (0, 0, 0, valid pixels);
    the others go through nnU-Net's ``compute_tp_fp_fn_tn`` one slice at a time. Most slices
    of a lesion volume are empty, so this keeps the nnU-Net call without paying for it on
    every slice.
    """
    from nnunetv2.evaluation.evaluate_predictions import compute_tp_fp_fn_tn

    n_slices = ref.shape[0]
    n_valid = valid.reshape(n_slices, -1).sum(axis=1) if valid is not None else np.full(n_slices, ref[0].size)
    counts = np.zeros((n_slices, 4), dtype=np.int64)
    counts[:, 3] = n_valid
    busy = ref.reshape(n_slices, -1).any(axis=1) | pred.reshape(n_slices, -1).any(axis=1)
    for index in np.flatnonzero(busy):
        ignore = None if valid is None else ~valid[index]
        counts[index] = compute_tp_fp_fn_tn(ref[index], pred[index], ignore)
    return counts
