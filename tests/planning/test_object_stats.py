"""Stratum counts and area percentiles against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from svseg.planning.area_ratio import CaseObjects, SliceObjects
from svseg.planning.object_stats import check_strata, percentiles, summarise_case, summarise_dataset

STRATA = {"ultra_small": 0.01, "small": 0.1}


def _case(case_id: str, n_slices: int, objects: dict[str, tuple[list[int], list[int]]]) -> CaseObjects:
    """A case with 20 x 50 = 1000-pixel slices of 1 x 2 mm pixels (2 mm² each)."""
    found = {name: SliceObjects(np.array(area, np.int64), np.array(where, np.int64))
             for name, (area, where) in objects.items()}
    foreground = np.zeros(n_slices, bool)
    for item in found.values():
        foreground[item.slice_index] = True
    return CaseObjects(case_id, n_slices, (20, 50), (1.0, 2.0), foreground, found)


# Ratios: 9 px = 0.009 (ultra-small), 10 px = 0.01 (not ultra-small: membership is strict),
# 50 px = 0.05 (small), 200 px = 0.2 (neither).
FIRST = _case("a", 4, {"lesion": ([9, 10, 200], [0, 0, 2]), "vessel": ([50], [1])})
SECOND = _case("b", 3, {"lesion": ([9], [1]), "vessel": ([], [])})


def test_case_counts_are_cumulative_and_strict() -> None:
    record = summarise_case(FIRST, STRATA)
    assert record["slices"] == 4 and record["slices_without_foreground"] == 1
    assert record["classes"]["lesion"]["strata"] == {
        "ultra_small": {"objects": 1, "slices": 1},
        "small": {"objects": 2, "slices": 1},
        "all": {"objects": 3, "slices": 2},
    }
    assert record["all_classes"]["strata"]["small"] == {"objects": 3, "slices": 2}
    assert record["classes"]["vessel"]["area_px"] == {"min": 50.0, "p50": 50.0, "max": 50.0}


def test_dataset_counts_slices_per_case_and_percentiles_in_px_mm2_and_ratio() -> None:
    summary = summarise_dataset([FIRST, SECOND], STRATA)
    assert (summary["cases"], summary["slices"], summary["slices_without_foreground"]) == (2, 7, 3)
    lesion = summary["classes"]["lesion"]
    # slice 1 of case b is not slice 1 of case a: the two ultra-small objects lie in two slices
    assert lesion["strata"]["ultra_small"] == {"objects": 2, "slices": 2}
    assert summary["all_classes"]["strata"]["all"] == {"objects": 5, "slices": 4}
    # lesion areas 9, 9, 10, 200 px: median halfway between 9 and 10
    assert lesion["area_px"]["min"] == 9 and lesion["area_px"]["p50"] == 9.5 and lesion["area_px"]["max"] == 200
    assert lesion["area_mm2"]["p50"] == pytest.approx(19.0)
    assert lesion["area_ratio"]["max"] == pytest.approx(0.2)
    # all classes: 9, 9, 10, 50, 200 px; p25 is the 2nd value (9), p75 the 4th (50)
    assert summary["all_classes"]["area_px"]["p25"] == 9 and summary["all_classes"]["area_px"]["p75"] == 50


def test_no_objects_gives_nulls_not_zeros() -> None:
    assert percentiles(np.zeros(0))["p05"] is None
    summary = summarise_dataset([SECOND], STRATA)
    assert summary["classes"]["vessel"]["area_mm2"]["min"] is None
    assert summary["classes"]["vessel"]["strata"]["all"] == {"objects": 0, "slices": 0}


def test_other_thresholds_move_objects_between_strata() -> None:
    summary = summarise_dataset([FIRST], {"ultra_small": 0.011, "small": 0.3})
    assert summary["classes"]["lesion"]["strata"]["ultra_small"]["objects"] == 2
    assert summary["classes"]["lesion"]["strata"]["small"]["objects"] == 3
    with pytest.raises(ValueError):
        check_strata({"ultra_small": 0.2, "small": 0.1})
