"""Summaries of measured objects: counts per stratum and area percentiles, as plain JSON.

The fingerprint stores these per case and for the whole dataset, per class and for all
classes pooled. Strata are cumulative (ultra_small ⊂ small ⊂ all) with strict ``ratio < t``
membership, exactly as the evaluator uses them (evaluation-protocol.md B3), so a plan's "most objects
are ultra-small" and a report's "ultra-small Dice" talk about the same objects.

Areas are reported three ways: pixels at the native grid (what the network sees before
resampling), mm² (what survives resampling: the planner converts it back into pixels at a
candidate spacing) and the area ratio (the stratum's quantity).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from svseg.objects import strata_masks
from svseg.planning.area_ratio import CaseObjects

DEFAULT_STRATA: dict[str, float] = {"ultra_small": 0.01, "small": 0.1}
"""Ultra-small < 1 %, small < 10 % of the slice (the paper's and evaluation.md's thresholds)."""

PERCENTILES: tuple[int, ...] = (5, 25, 50, 75, 95)
STRATA_ORDER: tuple[str, ...] = ("ultra_small", "small", "all")
ALL_CLASSES = "all_classes"


def check_strata(strata: Mapping[str, float]) -> dict[str, float]:
    """Validate thresholds: 0 < ultra_small < small <= 1 (fractions of the slice)."""
    ultra, small = float(strata.get("ultra_small", -1)), float(strata.get("small", -1))
    if not 0 < ultra < small <= 1:
        raise ValueError(f"strata must satisfy 0 < ultra_small < small <= 1, got {dict(strata)}")
    return {"ultra_small": ultra, "small": small}


def percentiles(values: np.ndarray) -> dict[str, float | None]:
    """min, p05 ... p95, max of `values` (linear interpolation); nulls when there are none."""
    keys = ["min", *(f"p{q:02d}" for q in PERCENTILES), "max"]
    if values.size == 0:
        return dict.fromkeys(keys)
    points = np.percentile(values, [0, *PERCENTILES, 100])
    return {key: float(point) for key, point in zip(keys, points, strict=True)}


def stratum_counts(ratio: np.ndarray, slice_key: np.ndarray, strata: Mapping[str, float]) -> dict[str, dict[str, int]]:
    """Objects and distinct slices holding at least one object, per cumulative stratum.

    `ratio` and `slice_key` are per object; `slice_key` identifies a slice uniquely within
    the scope being counted (a case, or the dataset with per-case offsets).
    """
    masks = strata_masks(ratio, (strata["ultra_small"], strata["small"]))
    return {
        name: {"objects": int(masks[name].sum()), "slices": int(np.unique(slice_key[masks[name]]).size)}
        for name in STRATA_ORDER
    }


class _Pool:
    """Per-object arrays of one class (or all classes) gathered over one or many cases."""

    def __init__(self) -> None:
        self.area_px: list[np.ndarray] = []
        self.area_mm2: list[np.ndarray] = []
        self.ratio: list[np.ndarray] = []
        self.slice_key: list[np.ndarray] = []

    def add(self, case: CaseObjects, name: str, offset: int) -> None:
        found = case.objects[name]
        self.area_px.append(found.area_px)
        self.area_mm2.append(found.area_px * case.pixel_area_mm2)
        self.ratio.append(found.area_ratio(case.slice_pixels))
        self.slice_key.append(found.slice_index + offset)

    def summary(self, strata: Mapping[str, float], full: bool) -> dict[str, Any]:
        def joined(parts: list[np.ndarray]) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(0)

        ratio = joined(self.ratio)
        result: dict[str, Any] = {"strata": stratum_counts(ratio, joined(self.slice_key), strata)}
        area_px = percentiles(joined(self.area_px))
        if not full:
            result["area_px"] = {key: area_px[key] for key in ("min", "p50", "max")}
            return result
        result["area_px"] = area_px
        result["area_mm2"] = percentiles(joined(self.area_mm2))
        result["area_ratio"] = percentiles(ratio)
        return result


def _summarise(cases: Sequence[CaseObjects], class_names: Sequence[str], strata: Mapping[str, float],
               full: bool) -> dict[str, Any]:
    pools = {name: _Pool() for name in (*class_names, ALL_CLASSES)}
    offset = 0
    for case in cases:
        for name in class_names:
            pools[name].add(case, name, offset)
            pools[ALL_CLASSES].add(case, name, offset)
        offset += case.n_slices
    return {
        "slices": int(sum(case.n_slices for case in cases)),
        "slices_without_foreground": int(sum((~case.foreground).sum() for case in cases)),
        "classes": {name: pools[name].summary(strata, full) for name in class_names},
        ALL_CLASSES: pools[ALL_CLASSES].summary(strata, full),
    }


def summarise_case(case: CaseObjects, strata: Mapping[str, float]) -> dict[str, Any]:
    """One case's record: geometry, empty slices, per-class counts and min/median/max area."""
    record = {
        "slice_shape": list(case.slice_shape),
        "pixel_spacing_mm": list(case.pixel_spacing_mm),
    }
    record.update(_summarise([case], list(case.objects), strata, full=False))
    return record


def summarise_dataset(cases: Sequence[CaseObjects], strata: Mapping[str, float]) -> dict[str, Any]:
    """The dataset's record: counts per stratum and full area percentiles (px, mm², ratio)."""
    class_names = list(cases[0].objects) if cases else []
    summary = {"cases": len(cases)}
    summary.update(_summarise(cases, class_names, strata, full=True))
    return summary
