"""95 % intervals on every stratum's headline figures, and paired differences between two evaluations.

The headline figures of a stratum (object Dice, lesion-wise detection F1 under the ``overlap``
rule, image Dice) are pooled statistics. Each is rebuilt from additive per-case components,
written to ``metrics.json`` under ``per_case`` so that any two evaluations of the same cases
can be compared later without the masks:

- ``object_dice``: per class, [sum of the defined object Dice values, their count] over the
  case's reference objects in the stratum;
- ``image_dice``: per class, [sum of the defined slice Dice values, their count] over the
  case's slices in the stratum (the image block's membership: empty-reference slices in
  ``all`` only);
- ``detection``: [n_ref, n_ref_detected, n_pred, n_pred_true] over all classes.

Summing a stratum's components over all cases and applying :mod:`svseg.evaluation.bootstrap`'s
statistic gives back exactly the number in the ``object``/``image`` blocks; resampling the
cases gives the interval (the ``uncertainty`` block).
"""

from __future__ import annotations

import numpy as np

from svseg.errors import SvsegError
from svseg.evaluation.aggregate import Pooled, image_strata
from svseg.evaluation.bootstrap import (
    DEFAULT_LEVEL,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    Interval,
    bootstrap_interval,
    class_mean,
    detection_f1,
    paired_difference,
)
from svseg.evaluation.pixel_metrics import metrics_from_counts
from svseg.objects import STRATA, strata_masks

HEADLINE = {"object_dice": class_mean, "detection_f1": detection_f1, "image_dice": class_mean}
HEADLINE_TITLES = {"object_dice": "object Dice", "detection_f1": "detection F1", "image_dice": "image Dice"}
_SOURCE = {"object_dice": "object_dice", "detection_f1": "detection", "image_dice": "image_dice"}


def case_components(pooled: Pooled, thresholds: tuple[float, float]) -> list[dict]:
    """``per_case`` for metrics.json: each case's additive components per stratum (see module doc)."""
    n_cases = len(pooled.cases)
    per_case: list[dict] = [{"case": case} for case in pooled.cases]
    object_sums = _object_sums(pooled, thresholds, n_cases)
    image_sums = _image_sums(pooled, thresholds, n_cases)
    detection = _detection_counts(pooled, thresholds, n_cases)
    for stratum in STRATA:
        for index, record in enumerate(per_case):
            record[stratum] = {
                "object_dice": {str(c): [float(s), int(n)] for c, (s, n) in object_sums[stratum][index].items()},
                "detection": [int(value) for value in detection[stratum][index]],
                "image_dice": {str(c): [float(s), int(n)] for c, (s, n) in image_sums[stratum][index].items()},
            }
    return per_case


def _object_sums(pooled: Pooled, thresholds: tuple[float, float], n_cases: int) -> dict[str, list[dict]]:
    objects = pooled.objects
    if not objects:
        return {s: [{c: (0.0, 0) for c in pooled.classes} for _ in range(n_cases)] for s in STRATA}
    dice = metrics_from_counts(objects["tp"], objects["fp"], objects["fn"], objects["tn"])["dice"]
    defined = ~np.isnan(dice)
    result = {}
    for stratum, selected in strata_masks(objects["ratio"], thresholds).items():
        per_class = {c: _sum_by_case(objects["case"], selected & defined & (objects["class"] == c), dice, n_cases)
                     for c in pooled.classes}
        result[stratum] = [{c: (per_class[c][0][i], per_class[c][1][i]) for c in pooled.classes}
                           for i in range(n_cases)]
    return result


def _image_sums(pooled: Pooled, thresholds: tuple[float, float], n_cases: int) -> dict[str, list[dict]]:
    dice = metrics_from_counts(*np.moveaxis(pooled.counts, 2, 0))["dice"]  # (slices, classes)
    case = pooled.slices["case"]
    result = {}
    for stratum, selected in image_strata(pooled, thresholds).items():
        per_class = {c: _sum_by_case(case, selected & ~np.isnan(dice[:, k]), dice[:, k], n_cases)
                     for k, c in enumerate(pooled.classes)}
        result[stratum] = [{c: (per_class[c][0][i], per_class[c][1][i]) for c in pooled.classes}
                           for i in range(n_cases)]
    return result


