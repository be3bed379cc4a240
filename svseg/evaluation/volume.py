"""The volume block for 3D inputs: nnU-Net's per-case metrics plus 3D lesion detection (B8, B9).

Dice and IoU come from nnU-Net's own ``compute_metrics``, fed the arrays already in memory
through a two-line reader instead of reading the files a second time, so the ``volume``
block equals ``nnUNetv2_evaluate_simple`` by construction. Sensitivity, precision,
specificity, F2 and HD95 (3D, mm) are added from the same counts. Lesions for
``volume.detection`` are 26-connected 3D components, stratified by their largest
cross-section along the slicing axis.
"""

from __future__ import annotations

import numpy as np

from svseg.evaluation.detection import match_objects
from svseg.evaluation.pixel_metrics import metrics_from_counts
from svseg.evaluation.surface import hd95
from svseg.objects import FULL_26, label_components, largest_cross_section

NNUNET_KEYS = {"Dice": "dice", "IoU": "iou", "TP": "tp", "FP": "fp", "FN": "fn", "TN": "tn",
               "n_pred": "n_pred", "n_ref": "n_ref"}


class _InMemorySegmentations:
    """Duck-typed stand-in for nnU-Net's reader: ``read_seg(key)`` returns an array already loaded."""

    def __init__(self, **arrays: np.ndarray) -> None:
        self.arrays = arrays

    def read_seg(self, key: str) -> tuple[np.ndarray, dict]:
        return self.arrays[key], {}


def nnunet_case_metrics(ref: np.ndarray, pred: np.ndarray, label: int, ignore_label: int | None) -> dict[str, float]:
    """nnU-Net's ``compute_metrics`` for one label of one case, with lower-case keys."""
    from nnunetv2.evaluation.evaluate_predictions import compute_metrics

    reader = _InMemorySegmentations(ref=ref[None], pred=pred[None])
    raw = compute_metrics("ref", "pred", reader, [label], ignore_label)["metrics"][label]
    return {ours: float(raw[theirs]) for theirs, ours in NNUNET_KEYS.items()}


def volume_metrics(ref: np.ndarray, pred: np.ndarray, label: int, ignore_label: int | None,
                   spacing_zyx: tuple[float, ...], slice_axis: int) -> dict[str, object]:
    """Per-volume metrics of one label, plus the 3D detection tables for ``volume.detection``."""
    metrics = nnunet_case_metrics(ref, pred, label, ignore_label)
    extra = metrics_from_counts(metrics["tp"], metrics["fp"], metrics["fn"], metrics["tn"])
    for name in ("sensitivity", "precision", "specificity", "f2"):
        metrics[name] = float(extra[name])
    ref_c = ref == label
    pred_c = pred == label if ignore_label is None else (pred == label) & (ref != ignore_label)
    metrics["hd95"] = hd95(ref_c, pred_c, spacing_zyx)
    metrics["detection"] = _lesions_3d(np.moveaxis(ref_c, slice_axis, 0), np.moveaxis(pred_c, slice_axis, 0))
    return metrics


def _lesions_3d(ref_c: np.ndarray, pred_c: np.ndarray) -> dict[str, np.ndarray]:
    """3D components matched with both rules; ratios are largest cross-sections over slice pixels."""
    slice_pixels = ref_c.shape[1] * ref_c.shape[2]
    ref_objects = label_components(ref_c, FULL_26, with_boxes=False)
    pred_objects = label_components(pred_c, FULL_26, with_boxes=False)
    ref_ratio = largest_cross_section(ref_objects.labels, ref_objects.count) / slice_pixels
    pred_ratio = largest_cross_section(pred_objects.labels, pred_objects.count) / slice_pixels
    matching = match_objects(ref_objects, ref_ratio, pred_objects, pred_ratio)
    return {"ref_ratio": ref_ratio, "ref_overlap": matching.ref_overlap, "ref_iou50": matching.ref_iou50,
            "pred_ratio": matching.pred_ratio, "pred_overlap": matching.pred_overlap,
            "pred_iou50": matching.pred_iou50}


def volume_block(cases: list[tuple[str, dict[int, dict], int]], classes: tuple[int, ...],
                 thresholds: tuple[float, float]) -> dict[str, object]:
    """nnU-Net-style ``mean`` / ``foreground_mean`` over volumes, per-case values and 3D detection.

    `cases` holds (case, {label: volume_metrics}, valid voxel count); a label a case never
    saw is filled in as nnU-Net would compute it (all TN, Dice NaN). ``mean`` is the nanmean
    over volumes; ``foreground_mean`` the plain mean over labels (NaN, i.e. null, if any
    label's mean is), exactly as ``compute_metrics_on_folder`` does.
    """
    from svseg.evaluation.detection import detection_by_stratum

    names = ("dice", "iou", "sensitivity", "precision", "specificity", "f2", "hd95", *NNUNET_KEYS.values())
    names = tuple(dict.fromkeys(names))
    filled = [(case, {label: metrics.get(label) or _absent(n_valid) for label in classes})
              for case, metrics, n_valid in cases]
    mean = {}
    for label in classes:
        with np.errstate(invalid="ignore"):
            mean[str(label)] = {name: _nanmean([m[label][name] for _, m in filled]) for name in names}
    foreground_mean = {name: float(np.mean([mean[str(label)][name] for label in classes])) if classes else None
                       for name in names}
    lesions = [metrics[label]["detection"] for _, metrics in filled for label in classes]
    joined = {key: np.concatenate([table[key] for table in lesions]) if lesions else np.zeros(0)
              for key in _absent(0)["detection"]}
    detection = detection_by_stratum(
        joined["ref_ratio"], {rule: joined[f"ref_{rule}"].astype(bool) for rule in ("overlap", "iou50")},
        joined["pred_ratio"], {rule: joined[f"pred_{rule}"].astype(bool) for rule in ("overlap", "iou50")}, thresholds)
    per_case = [{"case": case, "metrics": {str(label): {n: m[label][n] for n in names} for label in classes}}
                for case, m in filled]
    return {"n_volumes": len(filled), "mean": mean, "foreground_mean": foreground_mean, "detection": detection,
            "cases": per_case}


def _nanmean(values: list[float]) -> float:
    array = np.asarray(values, dtype=np.float64)
    return float(np.nanmean(array)) if np.any(~np.isnan(array)) else float("nan")


def _absent(n_valid: int) -> dict[str, object]:
    """A label missing from both masks of a volume: nnU-Net's values for it."""
    empty = np.zeros(0)
    return {"dice": np.nan, "iou": np.nan, "sensitivity": np.nan, "precision": np.nan, "specificity": 1.0,
            "f2": np.nan, "hd95": np.nan, "tp": 0.0, "fp": 0.0, "fn": 0.0, "tn": float(n_valid), "n_pred": 0.0,
            "n_ref": 0.0, "detection": {"ref_ratio": empty, "ref_overlap": empty.astype(bool),
                                        "ref_iou50": empty.astype(bool), "pred_ratio": empty,
                                        "pred_overlap": empty.astype(bool), "pred_iou50": empty.astype(bool)}}
