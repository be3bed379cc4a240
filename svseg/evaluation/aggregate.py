"""Pooling case results and averaging them into the ``image`` and ``object`` blocks (B3, B7).

- ``image``: slices with a non-empty reference go to the strata their largest-object ratio
  qualifies for; empty-reference slices go to ``all`` (and the ``empty`` summary) only. Each
  metric is the per-slice ``nanmean`` (every slice weighted 1, as nnU-Net weights cases), and
  ``pooled`` repeats the formulas on summed counts.
- ``object``: each reference object sits in the strata of its own ratio; metrics are means
  over objects (every object weighted 1) of the per-object zone metrics, with lesion-wise
  detection alongside.
- Across classes, a stratum's top-level value is the unweighted ``nanmean`` of the per-class
  means. Background is never a class here. Empty strata report n = 0 and nulls, never 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from svseg.evaluation.case import CaseResult
from svseg.evaluation.detection import detection_by_stratum
from svseg.evaluation.pixel_metrics import metrics_from_counts
from svseg.objects import STRATA, strata_masks

IMAGE_METRICS = ("dice", "iou", "sensitivity", "precision", "specificity", "f2", "mae", "hd95")
OBJECT_METRICS = ("dice", "iou", "sensitivity", "precision", "specificity", "f2", "hd95")


@dataclass
class Pooled:
    """All cases' slices and objects as flat columns, on one shared class list.

    ``counts`` is (slices, classes, 4) TP/FP/FN/TN; objects carry ``case``, ``class`` and
    ``row`` (their slice's row in the slice columns).
    """

    classes: tuple[int, ...]
    cases: list[str]
    slices: dict[str, np.ndarray]
    counts: np.ndarray
    hd95: np.ndarray
    paper: dict[str, np.ndarray]
    objects: dict[str, np.ndarray]
    pred_objects: dict[str, np.ndarray]


def nan_mean(values: np.ndarray) -> float | None:
    """Mean of the defined values, or None when there are none (JSON null)."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else None


def pool_cases(results: list[CaseResult], classes: tuple[int, ...]) -> Pooled:
    """Stitch case results together; a class a case never saw gets zero counts (all TN)."""
    slices, counts, surface, paper, objects, predicted = [], [], [], [], [], []
    offset = 0
    for index, result in enumerate(results):
        n = len(result.slices["slice"])
        slices.append({**result.slices, "case": np.full(n, index)})
        empty = np.zeros((n, 4), dtype=np.int64)
        empty[:, 3] = result.slices["n_valid"]
        counts.append(np.stack([result.per_class[c].counts if c in result.per_class else empty for c in classes], 1)
                      if classes else np.zeros((n, 0, 4), dtype=np.int64))
        surface.append(np.stack([result.per_class[c].hd95 if c in result.per_class else np.full(n, np.nan)
                                 for c in classes], 1) if classes else np.zeros((n, 0)))
        paper.append(_paper_columns(result, classes))
        for label, class_result in result.per_class.items():
            if label not in classes:
                continue
            rows = offset + np.searchsorted(result.slices["slice"], class_result.objects["slice"])
            objects.append({**class_result.objects, "case": np.full(len(rows), index),
                            "class": np.full(len(rows), label), "row": rows})
            n_pred = len(class_result.pred_objects["slice"])
            predicted.append({**class_result.pred_objects, "case": np.full(n_pred, index),
                              "class": np.full(n_pred, label)})
        offset += n
    return Pooled(classes, [r.case for r in results], _concat(slices), np.concatenate(counts),
                  np.concatenate(surface), _concat(paper), _concat(objects), _concat(predicted))


def _paper_columns(result: CaseResult, classes: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Re-index a case's paper counts (its own classes) onto the shared class list."""
    own = (0, *result.classes)
    columns = {}
    for key in ("inter", "pred", "ref"):
        table = np.zeros((result.paper[key].shape[0], 1 + len(classes)), dtype=np.int64)
        for position, label in enumerate((0, *classes)):
            if label in own:
                table[:, position] = result.paper[key][:, own.index(label)]
        columns[key] = table
    return {**columns, "mae_sum": result.paper["mae_sum"], "n_pixels": result.paper["n_pixels"]}


def _concat(tables: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if not tables:
        return {}
    return {key: np.concatenate([table[key] for table in tables]) for key in tables[0]}


def image_strata(pooled: Pooled, thresholds: tuple[float, float]) -> dict[str, np.ndarray]:
    """Slice membership for the image block: empty-reference slices only in ``all``."""
    ratio = pooled.slices["r_img"]
    masks = strata_masks(ratio, thresholds)
    return {name: mask if name == "all" else mask & (ratio > 0) for name, mask in masks.items()}


def image_block(pooled: Pooled, thresholds: tuple[float, float]) -> dict[str, dict]:
    """``{stratum: ...}`` per-slice means and pooled values, plus the ``empty`` summary."""
    block = {}
    slice_mae = pooled.slices["fp_any"] + pooled.slices["fn_any"]
    object_rows = pooled.objects.get("row", np.zeros(0, dtype=np.int64))
    for stratum, selected in image_strata(pooled, thresholds).items():
        per_class = {}
        for k, label in enumerate(pooled.classes):
            counts = pooled.counts[selected, k]
            values = metrics_from_counts(*counts.T)
            entry = {"n_slices": int(selected.sum()), "n": int(np.count_nonzero(~np.isnan(values["dice"])))}
            entry.update({name: nan_mean(values[name]) for name in IMAGE_METRICS if name != "hd95"})
            entry["hd95"] = nan_mean(pooled.hd95[selected, k])
            pooled_values = metrics_from_counts(*counts.sum(axis=0))
            entry["pooled"] = {name: _value(pooled_values[name]) for name in IMAGE_METRICS if name != "hd95"}
            per_class[str(label)] = entry
        stratum_block = {"n_slices": int(selected.sum()), "n_objects": int(selected[object_rows].sum())}
        stratum_block.update(_class_mean(per_class, IMAGE_METRICS))
        n_valid = pooled.slices["n_valid"][selected]
        stratum_block["mae"] = nan_mean(slice_mae[selected] / np.where(n_valid > 0, n_valid, np.nan))
        stratum_block["pooled"] = {**_class_mean({c: e["pooled"] for c, e in per_class.items()}, IMAGE_METRICS[:-1]),
                                   "mae": float(slice_mae[selected].sum() / n_valid.sum()) if n_valid.sum() else None}
        stratum_block["per_class"] = per_class
        block[stratum] = stratum_block
    block["empty"] = _empty_summary(pooled)
    return block


def _empty_summary(pooled: Pooled) -> dict[str, float | int | None]:
    """Slices with an empty reference: how often they stay free of predicted foreground."""
    empty = pooled.slices["r_img"] == 0
    fp_pixels = pooled.slices["fp_any"][empty]
    n = int(empty.sum())
    with_fp = int(np.count_nonzero(fp_pixels))
    return {"n_slices": n, "n_with_false_positive": with_fp, "fp_free_rate": (n - with_fp) / n if n else None,
            "mean_fp_pixels": float(fp_pixels.mean()) if n else None}


def object_block(pooled: Pooled, thresholds: tuple[float, float]) -> dict[str, dict]:
    """``{stratum: ...}`` per-object zone metrics and lesion-wise detection (B6, B8)."""
    objects, predicted = pooled.objects, pooled.pred_objects
    if not objects:
        objects = {key: np.zeros(0) for key in ("ratio", "class", "row", "tp", "fp", "fn", "tn", "hd95")}
        objects.update(detected=np.zeros(0, bool), matched_iou50=np.zeros(0, bool))
    if not predicted:
        predicted = {"ratio": np.zeros(0), "class": np.zeros(0), "true_overlap": np.zeros(0, bool),
                     "true_iou50": np.zeros(0, bool)}
    values = metrics_from_counts(objects["tp"], objects["fp"], objects["fn"], objects["tn"])
    values["hd95"] = np.asarray(objects["hd95"], dtype=np.float64)
    detection = {label: _detection(objects, predicted, thresholds, objects["class"] == label,
                                   predicted["class"] == label) for label in pooled.classes}
    everything = _detection(objects, predicted, thresholds, np.ones(len(objects["ratio"]), bool),
                            np.ones(len(predicted["ratio"]), bool))
    block = {}
    for stratum, selected in strata_masks(objects["ratio"], thresholds).items():
        per_class = {}
        for label in pooled.classes:
            chosen = selected & (objects["class"] == label)
            entry = {"n_objects": int(chosen.sum()), "n_slices": int(np.unique(objects["row"][chosen]).size)}
            entry.update({name: nan_mean(values[name][chosen]) for name in OBJECT_METRICS})
            entry["detection"] = detection[label][stratum]
            per_class[str(label)] = entry
        block[stratum] = {"n_objects": int(selected.sum()), "n_slices": int(np.unique(objects["row"][selected]).size),
                          **_class_mean(per_class, OBJECT_METRICS), "per_class": per_class,
                          "detection": everything[stratum]}
    return block


def _detection(objects: dict, predicted: dict, thresholds: tuple[float, float], ref_sel: np.ndarray,
               pred_sel: np.ndarray) -> dict[str, dict]:
    ref_flags = {"overlap": objects["detected"][ref_sel], "iou50": objects["matched_iou50"][ref_sel]}
    pred_flags = {"overlap": predicted["true_overlap"][pred_sel], "iou50": predicted["true_iou50"][pred_sel]}
    return detection_by_stratum(objects["ratio"][ref_sel], ref_flags, predicted["ratio"][pred_sel], pred_flags,
                                thresholds)


def _class_mean(per_class: dict[str, dict], names: tuple[str, ...]) -> dict[str, float | None]:
    """Unweighted nanmean over classes of per-class values (None entries skipped)."""
    out = {}
    for name in names:
        defined = [entry[name] for entry in per_class.values() if entry.get(name) is not None]
        out[name] = float(np.mean(defined)) if defined else None
    return out


def _value(value: np.ndarray) -> float | None:
    number = float(value)
    return None if np.isnan(number) else number


__all__ = ["IMAGE_METRICS", "OBJECT_METRICS", "STRATA", "Pooled", "image_block", "nan_mean", "object_block",
           "pool_cases"]