def _detection_counts(pooled: Pooled, thresholds: tuple[float, float], n_cases: int) -> dict[str, np.ndarray]:
    """(n_cases, 4) counts per stratum, every class together (the block's ``detection``)."""
    objects, predicted = pooled.objects, pooled.pred_objects
    ref_case = objects.get("case", np.zeros(0, np.int64))
    pred_case = predicted.get("case", np.zeros(0, np.int64))
    ref_strata = strata_masks(objects.get("ratio", np.zeros(0)), thresholds)
    pred_strata = strata_masks(predicted.get("ratio", np.zeros(0)), thresholds)
    detected = objects.get("detected", np.zeros(0, bool)).astype(bool)
    true = predicted.get("true_overlap", np.zeros(0, bool)).astype(bool)
    result = {}
    for stratum in STRATA:
        ref_in, pred_in = ref_strata[stratum], pred_strata[stratum]
        result[stratum] = np.stack([np.bincount(ref_case[ref_in], minlength=n_cases),
                                    np.bincount(ref_case[ref_in & detected], minlength=n_cases),
                                    np.bincount(pred_case[pred_in], minlength=n_cases),
                                    np.bincount(pred_case[pred_in & true], minlength=n_cases)], axis=1)
    return result


def _sum_by_case(case: np.ndarray, chosen: np.ndarray, values: np.ndarray, n_cases: int) -> tuple[np.ndarray, ...]:
    sums = np.bincount(case[chosen], weights=values[chosen], minlength=n_cases)
    return sums, np.bincount(case[chosen], minlength=n_cases)


def headline_components(per_case: list[dict], classes: list[str], stratum: str, figure: str) -> np.ndarray:
    """The (n_cases, m) components of one headline figure, in `per_case` order."""
    source = _SOURCE[figure]
    if source == "detection":
        return np.array([record[stratum]["detection"] for record in per_case], dtype=np.float64).reshape(-1, 4)
    rows = [[value for c in classes for value in record[stratum][source].get(c, [0.0, 0])] for record in per_case]
    return np.array(rows, dtype=np.float64).reshape(len(per_case), 2 * len(classes))


def uncertainty_block(per_case: list[dict], classes: list[str], n_resamples: int = DEFAULT_RESAMPLES,
                      seed: int = DEFAULT_SEED, level: float = DEFAULT_LEVEL) -> dict:
    """metrics.json's ``uncertainty``: how the intervals were made and one interval per stratum and figure."""
    strata = {}
    for stratum in STRATA:
        strata[stratum] = {figure: bootstrap_interval(headline_components(per_case, classes, stratum, figure),
                                                      statistic, n_resamples=n_resamples, seed=seed,
                                                      level=level).to_json()
                           for figure, statistic in HEADLINE.items()}
    return {"method": "percentile bootstrap over cases", "unit": "case", "level": level,
            "n_resamples": n_resamples if len(per_case) > 1 else 0, "seed": seed, "n_cases": len(per_case),
            "strata": strata}


def paired_headline_difference(metrics_a: dict, metrics_b: dict, stratum: str, figure: str, *,
                               n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
                               level: float = DEFAULT_LEVEL) -> Interval:
    """Interval of a - b for one headline figure of two evaluations of the same cases.

    Cases are matched by name; two evaluations of different case sets cannot be paired.
    """
    cases_a, cases_b = _per_case(metrics_a, "first"), _per_case(metrics_b, "second")
    if set(cases_a) != set(cases_b):
        only = sorted(set(cases_a) ^ set(cases_b))
        raise SvsegError(f"paired comparison needs the same cases in both evaluations; differing: "
                         f"{', '.join(only[:5])}{' ...' if len(only) > 5 else ''}")
    order = sorted(cases_a)
    classes = sorted(set(metrics_a["settings"]["labels"]) | set(metrics_b["settings"]["labels"]), key=_label_key)
    a = headline_components([cases_a[c] for c in order], classes, stratum, figure)
    b = headline_components([cases_b[c] for c in order], classes, stratum, figure)
    return paired_difference(a, b, HEADLINE[figure], n_resamples=n_resamples, seed=seed, level=level)


def _per_case(metrics: dict, which: str) -> dict[str, dict]:
    records = metrics.get("per_case")
    if records is None:
        raise SvsegError(f"the {which} metrics.json has no per_case components (written by an older svseg); "
                         "run svseg evaluate again")
    return {record["case"]: record for record in records}


def _label_key(label: str) -> tuple[int, str]:
    return (int(label), label) if label.isdigit() else (1 << 30, label)
