"""Lesion-wise detection: matching reference and predicted objects (evaluation-protocol.md B8).

Two rules, both from one sparse overlap table built with ``np.unique`` over the pixels where a
reference and a predicted component meet:

- ``overlap``: a reference object is detected if any of its pixels is predicted; a predicted
  object is a true detection if any of its pixels is reference. Not one-to-one on purpose.
- ``iou50``: a pair matches if its IoU is strictly above 0.5, which is one-to-one by itself.

Each predicted object also gets the area ratio of the stratum it is counted in: that of the
reference object it overlaps most (ties to the smaller object), or its own when it overlaps
nothing (COCO's rule for unmatched detections), so a 9-pixel false blob lowers ultra-small
precision.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from svseg.objects import Components, strata_masks

RULES = ("overlap", "iou50")


@dataclass
class Matching:
    """Per reference object and per predicted object: detected/true flags under both rules."""

    ref_overlap: np.ndarray
    ref_iou50: np.ndarray
    pred_overlap: np.ndarray
    pred_iou50: np.ndarray
    pred_ratio: np.ndarray


def match_objects(ref: Components, ref_ratio: np.ndarray, pred: Components, pred_ratio: np.ndarray) -> Matching:
    """Match the components of one class; works for slice stacks and 3D volumes alike.

    `ref_ratio` and `pred_ratio` are each object's own area ratio; the returned
    ``pred_ratio`` is the ratio each predicted object is stratified by.
    """
    out = Matching(np.zeros(ref.count, bool), np.zeros(ref.count, bool), np.zeros(pred.count, bool),
                   np.zeros(pred.count, bool), np.asarray(pred_ratio, dtype=np.float64).copy())
    both = (ref.labels > 0) & (pred.labels > 0)
    if not both.any():
        return out
    keys = ref.labels[both].astype(np.int64) * (pred.count + 1) + pred.labels[both]
    pairs, intersection = np.unique(keys, return_counts=True)
    r, p = pairs // (pred.count + 1) - 1, pairs % (pred.count + 1) - 1
    out.ref_overlap[r] = True
    out.pred_overlap[p] = True
    iou = intersection / (ref.area[r] + pred.area[p] - intersection)
    out.ref_iou50[r[iou > 0.5]] = True
    out.pred_iou50[p[iou > 0.5]] = True
    # For each predicted object: largest overlap first, then the smaller reference object.
    order = np.lexsort((r, ref.area[r], -intersection, p))
    first = order[np.unique(p[order], return_index=True)[1]]
    out.pred_ratio[p[first]] = np.asarray(ref_ratio, dtype=np.float64)[r[first]]
    return out


def detection_summary(n_ref: int, n_ref_detected: int, n_pred: int, n_pred_true: int) -> dict[str, float | int | None]:
    """Counts plus lesion recall, precision and F1 with the empty-case rules of B8."""
    recall = n_ref_detected / n_ref if n_ref else None
    precision = n_pred_true / n_pred if n_pred else None
    if n_ref == 0 and n_pred == 0:
        f1 = None
    elif recall is None or precision is None or recall + precision == 0:
        f1 = 0.0
    else:
        f1 = 2 * precision * recall / (precision + recall)
    return {"n_ref": int(n_ref), "n_ref_detected": int(n_ref_detected), "n_pred": int(n_pred),
            "n_pred_true": int(n_pred_true), "recall": recall, "precision": precision, "f1": f1}


def detection_by_stratum(ref_ratio: np.ndarray, ref_flags: dict[str, np.ndarray], pred_ratio: np.ndarray,
                         pred_flags: dict[str, np.ndarray], thresholds: tuple[float, float]) -> dict[str, dict]:
    """``{stratum: {rule: summary}}`` for objects already pooled over slices (and classes)."""
    ref_strata, pred_strata = strata_masks(ref_ratio, thresholds), strata_masks(pred_ratio, thresholds)
    result = {}
    for stratum, ref_in in ref_strata.items():
        pred_in = pred_strata[stratum]
        result[stratum] = {
            rule: detection_summary(int(ref_in.sum()), int((ref_flags[rule] & ref_in).sum()),
                                    int(pred_in.sum()), int((pred_flags[rule] & pred_in).sum()))
            for rule in RULES
        }
    return result
