"""The worked examples of evaluation-protocol.md Part C on in-memory arrays (Part D, test 1).

Every expected number below is copied from the design's tables (hand-computed there), to 1e-6,
including null cells and stratum memberships.
"""

from __future__ import annotations

import pytest

from .examples import evaluate_arrays, example_1, example_2, example_3

TOL = 1e-6


def approx(value: float) -> object:
    return pytest.approx(value, abs=TOL)


def test_example_1_image_and_object_blocks() -> None:
    metrics = evaluate_arrays({"A": example_1()})
    expected = {"dice": 8 / 11, "iou": 4 / 7, "sensitivity": 2 / 3, "precision": 0.8, "f2": 20 / 29}
    for stratum in ("ultra_small", "small", "all"):
        image, obj = metrics["image"][stratum], metrics["object"][stratum]
        assert image["n_slices"] == 1 and obj["n_objects"] == 1
        for name, value in expected.items():
            assert image[name] == approx(value) and obj[name] == approx(value)
            assert image["pooled"][name] == approx(value)
        assert image["mae"] == approx(0.0015)
        for rule in ("overlap", "iou50"):
            detection = obj["detection"][rule]
            assert (detection["recall"], detection["precision"], detection["f1"]) == (1.0, 1.0, 1.0)
    assert metrics["objects"][0]["zone_px"] == 10_000


def test_example_1_paper_block() -> None:
    paper = evaluate_arrays({"A": example_1()})["paper"]["ultra_small"]
    assert paper["mdice"] == approx(0.863260) and paper["miou"] == approx(0.784963)
    assert paper["recall"] == approx(0.833083) and paper["precision"] == approx(0.899499)
    assert paper["f2"] == approx(0.844527)
    assert paper["mae"] == approx(0.0015) and paper["mae_as_written"] == approx(0.0015)


def test_example_1_matches_the_official_output() -> None:
    """Part D, test 3's fixture: the official computeMetrics output / 100 (pixel ratio gives the same stratum)."""
    paper = evaluate_arrays({"A": example_1()})["paper"]["ultra_small"]
    official = {"mdice": 86.326033, "miou": 78.496280, "precision": 89.949876, "recall": 83.308259, "f2": 84.452668}
    for name, value in official.items():
        assert paper[name] == pytest.approx(value / 100, abs=TOL)


def test_example_2_per_slice_values() -> None:
    slices = {s["case"]: s for s in evaluate_arrays(example_2())["slices"]}
    a, b, c = (slices[name]["per_class"]["1"] for name in "ABC")
    assert (a["tp"], a["fp"], a["fn"]) == (20, 5, 10)
    assert (b["dice"], b["iou"], b["sensitivity"], b["precision"], b["f2"]) == (0.0, 0.0, None, 0.0, 0.0)
    assert all(c[name] is None for name in ("dice", "iou", "sensitivity", "precision", "f2"))
    assert [slices[name]["mae"] for name in "ABC"] == [approx(0.0015), approx(0.0010), 0.0]


def test_example_2_image_block() -> None:
    image = evaluate_arrays(example_2())["image"]
    for stratum in ("ultra_small", "small"):
        assert image[stratum]["n_slices"] == 1 and image[stratum]["dice"] == approx(8 / 11)
    everything = image["all"]
    assert everything["n_slices"] == 3
    assert everything["dice"] == approx(0.363636) and everything["iou"] == approx(0.285714)
    assert everything["sensitivity"] == approx(2 / 3) and everything["precision"] == approx(0.4)
    assert everything["f2"] == approx(0.344828) and everything["mae"] == approx(0.000833)
    pooled = everything["pooled"]
    assert pooled["dice"] == approx(40 / 65) and pooled["iou"] == approx(0.444444)
    assert pooled["sensitivity"] == approx(2 / 3) and pooled["precision"] == approx(0.571429)
    assert pooled["f2"] == approx(100 / 155) and pooled["mae"] == approx(25 / 30_000)
    assert image["empty"] == {"n_slices": 2, "n_with_false_positive": 1, "fp_free_rate": 0.5, "mean_fp_pixels": 5.0}


def test_example_2_object_block_counts_the_false_blob_as_ultra_small() -> None:
    obj = evaluate_arrays(example_2())["object"]
    for stratum in ("ultra_small", "small", "all"):
        assert obj[stratum]["n_objects"] == 1 and obj[stratum]["dice"] == approx(8 / 11)
        overlap = obj[stratum]["detection"]["overlap"]
        assert (overlap["n_ref"], overlap["n_ref_detected"], overlap["n_pred"], overlap["n_pred_true"]) == (1, 1, 2, 1)
        assert overlap["recall"] == 1.0 and overlap["precision"] == 0.5 and overlap["f1"] == approx(2 / 3)


