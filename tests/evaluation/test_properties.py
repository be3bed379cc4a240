"""Properties every evaluation must have (evaluation-protocol.md Part D, tests 4 and 5)."""

from __future__ import annotations

import numpy as np
import pytest

from .examples import blank, box, evaluate_arrays, example_1, example_2, example_3

PIXEL = ("dice", "iou", "sensitivity", "precision", "f2")


def random_cases(seed: int, n: int = 6) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Blobby two-class masks with empty slices and false positives mixed in."""
    rng = np.random.default_rng(seed)
    cases = {}
    for i in range(n):
        ref, pred = blank(), blank()
        for _ in range(rng.integers(0, 4)):
            r, c, h, w = rng.integers(0, 90), rng.integers(0, 90), rng.integers(1, 12), rng.integers(1, 12)
            label = rng.integers(1, 3)
            ref[r:r + h, c:c + w] = label
            shift = rng.integers(-2, 3, size=2)
            pred[max(r + shift[0], 0):r + h + shift[0], max(c + shift[1], 0):c + w + shift[1]] = label
        if rng.random() < 0.5:
            r, c = rng.integers(0, 95, size=2)
            pred[r:r + 3, c:c + 3] = rng.integers(1, 3)
        cases[f"case_{i}"] = (ref, pred)
    return cases


def test_one_object_per_slice_object_metrics_equal_image_metrics() -> None:
    cases = {}
    for i, size in enumerate((3, 8, 20, 40)):
        ref, pred = blank(), blank()
        ref[box(10, 10 + size, 10, 10 + size)] = 1
        pred[box(11, 12 + size, 9, 10 + size)] = 1
        pred[box(90, 92, 90, 92)] = 1  # a false positive elsewhere lands in the only zone
        cases[str(i)] = (ref, pred)
    metrics = evaluate_arrays(cases)
    for stratum in ("ultra_small", "small", "all"):
        obj, image = metrics["object"][stratum], metrics["image"][stratum]
        assert obj["n_objects"] == image["n_slices"]
        for name in (*PIXEL, "specificity", "hd95"):
            assert obj[name] == pytest.approx(image[name], abs=1e-12)


def test_one_slice_pooled_equals_per_image() -> None:
    image = evaluate_arrays({"s": example_3()})["image"]["all"]
    for name in (*PIXEL, "specificity", "mae"):
        assert image["pooled"][name] == pytest.approx(image[name], abs=1e-12)


def test_strata_are_nested_for_slices_and_objects() -> None:
    metrics = evaluate_arrays(random_cases(0, n=12))
    obj, image = metrics["object"], metrics["image"]
    assert obj["ultra_small"]["n_objects"] <= obj["small"]["n_objects"] <= obj["all"]["n_objects"]
    assert image["ultra_small"]["n_slices"] <= image["small"]["n_slices"] <= image["all"]["n_slices"]
    ratios = [o["ratio"] for o in metrics["objects"]]
    assert obj["ultra_small"]["n_objects"] == sum(r < 0.01 for r in ratios)
    assert obj["all"]["n_objects"] == len(ratios)
    for rule in ("overlap", "iou50"):
        counts = [obj[s]["detection"][rule] for s in ("ultra_small", "small", "all")]
        assert counts[0]["n_pred"] <= counts[1]["n_pred"] <= counts[2]["n_pred"]


def test_perfect_prediction_scores_one() -> None:
    cases = {name: (ref, ref.copy()) for name, (ref, _) in random_cases(1).items()}
    cases["ex3"] = (example_3()[0], example_3()[0].copy())
    metrics = evaluate_arrays(cases)
    for block in ("object", "image"):
        for stratum in ("ultra_small", "small", "all"):
            entry = metrics[block][stratum]
            if (entry.get("n_objects") or entry.get("n_slices")) == 0:
                continue
            assert all(entry[name] == 1.0 for name in (*PIXEL, "specificity")), (block, stratum)
            assert entry["hd95"] == 0.0
    for stratum in ("ultra_small", "small", "all"):
        for rule in ("overlap", "iou50"):
            detection = metrics["object"][stratum]["detection"][rule]
            if detection["n_ref"]:
                assert detection["recall"] == detection["precision"] == detection["f1"] == 1.0
    assert metrics["image"]["all"]["mae"] == 0.0


def test_paper_mae_keeps_the_official_multi_class_defect() -> None:
    """A perfect class-2 prediction still counts |2 - 1| per pixel against the binarised reference (A2)."""
    ref = blank()
    ref[box(0, 9, 0, 9)] = 2
    metrics = evaluate_arrays({"s": (ref, ref.copy())})
    assert metrics["image"]["all"]["mae"] == 0.0
    assert metrics["paper"]["all"]["mae"] == pytest.approx(0.01)


def test_empty_prediction() -> None:
    ref, _ = example_3()
    metrics = evaluate_arrays({"s": (ref, blank())})
    for stratum in ("ultra_small", "small", "all"):
        obj = metrics["object"][stratum]
        assert obj["sensitivity"] == 0.0 and obj["precision"] is None
        overlap = obj["detection"]["overlap"]
        assert overlap["recall"] == 0.0 and overlap["precision"] is None and overlap["f1"] == 0.0
    assert metrics["image"]["all"]["sensitivity"] == 0.0 and metrics["image"]["all"]["precision"] is None


def test_results_do_not_depend_on_case_order() -> None:
    cases = random_cases(2)
    forward = evaluate_arrays(cases)
    backward = evaluate_arrays(dict(reversed(list(cases.items()))))
    assert forward == backward


def test_diagonal_pixels_form_one_object() -> None:
    ref = blank()
    ref[5, 5] = ref[6, 6] = 1
    metrics = evaluate_arrays({"s": (ref, ref.copy())})
    assert len(metrics["objects"]) == 1 and metrics["objects"][0]["area_px"] == 2


def test_ratio_exactly_one_percent_is_not_ultra_small() -> None:
    ref = blank()
    ref[box(0, 9, 0, 9)] = 1  # 100 px of 10,000 = 0.01 exactly
    obj = evaluate_arrays({"s": (ref, ref.copy())})["object"]
    assert obj["ultra_small"]["n_objects"] == 0 and obj["small"]["n_objects"] == 1


def test_bars_data_ten_slices() -> None:
    """Part D, test 5: ten slices of 30-px objects predicted with 25 TP + 5 FP."""
    cases = {}
    for i in range(10):
        ref, pred = blank(), blank()
        ref[box(10, 15, 10, 14)] = 1
        pred[box(10, 14, 10, 14)] = 1
        pred[box(20, 20, 10, 14)] = 1
        cases[f"s{i}"] = (ref, pred)
    metrics = evaluate_arrays(cases)
    assert metrics["object"]["ultra_small"]["dice"] == pytest.approx(0.833333, abs=1e-6)
    assert metrics["image"]["ultra_small"]["dice"] == pytest.approx(0.833333, abs=1e-6)
    assert metrics["object"]["ultra_small"]["n_objects"] == 10


def test_json_values_are_fractions_and_never_nan() -> None:
    metrics = evaluate_arrays({**example_2(), "ex3": example_3(), "ex1": example_1()})

    def walk(value: object, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for item in value:
                walk(item, key)
        elif isinstance(value, float):
            assert value == value, key
            if key in (*PIXEL, "specificity", "mae", "recall", "f1", "mdice", "miou"):
                assert 0.0 <= value <= 1.0, key

    walk(metrics)
