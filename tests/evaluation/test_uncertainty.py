"""Per-case components rebuild every headline number; intervals and paired differences in metrics.json."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from svseg.errors import SvsegError
from svseg.evaluation.uncertainty import HEADLINE, headline_components, paired_headline_difference
from svseg.objects import STRATA

from .examples import blank, box, evaluate_arrays, example_1, example_3


def _cases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Six cases, two classes, objects of every stratum, a missed one, a false blob and an empty slice."""
    cases = {"ex1": example_1(), "ex3": example_3(), "empty": (blank(), blank())}
    for k in range(3):
        ref, pred = blank(), blank()
        ref[box(5, 8 + k, 5, 9)] = 1
        pred[box(5 + k, 9, 5, 9)] = 1
        ref[box(40, 60, 40, 60 + 5 * k)] = 2
        pred[box(42, 60, 40, 58)] = 2
        pred[box(90, 91, 90, 91)] = 2
        cases[f"two_{k}"] = (ref, pred)
    return cases


def test_components_sum_back_to_every_blocks_headline() -> None:
    metrics = evaluate_arrays(_cases())
    classes = list(metrics["settings"]["labels"])
    blocks = {"object_dice": lambda s: metrics["object"][s]["dice"],
              "detection_f1": lambda s: metrics["object"][s]["detection"]["overlap"]["f1"],
              "image_dice": lambda s: metrics["image"][s]["dice"]}
    for stratum in STRATA:
        for figure, statistic in HEADLINE.items():
            components = headline_components(metrics["per_case"], classes, stratum, figure)
            assert components.shape[0] == 6
            value = statistic(components.sum(axis=0)[None])[0]
            expected = blocks[figure](stratum)
            interval = metrics["uncertainty"]["strata"][stratum][figure]
            if expected is None:
                assert np.isnan(value) and interval["estimate"] is None
            else:
                assert value == pytest.approx(expected) and interval["estimate"] == pytest.approx(expected)
                assert interval["low"] <= expected + 1e-12 and interval["high"] >= expected - 1e-12


def test_uncertainty_block_records_method_seed_and_resamples() -> None:
    block = evaluate_arrays(_cases())["uncertainty"]
    assert block["unit"] == "case" and block["level"] == 0.95 and block["n_cases"] == 6
    assert block["n_resamples"] == 2000 and isinstance(block["seed"], int)
    again = evaluate_arrays(_cases())["uncertainty"]
    assert again == block  # the fixed seed makes the intervals reproducible


def test_cases_that_differ_give_intervals_of_some_width() -> None:
    strata = evaluate_arrays(_cases())["uncertainty"]["strata"]
    for stratum in STRATA:
        interval = strata[stratum]["object_dice"]
        assert interval["high"] - interval["low"] > 0.05


def test_paired_difference_of_an_evaluation_with_itself_is_zero() -> None:
    metrics = evaluate_arrays(_cases())
    for figure in HEADLINE:
        difference = paired_headline_difference(metrics, copy.deepcopy(metrics), "all", figure, n_resamples=300)
        assert (difference.estimate, difference.low, difference.high) == (0.0, 0.0, 0.0)


def test_a_better_prediction_on_every_case_differs_from_zero() -> None:
    cases = _cases()
    perfect = {name: (ref, ref.copy()) for name, (ref, _) in cases.items()}
    better, worse = evaluate_arrays(perfect), evaluate_arrays(cases)
    difference = paired_headline_difference(better, worse, "all", "object_dice", n_resamples=500)
    assert difference.estimate == pytest.approx(1.0 - worse["object"]["all"]["dice"])
    assert difference.excludes_zero() and difference.low > 0


def test_different_case_sets_cannot_be_paired() -> None:
    cases = _cases()
    first = evaluate_arrays(cases)
    second = evaluate_arrays({name: pair for name, pair in cases.items() if name != "ex1"})
    with pytest.raises(SvsegError, match=r"same cases.*ex1"):
        paired_headline_difference(first, second, "all", "object_dice")
    del second["per_case"]
    with pytest.raises(SvsegError, match="per_case"):
        paired_headline_difference(first, second, "all", "object_dice")
