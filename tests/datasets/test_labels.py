"""Mask values -> consecutive labels, and what cannot be labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from svseg.datasets.labels import LabelPlan, plan_labels, value_problems
from svseg.io.lossy_masks import RULE


def _values(*values: float) -> np.ndarray:
    return np.unique(np.array(values))


@pytest.mark.parametrize(
    ("values", "is_volume", "declared", "indexed", "fragment"),
    [
        (_values(0.0, 0.5, 1.0), True, None, False, "non-integer"),
        (_values(0.0, np.nan), True, None, False, "non-integer"),
        (_values(-1, 0, 1), True, None, False, "negative"),
        (np.arange(256), False, None, False, "256 distinct grey levels"),
        (np.linspace(0, 255, 12).astype(int), False, None, False, "12 distinct grey levels"),
    ],
)
def test_values_that_cannot_be_labels(values, is_volume, declared, indexed, fragment) -> None:
    problems = value_problems(values, is_volume=is_volume, declared_count=declared, indexed=indexed)
    assert len(problems) == 1 and fragment in problems[0]


@pytest.mark.parametrize(
    ("values", "is_volume", "declared", "indexed"),
    [
        (_values(0.0, 1.0, 2.0), True, None, False),  # float volume with whole numbers
        (np.arange(200), True, None, False),  # many classes in a volume (e.g. whole-body atlases)
        (_values(0, 85, 170, 255), False, None, False),  # classes coded as spread grey levels
        (np.arange(30), False, None, False),  # small class numbers
        (np.linspace(0, 255, 12).astype(int), False, None, True),  # palette indices
        (np.linspace(0, 255, 12).astype(int), False, 12, False),  # declared twelve classes
    ],
)
def test_values_that_are_labels(values, is_volume, declared, indexed) -> None:
    assert value_problems(values, is_volume=is_volume, declared_count=declared, indexed=indexed) == []


def test_0_255_maps_to_0_1_dataset_wide() -> None:
    plan, problems = plan_labels({Path("a"): _values(0, 255), Path("b"): _values(0)}, None)
    assert not problems and plan.mapping == {0: 0, 255: 1} and plan.names == ("background", "foreground")
    assert plan.labels_json == {"background": 0, "foreground": 1}
    assert plan.apply(np.array([[0, 255]], np.uint8)).tolist() == [[0, 1]]
    assert plan.describe_changes() == "255->1" and not plan.is_identity


def test_non_consecutive_values_are_compressed_in_sorted_order() -> None:
    plan, _ = plan_labels({Path("a"): _values(0, 1, 4), Path("b"): _values(0, 9)}, None)
    assert plan.mapping == {0: 0, 1: 1, 4: 2, 9: 3}
    assert plan.names == ("background", "label_1", "label_2", "label_3")


def test_consecutive_values_are_kept() -> None:
    plan, _ = plan_labels({Path("a"): _values(0, 1, 2)}, None)
    assert plan.is_identity and plan.describe_changes() == ""


def test_declared_names_keep_or_map_values() -> None:
    names = ["background", "lesion", "vessel"]
    kept, _ = plan_labels({Path("a"): _values(0, 2)}, names)
    assert kept.mapping == {0: 0, 1: 1, 2: 2} and kept.names == tuple(names)
    mapped, _ = plan_labels({Path("a"): _values(0, 128), Path("b"): _values(0, 255)}, names)
    assert mapped.mapping == {0: 0, 128: 1, 255: 2}


def test_more_values_than_declared_names_names_each_mask() -> None:
    plan, problems = plan_labels(
        {Path("a.png"): _values(0, 1), Path("b.png"): _values(0, 128, 255)}, ["background", "lesion"])
    assert plan is None and [p.path for p in problems] == [Path("b.png")]
    assert "128, 255 outside the 2 declared labels" in problems[0].message


def test_palette_colours_of_used_indices_are_recorded() -> None:
    palette = [(0, 0, 0), (1, 1, 1), (200, 0, 0)]
    plan, _ = plan_labels({Path("a"): _values(0, 2)}, None, {Path("a"): palette})
    assert plan.provenance() == {"label_mapping": {"0": 0, "2": 1}, "palette": {"0": [0, 0, 0], "2": [200, 0, 0]}}


def test_apply_refuses_values_it_was_not_planned_for() -> None:
    plan = LabelPlan(("background", "x"), {0: 0, 255: 1})
    with pytest.raises(ValueError, match="not scanned"):
        plan.apply(np.array([0, 7]))
    assert plan.apply(np.array([0.0, 255.0])).dtype == np.uint8


def test_masks_read_from_jpeg_are_counted_in_the_provenance() -> None:
    values = {Path("a.jpg"): _values(0, 255), Path("b.JPEG"): _values(0), Path("c.png"): _values(0, 255)}
    plan, problems = plan_labels(values, None)
    assert not problems and plan is not None
    assert plan.provenance()["lossy_masks"] == {"files": 2, "rule": RULE}
    declared, _ = plan_labels(values, ["background", "polyp"])
    assert declared is not None and declared.provenance()["lossy_masks"]["files"] == 2
    clean, _ = plan_labels({Path("c.png"): _values(0, 255)}, None)
    assert clean is not None and "lossy_masks" not in clean.provenance()
