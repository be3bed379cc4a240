"""Per-slice and per-object records for ``metrics.json`` (the ``slices`` and ``objects`` lists).

These lists let anyone recompute any stratum or re-plot without re-reading the masks; the
report's worst-case tables are read from them too.
"""

from __future__ import annotations

import numpy as np

from svseg.evaluation.aggregate import Pooled
from svseg.evaluation.pixel_metrics import metrics_from_counts, safe_ratio

SLICE_METRICS = ("dice", "iou", "sensitivity", "precision", "specificity", "f2", "mae")
OBJECT_FIELDS = ("area_px", "ratio", "zone_px", "tp", "fp", "fn")


def clean(value: object) -> object:
    """NaN to None and NumPy scalars to Python numbers, recursively (valid JSON, never NaN)."""
    if isinstance(value, dict):
        return {str(key): clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [clean(item) for item in value]
    if isinstance(value, np.ndarray):
        return clean(value.tolist())
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return None if np.isnan(value) else float(value)
    return value


def slice_records(pooled: Pooled) -> list[dict[str, object]]:
    """One record per slice: case, slice index, image ratio, MAE and per-class counts and metrics."""
    columns = pooled.slices
    if not columns:
        return []
    values = metrics_from_counts(*np.moveaxis(pooled.counts, 2, 0))
    mae = safe_ratio(columns["fp_any"] + columns["fn_any"], columns["n_valid"])
    records = []
    for row in range(len(columns["slice"])):
        per_class = {}
        for k, label in enumerate(pooled.classes):
            tp, fp, fn, tn = (int(x) for x in pooled.counts[row, k])
            per_class[str(label)] = {"tp": tp, "fp": fp, "fn": fn, "tn": tn,
                                     **{name: values[name][row, k] for name in SLICE_METRICS},
                                     "hd95": pooled.hd95[row, k]}
        records.append({"case": pooled.cases[columns["case"][row]], "slice": int(columns["slice"][row]),
                        "r_img": float(columns["r_img"][row]), "n_pixels": int(columns["n_pixels"][row]),
                        "mae": float(mae[row]), "per_class": per_class})
    return clean(records)


def object_records(pooled: Pooled) -> list[dict[str, object]]:
    """One record per reference object with its zone counts, metrics and detection flags."""
    objects = pooled.objects
    if not objects:
        return []
    values = metrics_from_counts(objects["tp"], objects["fp"], objects["fn"], objects["tn"])
    records = []
    for i in range(len(objects["ratio"])):
        record = {"case": pooled.cases[objects["case"][i]], "slice": int(objects["slice"][i]),
                  "class": int(objects["class"][i])}
        record.update({name: objects[name][i] for name in OBJECT_FIELDS})
        record.update({name: values[name][i] for name in ("dice", "iou", "sensitivity", "precision", "f2")})
        record.update(hd95=objects["hd95"][i], detected=objects["detected"][i],
                      matched_iou50=objects["matched_iou50"][i], box=objects["box"][i])
        records.append(record)
    return clean(records)