def test_example_2_paper_block() -> None:
    paper = evaluate_arrays(example_2())["paper"]["ultra_small"]
    assert paper["n_slices"] == 3
    assert paper["mdice"] == approx(0.903533) and paper["miou"] == approx(0.860486)
    assert paper["recall"] == approx(0.916291) and paper["precision"] == approx(0.892607)
    assert paper["f2"] == approx(0.910940)
    assert paper["mae"] == approx(0.000833) and paper["mae_as_written"] == approx(0.000278)


def test_example_3_zones_and_object_counts() -> None:
    objects = sorted(evaluate_arrays({"s": example_3()})["objects"], key=lambda o: o["area_px"])
    small, big = objects
    assert (small["zone_px"], big["zone_px"]) == (2072, 7928)
    assert (small["tp"], small["fp"], small["fn"]) == (0, 9, 20)
    assert (big["tp"], big["fp"], big["fn"]) == (540, 60, 60)
    assert small["dice"] == 0 and small["precision"] == 0 and not small["detected"]
    assert big["dice"] == approx(0.9) and big["iou"] == approx(0.818182) and big["f2"] == approx(0.9)
    assert small["ratio"] == approx(0.002) and big["ratio"] == approx(0.06)


def test_example_3_object_versus_image_strata() -> None:
    metrics = evaluate_arrays({"s": example_3()})
    obj, image = metrics["object"], metrics["image"]
    assert obj["ultra_small"]["n_objects"] == 1 and obj["ultra_small"]["dice"] == 0.0
    assert obj["ultra_small"]["sensitivity"] == 0.0
    for stratum in ("small", "all"):
        assert obj[stratum]["n_objects"] == 2
        for name, value in {"dice": 0.45, "iou": 0.409091, "sensitivity": 0.45, "precision": 0.45, "f2": 0.45}.items():
            assert obj[stratum][name] == approx(value)
    assert image["ultra_small"]["n_slices"] == 0 and image["ultra_small"]["dice"] is None
    for stratum in ("small", "all"):
        block = image[stratum]
        assert block["n_slices"] == 1 and block["dice"] == approx(0.878763) and block["iou"] == approx(0.783745)
        assert block["sensitivity"] == approx(0.870968) and block["precision"] == approx(0.886700)
        assert block["f2"] == approx(0.874069) and block["mae"] == approx(0.0149)
    assert metrics["slices"][0]["r_img"] == approx(0.06)


def test_example_3_detection() -> None:
    obj = evaluate_arrays({"s": example_3()})["object"]
    for rule in ("overlap", "iou50"):
        ultra = obj["ultra_small"]["detection"][rule]
        assert (ultra["n_ref"], ultra["n_ref_detected"], ultra["n_pred"], ultra["n_pred_true"]) == (1, 0, 1, 0)
        assert (ultra["recall"], ultra["precision"], ultra["f1"]) == (0.0, 0.0, 0.0)
        for stratum in ("small", "all"):
            entry = obj[stratum]["detection"][rule]
            assert (entry["recall"], entry["precision"], entry["f1"]) == (0.5, 0.5, 0.5)


def test_example_3_paper_block() -> None:
    paper = evaluate_arrays({"s": example_3()})["paper"]
    assert paper["ultra_small"]["n_slices"] == 0 and paper["ultra_small"]["mdice"] is None
    for stratum in ("small", "all"):
        block = paper[stratum]
        assert block["mdice"] == approx(0.935413) and block["miou"] == approx(0.883997)
        assert block["recall"] == approx(0.931806) and block["precision"] == approx(0.939090)
        assert block["f2"] == approx(0.933240) and block["mae"] == approx(0.0149)


def test_example_3_multi_class_variant() -> None:
    """Organ = class 1, lesion = class 2, blob predicted as class 2: the lesion is ultra-small, zone = slice."""
    ref, pred = example_3()
    ref[ref > 0] = 1
    ref[10:14, 10:15] = 2
    pred[pred > 0] = 1
    pred[10:13, 30:33] = 2
    metrics = evaluate_arrays({"s": (ref, pred)})
    lesion = metrics["object"]["ultra_small"]["per_class"]["2"]
    assert lesion["n_objects"] == 1 and lesion["dice"] == 0.0
    assert metrics["object"]["ultra_small"]["per_class"]["1"]["n_objects"] == 0
    record = next(o for o in metrics["objects"] if o["class"] == 2)
    assert record["zone_px"] == 10_000 and record["fp"] == 9
    assert metrics["slices"][0]["r_img"] == approx(0.06)
    assert metrics["image"]["ultra_small"]["n_slices"] == 0
