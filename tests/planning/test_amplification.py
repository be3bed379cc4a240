"""STS-Net amplification planning: N1/N2, tiers, weights, fold-only statistics, the plans section, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import blosc2
import numpy as np
import pytest
from typer.testing import CliRunner

from svseg.cli import app
from svseg.errors import SvsegError
from svseg.planning import amplification as amp
from svseg.planning.area_ratio import CaseObjects, foreground_slices, objects_per_slice
from svseg.planning.fingerprint import foreground_px
from svseg.planning.plans import load_plans, parse_amplification

from .conftest import volume_label, write_png_dataset

# Areas [0, 3, 10, 40, 100, 400]: units with a > 0 are 3, 10, 40, 100, 400, so
# S = 553, A = 5, S/A = 110.6, sqrt = 10.52 -> 11 -> N1 = 121; N1/2 = 60.5, sqrt = 7.78 -> 8 -> N2 = 64.
HAND_AREAS = [0, 3, 10, 40, 100, 400]


def test_thresholds_on_hand_computed_numbers() -> None:
    limits = amp.thresholds(HAND_AREAS)
    assert (limits.total_area, limits.units, limits.n1, limits.n2) == (553, 5, 121, 64)


def test_thresholds_at_exact_squares_and_without_foreground() -> None:
    # S/A = 100 exactly: sqrt = 10, no rounding up, N1 = 100; 50 -> 7.07 -> 8 -> N2 = 64
    assert (amp.thresholds([100, 100]).n1, amp.thresholds([100, 100]).n2) == (100, 64)
    # S/A = 2: sqrt 1.41 -> 2 -> N1 = 4; N1/2 = 2 -> 1.41 -> 2 -> N2 = 4
    assert (amp.thresholds([1, 3]).n1, amp.thresholds([1, 3]).n2) == (4, 4)
    assert amp.thresholds([0, 0]) == amp.Thresholds(0.0, 0, 0, 0)


def _toy_areas() -> dict[str, dict[int, float]]:
    """One 2D case per hand area (case0 has no foreground)."""
    return {f"case{i}": ({0: float(a)} if a else {}) for i, a in enumerate(HAND_AREAS)}


def _by_case(plan: amp.FoldPlan, what: str) -> dict[str, int]:
    return {case: getattr(units[0], what) for case, units in plan.units.items()}


def test_two_tier_tiers_and_weights() -> None:
    plan = amp.plan_fold(_toy_areas(), list(_toy_areas()), "two-tier", amp.DEFAULT_MAX_WEIGHT)
    assert (plan.limits.n1, plan.limits.n2) == (121, 64)
    # 3 <= 5: none; 10, 40 < N2 = 64: tier 2; 64 <= 100 < 121: tier 1; 400 >= N1: tier 0
    assert _by_case(plan, "tier") == {"case1": 0, "case2": 2, "case3": 2, "case4": 1, "case5": 0}
    # 1 + 15 copies + crop = 17; 1 + 7 + crop = 9; 400 px: only the lesion crop, 1 + 1 = 2; 3 px: 1
    assert _by_case(plan, "weight") == {"case1": 1, "case2": 17, "case3": 17, "case4": 9, "case5": 2}
    assert plan.tier_counts() == [2, 1, 2]
    assert plan.case_weight("case0") == 1  # no foreground, never amplified


def test_code_mode_is_one_tier_below_n1_with_all_copies() -> None:
    plan = amp.plan_fold(_toy_areas(), list(_toy_areas()), "code", amp.DEFAULT_MAX_WEIGHT)
    assert _by_case(plan, "tier") == {"case1": 0, "case2": 2, "case3": 2, "case4": 2, "case5": 0}
    assert _by_case(plan, "weight") == {"case1": 1, "case2": 17, "case3": 17, "case4": 17, "case5": 2}
    assert len(amp.copies_for_tier(2)) == 15 and amp.copies_for_tier(1) == (1, 2, 3, 4, 5, 6, 7)


def test_max_weight_caps_every_weight() -> None:
    plan = amp.plan_fold(_toy_areas(), list(_toy_areas()), "two-tier", 8)
    assert _by_case(plan, "weight") == {"case1": 1, "case2": 8, "case3": 8, "case4": 8, "case5": 2}


def test_off_mode_gives_weight_one() -> None:
    plan = amp.plan_fold(_toy_areas(), list(_toy_areas()), "off", amp.DEFAULT_MAX_WEIGHT)
    assert set(_by_case(plan, "weight").values()) == {1}


def test_statistics_use_the_training_fold_only() -> None:
    areas = _toy_areas()
    training = ["case1", "case2", "case3", "case4"]  # 3, 10, 40, 100: S = 153, A = 4, 38.25 -> 7 -> N1 = 49
    plan = amp.plan_fold(areas, training, "two-tier", amp.DEFAULT_MAX_WEIGHT)
    assert (plan.limits.n1, plan.limits.n2) == (49, 25)  # 24.5 -> 4.95 -> 5 -> N2 = 25
    assert set(plan.units) == {"case1", "case2", "case3", "case4"}  # validation case5 gets no weight
    areas["case5"] = {0: 90000.0}  # a validation case's area must not move the thresholds
    again = amp.plan_fold(areas, training, "two-tier", amp.DEFAULT_MAX_WEIGHT)
    assert (again.limits.n1, again.limits.n2) == (49, 25)
    assert _by_case(again, "tier") == {"case1": 0, "case2": 2, "case3": 1, "case4": 0}


def test_areas_scale_to_the_target_spacing() -> None:
    cases = {"a": {"pixel_spacing_mm": [0.5, 0.5], "foreground_px": {"slices": [2, 5], "px": [40, 7]}},
             "b": {"pixel_spacing_mm": [1.0, 2.0], "foreground_px": {"slices": [], "px": []}}}
    # a pixel of 0.25 mm² at a target of 1 x 1 mm: 40 px -> 10 px; 7 -> 1.75
    assert amp.areas_at_target_spacing(cases, [3.0, 1.0, 1.0]) == {"a": {2: 10.0, 5: 1.75}, "b": {}}
    with pytest.raises(SvsegError, match="re-run with --clean"):
        amp.areas_at_target_spacing({"c": {"pixel_spacing_mm": [1, 1]}}, [1.0, 1.0])


def _case(volume: np.ndarray, classes: dict[str, list[int]]) -> CaseObjects:
    objects = objects_per_slice(volume, classes)
    return CaseObjects("v", volume.shape[0], volume.shape[1:], (1.0, 1.0),
                       foreground_slices(objects, volume.shape[0]), objects)


def test_fingerprint_counts_the_union_of_classes_per_slice() -> None:
    volume = volume_label()  # slice 2: 40 px of class 1; slice 3: 400 px of class 2
    volume[3, 0:2, 0:3] = 1  # and 6 px of class 1 beside it in slice 3
    labels = {"nodule": [1], "lesion": [2]}
    assert foreground_px(_case(volume, labels), labels) == {"slices": [2, 3], "px": [40, 406]}
    # nested nnU-Net regions: "whole" = {1, 2} holds "core" = {2}; the union is the whole region
    regions = {"whole": [1, 2], "core": [2]}
    assert foreground_px(_case(volume, regions), regions) == {"slices": [2, 3], "px": [40, 406]}


def test_plan_section_round_trips_through_the_typed_view() -> None:
    section = amp.plan_section("two-tier", _toy_areas(), {"0": ["case1", "case2"], "all": list(_toy_areas())})
    json.loads(json.dumps(section))  # plain JSON
    parsed = parse_amplification(json.loads(json.dumps(section)), "plans")
    assert parsed.enabled and parsed.mode == "two-tier" and parsed.max_weight == 17
    assert parsed.areas["case4"] == {0: 100.0} and "case0" not in parsed.areas
    assert (parsed.folds["all"]["N1"], parsed.folds["all"]["N2"]) == (121, 64)
    assert parsed.folds["all"]["weights"]["case4"] == [9]
    assert amp.plan_section("off", _toy_areas(), {}) == {"mode": "off"}
    assert not parse_amplification(None, "plans").enabled


@pytest.mark.parametrize(("change", "message"), [
    ({"mode": "sometimes"}, "mode must be one of"),
    ({"max_weight": 2.5}, "max_weight must be an integer"),
    ({"areas": {"x": {"slices": [0], "px": []}}}, "lists of one length"),
    ({"folds": {"0": {"training": [], "N1": 120, "N2": 64}}}, "perfect squares"),
])
def test_bad_sections_are_refused(change: dict, message: str) -> None:
    section = amp.plan_section("code", _toy_areas(), {"all": list(_toy_areas())})
    section.update(change)
    with pytest.raises(SvsegError, match=message):
        parse_amplification(section, "plans")


def test_crossval_folds_follow_splits_final_when_present() -> None:
    splits = [{"train": ["b", "c"], "val": ["a"]}, {"train": ["a"], "val": ["b", "c"]}]
    assert amp.crossval_folds(["c", "a", "b"], splits) == {"0": ["b", "c"], "1": ["a"], "all": ["a", "b", "c"]}
    generated = amp.crossval_folds([f"k{i}" for i in range(10)], None)
    assert sorted(generated) == ["0", "1", "2", "3", "4", "all"]
    assert all(len(generated[str(f)]) == 8 for f in range(5))
    assert amp.crossval_folds(["a", "b", "c"], None) == {"all": ["a", "b", "c"]}  # too few for nnU-Net's 5 folds


# Rectangles of 20, 30, 100 and 400 px and one empty image; the p05 object (21.5 px) is above the
# planner's 16 px minimum, so the target spacing stays 1 x 1 and areas stay pixel counts:
# S = 550, A = 4, S/A = 137.5, sqrt = 11.7 -> 12 -> N1 = 144; 72 -> 8.49 -> 9 -> N2 = 81.
RECTANGLES = {0: (4, 5), 1: (5, 6), 2: (10, 10), 3: (20, 20), 4: None}


def _rectangle(index: int) -> np.ndarray:
    label = np.zeros((100, 100), np.uint8)
    if RECTANGLES[index]:
        rows, cols = RECTANGLES[index]
        label[30:30 + rows, 40:40 + cols] = 1
    return label


def test_cli_writes_the_section(isolated_data_root: Path) -> None:
    write_png_dataset(isolated_data_root, "Dataset005_Amp", cases=5, label_fn=_rectangle)
    result = CliRunner().invoke(app, ["plan-and-preprocess", "-d", "Amp", "--preset", "cpu_quick", "-np", "1",
                                      "--amplification", "two-tier"])
    assert result.exit_code == 0, result.output
    assert "amplification two-tier: all cases N1 144, N2 81, units per tier 0/1/2 [1, 1, 2]" in result.output
    folder = isolated_data_root / "preprocessed" / "Dataset005_Amp"
    plans = load_plans(folder / "svsegPlans.json")
    assert plans.nnunet_configuration()["spacing"] == [1.0, 1.0]
    section = plans.amplification
    assert section.mode == "two-tier"
    assert section.areas == {"case0": {0: 20.0}, "case1": {0: 30.0}, "case2": {0: 100.0}, "case3": {0: 400.0}}
    everything = section.folds["all"]
    assert (everything["S"], everything["A"], everything["N1"], everything["N2"]) == (550, 4, 144, 81)
    assert everything["weights"] == {"case0": [17], "case1": [17], "case2": [9], "case3": [2]}
    # fold 0 of nnU-Net's seeded split leaves one case out; its thresholds come from the other four
    fold = section.folds["0"]
    assert len(fold["training"]) == 4
    kept = [a for case, a in ((c, section.areas.get(c, {}).get(0, 0)) for c in fold["training"]) if a > 0]
    n1 = int(np.ceil(np.sqrt(sum(kept) / len(kept)))) ** 2
    assert (fold["A"], fold["N1"], fold["N2"]) == (len(kept), n1, int(np.ceil(np.sqrt(n1 / 2))) ** 2)
    # the areas are exactly the foreground the trainer's loader will see in the preprocessed data
    for case, found in section.areas.items():
        seg = blosc2.open(str(folder / "svsegPlans_2d" / f"{case}_seg.b2nd"), mode="r")[:]
        assert float((seg > 0).sum()) == found[0]
    bad = CliRunner().invoke(app, ["plan-and-preprocess", "-d", "Amp", "--preset", "cpu_quick", "-np", "1",
                                   "--no-preprocess", "--amplification", "lots"])
    assert bad.exit_code == 2 and "must be one of off, code, two-tier" in bad.output
