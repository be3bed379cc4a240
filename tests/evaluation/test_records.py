"""metrics.json records: NaN becomes null, NumPy types become JSON types, every object is listed."""

from __future__ import annotations

import json

import numpy as np

from svseg.evaluation.records import clean

from .examples import evaluate_arrays, example_3


def test_clean_makes_plain_json() -> None:
    value = clean({1: [np.float32(0.5), np.nan, np.int64(3), np.bool_(True), (np.array([1, 2]),)]})
    assert value == {"1": [0.5, None, 3, True, [[1, 2]]]}
    json.dumps(value, allow_nan=False)


def test_object_and_slice_records() -> None:
    metrics = evaluate_arrays({"ex3": example_3()})
    big = max(metrics["objects"], key=lambda o: o["area_px"])
    assert big == {**big, "case": "ex3", "slice": 0, "class": 1, "area_px": 600, "zone_px": 7928, "tp": 540,
                   "fp": 60, "fn": 60, "detected": True, "matched_iou50": True, "box": [50, 70, 50, 80]}
    record = metrics["slices"][0]
    assert record["per_class"]["1"]["tp"] == 540 and record["mae"] == 0.0149 and record["n_pixels"] == 10_000
