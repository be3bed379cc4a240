"""The case bootstrap against answers known without it: hand-worked pooling, normal theory, pairing."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from svseg.evaluation.bootstrap import (
    bootstrap_interval,
    class_mean,
    detection_f1,
    paired_difference,
    resample_counts,
    resampled_statistics,
)


def _mean_of_objects(sums: np.ndarray) -> np.ndarray:
    return np.where(sums[:, 1] > 0, sums[:, 0] / np.maximum(sums[:, 1], 1), np.nan)


def test_two_cases_by_hand_pool_objects_not_case_means() -> None:
    # case A: one object of Dice 1; case B: three objects of Dice 0. Drawing two cases:
    # AA (p 1/4) -> 1, AB or BA (p 1/2) -> pooled 1/4 objects = 0.25, BB (p 1/4) -> 0.
    # A mean of case means would give 0.5 for AB instead.
    components = np.array([[1.0, 1], [0.0, 3]])
    (values,) = resampled_statistics([components], _mean_of_objects, 8000, seed=7)
    levels, counts = np.unique(values, return_counts=True)
    assert levels.tolist() == [0.0, 0.25, 1.0]
    share = counts / counts.sum()
    tolerance = 4 * np.sqrt(0.25 * 0.75 / 8000)  # four binomial standard errors
    assert np.allclose(share, [0.25, 0.5, 0.25], atol=tolerance)
    interval = bootstrap_interval(components, _mean_of_objects, n_resamples=8000, seed=7)
    assert interval.estimate == pytest.approx(0.25)
    assert (interval.low, interval.high) == (0.0, 1.0)


def test_counts_are_draws_with_replacement_and_depend_only_on_the_seed() -> None:
    chunks = list(resample_counts(5, 300, seed=3))
    counts = np.concatenate(chunks)
    assert counts.shape == (300, 5) and np.all(counts.sum(axis=1) == 5)
    assert np.allclose(counts.mean(axis=0), 1.0, atol=0.25)  # each case drawn once per resample on average
    again = np.concatenate(list(resample_counts(5, 300, seed=3)))
    other = np.concatenate(list(resample_counts(5, 300, seed=4)))
    assert np.array_equal(counts, again) and not np.array_equal(counts, other)


def test_pooled_statistic_equals_concatenating_the_drawn_cases_objects() -> None:
    # The sums formulation against the literal procedure: repeat each drawn case's object list.
    rng = np.random.default_rng(0)
    objects = [rng.uniform(size=rng.integers(0, 6)) for _ in range(9)]
    components = np.array([[values.sum(), values.size] for values in objects])
    counts = np.concatenate(list(resample_counts(9, 200, seed=11)))
    (fast,) = resampled_statistics([components], _mean_of_objects, 200, seed=11)
    for row, value in zip(counts, fast, strict=True):
        pooled = np.concatenate([np.tile(objects[i], n) for i, n in enumerate(row)])
        assert (np.isnan(value) and pooled.size == 0) or value == pytest.approx(pooled.mean())


def test_normal_theory_agrees_on_a_large_synthetic_set() -> None:
    # 400 cases, one value each: the interval of the mean should match mean +- 1.96 s / sqrt(n).
    rng = np.random.default_rng(1)
    values = rng.beta(5, 2, size=400)
    components = np.stack([values, np.ones_like(values)], axis=1)
    interval = bootstrap_interval(components, _mean_of_objects, n_resamples=4000, seed=2)
    half = stats.norm.ppf(0.975) * values.std(ddof=1) / np.sqrt(values.size)
    assert interval.high - interval.low == pytest.approx(2 * half, rel=0.05)
    assert (interval.low + interval.high) / 2 == pytest.approx(values.mean(), abs=0.1 * half)


def test_pooled_ratio_agrees_with_the_delta_method() -> None:
    # Objects per case vary (1-20): the pooled mean sum(y)/sum(x) has the delta-method standard
    # error sqrt(sum((y - R x)^2)) / sum(x) (the ratio estimator of survey sampling).
    rng = np.random.default_rng(5)
    sizes = rng.integers(1, 21, size=500)
    sums = np.array([rng.beta(2, 3 + (n > 10), size=n).sum() for n in sizes])
    components = np.stack([sums, sizes], axis=1).astype(float)
    ratio = sums.sum() / sizes.sum()
    se = np.sqrt(np.sum((sums - ratio * sizes) ** 2)) / sizes.sum()
    interval = bootstrap_interval(components, _mean_of_objects, n_resamples=4000, seed=6)
    assert interval.estimate == pytest.approx(ratio)
    assert interval.high - interval.low == pytest.approx(2 * 1.96 * se, rel=0.06)


def test_identical_predictions_give_a_zero_width_difference() -> None:
    components = np.array([[0.4, 2, 3, 1, 2, 2], [1.0, 1, 0, 0, 1, 0], [2.5, 3, 1, 1, 0, 0]])
    difference = paired_difference(components, components.copy(), class_mean, n_resamples=500, seed=1)
    assert (difference.estimate, difference.low, difference.high) == (0.0, 0.0, 0.0)
    assert not difference.excludes_zero()


def test_pairing_cancels_what_the_cases_share() -> None:
    # Network b is network a minus 0.02 on every case, while cases differ by up to 0.8: the
    # paired interval is tight around 0.02 and excludes zero; unpaired intervals overlap widely.
    rng = np.random.default_rng(3)
    a_values = rng.uniform(0.1, 0.9, size=30)
    a = np.stack([a_values, np.ones(30)], axis=1)
    b = np.stack([a_values - 0.02 + rng.normal(0, 0.002, size=30), np.ones(30)], axis=1)
    difference = paired_difference(a, b, _mean_of_objects, n_resamples=2000, seed=4)
    assert difference.estimate == pytest.approx(0.02, abs=0.002)
    assert difference.excludes_zero() and difference.high - difference.low < 0.005
    alone_a = bootstrap_interval(a, _mean_of_objects, seed=4)
    alone_b = bootstrap_interval(b, _mean_of_objects, seed=4)
    assert alone_b.high > alone_a.low  # the unpaired intervals overlap


def test_one_case_has_no_interval() -> None:
    interval = bootstrap_interval(np.array([[0.5, 1.0]]), _mean_of_objects)
    assert interval.estimate == 0.5 and interval.low is None and interval.high is None


def test_class_mean_skips_classes_without_values_and_f1_follows_the_empty_rules() -> None:
    sums = np.array([[1.5, 2, 0.0, 0], [0.0, 0, 0.0, 0], [1.0, 1, 0.5, 2]])
    assert np.allclose(class_mean(sums), [0.75, np.nan, (1.0 + 0.25) / 2], equal_nan=True)
    counts = np.array([[0, 0, 0, 0], [3, 0, 0, 0], [0, 0, 2, 0], [4, 2, 4, 3]])
    expected_last = 2 * 0.75 * 0.5 / 1.25
    assert np.allclose(detection_f1(counts), [np.nan, 0.0, 0.0, expected_last], equal_nan=True)


def test_an_empty_stratum_in_some_resamples_is_counted_not_hidden() -> None:
    # Only one of four cases has an object: about (3/4)^4 = 32 % of resamples hold none.
    components = np.array([[0.8, 1], [0.0, 0], [0.0, 0], [0.0, 0]])
    interval = bootstrap_interval(components, _mean_of_objects, n_resamples=4000, seed=9)
    assert interval.n_undefined / 4000 == pytest.approx(0.75**4, abs=0.03)
    assert interval.low == pytest.approx(0.8) and interval.high == pytest.approx(0.8)
