"""Percentile bootstrap intervals over cases, for pooled statistics and paired differences.

Cases (one 2D image or one volume) are the independent units: objects and slices of one case
share its patient, scanner and annotator, so resampling them would pretend to more data than
there is. A resample draws ``n`` cases with replacement; a case drawn twice brings all its
objects and slices twice. Pooled statistics (a mean over every object of a stratum, a lesion F1
from summed counts) are then recomputed from the resampled cases' pooled contents, so the
interval respects pooling: a case with 30 objects moves the object Dice more than a case with
one, exactly as it does in the estimate itself.

Everything is expressed through additive per-case *components*: an (n_cases, m) array whose
rows are summed over the drawn cases (weighted by how often each is drawn) and a *statistic*
that maps summed components (k, m) to k values (NaN where undefined, e.g. an empty stratum). A
mean over objects is ``sum / count``; a mean over classes of per-class means is
:func:`class_mean`; lesion-wise F1 from (n_ref, n_ref_detected, n_pred, n_pred_true) is
:func:`detection_f1`. Paired differences (two networks on the same cases) draw the same cases
for both, so what the cases share cancels.

The draws come from ``numpy.random.default_rng(seed)`` and depend only on the number of cases,
the number of resamples and the seed; both numbers are recorded with every interval.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 12345
DEFAULT_LEVEL = 0.95
_CHUNK_CELLS = 1 << 22  # drawn case indices held at once: 32 MB of int64, whatever the case count

Statistic = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Interval:
    """A point estimate and its percentile interval; None where undefined.

    ``n_undefined`` counts resamples where the statistic was undefined (say, no ultra-small object
    among the drawn cases); the interval is taken over the others.
    """

    estimate: float | None
    low: float | None
    high: float | None
    n_resamples: int
    n_undefined: int = 0

    def excludes_zero(self) -> bool:
        """True when the whole interval lies on one side of zero (for differences)."""
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)

    def to_json(self) -> dict[str, float | int | None]:
        """Plain JSON."""
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "n_undefined": self.n_undefined}


def resample_counts(n_cases: int, n_resamples: int, seed: int) -> Iterator[np.ndarray]:
    """How often each case is drawn, per resample, in chunks of shape (k, n_cases).

    Each resample draws ``n_cases`` case indices uniformly with replacement; chunking bounds
    memory on folders of many thousand images without changing the draws' order.
    """
    if n_cases < 1 or n_resamples < 1:
        raise ValueError(f"need at least one case and one resample, got {n_cases} and {n_resamples}")
    rng = np.random.default_rng(seed)
    per_chunk = max(1, _CHUNK_CELLS // n_cases)
    for start in range(0, n_resamples, per_chunk):
        k = min(per_chunk, n_resamples - start)
        drawn = rng.integers(0, n_cases, size=(k, n_cases))
        flat = (drawn + n_cases * np.arange(k)[:, None]).ravel()
        yield np.bincount(flat, minlength=k * n_cases).reshape(k, n_cases)


def resampled_statistics(components: list[np.ndarray], statistic: Statistic, n_resamples: int,
                         seed: int) -> list[np.ndarray]:
    """The statistic of each components array on the same resamples: one (n_resamples,) array each."""
    n_cases = components[0].shape[0]
    if any(table.shape[0] != n_cases for table in components):
        raise ValueError("paired components must have one row per case, in the same case order")
    values: list[list[np.ndarray]] = [[] for _ in components]
    for counts in resample_counts(n_cases, n_resamples, seed):
        weights = counts.astype(np.float64)
        for out, table in zip(values, components, strict=True):
            out.append(np.asarray(statistic(weights @ np.asarray(table, dtype=np.float64)), dtype=np.float64))
    return [np.concatenate(parts) for parts in values]


def percentile_interval(values: np.ndarray, level: float = DEFAULT_LEVEL) -> tuple[float | None, float | None]:
    """The central `level` interval of the defined (finite) values; (None, None) when there are none."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if not finite.size:
        return None, None
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return float(low), float(high)


def bootstrap_interval(components: np.ndarray, statistic: Statistic, *, n_resamples: int = DEFAULT_RESAMPLES,
                       seed: int = DEFAULT_SEED, level: float = DEFAULT_LEVEL) -> Interval:
    """Estimate and percentile interval of `statistic` over cases (rows of `components`).

    With fewer than two cases there is no case-to-case variation to resample: the interval is
    undefined (None), not zero-width.
    """
    components = np.asarray(components, dtype=np.float64)
    estimate = _value(statistic(components.sum(axis=0)[None])[0])
    if components.shape[0] < 2:
        return Interval(estimate, None, None, 0)
    (values,) = resampled_statistics([components], statistic, n_resamples, seed)
    return Interval(estimate, *percentile_interval(values, level), n_resamples, int((~np.isfinite(values)).sum()))


def paired_difference(components_a: np.ndarray, components_b: np.ndarray, statistic: Statistic, *,
                      n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
                      level: float = DEFAULT_LEVEL) -> Interval:
    """Interval of statistic(a) - statistic(b) when a and b were measured on the same cases.

    Row i of both arrays must be case i. Every resample draws the same cases for a and b, so a
    hard case lowers both and cancels in the difference. Identical inputs give a zero-width
    interval at 0.
    """
    a = np.asarray(components_a, dtype=np.float64)
    b = np.asarray(components_b, dtype=np.float64)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"paired components need the same cases: {a.shape[0]} rows vs {b.shape[0]}")
    estimate = _value(statistic(a.sum(axis=0)[None])[0] - statistic(b.sum(axis=0)[None])[0])
    if a.shape[0] < 2:
        return Interval(estimate, None, None, 0)
    values_a, values_b = resampled_statistics([a, b], statistic, n_resamples, seed)
    difference = values_a - values_b
    return Interval(estimate, *percentile_interval(difference, level), n_resamples,
                    int((~np.isfinite(difference)).sum()))


def class_mean(sums: np.ndarray) -> np.ndarray:
    """Mean over classes of per-class means, from (k, 2C) summed (value sum, count) pairs per class.

    A class with no defined value in a resample is skipped (nanmean over classes), as the
    evaluation's blocks do; with none defined the result is NaN.
    """
    pairs = np.asarray(sums, dtype=np.float64).reshape(len(sums), -1, 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(pairs[..., 1] > 0, pairs[..., 0] / pairs[..., 1], np.nan)
    defined = np.isfinite(means)
    total = np.where(defined, means, 0.0).sum(axis=1)
    count = defined.sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def detection_f1(sums: np.ndarray) -> np.ndarray:
    """Lesion-wise F1 from (k, 4) summed (n_ref, n_ref_detected, n_pred, n_pred_true), B8's empty rules.

    No reference and no prediction: NaN; references or predictions only: 0.
    """
    n_ref, detected, n_pred, true = np.asarray(sums, dtype=np.float64).T
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(n_ref > 0, detected / n_ref, np.nan)
        precision = np.where(n_pred > 0, true / n_pred, np.nan)
        f1 = np.where(recall + precision > 0, 2 * precision * recall / (precision + recall), 0.0)
    f1 = np.where(np.isnan(recall) | np.isnan(precision), 0.0, f1)
    return np.where((n_ref == 0) & (n_pred == 0), np.nan, f1)


def _value(number: float) -> float | None:
    number = float(number)
    return number if np.isfinite(number) else None
